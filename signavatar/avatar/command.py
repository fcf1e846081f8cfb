"""``signavatar export CLIP.npz --format glb|bvh|pose --out FILE``: a clip where avatars live.

    signavatar export coffee.npz --format glb --out coffee.glb    # the avatar animated (Blender, Unity, three.js)
    signavatar export coffee.npz --format bvh --out coffee.bvh    # the SMPL-X skeleton animation
    signavatar export coffee.npz --format pose --out coffee.pose  # MediaPipe Holistic keypoints (pose-format)

Paths may be local or ``s3://``. The input is bounded before it is decoded, as the server bounds
uploads: the file at ``MAX_NPZ_BYTES``, its arrays (from the zip directory) at
``MAX_DECODED_BYTES`` and its frames (from the ``poses`` header) at ``MAX_FRAMES``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from signavatar import storage
from signavatar.avatar.export import FORMATS, export_clip
from signavatar.commands import CommandError, check_out
from signavatar.motion.amass import clip_from_npz_bytes, npz_num_frames
from signavatar.motion.clip import MotionClip

MAX_NPZ_BYTES = 64 * 1024 * 1024
MAX_DECODED_BYTES = 256 * 1024 * 1024
MAX_FRAMES = 36_000  # 20 minutes at 30 fps


def load_bounded(uri: str) -> MotionClip:
    """The clip in ``uri``, refused with a one-line error past any bound (module doc)."""
    try:
        fs, path = storage.filesystem(uri)
        size = fs.size(path)
    except OSError as exc:
        raise CommandError(f"clip {uri}: {exc.strerror or exc}") from None
    if size is None or size > MAX_NPZ_BYTES:
        raise CommandError(f"clip {uri}: {size} bytes; the limit is {MAX_NPZ_BYTES} (MAX_NPZ_BYTES)")
    try:
        data = storage.read_bytes(uri)
        frames = npz_num_frames(data, uri)
        if frames > MAX_FRAMES:
            raise CommandError(f"clip {uri}: {frames} frames; the limit is {MAX_FRAMES} (MAX_FRAMES)")
        return clip_from_npz_bytes(data, name=uri, max_decoded_bytes=MAX_DECODED_BYTES)
    except (OSError, ValueError) as exc:  # a directory, not an npz, too large decoded, breaking the clip contract
        raise CommandError(f"clip {uri}: {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="signavatar export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", help="AMASS-style .npz clip (local or s3://)")
    parser.add_argument("--format", required=True, choices=list(FORMATS),
                        help="; ".join(f"{name}: {spec.description}" for name, spec in FORMATS.items()))
    parser.add_argument("--out", required=True, help="output file, ending in the format's suffix")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_out(args.out, (FORMATS[args.format].suffix,))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    clip = load_bounded(args.clip)
    storage.write_bytes(args.out, export_clip(clip, args.format))
    return 0
