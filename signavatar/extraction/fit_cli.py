"""``signavatar fit FILE.pose --out clip.npz``: fit one ``.pose`` file to SMPL-X.

Prints one JSON line: the fit's report (``KeypointFit.report``, computed from the fitted motion
with the body layer; distances in metres of the body frame, the input scaled to the body, see
``markers.marker_errors`` and ``landmarks``) -- ``image_error`` (mean x, y distance over the
landmarks seen), ``lean_max_deg``, ``rotation_deg`` (the input's rotation found and undone),
``plausible`` (and ``problem``), the 3D errors ``wrists``, ``elbows``, ``fingertips``, ``mean``
with their ``coordinates`` (``xyz``/``xy``/``mixed``), ``frames``, ``frames_without_hands``, the
finger-joint errors ``finger_error_2d`` / ``finger_error_3d`` and per finger ``fingers_2d`` /
``fingers_3d`` (per hand, wrist-relative, in palm lengths; ``finger_errors``), the measured
proportions ``bone_scale`` (``proportions``) --
plus ``fit_seconds`` and ``fit_frames_per_s`` (the fit alone: reading the file and process start
excluded). The clip is written as an AMASS-style ``.npz`` (local or s3://) with the report in its
``source["fit"]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import posixpath
import time

import torch

from signavatar.body.body_model import resolve_rest_joints
from signavatar.commands import CommandError, check_out
from signavatar.config import DEFAULT_MAX_CLIP_FRAMES, DEFAULT_MAX_UPLOAD_BYTES, load_config
from signavatar.extraction.estimators.keypoints import fit_landmarks
from signavatar.extraction.pose_files import read_pose_file
from signavatar.motion.amass import save_npz
from signavatar.motion.clip import MotionClip

log = logging.getLogger(__name__)


def fit_pose_file(
    path: str, config_path: str | None = None, overrides: list[str] | None = None
) -> tuple[MotionClip, dict]:
    """Fit ``path`` and return the clip and its error report. The file is bounded like a server
    upload: at most ``DEFAULT_MAX_UPLOAD_BYTES``, ``DEFAULT_MAX_CLIP_FRAMES`` frames."""
    config = load_config(config_path, overrides)
    rest = resolve_rest_joints(config.body.model_path, config.body.gender)
    landmarks = read_pose_file(path, max_bytes=DEFAULT_MAX_UPLOAD_BYTES)
    if landmarks.num_frames > DEFAULT_MAX_CLIP_FRAMES:
        raise CommandError(f"{path}: {landmarks.num_frames} frames; the limit is {DEFAULT_MAX_CLIP_FRAMES} "
                           "(a clip's, as the server's max_clip_frames)")
    start = time.perf_counter()
    fit, keypoints = fit_landmarks(landmarks, rest, config.extract.keypoints)
    seconds = time.perf_counter() - start
    frames = fit.to_frames()
    name = posixpath.basename(str(path)).removesuffix(".pose")
    clip = frames.to_clip(
        gloss="",
        clip_id=name,
        split="unsplit",
        fps=landmarks.fps,
        source={
            "video": str(path),
            "frame_range": [0, landmarks.num_frames],
            "estimator": "keypoints",
            "fit": fit.report,
        },
    )
    timing = {"fit_seconds": round(seconds, 3), "fit_frames_per_s": round(landmarks.num_frames / seconds, 1)}
    return clip, {"file": str(path), "source": keypoints.source, **fit.report, **timing}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="signavatar fit", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pose_file", help=".pose file (pose-format), local or s3://")
    parser.add_argument("--out", required=True, help="output AMASS-style .npz (local or s3://)")
    parser.add_argument("--config", help="YAML config (body model, extract.keypoints settings)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. extract.keypoints.iterations=500")
    args = parser.parse_intermixed_args(argv)
    check_out(args.out, (".npz",))  # before any work
    # The fit's tensors are small: a second intra-op thread gains ~15% on a quiet 2-core machine
    # (278-frame file: 0.61 vs 0.73 s) but took twice the wall time on a busy one (3.8 vs 0.85 CPU s).
    torch.set_num_threads(1)
    # torch.optim imports torch._dynamo on the first optimizer (about 1 s): process start, not fitting.
    importlib.import_module("torch._dynamo")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    clip, report = fit_pose_file(args.pose_file, args.config, args.overrides)
    save_npz(clip, args.out)
    print(json.dumps({**report, "out": args.out}))
    return 0
