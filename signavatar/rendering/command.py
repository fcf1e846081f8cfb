"""``signavatar render``: preview videos of AMASS-style ``.npz`` clips.

    signavatar render clip.npz [more.npz ...] --out clip.mp4 [--gif] [--labels a,b]
                      [--body-model DIR] [--gender neutral] [--size 480x360] [--views front,side]

Several clips render side by side (e.g. reference, reconstruction, generation). ``--gif`` also
writes the same frames as a GIF beside ``--out``. Paths may be local or ``s3://``.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence

from signavatar.body.body_model import GENDERS
from signavatar.motion.amass import load_npz
from signavatar.rendering.preview import render_preview
from signavatar.rendering.video_writer import output_format

log = logging.getLogger("signavatar.render")


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 480x360, got {text!r}") from None
    return width, height


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="signavatar render", description="Preview videos of AMASS-style .npz clips, side by side when several."
    )
    parser.add_argument("clips", nargs="+", help="AMASS-style .npz clips (local or s3://), one panel each")
    parser.add_argument("--out", required=True, help="output .mp4 or .gif")
    parser.add_argument("--gif", action="store_true", help="also write a .gif beside --out")
    parser.add_argument("--labels", type=_names, help="comma-separated panel titles, one per clip")
    parser.add_argument("--body-model", help="SMPL-X model folder or s3:// prefix: render the mesh, not the skeleton")
    parser.add_argument("--gender", default="neutral", choices=GENDERS, help="SMPL-X model file with --body-model")
    parser.add_argument("--size", type=_size, default=(480, 360), help="one panel's WIDTHxHEIGHT (default 480x360)")
    parser.add_argument("--views", type=_names, default=["front", "side"], help="comma-separated, of front,side")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    gif_path = None
    try:
        if args.gif and output_format(args.out) != ".gif":
            gif_path = os.path.splitext(args.out)[0] + ".gif"
        clips = [load_npz(uri) for uri in args.clips]
        render_preview(
            clips,
            args.out,
            labels=args.labels,
            body_model_path=args.body_model,
            size=args.size,
            views=args.views,
            gender=args.gender,
            gif_path=gif_path,
        )
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    return 0
