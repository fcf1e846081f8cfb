"""``signavatar reconstruct video.mp4|clip.npz --gloss drink --out rec.npz``: reconstruct through a
running SignAvatar endpoint (a video needs an estimator configured on the server)."""

from __future__ import annotations

import argparse
import json
import sys

from signavatar.client import DEFAULT_URL, SignAvatarClient, ServiceRequestError, save_clips
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
    try:
        clip = SignAvatarClient(args.url).reconstruct(args.input, gloss=args.gloss, seed=args.seed)
    except (ServiceRequestError, OSError) as exc:  # requests' connection errors are OSErrors
        print(f"signavatar reconstruct: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"written": save_clips([clip], args.out, args.gender)}))
    return 0
