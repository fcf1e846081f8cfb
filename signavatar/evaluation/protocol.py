"""The evaluation protocol (Action2Motion / ACTOR, as the SignAvatar paper uses it), without Ray.

Groups are ``Raw``, ``Rec`` and ``Gen`` for each split present (train, val, test):
- ``Raw_<split>``: the dataset's clips (resampled to the model's length);
- ``Rec_<split>``: one reconstruction of each of those clips (z drawn from the clip's posterior);
- ``Gen_<split>``: one generated clip per real clip of the split, with that clip's gloss (z ~ N(0, T^2 I),
  T = ``model.sampling_temperature``, 1 in the paper),
  so Gen has the Raw group's size, length and count per gloss.
Every group goes through the recognizer (trained on Raw train); FID is measured against the Raw
group of the same split.

The whole protocol is repeated ``R = eval.repeats`` times (ACTOR: 20), each repetition with its own
seed: fresh Rec and Gen draws, and fresh Diversity / Multimodality subsets (one draw each). Every
metric of every group is reported as the mean over the repetitions and its 95% confidence
interval ``1.96 * std / sqrt(R)`` (``std`` with ``ddof=0``, as ACTOR computes it).

What does not change between repetitions is computed once per clip (``encode_clips``): the Raw
clip's recognizer outputs, its posterior (mu, logvar) and its joint positions (for the DTW joint
errors of ``faithfulness``). Repetitions (``draw_repetitions``) are then one stream of decoder and
recognizer passes over all their latents (per repetition N posterior samples, N prior samples and
the temperature curve's redraws), ``batch_size`` at a time; every latent comes from its own seed,
so the figures do not depend on how repetitions are grouped or batched.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from signavatar.config import EvalConfig
from signavatar.evaluation import faithfulness, judging, metrics
from signavatar.evaluation.recognizer_training import extract_features
from signavatar.evaluation.stgcn import STGCN
from signavatar.judge.model import Judge
from signavatar.model.pipeline import SignAvatar
from signavatar.motion.clip import MotionClip
from signavatar.seeding import latent_seeds

SPLITS = ("train", "val", "test")
METRIC_NAMES = ("acc", "acc_top5", "fid", "div", "multi")


@dataclass
class GroupOutputs:
    """Recognizer outputs for one group: penultimate features, logits, true labels; and the clips'
    joint positions (``faithfulness.positions``) where the group is scored for faithfulness."""

    features: np.ndarray  # [N, D]
    logits: np.ndarray  # [N, K]
    labels: np.ndarray  # [N] recognizer class indices
    positions: np.ndarray | None = None  # [N, T, J, 3]
    judge_logits: np.ndarray | None = None  # [N, K'] the raw-landmark judge's (judging), where it scores


@dataclass
class ClipEncodings:
    """What every repetition needs of the dataset, one row per clip (``encode_clips``).

    ``key`` identifies a clip for seeding (``clip_key``); ``mu`` / ``logvar`` are the clip's
    posterior; ``features`` / ``logits`` are the recognizer's outputs for the Raw clip and
    ``positions`` its joint positions (``faithfulness.positions``)."""

    split: np.ndarray  # [N] str
    gloss: np.ndarray  # [N] str
    label: np.ndarray  # [N] int, recognizer class index
    key: np.ndarray  # [N] int64
    mu: np.ndarray  # [N, L]
    logvar: np.ndarray  # [N, L]
    features: np.ndarray  # [N, D]
    logits: np.ndarray  # [N, K]
    positions: np.ndarray  # [N, T, J, 3]

    @classmethod
    def concatenate(cls, parts: Iterable[Mapping[str, np.ndarray]]) -> ClipEncodings:
        parts = list(parts)
        if not parts:
            raise ValueError("no clip of the train or test split to evaluate")
        return cls(**{name: np.concatenate([np.asarray(p[name]) for p in parts]) for name in cls.__dataclass_fields__})

    def select(self, rows: np.ndarray) -> ClipEncodings:
        return type(self)(**{name: np.asarray(value)[rows] for name, value in self.columns().items()})

    def columns(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def raw_groups(self) -> dict[str, GroupOutputs]:
        return {f"Raw_{split}": GroupOutputs(self.features[rows], self.logits[rows], self.label[rows],
                                             self.positions[rows])
                for split, rows in self.split_rows().items()}

    def split_rows(self) -> dict[str, np.ndarray]:
        """Row indices of each split present, in ``SPLITS`` order."""
        return {s: np.flatnonzero(self.split == s) for s in SPLITS if (self.split == s).any()}


def check_vocabulary(dataset_glosses: Iterable[str], vocabularies: Mapping[str, Sequence[str]]) -> None:
    """Stop, naming them, when the dataset has glosses that a model (``{"checkpoint": [...],
    "recognizer": [...]}``) does not know."""
    problems = [f"unknown to the {name}: {sorted(set(dataset_glosses) - set(vocab))}"
                for name, vocab in vocabularies.items() if set(dataset_glosses) - set(vocab)]
    if problems:
        raise ValueError("dataset has glosses " + "; ".join(problems))


def clip_key(clip_id: str) -> int:
    """A stable integer per clip id (independent of batching, order and process)."""
    return zlib.crc32(clip_id.encode())


def encode_raw(recognizer: STGCN, clips: Sequence[MotionClip], class_index: Mapping[str, int], num_frames: int,
               batch_size: int, rest_joints: np.ndarray) -> dict[str, np.ndarray]:
    """What of ``clips`` does not depend on the CVAE: the Raw 6D features at ``num_frames`` frames
    through the recognizer, the clips' joint positions, keys and labels (every ``ClipEncodings``
    column but the posterior), with the model features themselves under ``raw``."""
    raw = torch.from_numpy(np.stack([c.resample(num_frames).to_features() for c in clips]))
    glosses = [c.gloss for c in clips]
    features, logits = extract_features(recognizer, raw, batch_size)
    return {
        "split": np.array([c.split for c in clips]),
        "gloss": np.array(glosses),
        "label": np.array([class_index[g] for g in glosses], dtype=np.int64),
        "key": np.array([clip_key(c.clip_id) for c in clips], dtype=np.int64),
        "features": features,
        "logits": logits,
        "positions": faithfulness.positions(raw, rest_joints),
        "raw": raw.numpy(),
    }


def with_posterior(avatar: SignAvatar, raw: Mapping[str, np.ndarray], batch_size: int) -> ClipEncodings:
    """``encode_raw``'s columns completed by the CVAE's posterior of every clip (``batch_size``
    clips per encoder pass)."""
    features = torch.from_numpy(np.asarray(raw["raw"]))
    glosses = [str(g) for g in raw["gloss"]]
    mu, logvar = [], []
    for first in range(0, len(glosses), batch_size):
        part = slice(first, first + batch_size)
        m, lv = avatar.posterior(features[part], avatar.text_embeddings(glosses[part]))
        mu.append(m)
        logvar.append(lv)
    columns = {k: v for k, v in raw.items() if k != "raw"}
    return ClipEncodings(**columns, mu=torch.cat(mu).numpy(), logvar=torch.cat(logvar).numpy())


def encode_clips(avatar: SignAvatar, recognizer: STGCN, clips: Sequence[MotionClip], class_index: Mapping[str, int],
                 batch_size: int, rest_joints: np.ndarray) -> dict[str, np.ndarray]:
    """The ``ClipEncodings`` columns of ``clips``: Raw 6D features at the model's length go through
    the recognizer (``encode_raw``) and the encoder (``with_posterior``)."""
    raw = encode_raw(recognizer, clips, class_index, avatar.config.model.num_frames, batch_size, rest_joints)
    return with_posterior(avatar, raw, batch_size).columns()


def decode_and_recognize(avatar: SignAvatar, recognizer: STGCN, z: torch.Tensor, glosses: Sequence[str],
                         batch_size: int, rest_joints: np.ndarray | None = None, placed: np.ndarray | None = None,
                         judge: Judge | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Recognizer ``(features, logits)`` of the clips decoded from latents ``z`` [N, L] with their
    glosses, ``batch_size`` latents per decoder and recognizer pass; and, for the rows ``placed``
    marks (in its order; None: none), their joint positions (``faithfulness.positions`` on
    ``rest_joints``) and, with a ``judge``, its logits of them (``judging.feature_logits``)."""
    features, logits, positions, judged = [], [], [], []
    for first in range(0, len(z), batch_size):
        part = slice(first, first + batch_size)
        motion = avatar.decode_features(z[part], avatar.text_embeddings(list(glosses[part])))
        f, lg = extract_features(recognizer, motion, batch_size)
        features.append(f)
        logits.append(lg)
        if placed is not None and placed[part].any():
            kept = motion[torch.from_numpy(placed[part])]
            positions.append(faithfulness.positions(kept, rest_joints))
            if judge is not None:
                judged.append(judging.feature_logits(judge, kept, rest_joints))
    return (np.concatenate(features), np.concatenate(logits), np.concatenate(positions) if positions else None,
            np.concatenate(judged) if judged else None)


