"""Result tables laid out like the paper's Table I and Table II.

A table maps a row name to its metrics. Table I rows are ``<Group>_<split>`` with Group in
Raw (the dataset itself), Rec (reconstructed through the encoder posterior), Gen (sampled from
N(0, I)) and split in train/val/test. Columns: Acc (top-1, higher is better), optional Acc top-5, FID
(lower is better, against the Raw reference group), Div and Multi (closer to Raw is better).
Every value is a ``Stat``: the mean over the evaluation's repetitions and the half-width of its
95% confidence interval (shown as ``mean±ci``); ``sizes`` records the sample counts actually used
(e.g. ``n``, ``S_d``, ``C``, ``S_l``), since small groups shrink them.

Table II (the ablation) holds, for each variant, its Raw/Rec/Gen rows of the test split.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

GROUPS = ("Raw", "Rec", "Gen")
SPLITS = ("train", "val", "test")
METRICS = ("acc", "acc_top5", "fid", "div", "multi")
_HEADERS = {"acc": "Acc ↑", "acc_top5": "Acc top-5 ↑", "fid": "FID ↓", "div": "Div →", "multi": "Multi →"}
_DIGITS = {"acc": 3, "acc_top5": 3, "fid": 2, "div": 2, "multi": 2}
TABLE_ONE_ROWS = tuple(f"{g}_{s}" for s in SPLITS for g in GROUPS)
TABLE_TWO_ROWS = tuple(f"{g}_test" for g in GROUPS)


@dataclass(frozen=True)
class Stat:
    mean: float
    ci95: float | None = None

    def format(self, digits: int) -> str:
        if not math.isfinite(self.mean):
            return "–"
        text = f"{self.mean:.{digits}f}"
        return text if self.ci95 is None or not math.isfinite(self.ci95) else f"{text}±{self.ci95:.{digits}f}"


@dataclass(frozen=True)
class Row:
    acc: Stat | None = None
    acc_top5: Stat | None = None
    fid: Stat | None = None
    div: Stat | None = None
    multi: Stat | None = None
    sizes: dict[str, int] = field(default_factory=dict)


Table = dict[str, Row]


def _stat(name: str, value: Any) -> Stat | None:
    """``None``, a number, ``(mean, ci95)``, ``{"mean": .., "ci95": .., ...}`` or a ``Stat``."""
    if value is None or isinstance(value, Stat):
        return value
    if isinstance(value, Mapping):
        value = (value["mean"], value.get("ci95"))
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 2:
            raise ValueError(f"{name}: expected a number or (mean, ci95), got {value!r}")
        mean, ci95 = value
        return Stat(float(mean), None if ci95 is None else float(ci95))
    if isinstance(value, (int, float)):
        return Stat(float(value))
    raise ValueError(f"{name}: expected a number or (mean, ci95), got {value!r}")


def _row(name: str, values: Mapping[str, Any]) -> Row:
    unknown = set(values) - set(METRICS) - {"sizes"}
    if unknown:
        raise ValueError(f"row {name!r}: unknown metrics {sorted(unknown)}; expected {METRICS} and 'sizes'")
    sizes = {str(k): int(v) for k, v in dict(values.get("sizes") or {}).items()}
    return Row(**{m: _stat(f"{name}.{m}", values.get(m)) for m in METRICS}, sizes=sizes)


def build_table(results: Mapping[str, Mapping[str, Any]]) -> Table:
    """Table I rows from ``{"<Group>_<split>": {"acc": .., "fid": .., "div": (mean, ci95), ...}}``.

    Keys must name a known group and split; values may hold ``acc``, ``acc_top5``, ``fid``,
    ``div``, ``multi`` (numbers, (mean, ci95) or ``protocol.summarize`` dicts) and ``sizes`` (dict
    of ints). Rows are ordered train, val, test, Raw, Rec, Gen within a split; missing rows are
    simply absent.
    """
    bad = sorted(set(results) - set(TABLE_ONE_ROWS))
    if bad:
        raise ValueError(f"unknown rows {bad}; expected <Group>_<split> with Group in {GROUPS}, split in {SPLITS}")
    return {key: _row(key, results[key]) for key in TABLE_ONE_ROWS if key in results}


def ablation_table(variants: Mapping[str, Mapping[str, Mapping[str, Any]]],
                   rows: Sequence[str] = TABLE_TWO_ROWS) -> dict[str, Table]:
    """Table II: for each variant (e.g. ``"full"``, ``"without curriculum"``, ``"without quality
    control"``), in the order given, its ``rows`` (Raw/Rec/Gen of the test split) taken from its
    results (``build_table``'s input format)."""
    table: dict[str, Table] = {}
    for name, results in variants.items():
        built = build_table(results)
        missing = [r for r in rows if r not in built]
        if missing:
            raise ValueError(f"variant {name!r} has no {missing} rows (has {sorted(built)})")
        table[name] = {r: built[r] for r in rows}
    return table


def _cell(ours: Stat | None, paper: Stat | None, metric: str, with_paper: bool) -> str:
    digits = _DIGITS[metric]
    text = "–" if ours is None else ours.format(digits)
    if with_paper:
        text += f" (paper {'–' if paper is None else paper.format(digits)})"
    return text


def _sizes(row: Row) -> str:
    return ", ".join(f"{k}={v}" for k, v in row.sizes.items())


def _render(lead: list[str], rows: list[tuple[list[str], Row, Row | None]], with_paper: bool, note: str | None) -> str:
    top5 = any(r.acc_top5 is not None or (p is not None and p.acc_top5 is not None) for _, r, p in rows)
    metrics = [m for m in METRICS if m != "acc_top5" or top5]
    lines = [
        "| " + " | ".join(lead + [_HEADERS[m] for m in metrics] + ["Samples"]) + " |",
        "|" + "---|" * (len(lead) + len(metrics) + 1),
    ]
    for names, row, reference in rows:
        reference = reference or Row()
        cells = [_cell(getattr(row, m), getattr(reference, m), m, with_paper) for m in metrics]
        lines.append("| " + " | ".join(names + cells + [_sizes(row)]) + " |")
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def to_markdown(table: Table, paper: Table | None = None, note: str | None = None) -> str:
    """A markdown table: ``Split | Group`` columns, then Acc, Acc top-5 (only when some row has
    it), FID, Div, Multi as ``mean±ci`` and the sample sizes used; ``note`` goes under it.
    ``paper`` (e.g. ``PAPER_TABLE_I["subset"]``) puts the reference value beside each cell; pass
    it only when the dataset follows the paper's definition."""
    paper_rows = paper or {}
    rows = [(list(reversed(key.split("_", 1))), row, paper_rows.get(key)) for key, row in table.items()]
    return _render(["Split", "Group"], rows, paper is not None, note)


def ablation_markdown(table: Mapping[str, Table], note: str | None = None) -> str:
    """Table II as markdown: ``Variant | Split | Group`` then the Table I columns."""
    rows = [([variant, *reversed(key.split("_", 1))], row, None)
            for variant, rows_ in table.items() for key, row in rows_.items()]
    return _render(["Variant", "Split", "Group"], rows, False, note)


def faithfulness_markdown(faithful: Mapping[str, Mapping]) -> str:
    """The DTW joint errors beside Table I: per drawn group (``Rec_<split>``, ``Gen_<split>``), for
    body / left hand / right hand, the nearest and the mean real clip of the gloss (metres,
    mean±CI95; ``protocol.score_faithfulness`` summarised over the repetitions)."""
    columns = [(part, kind) for part in ("body", "left_hand", "right_hand") for kind in ("nearest", "mean")]
    lines = ["DTW joint error to the real clips of the same gloss and split (metres, root aligned; "
             "`signavatar.evaluation.faithfulness`), mean±CI95:", "",
             "| Split | Group | " + " | ".join(f"{p.replace('_', ' ')} {k}" for p, k in columns) + " |",
             "|" + "---|" * (2 + len(columns))]
    order = [f"{g}_{s}" for s in SPLITS for g in GROUPS if f"{g}_{s}" in faithful]
    for name in order:
        overall = faithful[name]["overall"]
        group, split = name.split("_", 1)
        cells = [_stat(name, overall[f"{p}_{k}"]) if overall[f"{p}_{k}"]["mean"] is not None else None
                 for p, k in columns]
        lines.append(f"| {split} | {group} | " + " | ".join("–" if c is None else c.format(4) for c in cells) + " |")
    return "\n".join(lines) + "\n"


JUDGE_GROUPS = ("Raw", "Fit", "Fit_std", "Rec", "Gen")


def _judge_cell(figure: Mapping[str, Any] | None) -> str:
    if figure is None or figure["mean"] is None:
        return "–"
    return Stat(figure["mean"], figure["ci95"]).format(3)


def judge_markdown(judged: Mapping[str, Mapping], per_gloss_split: str = "test") -> str:
    """The raw-landmark judge's accuracy along the chain (``judging``; mean±CI95 over the
    repetitions): per split Raw (the landmarks) / Fit (projected fits, their own proportions) /
    Fit_std (on the standard skeleton) / Rec / Gen, then per gloss on ``per_gloss_split``."""
    splits = [s for s in SPLITS if f"Raw_{s}" in judged]
    lines = ["Raw-landmark judge (`signavatar.evaluation.judging`: trained on real signers' landmarks, never on a "
             "fit), accuracy mean±CI95:", "",
             "| Split | " + " | ".join(JUDGE_GROUPS) + " |", "|" + "---|" * (1 + len(JUDGE_GROUPS))]
    for split in splits:
        lines.append(f"| {split} | " + " | ".join(_judge_cell(judged.get(f"{g}_{split}", {}).get("acc"))
                                                 for g in JUDGE_GROUPS) + " |")
    if f"Raw_{per_gloss_split}" in judged:
        glosses = list(judged[f"Raw_{per_gloss_split}"]["per_gloss"])
        lines += ["", f"Per gloss ({per_gloss_split} split):", "",
                  "| gloss | " + " | ".join(JUDGE_GROUPS) + " |", "|" + "---|" * (1 + len(JUDGE_GROUPS))]
        for gloss in glosses:
            cells = [_judge_cell(judged.get(f"{g}_{per_gloss_split}", {}).get("per_gloss", {}).get(gloss))
                     for g in JUDGE_GROUPS]
            lines.append(f"| {gloss} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _stat_json(stat: Stat | None) -> dict[str, float | None] | None:
    if stat is None:
        return None
    return {"mean": _finite(stat.mean), "ci95": None if stat.ci95 is None else _finite(stat.ci95)}


def _finite(value: float) -> float | None:
    """JSON has no NaN/inf; they become null."""
    return value if math.isfinite(value) else None


def _rows_json(table: Table) -> dict:
    return {key: {**{m: _stat_json(getattr(row, m)) for m in METRICS}, "sizes": dict(row.sizes)}
            for key, row in table.items()}


def to_json(table: Table, **extra: Any) -> str:
    """``{"rows": {name: {metric: {"mean", "ci95"} | null, ..., "sizes": {...}}}, **extra}``, rows
    in order."""
    return json.dumps({"rows": _rows_json(table), **extra}, indent=2, ensure_ascii=False)


def ablation_json(table: Mapping[str, Table], **extra: Any) -> str:
    """``{"variants": {variant: {row: ...}}, **extra}`` with rows as in ``to_json``."""
    return json.dumps({"variants": {name: _rows_json(rows) for name, rows in table.items()}, **extra},
                      indent=2, ensure_ascii=False)


# The SignAvatar paper's Table I (ASL3DWord; Dong et al., FG 2024). The exact table could not be
# checked here, so only the two values quoted from the paper are filled in (subset setting, with
# curriculum); every other cell is unknown and left empty rather than guessed.
PAPER_TABLE_I: dict[str, Table] = {
    "subset": build_table({"Gen_test": {"acc": 0.941, "fid": 46.4}}),
    "full": {},
}
