"""SYNTHETIC video corpora for tests and benchmarks: no real video, no real estimator.

* ``render_skeleton_video``: a motion clip's forward-kinematics skeleton drawn into real H.264
  mp4 frames (``Mp4Writer``), so the whole decode path runs on genuine video files.
* ``write_video_corpus``: such videos plus a WLASL-format index, local or ``s3://``.
* ``StandInRegressor``: a tiny randomly initialised network that honours the TorchScript
  estimator contract (``estimators.torchscript``). Its poses are a deterministic function of the
  image and mean nothing; it exists to exercise the pipeline, never to estimate anything.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from signavatar import storage
from signavatar.body.joints import NUM_JOINTS, PARENTS, UPPER_BODY_JOINTS
from signavatar.body.skeleton import DEFAULT_REST_JOINTS, forward_kinematics_axis_angle
from signavatar.motion.clip import MotionClip
from signavatar.rendering.video_writer import Mp4Writer

_DRAWN = set(UPPER_BODY_JOINTS)


_SEGMENTS = np.array(
    [(PARENTS[j], j) for j in range(1, NUM_JOINTS) if j in _DRAWN and (PARENTS[j] in _DRAWN or PARENTS[j] == 0)]
)
_SAMPLES = np.linspace(0.0, 1.0, 24)


def skeleton_frames(
    clip: MotionClip, width: int = 160, height: int = 120, rest_joints: np.ndarray = DEFAULT_REST_JOINTS
) -> np.ndarray:
    """uint8 ``[T, height, width, 3]``: the upper-body skeleton seen from the front (signer facing
    the camera, so the signer's left is on the image right), one metre of body per frame height."""
    joints = forward_kinematics_axis_angle(torch.from_numpy(clip.poses), rest_joints).numpy()
    x = width / 2.0 + joints[..., 0] * height
    y = height / 2.0 - (joints[..., 1] - 0.3) * height
    parent, child = _SEGMENTS[:, 0], _SEGMENTS[:, 1]
    # [T, segments, samples] points along every bone, thickened by one pixel each way.
    px = x[:, parent, None] + _SAMPLES * (x[:, child, None] - x[:, parent, None])
    py = y[:, parent, None] + _SAMPLES * (y[:, child, None] - y[:, parent, None])
    left = np.broadcast_to((joints[:, child, 0] > 0)[..., None], px.shape)
    frames = np.full((clip.num_frames, height, width, 3), 24, np.uint8)
    t = np.broadcast_to(np.arange(clip.num_frames)[:, None, None], px.shape)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            cx = np.clip(np.round(px).astype(int) + dx, 0, width - 1)
            cy = np.clip(np.round(py).astype(int) + dy, 0, height - 1)
            frames[t, cy, cx] = np.where(left[..., None], (230, 80, 80), (80, 160, 230))
    return frames


def encode_mp4(frames: np.ndarray, fps: float) -> bytes:
    """H.264 mp4 bytes of uint8 ``[T, H, W, 3]`` RGB frames (H and W even), through the preview
    writer (``rendering.video_writer.Mp4Writer``) at a near-lossless quality."""
    writer = Mp4Writer(fps, (frames.shape[2], frames.shape[1]), crf=18)
    for frame in frames:
        writer.write(np.ascontiguousarray(frame))
    return writer.finish()


def render_skeleton_video(clip: MotionClip, uri: str, width: int = 160, height: int = 120) -> None:
    storage.write_bytes(uri, encode_mp4(skeleton_frames(clip, width, height), clip.fps))


def write_video_corpus(
    clips: Sequence[MotionClip], videos: str, index_uri: str, width: int = 160, height: int = 120
) -> list[dict]:
    """Render every clip to ``<videos>/<clip_id>.mp4`` and write a WLASL-format index of them
    (full frame range, the whole frame as person box, the clip's signer and split)."""
    entries: dict[str, list[dict]] = {}
    for clip in clips:
        render_skeleton_video(clip, storage.join(videos, f"{clip.clip_id}.mp4"), width, height)
        entries.setdefault(clip.gloss, []).append(
            {
                "video_id": clip.clip_id,
                "frame_start": 1,
                "frame_end": -1,
                "fps": clip.fps,
                "bbox": [0, 0, width, height],
                "signer_id": clip.source.get("signer_id"),
                "split": clip.split,
                "source": "synthetic",
            }
        )
    index = [{"gloss": gloss, "instances": instances} for gloss, instances in entries.items()]
    storage.write_text(index_uri, json.dumps(index))
    return index


class StandInRegressor(nn.Module):
    """Image -> SMPL-X parameters under the TorchScript contract; meaningless output (see module)."""

    def __init__(self, grid: int = 4, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.grid = grid
        self.num_joints = NUM_JOINTS
        self.head = nn.Linear(3 * grid * grid, NUM_JOINTS * 3)
        with torch.no_grad():
            self.head.weight.copy_(torch.randn(self.head.weight.shape, generator=generator) * 0.5)
            self.head.bias.zero_()

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = nn.functional.adaptive_avg_pool2d(images, self.grid).flatten(1)
        poses = self.head(pooled).reshape(-1, self.num_joints, 3)
        batch = images.shape[0]
        return {"poses": poses, "confidence": torch.full((batch,), 0.9, device=images.device)}


def save_stand_in_regressor(uri: str, seed: int = 0) -> None:
    """Script a ``StandInRegressor`` and save it (local or ``s3://``)."""
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(StandInRegressor(seed=seed)), buffer)
    storage.write_bytes(uri, buffer.getvalue())
