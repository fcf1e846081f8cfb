"""Signed sentences on the demo model: smoothness at the joins, intelligibility of the signs cut out
of sentences, and latency of a 3-gloss sentence against one word, each against a baseline measured
in the same run.

    python -m benchmarks.bench_sentence [--checkpoint DIR] [--recognizer FILE] [key=value ...]
    python -m benchmarks.bench_sentence --config configs/demo.yaml --dataset runs/demo/dataset \
        --checkpoint runs/demo/checkpoint --recognizer runs/demo/recognizer.pt     # the real-corpus demo

* smoothness: per frame, the fastest joint's speed and acceleration (``signavatar.motion.
  transitions``) at every frame that joining added, against the 99th percentile over the training
  clips; baselines: the isolated generated clips concatenated as they are, and their quality-
  controlled spans concatenated without a transition.
* intelligibility: the recognizer's accuracy on each sign segment cut out of the sentences vs on
  the isolated generated clips (same glosses, same seeds).
* latency: ``generate_sentences`` of 3 glosses vs one word through the same model call
  (``SignAvatar.generate_many``), median wall and CPU seconds; the decoder calls are counted, and
  the three words generated in one pass without composing show what composing costs. With
  ``--url`` (a running endpoint, e.g. ``serve run serve_configs/local.yaml``), also ``POST
  /generate`` of 3 of its glosses as a sentence vs its first gloss as a word, median wall seconds.

Without ``--checkpoint`` it uses ``runs/synthetic/checkpoint`` when the synthetic demo
(``python -m workflows.demo --config configs/synthetic.yaml``) has run, else trains
the demo configuration in this process (no Ray) into ``runs/bench/sentence/`` (reused later);
the recognizer likewise (``runs/synthetic/recognizer.pt``, else trained on the Raw train clips);
``--workdir`` moves that cache.
``--dataset`` (a Parquet dataset, e.g. the real corpus ``make demo`` imports) gives the training clips
(smoothness reference, recognizer) instead of ``--config``'s synthetic corpus.
``key=value`` overrides apply to ``--config`` (default ``configs/synthetic.yaml``; e.g.
``sentence.transition_speed=1.0``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from signavatar import storage
from signavatar.config import SignAvatarConfig, load_config
from signavatar.data.qc import run_qc
from signavatar.data.synthetic import generate_corpus
from signavatar.evaluation.recognizer_training import (
    extract_features,
    load_recognizer,
    save_recognizer,
    train_recognizer,
)
from signavatar.model.pipeline import SignAvatar
from signavatar.model.sentence import compose_sentence, generate_sentences
from signavatar.motion import arrow_io
from signavatar.motion.clip import MotionClip
from signavatar.motion.transitions import join_kinematics, joint_accelerations, sign_clips, smoothness_reference
from signavatar.model.checkpoint import FILENAME
from signavatar.training.data import build_feature_set, clips_to_features

log = logging.getLogger("benchmarks.bench_sentence")

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "runs" / "synthetic"
WORKDIR = REPO / "runs" / "bench" / "sentence"
GLOSSES_PER_SENTENCE = 3


def _checkpoint(config: SignAvatarConfig, given: str | None, train_clips: list[MotionClip], workdir: Path) -> str:
    """The checkpoint to measure: given, the demo's, or one trained here (kept in ``workdir``)."""
    for candidate in (given, DEMO / "checkpoint", workdir / "checkpoint"):
        if candidate and storage.exists(storage.join(str(candidate), FILENAME)):
            return str(candidate)
    from signavatar.model.clip_encoder import ClipConditioner
    from signavatar.training.loop import train_plain

    log.info("no demo checkpoint: training the demo configuration here (%d epochs)", config.train.epochs)
    train = build_feature_set(train_clips, config.data.num_frames)
    train_plain(config, train, ClipConditioner(config.clip).encode_text(train.glosses),
                checkpoint_dir=str(workdir / "checkpoint"))
    return str(workdir / "checkpoint")


