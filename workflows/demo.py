"""The whole loop on the embedded default, on a local (or the submitting) Ray cluster:

import the embedded real ASL corpus (``corpora/asl_mpdata``: landmarks -> SMPL-X fit -> quality
control, on Ray Data; ``--config configs/synthetic.yaml`` synthesizes a corpus instead) -> train
(Ray Train) -> evaluate (paper metrics on Ray Data) -> generate clips for a few glosses (AMASS npz +
JSON) -> preview videos (real | reconstruction | generation, as the paper's Fig. 1) and a quality sheet
(per gloss: a real clip of each recording block beside generated samples).

Everything lands under ``run_dir`` (default ``runs/demo``), with ``summary.json`` holding the paths,
the corpus (name, glosses, clips per split, split rule), the training figures, the evaluation table
(``evaluation.groups.<Group>_<split>.acc`` etc.) and the seconds each stage took.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from signavatar import storage
from signavatar.cluster import spare_cpus
from signavatar.config import SignAvatarConfig, dump_config
from signavatar.evaluation.protocol import generation_separability
from signavatar.evaluation.run import evaluate, resolve_judge, resolve_recognizer, start_judge, start_recognizer
from signavatar.model.pipeline import SignAvatar
from signavatar.motion import arrow_io
from signavatar.motion.clip import MotionClip
from signavatar.motion.export import write_clip
from signavatar.rendering.preview import render_preview
from signavatar.rendering.sheet import render_sheet
from signavatar.training.run import train
from workflows.common import init_ray, parse_args, resolve_dataset, run_main
from workflows.logs import setup_logging

DEMO_CONFIG = str(Path(__file__).resolve().parents[1] / "configs" / "demo.yaml")
PREVIEW_VIEWS = ("front", "side", "hands")  # previews: real | reconstruction | generation
SHEET_VIEWS, SHEET_PANEL = ("front", "hands"), (240, 180)  # the quality sheet's panels
log = logging.getLogger("workflows.demo")


def render_quality_sheet(avatar: SignAvatar, clips: list[MotionClip], glosses: list[str], config: SignAvatarConfig,
                         real_word: str, samples: int = 3) -> dict[str, str]:
    """One row per gloss: a real clip of the train and of the test split (on the real corpus, two
    recording blocks) beside ``samples`` generated clips; each panel the body from the front and a
    close-up of the hands, every other frame (32 rows of avatar meshes)."""
    run_dir = config.run_dir
    real: dict[str, dict[str, MotionClip]] = {split: {} for split in ("train", "test")}
    for clip in clips:
        if clip.split in real:
            real[clip.split].setdefault(clip.gloss, clip)
    splits = [split for split, by_gloss in real.items() if by_gloss]
    rows, labels = [], []
    for gloss in glosses:
        if any(gloss not in real[split] for split in splits):
            continue
        generated = avatar.generate(avatar.text_embeddings([gloss])[0], num_samples=samples, seed=0, gloss=gloss)
        rows.append([*(real[split][gloss] for split in splits), *generated])
        labels.append([*(f"{gloss}: {real_word} ({split})" for split in splits),
                       *(f"{gloss}: sample {i + 1}" for i in range(samples))])
    paths = {"animation": storage.join(run_dir, "previews", "quality_sheet.gif"),
             "still": storage.join(run_dir, "previews", "quality_sheet.png")}
    render_sheet(rows, labels, paths["animation"], still_path=paths["still"], size=SHEET_PANEL, views=SHEET_VIEWS,
                 body=config.body.preview, body_model_path=config.body.model_path, gender=config.body.gender,
                 frame_step=2)
    return paths


def main(argv: list[str] | None = None) -> dict:
    setup_logging()
    _, config = parse_args(__doc__, argv, default_config=DEMO_CONFIG)
    started = time.perf_counter()
    stages: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[stage] = round(now - clock, 1)
        clock = now

    init_ray()
    storage.write_text(storage.join(config.run_dir, "config.yaml"), dump_config(config))

    dataset = resolve_dataset(config)
    corpus = arrow_io.read_manifest(dataset).get("corpus")
    lap("import" if config.extract.landmark_corpus and not config.data.dataset else "dataset")
    # the recognizer and the judge depend on the dataset only: they train (or are found in the
    # dataset's cache) beside the CVAE where its training workers leave a CPU free; otherwise the
    # evaluation starts them after training (beside a run that takes every CPU, they would hold
    # CPUs its workers wait for)
    checkpoint = storage.join(config.run_dir, "checkpoint")
    recognizer, judge = resolve_recognizer(config, checkpoint), resolve_judge(config, checkpoint)
    beside = spare_cpus(config.train.num_workers * config.train.cpus_per_worker) >= config.eval.recognizer_cpus
    recognizer_job = start_recognizer(config, dataset, recognizer) if beside and not storage.exists(recognizer) else None
    judge_job = start_judge(config, dataset, judge) if beside and not storage.exists(judge) else None
    training = train(config, dataset)
    lap("train")
    evaluation = evaluate(config, dataset, recognizer_job, judge_job)
    lap("evaluate")

    avatar = SignAvatar.from_checkpoint(training["checkpoint"])
    dataset_clips = arrow_io.read_dataset(dataset)
    test_clips = [c for c in dataset_clips if c.split == "test"]
    separability = generation_separability(avatar, test_clips, samples_per_gloss=10)
    outputs, previews, panels = {}, {}, {}
    corpus_is_real = config.extract.landmark_corpus
    for gloss in training["glosses"][:3]:
        clips = avatar.generate(avatar.text_embeddings([gloss])[0], num_samples=2, seed=0, gloss=gloss)
        outputs[gloss] = [write_clip(c, storage.join(config.run_dir, "generated")) for c in clips]
        reference = next(c for c in test_clips if c.gloss == gloss)
        panels[gloss] = [reference, avatar.reconstruct(reference, gloss), clips[0]]
    lap("generate")
    for gloss, clips in panels.items():
        path = storage.join(config.run_dir, "previews", f"{gloss}.mp4")
        render_preview(clips, path, labels=[f"{gloss}: real" if corpus_is_real else f"{gloss}: reference",
                                            "reconstruction", "generation"],
                       body_model_path=config.body.model_path, gender=config.body.gender, body=config.body.preview,
                       views=PREVIEW_VIEWS, gif_path=path.removesuffix(".mp4") + ".gif")
        previews[gloss] = path
    sheet = render_quality_sheet(avatar, dataset_clips, training["glosses"], config,
                                 "real" if corpus_is_real else "reference")
    lap("render")

    summary = {
        "run_dir": config.run_dir,
        "synthetic": config.data.dataset is None and not config.extract.landmark_corpus,
        "corpus": corpus,
        "seconds": round(time.perf_counter() - started, 1),
        "stage_seconds": stages,
        "training": training,
        "evaluation": {k: v for k, v in evaluation.items() if k not in ("markdown", "scores")},
        "generated": outputs,
        "previews": previews,
        "quality_sheet": sheet,
        # nearest-centroid accuracy of generated clips against the real test clips (6D features)
        "generated_nearest_gloss_acc": separability,
    }
    storage.write_text(storage.join(config.run_dir, "summary.json"), json.dumps(summary, indent=2))
    name = (corpus or {}).get("name", dataset)
    print(f"\nSignAvatar demo ({'synthetic corpus' if summary['synthetic'] else name}), {summary['seconds']} s "
          f"({', '.join(f'{k} {v} s' for k, v in stages.items())})\n")
    if corpus:
        print(f"corpus:      {name}: {len(corpus['glosses'])} glosses, clips per split {corpus['clips_per_split']}, "
              f"split {corpus['split']['rule']}")
    print(evaluation["markdown"])
    print(f"checkpoint:  {training['checkpoint']}")
    print(f"generated:   {storage.join(config.run_dir, 'generated')} ({sum(len(v) for v in outputs.values())} clips)")
    print(f"previews:    {storage.join(config.run_dir, 'previews')} (real | reconstruction | generation)")
    if "quality" in evaluation:
        o = evaluation["quality"]["overall"]
        print(f"quality:     Gen/Raw multimodality {o['multi_ratio']['mean']:.3f}±{o['multi_ratio']['ci95']:.3f}, "
              f"Gen/Rec FID {o['fid_ratio']['mean']:.3f}±{o['fid_ratio']['ci95']:.3f}, Gen DTW joint error "
              f"{o['gen_dtw']['mean']:.4f} m (test split, validation beside it; per gloss and the temperature curve in "
              f"{storage.join(config.run_dir, 'quality.md')})")
    print(f"sheet:       {sheet['animation']} (per gloss: a real clip of each split | generated samples)")
    print(f"generated clips nearest their own gloss: {separability:.1%}")
    print(f"summary:     {storage.join(config.run_dir, 'summary.json')}")
    return summary


if __name__ == "__main__":
    sys.exit(run_main(main))
