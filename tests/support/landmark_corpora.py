"""Small landmark corpora in exactly the public layouts (mpdata, Kaggle GISLR, .pose folders),
generated from the synthetic motion corpus: each clip's markers as a perfect MediaPipe Holistic
would report them (normalised image x, y; z normalised like x; pose visibility), on a 640x480 frame.

``Sequence`` holds one sequence's normalised arrays (NaN = not detected); the writers put a list
of them on local disk or S3 in each layout.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from signavatar import storage
from signavatar.body.skeleton import DEFAULT_REST_JOINTS
from signavatar.config import SyntheticCorpusConfig
from signavatar.data.synthetic import generate_corpus
from signavatar.extraction.estimators.holistic_record import HolisticVideo
from signavatar.extraction.estimators.markers import keypoints_from_poses
from signavatar.extraction.landmarks import LEFT_HAND_START, NUM_HAND, NUM_POSE, RIGHT_HAND_START
from signavatar.extraction.pose_writer import write_pose_file

WIDTH, HEIGHT = 640, 480
PIXELS_PER_METRE = 300.0
NUM_FACE = 468


@dataclass
class Sequence:
    """One signed sequence as MediaPipe reports it: ``pose [T, 33, 4]``, hands ``[T, 21, 3]``,
    ``face [T, 468, 3]``, normalised; NaN where not detected."""

    gloss: str
    name: str
    signer: str
    pose: np.ndarray
    left_hand: np.ndarray
    right_hand: np.ndarray
    face: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.pose.shape[0])

    def frames(self, face: bool = False) -> np.ndarray:
        """``[T, 258]`` (or ``[T, 1662]`` with the face) mpdata vectors: NaN parts as zeros."""
        parts = [self.pose.reshape(self.num_frames, -1)]
        if face:
            parts.append(self.face.reshape(self.num_frames, -1))
        parts += [self.left_hand.reshape(self.num_frames, -1), self.right_hand.reshape(self.num_frames, -1)]
        return np.nan_to_num(np.concatenate(parts, axis=1), nan=0.0)


def synthetic_sequences(num_glosses: int = 2, per_gloss: int = 3, frames: int = 24, seed: int = 0) -> list[Sequence]:
    """``num_glosses * per_gloss`` sequences of ``frames`` frames (signers cycle 0..2): each whole
    synthetic sign squeezed to ``frames`` frames, like the real corpus's 20 frames at 15 fps."""
    corpus = generate_corpus(SyntheticCorpusConfig(num_glosses=num_glosses, clips_per_gloss=per_gloss, seed=seed))
    out = []
    for i, clip in enumerate(corpus):
        clip = clip.resample(frames)
        keypoints = keypoints_from_poses(clip.poses, DEFAULT_REST_JOINTS, clip.trans)
        camera = keypoints.points.astype(np.float64) * np.array([1.0, -1.0, -1.0])
        centre = np.median(camera[keypoints.weights > 0], axis=0)
        pixels = (camera - centre) * PIXELS_PER_METRE + np.array([WIDTH / 2, HEIGHT / 2, 0.0])
        normalised = pixels / np.array([WIDTH, HEIGHT, WIDTH])
        seen = keypoints.weights > 0
        points = np.where(seen[..., None], normalised, np.nan)
        pose = np.concatenate([points[:, :NUM_POSE], seen[:, :NUM_POSE, None].astype(np.float64)], axis=-1)
        pose[~seen[:, :NUM_POSE]] = 0.0  # MediaPipe always reports pose points; unseen ones with visibility 0
        face = np.random.default_rng(i).uniform(0.4, 0.6, (frames, NUM_FACE, 3))
        out.append(Sequence(
            gloss=clip.gloss, name=str(i % per_gloss), signer=f"p{i % 3}", pose=pose,
            left_hand=points[:, LEFT_HAND_START : LEFT_HAND_START + NUM_HAND],
            right_hand=points[:, RIGHT_HAND_START : RIGHT_HAND_START + NUM_HAND], face=face,
        ))
    return out


def npy_bytes(vector: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, vector)
    return buffer.getvalue()