def _recognizer(config: SignAvatarConfig, given: str | None, train_clips: list[MotionClip], workdir: Path):
    for candidate in (given, DEMO / "recognizer.pt", workdir / "recognizer.pt"):
        if candidate and storage.exists(str(candidate)):
            return load_recognizer(str(candidate))
    train = build_feature_set(train_clips, config.data.num_frames)
    model, _ = train_recognizer(train.features.numpy(), train.labels.numpy(), len(train.glosses), config.eval)
    save_recognizer(model, train.glosses, str(workdir / "recognizer.pt"))
    return model, train.glosses


def _timed(fn: Callable[[], object], repeats: int) -> dict[str, float]:
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return {"wall_s": statistics.median(wall), "cpu_s": statistics.median(cpu)}


def _join_report(sentences: list[MotionClip], speed_p99: float, accel_p99: float) -> dict[str, float]:
    speeds, accelerations = zip(*(join_kinematics(s) for s in sentences), strict=True)
    speeds, accelerations = np.concatenate(speeds), np.concatenate(accelerations)
    return {
        "join_frames": int(len(accelerations)),
        "max_speed_over_p99": float(speeds.max() / speed_p99),
        "max_accel_over_p99": float(accelerations.max() / accel_p99),
        "share_speed_within_p99": float(np.mean(speeds <= speed_p99)),
        "share_accel_within_p99": float(np.mean(accelerations <= accel_p99)),
    }


