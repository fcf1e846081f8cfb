"""``signavatar render``: preview videos of AMASS-style ``.npz`` clips.

    signavatar render clip.npz [more.npz ...] --out clip.mp4 [--gif] [--labels a,b]
                      [--body avatar|skeleton|smplx] [--body-model DIR] [--gender neutral]
                      [--size 480x360] [--views front,side,hands]

Several clips render side by side (e.g. reference, reconstruction, generation). ``--gif`` also
writes the same frames as a GIF beside ``--out``. Paths may be local or ``s3://``. The body is the
free avatar by default, the SMPL-X mesh with ``--body-model`` (or ``--body smplx``), the stick
figure with ``--body skeleton``; ``hands`` adds a close-up of each hand.

Inputs are bounded like the server's uploads, before anything is decompressed: a clip of at most
``DEFAULT_MAX_CLIP_FRAMES`` frames whose arrays decode to at most ``DEFAULT_MAX_CLIP_DECODED_BYTES``
(``signavatar.config``; the one npz loader, ``motion.amass.read_npz_arrays``, checks every array
header before allocating). Sizes are capped before anything is drawn (a frame is held in memory uncompressed, a GIF keeps
every frame at one byte per pixel until it is written): a panel side at ``MAX_PANEL_SIDE``, the
whole output frame at ``MAX_FRAME_PIXELS`` and a GIF's frames x pixels at ``MAX_GIF_PIXELS``.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence

from signavatar.body.body_model import GENDERS
from signavatar.commands import CommandError, check_out
from signavatar.config import DEFAULT_MAX_CLIP_DECODED_BYTES, DEFAULT_MAX_CLIP_FRAMES
from signavatar.motion.amass import load_npz
from signavatar.motion.clip import MotionClip
from signavatar.rendering.preview import BODIES, render_preview
from signavatar.rendering.video_writer import FORMATS

log = logging.getLogger("signavatar.render")

MAX_PANEL_SIDE = 4096
MAX_FRAME_PIXELS = 4096 * 4096  # all panels side by side: 48 MiB per RGB frame
MAX_GIF_PIXELS = 1 << 30  # frames x pixels of a GIF: 1 GiB held until it is written


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 480x360, got {text!r}") from None
    if not (0 < width <= MAX_PANEL_SIDE and 0 < height <= MAX_PANEL_SIDE):
        raise argparse.ArgumentTypeError(f"size {width}x{height}: each side must be 1..{MAX_PANEL_SIDE} pixels")
    return width, height


def _check_output_size(clips: Sequence[MotionClip], size: tuple[int, int], gif: bool) -> None:
    """The output frame (panels side by side) and, for a GIF, all its frames fit the caps."""
    pixels = size[0] * len(clips) * size[1]
    if pixels > MAX_FRAME_PIXELS:
        raise CommandError(f"--size {size[0]}x{size[1]} with {len(clips)} clips side by side makes {pixels} pixels "
                           f"per frame; the limit is {MAX_FRAME_PIXELS} (MAX_FRAME_PIXELS)")
    if gif:
        frames = max(1, round(max(c.num_frames / c.fps for c in clips) * clips[0].fps))
        if frames * pixels > MAX_GIF_PIXELS:
            raise CommandError(f"a GIF of {frames} frames of {pixels} pixels needs {frames * pixels} bytes; the limit "
                               f"is {MAX_GIF_PIXELS} (MAX_GIF_PIXELS): use a smaller --size or write only an .mp4")


def _load(uri: str) -> MotionClip:
    try:
        return load_npz(uri, max_decoded_bytes=DEFAULT_MAX_CLIP_DECODED_BYTES, max_frames=DEFAULT_MAX_CLIP_FRAMES)
    except (OSError, ValueError) as exc:  # missing, a directory, empty, not an npz, breaking the clip contract
        raise CommandError(f"clip {uri}: {exc}") from None


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
    parser.add_argument("--body", choices=BODIES, default="auto",
                        help="avatar (the free avatar mesh), smplx (needs --body-model), skeleton (stick figure); "
                             "auto (default): smplx with --body-model, else avatar")
    parser.add_argument("--body-model", help="SMPL-X model folder or s3:// prefix: render the SMPL-X mesh")
    parser.add_argument("--gender", default="neutral", choices=GENDERS, help="SMPL-X model file with --body-model")
    parser.add_argument("--size", type=_size, default=(480, 360), help="one panel's WIDTHxHEIGHT (default 480x360)")
    parser.add_argument("--views", type=_names, default=["front", "side"],
                        help="comma-separated, of front,side,hands (hands: a close-up of each hand)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_out(args.out, FORMATS)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    gif_path = None
    if args.gif and os.path.splitext(args.out)[1].lower() != ".gif":
        gif_path = os.path.splitext(args.out)[0] + ".gif"
    clips = [_load(uri) for uri in args.clips]
    _check_output_size(clips, args.size, gif=args.gif or args.out.lower().endswith(".gif"))
    try:
        render_preview(clips, args.out, labels=args.labels, body_model_path=args.body_model, size=args.size,
                       views=args.views, gender=args.gender, gif_path=gif_path, body=args.body)
    except ValueError as exc:  # labels, views, odd sizes: the arguments did not fit the clips
        raise CommandError(str(exc)) from None
    return 0
