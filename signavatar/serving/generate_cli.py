"""``signavatar generate "drink" --out drink.npz``: ask a running SignAvatar endpoint for clips."""

from __future__ import annotations

import argparse
import json

from signavatar.client import DEFAULT_URL, OUT_SUFFIXES, SignAvatarClient, save_clips
from signavatar.commands import check_out
from signavatar.motion.amass import GENDERS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="signavatar generate", description=__doc__)
    parser.add_argument("text", nargs="?", help="a gloss or short text (or use --image)")
    parser.add_argument("--image", help="png/jpeg to condition on instead of text")
    parser.add_argument("--out", required=True, help="output .npz (AMASS-style) or .json; several samples get _<i>")
    parser.add_argument("--url", default=DEFAULT_URL, help="endpoint (default %(default)s, env SIGNAVATAR_URL)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-samples", type=int, default=1)
    parser.add_argument("--num-frames", type=int, default=None, help="default: the model's clip length")
    parser.add_argument("--gender", default="neutral", choices=GENDERS)
    args = parser.parse_args(argv)
    check_out(args.out, OUT_SUFFIXES)  # before asking the server
    if (args.text is None) == (args.image is None):
        parser.error("give a text or --image (exactly one)")
    clips = SignAvatarClient(args.url).generate(text=args.text, image=args.image, num_samples=args.num_samples,
                                                seed=args.seed, num_frames=args.num_frames)
    print(json.dumps({"written": save_clips(clips, args.out, args.gender)}))
    return 0