def main(argv: list[str]) -> dict:
    logging.basicConfig(level=logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "configs" / "synthetic.yaml"),
                        help="config whose sentence / qc settings apply (default: %(default)s)")
    parser.add_argument("--dataset", help="Parquet dataset whose train clips are the reference (default: the "
                                          "config's synthetic corpus)")
    parser.add_argument("--checkpoint", help="checkpoint dir (default: runs/synthetic/checkpoint, else trained here)")
    parser.add_argument("--recognizer", help="recognizer file (default: runs/synthetic/recognizer.pt, else trained here)")
    parser.add_argument("--sentences", type=int, default=30, help="3-gloss sentences to measure")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per latency figure")
    parser.add_argument("--workdir", type=Path, default=WORKDIR, help="where a model trained here is kept")
    parser.add_argument("--url", help="also time POST /generate (sentence vs word) on this running endpoint")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of --config")
    args = parser.parse_args(argv)
    config = load_config(args.config, args.overrides)
    torch.manual_seed(0)

    if args.dataset:  # already quality-controlled by its import
        train_clips = arrow_io.read_dataset(args.dataset, split="train")
    else:
        corpus = generate_corpus(config.data.synthetic)
        train_clips = [r.clip for r in (run_qc(c, config.qc) for c in corpus if c.split == "train") if r.accepted]
    checkpoint = _checkpoint(config, args.checkpoint, train_clips, args.workdir)
    avatar = SignAvatar.from_checkpoint(checkpoint, device="cpu")
    recognizer, classes = _recognizer(config, args.recognizer, train_clips, args.workdir)
    speed_p99, accel_p99 = smoothness_reference(train_clips)

    rng = np.random.default_rng(0)
    requests = [(list(rng.choice(avatar.glosses, GLOSSES_PER_SENTENCE, replace=False)), seed)
                for seed in range(args.sentences)]
    sentences, isolated, concatenated, cut = [], [], [], []
    for glosses, seed in requests:
        sentence = generate_sentences(avatar, glosses, seed=seed, cfg=config.sentence, qc=config.qc)[0]
        words = [avatar.generate(avatar.text_embeddings([g])[0], seed=seed, gloss=g)[0] for g in glosses]
        sentences.append(sentence)
        isolated += words
        plain = config.sentence.model_copy(update={"transition_frames": 0})
        concatenated.append(compose_sentence(glosses, words, plain.model_copy(update={"trim": False}), config.qc,
                                             clip_id=f"concat-{seed}"))
        cut.append(compose_sentence(glosses, words, plain, config.qc, clip_id=f"cut-{seed}"))

    def accuracy(clips: list[MotionClip]) -> float:
        logits = extract_features(recognizer, clips_to_features(clips, avatar.config.data.num_frames))[1]
        return float(np.mean([classes[k] == c.gloss for k, c in zip(logits.argmax(1), clips, strict=True)]))

    segments = [sign for s in sentences for sign in sign_clips(s)]
    untrimmed = [s["kept"] is None for sentence in sentences for s in sentence.source["signs"]]
    transitions = [seg.end - seg.start for s in sentences for seg in s.segments if seg.kind == "transition"]

    glosses = requests[0][0]
    calls: list[int] = []
    decode = avatar.model.decode
    avatar.model.decode = lambda z, *a, **k: calls.append(z.shape[0]) or decode(z, *a, **k)
    generate_sentences(avatar, glosses, seed=0, cfg=config.sentence, qc=config.qc)
    del avatar.model.decode
    word = _timed(lambda: avatar.generate_many(avatar.text_embeddings(glosses[:1]), [1], [0], [None], glosses[:1]),
                  args.repeats)
    words = _timed(lambda: avatar.generate_many(avatar.text_embeddings(glosses), [1] * len(glosses),
                                                [0] * len(glosses), [None] * len(glosses), glosses), args.repeats)
    sentence_time = _timed(lambda: generate_sentences(avatar, glosses, seed=0, cfg=config.sentence, qc=config.qc),
                           args.repeats)
    report = {
        "benchmark": "sentence",
        "checkpoint": checkpoint,
        "reference_dataset": args.dataset or "synthetic corpus of the config",
        "sentences": len(sentences),
        "glosses_per_sentence": GLOSSES_PER_SENTENCE,
        "sentence_config": config.sentence.model_dump(),
        "reference_train_clips": {"clips": len(train_clips), "speed_p99_m_s": speed_p99,
                                  "accel_p99_m_s2": accel_p99},
        "smoothness": {
            "sentence": _join_report(sentences, speed_p99, accel_p99),
            "baseline_concatenated_clips": _join_report(concatenated, speed_p99, accel_p99),
            "baseline_cut_spans": _join_report(cut, speed_p99, accel_p99),
            "anywhere_max_accel_over_p99": {
                "sentence": float(max(joint_accelerations(s).max() for s in sentences) / accel_p99),
                "isolated_generated": float(max(joint_accelerations(c).max() for c in isolated) / accel_p99),
            },
            "transition_frames": {"mean": float(np.mean(transitions)), "min": int(min(transitions)),
                                  "max": int(max(transitions))},
        },
        "intelligibility": {
            "acc_sign_segments_in_sentences": accuracy(segments),
            "acc_isolated_generated": accuracy(isolated),
            "signs": len(segments),
            "signs_without_qc_span": int(sum(untrimmed)),
        },
        "latency": {
            "glosses": glosses,
            "decoder_calls_per_sentence": len(calls),
            "decoder_batch": calls,
            "one_word": word,
            "three_words_one_pass": words,
            "sentence": sentence_time,
            "composing_share": 1 - words["cpu_s"] / sentence_time["cpu_s"],
            "ratio_wall": sentence_time["wall_s"] / word["wall_s"],
            "ratio_cpu": sentence_time["cpu_s"] / word["cpu_s"],
            "torch_threads": torch.get_num_threads(),
            "note": "in-process (no HTTP); the machine may be shared: compare ratios, not seconds",
        },
    }
    if args.url:
        report["latency_http"] = _http_latency(args.url, args.repeats)
    print(json.dumps(report, indent=2))
    return report


def _http_latency(url: str, repeats: int) -> dict:
    """POST /generate of a 3-gloss sentence vs one word (JSON answers) on the endpoint at ``url``."""
    import requests

    session = requests.Session()
    glosses = session.get(f"{url}/glosses", timeout=60).json()["glosses"][:GLOSSES_PER_SENTENCE]

    def post(body: dict) -> None:
        session.post(f"{url}/generate", json=body, timeout=120).raise_for_status()

    word = _timed(lambda: post({"text": glosses[0]}), repeats)
    sentence = _timed(lambda: post({"glosses": glosses}), repeats)
    return {"url": url, "glosses": glosses, "one_word": word, "sentence": sentence,
            "ratio_wall": sentence["wall_s"] / word["wall_s"],
            "note": "cpu_s is this client's; the machine may be shared: compare ratios, not seconds"}


if __name__ == "__main__":
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    main(sys.argv[1:])
