"""``signavatar fit FILE.pose --out clip.npz``: fit one ``.pose`` file to SMPL-X.

Prints one JSON line with the fitting errors in metres of the body frame (after scaling the input
to the body's shoulder width; see ``markers.marker_errors``): ``wrists``, ``elbows``,
``fingertips``, ``mean``, ``coordinates`` (``xyz``/``xy``/``mixed``), ``frames`` and
``frames_without_hands``. The clip is written as an AMASS-style ``.npz`` (local or s3://).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import posixpath

from signavatar.body.body_model import resolve_rest_joints
from signavatar.config import load_config
from signavatar.extraction.estimators.keypoints import fit_landmarks
from signavatar.extraction.pose_files import read_pose_file
from signavatar.motion.amass import save_npz
from signavatar.motion.clip import MotionClip

log = logging.getLogger(__name__)


def fit_pose_file(
    path: str, config_path: str | None = None, overrides: list[str] | None = None
) -> tuple[MotionClip, dict]:
    """Fit ``path`` and return the clip and its error report."""
    config = load_config(config_path, overrides)
    rest = resolve_rest_joints(config.body.model_path, config.body.gender)
    landmarks = read_pose_file(path)
    fit, keypoints = fit_landmarks(landmarks, rest, config.extract.keypoints)
    frames = fit.to_frames()
    name = posixpath.basename(str(path)).removesuffix(".pose")
    clip = MotionClip(
        gloss="",
        clip_id=name,
        split="unsplit",
        fps=landmarks.fps,
        poses=frames.poses,
        expression=frames.expression,
        betas=frames.clip_betas(),
        trans=frames.trans,
        confidence=frames.confidence,
        source={"video": str(path), "frame_range": [0, landmarks.num_frames], "estimator": "keypoints"},
    )
    report = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in fit.errors.items() if k != "loss"}
    return clip, {"file": str(path), "source": keypoints.source, **report}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="signavatar fit", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pose_file", help=".pose file (pose-format), local or s3://")
    parser.add_argument("--out", required=True, help="output AMASS-style .npz (local or s3://)")
    parser.add_argument("--config", help="YAML config (body model, extract.keypoints settings)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. extract.keypoints.iterations=500")
    args = parser.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    clip, report = fit_pose_file(args.pose_file, args.config, args.overrides)
    save_npz(clip, args.out)
    print(json.dumps({**report, "out": args.out}))
    return 0