def write_mpdata(sequences: list[Sequence], root: str, face: bool = False) -> None:
    """``<root>/<gloss>/<name>/<frame>.npy`` float64 vectors (258, or 1662 with the face)."""
    for seq in sequences:
        for number, vector in enumerate(seq.frames(face)):
            storage.write_bytes(storage.join(root, seq.gloss, seq.name, f"{number}.npy"), npy_bytes(vector))


GISLR_TYPES = (("face", NUM_FACE), ("left_hand", NUM_HAND), ("pose", NUM_POSE), ("right_hand", NUM_HAND))


def gislr_table(seq: Sequence, first_frame: int = 20) -> pa.Table:
    """Kaggle's per-sequence table: 543 rows per frame (face, left_hand, pose, right_hand)."""
    parts = {"face": seq.face, "left_hand": seq.left_hand, "pose": seq.pose[..., :3], "right_hand": seq.right_hand}
    for name in ("pose",):  # Kaggle keeps no visibility; unseen pose points are still reported (x, y, z)
        parts[name] = np.where(seq.pose[..., 3:] > 0, parts[name], np.nan)
    columns: dict[str, list] = {k: [] for k in ("frame", "row_id", "type", "landmark_index", "x", "y", "z")}
    for t in range(seq.num_frames):
        frame = first_frame + t
        for name, count in GISLR_TYPES:
            values = parts[name][t]
            columns["frame"] += [frame] * count
            columns["row_id"] += [f"{frame}-{name}-{i}" for i in range(count)]
            columns["type"] += [name] * count
            columns["landmark_index"] += list(range(count))
            for axis, key in enumerate("xyz"):
                columns[key] += values[:, axis].tolist()
    return pa.table({
        "frame": pa.array(columns["frame"], pa.int16()), "row_id": columns["row_id"], "type": columns["type"],
        "landmark_index": pa.array(columns["landmark_index"], pa.int16()),
        **{k: pa.array(columns[k], pa.float64()) for k in "xyz"},
    })


def write_parquet(table: pa.Table, uri: str) -> None:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    storage.write_bytes(uri, buffer.getvalue())


def write_gislr(sequences: list[Sequence], root: str) -> dict[str, Sequence]:
    """``train.csv`` + ``train_landmark_files/<participant>/<sequence_id>.parquet``; returns the
    sequences by sequence_id."""
    rows, by_id = [], {}
    for i, seq in enumerate(sequences):
        sequence_id = str(1000 + i)
        path = f"train_landmark_files/{seq.signer}/{sequence_id}.parquet"
        write_parquet(gislr_table(seq), storage.join(root, path))
        rows.append({"path": path, "participant_id": seq.signer, "sequence_id": sequence_id, "sign": seq.gloss})
        by_id[sequence_id] = seq
    write_csv(rows, storage.join(root, "train.csv"), ("path", "participant_id", "sequence_id", "sign"))
    return by_id


def write_csv(rows: list[dict], uri: str, columns: tuple[str, ...]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(columns))
    writer.writeheader()
    writer.writerows(rows)
    storage.write_text(uri, text.getvalue())


def write_pose_folder(sequences: list[Sequence], root: str, by_folder: bool = True) -> list[str]:
    """``.pose`` files: ``<gloss>/<signer>_<name>.pose`` (``by_folder``) or ``<gloss>_<signer>_<name>.pose``
    (no gloss folder); returns their paths relative to ``root``."""
    paths = []
    for seq in sequences:
        world = np.concatenate([seq.pose[..., :3] * np.array([WIDTH, HEIGHT, WIDTH]) / PIXELS_PER_METRE,
                                seq.pose[..., 3:]], axis=-1)
        video = HolisticVideo(pose=seq.pose, world=world, left_hand=seq.left_hand, right_hand=seq.right_hand,
                              face=None, width=WIDTH, height=HEIGHT, fps=25.0)
        path = f"{seq.gloss}/{seq.signer}_{seq.name}.pose" if by_folder else f"{seq.gloss}_{seq.signer}_{seq.name}.pose"
        write_pose_file(video, storage.join(root, *path.split("/")))
        paths.append(path)
    return paths
