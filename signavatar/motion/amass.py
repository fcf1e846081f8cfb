"""AMASS-style ``.npz`` export/import, as the SMPL-X Blender add-on imports it.

Keys: ``poses [T, 165]`` (55 joints x axis-angle), ``trans [T, 3]``, ``betas [10]``, ``gender``,
``mocap_framerate``, plus ours: ``expression [T, 10]``, ``gloss``, ``clip_id``, ``split``,
``source`` (JSON) and ``confidence [T]`` when known. Strings are stored as numpy unicode arrays so
loading never needs pickle.
"""

from __future__ import annotations

import io
import json

import numpy as np

from signavatar import storage
from signavatar.body.joints import NUM_JOINTS
from signavatar.motion.clip import MotionClip

GENDERS = ("neutral", "male", "female")


def clip_to_npz_bytes(clip: MotionClip, gender: str = "neutral") -> bytes:
    if gender not in GENDERS:
        raise ValueError(f"gender {gender!r} not in {GENDERS}")
    clip.validate()
    arrays = {
        "poses": clip.poses.reshape(clip.num_frames, NUM_JOINTS * 3),
        "trans": clip.trans,
        "betas": clip.betas,
        "expression": clip.expression,
        "gender": np.array(gender),
        "mocap_framerate": np.array(clip.fps, dtype=np.float64),
        "gloss": np.array(clip.gloss),
        "clip_id": np.array(clip.clip_id),
        "split": np.array(clip.split),
        "source": np.array(json.dumps(clip.source, sort_keys=True)),
    }
    if clip.confidence is not None:
        arrays["confidence"] = clip.confidence
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def clip_from_npz_bytes(data: bytes, name: str = "<npz>") -> MotionClip:
    """Load an AMASS-style npz (ours, or a plain AMASS SMPL-X file with only the standard keys)."""
    try:
        npz = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ValueError(f"{name}: not a readable .npz file ({exc})") from exc
    with npz:
        if "poses" not in npz:
            raise ValueError(f"{name}: missing key 'poses'")
        poses = np.asarray(npz["poses"], np.float32)
        if poses.ndim != 2 or poses.shape[1] != NUM_JOINTS * 3:
            raise ValueError(f"{name}: 'poses' has shape {poses.shape}; expected [T, {NUM_JOINTS * 3}]")
        frames = poses.shape[0]

        def get(key: str, default):
            return npz[key] if key in npz else default

        fps = float(get("mocap_framerate", get("mocap_frame_rate", 30.0)))
        return MotionClip(
            gloss=str(get("gloss", "")),
            clip_id=str(get("clip_id", name)),
            split=str(get("split", "unsplit")),
            fps=fps,
            poses=poses.reshape(frames, NUM_JOINTS, 3),
            expression=get("expression", np.zeros((frames, 10), np.float32)),
            betas=np.asarray(get("betas", np.zeros(10, np.float32)), np.float32)[:10],
            trans=get("trans", np.zeros((frames, 3), np.float32)),
            confidence=get("confidence", None),
            source=json.loads(str(get("source", "{}"))),
        )


def save_npz(clip: MotionClip, uri: str, gender: str = "neutral") -> None:
    storage.write_bytes(uri, clip_to_npz_bytes(clip, gender))


def load_npz(uri: str) -> MotionClip:
    return clip_from_npz_bytes(storage.read_bytes(uri), name=str(uri))
