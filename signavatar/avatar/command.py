"""``signavatar export CLIP.npz --format glb|bvh|pose --out FILE``: a clip where avatars live.

    signavatar export coffee.npz --format glb --out coffee.glb    # the avatar animated (Blender, Unity, three.js)
    signavatar export coffee.npz --format bvh --out coffee.bvh    # the SMPL-X skeleton animation
    signavatar export coffee.npz --format pose --out coffee.pose  # MediaPipe Holistic keypoints (pose-format)

Paths may be local or ``s3://``. The input is bounded before it is decoded, as the server bounds
uploads and ``signavatar render`` its inputs: the one npz loader (``motion.amass.load_npz``) checks
the file size, the arrays' decoded size (``DEFAULT_MAX_CLIP_DECODED_BYTES``) and the frames
(``DEFAULT_MAX_CLIP_FRAMES``, from the ``poses`` header) before allocating.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from signavatar import storage
from signavatar.avatar.export import FORMATS, export_clip
from signavatar.commands import CommandError, check_out
from signavatar.config import DEFAULT_MAX_CLIP_DECODED_BYTES, DEFAULT_MAX_CLIP_FRAMES
from signavatar.motion.amass import load_npz
from signavatar.motion.clip import MotionClip


def load_bounded(uri: str) -> MotionClip:
    """The clip in ``uri``, refused with a one-line error past any bound (module doc)."""
    try:
        return load_npz(uri, max_decoded_bytes=DEFAULT_MAX_CLIP_DECODED_BYTES, max_frames=DEFAULT_MAX_CLIP_FRAMES)
    except (OSError, ValueError) as exc:  # missing, a directory, not an npz, too large, breaking the clip contract
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
