"""``signavatar reconstruct video.mp4|clip.npz --gloss drink --out rec.npz``: reconstruct through a
running SignAvatar endpoint (a video needs an estimator configured on the server)."""

from __future__ import annotations

import argparse
import json

from signavatar.client import DEFAULT_URL, OUT_SUFFIXES, SignAvatarClient, save_clips
from signavatar.commands import check_out
from signavatar.motion.amass import GENDERS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="signavatar reconstruct", description=__doc__)
    parser.add_argument("input", help="motion clip (.npz / .json) or video (.mp4 / .webm / .mov)")
    parser.add_argument("--gloss", required=True, help="the word signed in the input")
    parser.add_argument("--out", required=True, help="output .npz (AMASS-style) or .json")
    parser.add_argument("--url", default=DEFAULT_URL, help="endpoint (default %(default)s, env SIGNAVATAR_URL)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gender", default="neutral", choices=GENDERS)
    args = parser.parse_args(argv)
    check_out(args.out, OUT_SUFFIXES)  # before asking the server
    clip = SignAvatarClient(args.url).reconstruct(args.input, gloss=args.gloss, seed=args.seed)
    print(json.dumps({"written": save_clips([clip], args.out, args.gender)}))
    return 0
