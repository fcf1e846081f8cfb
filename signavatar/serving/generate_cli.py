"""``signavatar generate coffee --out coffee.npz``: ask a running SignAvatar endpoint for clips;
``signavatar generate --glosses hello coffee please --out s.npz``: one signed sentence (its
segments in the file); ``signavatar generate --fingerspell bob --out bob.npz``: a word spelled with
the manual alphabet."""

from __future__ import annotations

import argparse
import json
import math

from signavatar.client import DEFAULT_URL, OUT_SUFFIXES, SignAvatarClient, save_clips
from signavatar.commands import check_out
from signavatar.motion.amass import GENDERS
from signavatar.serving.schemas import MAX_TEMPERATURE


def _temperature(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_TEMPERATURE:  # NaN fails every comparison
        raise argparse.ArgumentTypeError(f"must be a number from 0 to {MAX_TEMPERATURE:g}, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="signavatar generate", description=__doc__)
    parser.add_argument("text", nargs="?", help="a gloss or short text (or use --image)")
    parser.add_argument("--image", help="png/jpeg to condition on instead of text")
    parser.add_argument("--glosses", nargs="+", metavar="GLOSS", help="sign these glosses as one sentence")
    parser.add_argument("--fingerspell", metavar="WORD", help="spell this word letter by letter (a-z)")
    parser.add_argument("--out", required=True, help="output .npz (AMASS-style) or .json; several samples get _<i>")
    parser.add_argument("--url", default=DEFAULT_URL, help="endpoint (default %(default)s, env SIGNAVATAR_URL)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-samples", type=int, default=1)
    parser.add_argument("--num-frames", type=int, default=None, help="default: the model's clip length")
    parser.add_argument("--temperature", type=_temperature, default=None,
                        help="T of the draws z ~ N(0, T^2 I), 0-5 (default: the checkpoint's)")
    parser.add_argument("--gender", default="neutral", choices=GENDERS)
    sentence = parser.add_argument_group("sentence options (with --glosses or --fingerspell)")
    sentence.add_argument("--speed", type=float, help="speed of every sign (2 = twice as fast)")
    sentence.add_argument("--hold-frames", type=int, help="frames each sign's last pose is held")
    sentence.add_argument("--transition-frames", type=int, help="frames between signs (default: adaptive)")
    parser.add_argument("--allow-unknown", action="store_true",
                        help="encode words outside the vocabulary (and, with an untrained CLIP, images) with CLIP "
                             "instead of refusing them")
    args = parser.parse_args(argv)
    check_out(args.out, OUT_SUFFIXES)  # before asking the server
    if sum(x is not None for x in (args.text, args.image, args.glosses, args.fingerspell)) != 1:
        parser.error("give a text, --image, --glosses or --fingerspell (exactly one)")
    options = {name: getattr(args, name) for name in ("speed", "hold_frames", "transition_frames")
               if getattr(args, name) is not None}
    if options and args.glosses is None and args.fingerspell is None:
        parser.error(f"{', '.join('--' + k.replace('_', '-') for k in options)}: only with --glosses or --fingerspell")
    clips = SignAvatarClient(args.url).generate(text=args.text, image=args.image, glosses=args.glosses,
                                                fingerspell=args.fingerspell,
                                                num_samples=args.num_samples, seed=args.seed,
                                                num_frames=args.num_frames, temperature=args.temperature,
                                                allow_unknown=args.allow_unknown, **options)
    print(json.dumps({"written": save_clips(clips, args.out, args.gender)}))
    return 0
