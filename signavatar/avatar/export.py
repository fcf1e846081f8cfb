"""One entry for every avatar format: ``export_clip(clip, format) -> bytes``, used by
``signavatar export``, ``POST /generate`` / ``POST /reconstruct`` (``format=glb|bvh|pose``) and the
viewer's download buttons.

* ``glb``: the avatar animated by the clip (``signavatar.avatar.glb``);
* ``bvh``: the clip's SMPL-X skeleton animation (``signavatar.avatar.bvh``);
* ``pose``: the clip's MediaPipe Holistic keypoints, pose-format (``signavatar.avatar.pose``).

Several clips (e.g. the samples of one request) travel as a ``.zip`` of ``sample-<i>.<format>``.
Download names are chosen here, never from request text.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from signavatar.avatar.bvh import bvh_text
from signavatar.avatar.glb import glb_bytes
from signavatar.avatar.pose import pose_bytes
from signavatar.avatar.retarget import retarget
from signavatar.avatar.rig import load_avatar
from signavatar.body.skeleton import DEFAULT_REST_JOINTS
from signavatar.motion.clip import MotionClip


@dataclass(frozen=True)
class Format:
    suffix: str
    media_type: str
    description: str


FORMATS: dict[str, Format] = {
    "glb": Format(".glb", "model/gltf-binary", "glTF 2.0 binary: the avatar animated by the clip"),
    "bvh": Format(".bvh", "application/octet-stream", "BVH skeleton animation (SMPL-X joints, metres)"),
    "pose": Format(".pose", "application/octet-stream", "pose-format file of MediaPipe Holistic keypoints"),
}
ZIP_MEDIA_TYPE = "application/zip"
DOWNLOAD_STEM = "signavatar"


def check_format(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown export format {name!r}; expected one of {', '.join(FORMATS)}") from None


def export_clip(clip: MotionClip, fmt: str, rest_joints: np.ndarray = DEFAULT_REST_JOINTS) -> bytes:
    """``clip`` as a ``fmt`` file (``glb``, ``bvh`` or ``pose``) on the SMPL-X rest skeleton ``rest_joints``."""
    check_format(fmt)
    if fmt == "glb":
        avatar = load_avatar(rest_joints)
        return glb_bytes(avatar, clip, retarget(clip, avatar))
    if fmt == "bvh":
        return bvh_text(clip, rest_joints).encode("ascii")
    return pose_bytes(clip, rest_joints)


@lru_cache(maxsize=1)
def avatar_glb() -> bytes:
    """The avatar alone on the built-in rest skeleton, bound at its rest pose, without animation but
    with its retargeting parameters (what the viewer animates); built once per process."""
    return glb_bytes(load_avatar(DEFAULT_REST_JOINTS))


def export_payload(clips: Sequence[MotionClip], fmt: str) -> tuple[bytes, str, str]:
    """``(body, media type, file name)``: one clip's file, or a zip of ``sample-<i>.<fmt>`` for several."""
    spec = check_format(fmt)
    if len(clips) == 1:
        return export_clip(clips[0], fmt), spec.media_type, DOWNLOAD_STEM + spec.suffix
    buffer = io.BytesIO()
    # .bvh is text and .glb float arrays: both deflate
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for i, clip in enumerate(clips):
            archive.writestr(f"sample-{i + 1}{spec.suffix}", export_clip(clip, fmt))
    return buffer.getvalue(), ZIP_MEDIA_TYPE, f"{DOWNLOAD_STEM}-{fmt}.zip"
