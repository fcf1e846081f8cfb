"""The evaluation protocol (Action2Motion / ACTOR, as the SignAvatar paper uses it), without Ray.

Groups are ``Raw``, ``Rec`` and ``Gen`` for the train and test splits:
- ``Raw_<split>``: the dataset's clips (resampled to the model's length);
- ``Rec_<split>``: each of those clips reconstructed (z from the posterior of the clip and its gloss);
- ``Gen_<split>``: ``eval.gen_samples_per_class`` generated clips for each gloss of the split (z ~ N(0, I)).
Every group goes through the recognizer (trained on Raw train); FID is measured against the Raw
group of the same split.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from signavatar.config import EvalConfig
from signavatar.evaluation import metrics
from signavatar.evaluation.recognizer_training import extract_features
from signavatar.evaluation.stgcn import STGCN
from signavatar.model.pipeline import SignAvatar
from signavatar.motion.clip import MotionClip

SPLITS = ("train", "test")


@dataclass
class GroupOutputs:
    """Recognizer outputs for one group: penultimate features, logits, true labels."""

    features: np.ndarray  # [N, D]
    logits: np.ndarray  # [N, K]
    labels: np.ndarray  # [N] recognizer class indices


def check_vocabulary(dataset_glosses: Iterable[str], vocabularies: Mapping[str, Sequence[str]]) -> None:
    """Stop, naming them, when the dataset has glosses that a model (``{"checkpoint": [...],
    "recognizer": [...]}``) does not know."""
    problems = [f"unknown to the {name}: {sorted(set(dataset_glosses) - set(vocab))}"
                for name, vocab in vocabularies.items() if set(dataset_glosses) - set(vocab)]
    if problems:
        raise ValueError("dataset has glosses " + "; ".join(problems))


def clip_seed(clip_id: str, seed: int) -> int:
    """A per-clip seed that does not depend on batching or order."""
    return (zlib.crc32(clip_id.encode()) + seed * 1_000_003) % 2**31


def raw_and_reconstructed(avatar: SignAvatar, clips: Sequence[MotionClip], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw 6D features of ``clips`` at the model's length, and their reconstructions."""
    frames = avatar.config.model.num_frames
    raw = torch.from_numpy(np.stack([c.resample(frames).to_features() for c in clips]))
    cond = avatar.text_embeddings([c.gloss for c in clips])
    return raw, avatar.reconstruct_features(raw, cond, [clip_seed(c.clip_id, seed) for c in clips])


def generated(avatar: SignAvatar, glosses: Sequence[str], seeds: Sequence[int]) -> torch.Tensor:
    """One generated clip per entry of ``glosses``, z from the matching seed."""
    return avatar.generate_features(avatar.text_embeddings(list(glosses)), seeds)


def recognize(recognizer: STGCN, features: torch.Tensor, labels: np.ndarray, batch_size: int) -> GroupOutputs:
    feats, logits = extract_features(recognizer, features, batch_size)
    return GroupOutputs(feats, logits, np.asarray(labels))


def score_group(group: GroupOutputs, reference: GroupOutputs, cfg: EvalConfig) -> dict:
    """Acc (top-1, and top-5 with more than 5 classes), FID against ``reference``, Diversity and
    Multimodality (mean, std over ``cfg.repeats``), plus the sizes actually used."""
    num_classes = group.logits.shape[1]
    div_mean, div_std, s_d = metrics.diversity(group.features, cfg.diversity_size, cfg.repeats, cfg.seed)
    if np.unique(group.labels, return_counts=True)[1].max(initial=0) >= 2:
        multi_mean, multi_std, c, s_l = metrics.multimodality(group.features, group.labels, cfg.multimodality_classes,
                                                              cfg.multimodality_samples, cfg.repeats, cfg.seed)
    else:  # no gloss has two clips in this group: within-class variation is not measurable
        multi_mean, multi_std, c, s_l = math.nan, math.nan, 0, 0
    result = {
        "acc": metrics.accuracy(group.logits, group.labels),
        "fid": metrics.fid(group.features, reference.features),
        "div": (div_mean, div_std),
        "multi": (multi_mean, multi_std),
        "sizes": {"n": int(len(group.labels)), "S_d": s_d, "C": c, "S_l": s_l},
    }
    if num_classes > 5:
        result["acc_top5"] = metrics.accuracy(group.logits, group.labels, k=5)
    return result


def score_groups(groups: dict[str, GroupOutputs], cfg: EvalConfig) -> dict[str, dict]:
    """``{"Raw_train": {...}, "Rec_test": {...}, ...}`` for every group present."""
    return {name: score_group(group, groups[f"Raw_{name.split('_')[1]}"], cfg) for name, group in groups.items()}


def generation_separability(avatar: SignAvatar, reference: Sequence[MotionClip], samples_per_gloss: int,
                            seed: int = 0) -> float:
    """Nearest-centroid accuracy of generated clips against the reference clips' 6D features: how
    often a clip generated for a gloss lies closer to that gloss's real clips than to any other's."""
    frames = avatar.config.model.num_frames
    glosses = sorted({c.gloss for c in reference})
    ref = np.stack([c.resample(frames).to_features().reshape(-1) for c in reference])
    ref_labels = np.array([glosses.index(c.gloss) for c in reference])
    wanted = [g for g in glosses for _ in range(samples_per_gloss)]
    gen = generated(avatar, wanted, [seed + i for i in range(len(wanted))]).reshape(len(wanted), -1).numpy()
    return metrics.nearest_centroid_accuracy(gen, np.array([glosses.index(g) for g in wanted]), ref, ref_labels)


def generation_metrics(avatar: SignAvatar, recognizer: STGCN, classes: Sequence[str], reference: torch.Tensor,
                       reference_glosses: Sequence[str], samples_per_gloss: int, seed: int = 0,
                       batch_size: int = 256) -> dict[str, float]:
    """Recognition accuracy of clips generated for the reference's glosses (``gen_acc``) and the FID
    of their recognizer features against the reference clips' (``gen_fid``): the paper's Gen metrics
    on one split, cheap enough to report every epoch of a sweep."""
    index = {g: i for i, g in enumerate(classes)}
    glosses = sorted(set(reference_glosses))
    wanted = [g for g in glosses for _ in range(samples_per_gloss)]
    gen = recognize(recognizer, generated(avatar, wanted, [seed + i for i in range(len(wanted))]),
                    np.array([index[g] for g in wanted]), batch_size)
    ref = recognize(recognizer, reference, np.array([index[g] for g in reference_glosses]), batch_size)
    return {"gen_acc": metrics.accuracy(gen.logits, gen.labels), "gen_fid": metrics.fid(gen.features, ref.features)}