def draw_repetitions(avatar: SignAvatar, recognizer: STGCN, clips: ClipEncodings, seeds: Sequence[int],
                     batch_size: int, rest_joints: np.ndarray, temperatures: Sequence[float] = (),
                     curve_split: str | None = None,
                     judge: Judge | None = None) -> list[tuple[dict[str, GroupOutputs], dict[float, GroupOutputs]]]:
    """For each repetition seed: its Rec and Gen groups of every split (per clip one posterior sample
    ``z = mu + sigma * eps`` and one prior sample (``SignAvatar.prior_z``), decoded with the clip's gloss;
    with joint positions) and its temperature curve (Gen of ``curve_split`` redrawn with the same
    prior noise scaled by each of ``temperatures``, ``{T: group}``; empty without a curve). All
    latents go through one stream of ``batch_size`` passes; with a ``judge``, the Rec and Gen
    groups carry its logits too."""
    mu, logvar = torch.as_tensor(np.array(clips.mu)), torch.as_tensor(np.array(clips.logvar))  # ray hands read-only arrays
    n = len(clips.key)
    curve_rows = clips.split_rows().get(curve_split) if temperatures else None
    curve_rows = np.zeros(0, np.int64) if curve_rows is None else curve_rows
    cond = avatar.text_embeddings([str(g) for g in clips.gloss])
    latents, glosses = [], []
    for seed in seeds:
        eps = avatar.latents(latent_seeds(clips.key, seed, 1))  # the prior draw's noise (stream 1)
        latents += [mu + avatar.latents(latent_seeds(clips.key, seed, 0)) * (0.5 * logvar).exp(),
                    avatar.prior_z(eps, cond),
                    *(avatar.prior_z(eps[curve_rows], cond[curve_rows], float(t)) for t in temperatures)]
        glosses += [str(g) for g in clips.gloss] * 2 + [str(g) for g in clips.gloss[curve_rows]] * len(temperatures)
    per_seed = 2 * n + len(curve_rows) * len(temperatures)
    placed = np.tile(np.arange(per_seed) < 2 * n, len(seeds))
    features, logits, positions, judged = decode_and_recognize(avatar, recognizer, torch.cat(latents), glosses,
                                                               batch_size, rest_joints, placed, judge)
    draws = []
    for r in range(len(seeds)):
        offset = r * per_seed
        drawn = {}
        for split, rows in clips.split_rows().items():
            for group, at in (("Rec", 0), ("Gen", n)):
                where, placed_rows = offset + at + rows, r * 2 * n + at + rows
                drawn[f"{group}_{split}"] = GroupOutputs(features[where], logits[where], clips.label[rows],
                                                         positions[placed_rows],
                                                         None if judged is None else judged[placed_rows])
        curve = {}
        for k, t in enumerate(temperatures):
            where = offset + 2 * n + k * len(curve_rows) + np.arange(len(curve_rows))
            curve[float(t)] = GroupOutputs(features[where], logits[where], clips.label[curve_rows])
        draws.append((drawn, curve))
    return draws


