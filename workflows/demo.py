"""The whole loop on the embedded default, on a local (or the submitting) Ray cluster:

synthesize the demo corpus -> quality control -> train (Ray Train) -> evaluate (paper metrics on
Ray Data) -> generate clips for a few glosses (AMASS npz + JSON) -> preview videos (reference |
reconstruction | generation, as the paper's Fig. 1).

Everything lands under ``run_dir`` (default ``runs/demo``), with ``summary.json`` holding the paths,
the training figures and the evaluation table (``evaluation.groups.<Group>_<split>.acc`` etc.).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from signavatar import storage
from signavatar.config import dump_config
from signavatar.evaluation.protocol import generation_separability
from signavatar.evaluation.run import evaluate
from signavatar.model.pipeline import SignAvatar
from signavatar.motion import arrow_io
from signavatar.motion.export import write_clip
from signavatar.rendering.preview import render_preview
from signavatar.training.run import train
from workflows.common import init_ray, parse_args, run_main, setup_logging

DEMO_CONFIG = str(Path(__file__).resolve().parents[1] / "configs" / "demo.yaml")
log = logging.getLogger("workflows.demo")


def main(argv: list[str] | None = None) -> dict:
    setup_logging()
    _, config = parse_args(__doc__, argv, default_config=DEMO_CONFIG)
    started = time.perf_counter()
    init_ray()
    storage.write_text(storage.join(config.run_dir, "config.yaml"), dump_config(config))

    training = train(config)
    evaluation = evaluate(config, training["dataset"])

    avatar = SignAvatar.from_checkpoint(training["checkpoint"])
    test_clips = arrow_io.read_dataset(training["dataset"], split="test")
    separability = generation_separability(avatar, test_clips, samples_per_gloss=10)
    outputs, previews = {}, {}
    for gloss in training["glosses"][:3]:
        clips = avatar.generate(avatar.text_embeddings([gloss])[0], num_samples=2, seed=0, gloss=gloss)
        outputs[gloss] = [write_clip(c, storage.join(config.run_dir, "generated")) for c in clips]
        reference = next(c for c in test_clips if c.gloss == gloss)
        panels = [reference, avatar.reconstruct(reference, gloss), clips[0]]
        path = storage.join(config.run_dir, "previews", f"{gloss}.mp4")
        render_preview(panels, path, labels=[f"{gloss}: reference", "reconstruction", "generation"],
                       body_model_path=config.body.model_path, gender=config.body.gender,
                       gif_path=path.removesuffix(".mp4") + ".gif")
        previews[gloss] = path

    summary = {
        "run_dir": config.run_dir,
        "synthetic": config.data.dataset is None,
        "seconds": round(time.perf_counter() - started, 1),
        "training": training,
        "evaluation": {k: v for k, v in evaluation.items() if k not in ("markdown", "scores")},
        "generated": outputs,
        "previews": previews,
        # nearest-centroid accuracy of generated clips against the real test clips (6D features)
        "generated_nearest_gloss_acc": separability,
    }
    storage.write_text(storage.join(config.run_dir, "summary.json"), json.dumps(summary, indent=2))
    print(f"\nSignAvatar demo ({'synthetic corpus' if summary['synthetic'] else config.data.dataset}), "
          f"{summary['seconds']} s\n")
    print(evaluation["markdown"])
    print(f"checkpoint:  {training['checkpoint']}")
    print(f"generated:   {storage.join(config.run_dir, 'generated')} ({sum(len(v) for v in outputs.values())} clips)")
    print(f"previews:    {storage.join(config.run_dir, 'previews')} (reference | reconstruction | generation)")
    print(f"generated clips nearest their own gloss: {separability:.1%}")
    print(f"summary:     {storage.join(config.run_dir, 'summary.json')}")
    return summary


if __name__ == "__main__":
    sys.exit(run_main(main))