def score_group(group: GroupOutputs, reference: GroupOutputs, cfg: EvalConfig, seed: int) -> dict:
    """One repetition's metrics of a group: Acc (top-1, and top-5 with more than 5 classes), FID
    against ``reference``, Diversity and Multimodality (one subset draw each, seeded ``seed``), and
    the sample sizes actually used. A metric a group is too small for is NaN (size 0)."""
    n = len(group.labels)
    result: dict = {"acc": metrics.accuracy(group.logits, group.labels) if n else math.nan}
    if group.logits.shape[1] > 5:
        result["acc_top5"] = metrics.accuracy(group.logits, group.labels, k=5) if n else math.nan
    enough = n >= 2 and len(reference.labels) >= 2
    result["fid"] = metrics.fid(group.features, reference.features) if enough else math.nan
    div, s_d = math.nan, 0
    if n >= 2:
        div, _, s_d = metrics.diversity(group.features, cfg.diversity_size, 1, seed)
    if np.unique(group.labels, return_counts=True)[1].max(initial=0) >= 2:
        multi, _, c, s_l = metrics.multimodality(group.features, group.labels, cfg.multimodality_classes,
                                                 cfg.multimodality_samples, 1, seed)
    else:  # no gloss has two clips in this group: within-class variation is not measurable
        multi, c, s_l = math.nan, 0, 0
    result.update(div=div, multi=multi, sizes={"n": n, "S_d": s_d, "C": c, "S_l": s_l})
    return result


def score_repetition(raw: Mapping[str, GroupOutputs], drawn: Mapping[str, GroupOutputs], cfg: EvalConfig,
                     seed: int) -> dict[str, dict]:
    """Every group's metrics in one repetition: ``{"Raw_train": {...}, "Rec_test": {...}, ...}``."""
    groups = {**raw, **drawn}
    return {name: score_group(group, raw[f"Raw_{name.split('_', 1)[1]}"], cfg, seed + i)
            for i, (name, group) in enumerate(sorted(groups.items()))}


def score_faithfulness(clips: ClipEncodings, drawn: Mapping[str, GroupOutputs]) -> dict[str, dict]:
    """One repetition's DTW joint errors (``faithfulness``) of every drawn group against the Raw
    clips of its split: ``{"Rec_test": {"overall": {...}, "per_gloss": {...}}, ...}``."""
    rows = clips.split_rows()
    out = {}
    for name, group in drawn.items():
        split_rows = rows[name.split("_", 1)[1]]
        glosses = clips.gloss[split_rows]
        errors = faithfulness.clip_errors(group.positions, glosses, clips.positions[split_rows], glosses)
        out[name] = faithfulness.summarize_errors(errors, glosses)
    return out


def confidence_interval(values: Sequence[float]) -> float:
    """Half-width of the 95% confidence interval of the mean: ``1.96 * std / sqrt(R)`` (ACTOR's)."""
    values = np.asarray(values, dtype=np.float64)
    return float(1.96 * values.std() / math.sqrt(len(values)))


def summarize(repetitions: Sequence[Mapping[str, Mapping]]) -> dict[str, dict]:
    """Mean and CI95 of every metric of every group over the repetitions (each a
    ``score_repetition`` result): ``{group: {metric: {"mean", "ci95", "std", "values"}, "sizes": ...}}``.
    ``sizes`` are the first repetition's (they do not change between repetitions)."""
    if not repetitions:
        raise ValueError("no repetition to summarize")
    out: dict[str, dict] = {}
    for group in repetitions[0]:
        scores: dict = {"sizes": dict(repetitions[0][group]["sizes"])}
        for metric in METRIC_NAMES:
            if metric not in repetitions[0][group]:
                continue
            values = [float(rep[group][metric]) for rep in repetitions]
            finite = all(math.isfinite(v) for v in values)
            scores[metric] = {"mean": float(np.mean(values)) if finite else math.nan,
                              "ci95": confidence_interval(values) if finite else math.nan,
                              "std": float(np.std(values)) if finite else math.nan,
                              "values": values}
        out[group] = scores
    return out


def _mean_ci(values: Sequence[float]) -> dict[str, float | None]:
    values = [float(v) for v in values]
    if not values or not all(math.isfinite(v) for v in values):
        return {"mean": None, "ci95": None}
    return {"mean": float(np.mean(values)), "ci95": confidence_interval(values)}


def collect_mean_ci(records: Sequence[Mapping]) -> dict:
    """Nested ``{name: number}`` records (one per repetition) -> ``{name: {"mean", "ci95"}}`` (None
    where a repetition's value is not finite)."""
    out: dict = {}
    for key, first in records[0].items():
        if isinstance(first, Mapping):
            out[key] = collect_mean_ci([r[key] for r in records])
        else:
            out[key] = _mean_ci([r[key] for r in records])
    return out


def generated(avatar: SignAvatar, glosses: Sequence[str], seeds: Sequence[int]) -> torch.Tensor:
    """One generated clip per entry of ``glosses``, z from the matching seed."""
    return avatar.generate_features(avatar.text_embeddings(list(glosses)), seeds)


def recognize(recognizer: STGCN, features: torch.Tensor, labels: np.ndarray, batch_size: int) -> GroupOutputs:
    feats, logits = extract_features(recognizer, features, batch_size)
    return GroupOutputs(feats, logits, np.asarray(labels))


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
