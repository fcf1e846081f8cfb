"""Result tables laid out like the paper's Table I (and a Table II-style ablation).

A table maps a row name to its metrics. Table I rows are ``<Group>_<split>`` with Group in
Raw (the dataset itself), Rec (reconstructed through the encoder posterior), Gen (sampled from
N(0, I)) and split in train/test. Columns: Acc (top-1, higher is better), optional Acc top-5, FID
(lower is better, against the Raw reference group), Div and Multi (closer to Raw is better).
Every value is a ``Stat`` (mean and optional std over repeats); ``sizes`` records the sample
counts actually used (e.g. ``n``, ``S_d``, ``C``, ``S_l``), since small groups shrink them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

GROUPS = ("Raw", "Rec", "Gen")
SPLITS = ("train", "test")
METRICS = ("acc", "acc_top5", "fid", "div", "multi")
_HEADERS = {"acc": "Acc ↑", "acc_top5": "Acc top-5 ↑", "fid": "FID ↓", "div": "Div →", "multi": "Multi →"}
_DIGITS = {"acc": 3, "acc_top5": 3, "fid": 2, "div": 2, "multi": 2}
TABLE_ONE_ROWS = tuple(f"{g}_{s}" for s in SPLITS for g in GROUPS)


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float | None = None

    def format(self, digits: int) -> str:
        text = f"{self.mean:.{digits}f}"
        return text if self.std is None else f"{text}±{self.std:.{digits}f}"


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
    """``None``, a number, ``(mean, std)``, ``{"mean": .., "std": ..}`` or a ``Stat``."""
    if value is None or isinstance(value, Stat):
        return value
    if isinstance(value, Mapping):
        value = (value["mean"], value.get("std"))
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 2:
            raise ValueError(f"{name}: expected a number or (mean, std), got {value!r}")
        mean, std = value
        return Stat(float(mean), None if std is None else float(std))
    if isinstance(value, (int, float)):
        return Stat(float(value))
    raise ValueError(f"{name}: expected a number or (mean, std), got {value!r}")


def _row(name: str, values: Mapping[str, Any]) -> Row:
    unknown = set(values) - set(METRICS) - {"sizes"}
    if unknown:
        raise ValueError(f"row {name!r}: unknown metrics {sorted(unknown)}; expected {METRICS} and 'sizes'")
    sizes = {str(k): int(v) for k, v in dict(values.get("sizes") or {}).items()}
    return Row(**{m: _stat(f"{name}.{m}", values.get(m)) for m in METRICS}, sizes=sizes)


def build_table(results: Mapping[str, Mapping[str, Any]]) -> Table:
    """Table I rows from ``{"<Group>_<split>": {"acc": .., "fid": .., "div": (mean, std), ...}}``.

    Keys must name a known group and split; values may hold ``acc``, ``acc_top5``, ``fid``,
    ``div``, ``multi`` (numbers or (mean, std)) and ``sizes`` (dict of ints). Rows are ordered
    train before test, Raw, Rec, Gen within a split; missing rows are simply absent.
    """
    bad = sorted(set(results) - set(TABLE_ONE_ROWS))
    if bad:
        raise ValueError(f"unknown rows {bad}; expected <Group>_<split> with Group in {GROUPS}, split in {SPLITS}")
    return {key: _row(key, results[key]) for key in TABLE_ONE_ROWS if key in results}


def ablation_rows(variants: Mapping[str, Mapping[str, Mapping[str, Any]]], row: str = "Gen_test") -> Table:
    """A Table II-style comparison: one row per variant (e.g. ``"with curriculum"``,
    ``"without curriculum"``, ``"without QC"``), taken from row ``row`` of each variant's results
    (same input format as ``build_table``), in the order given."""
    table: Table = {}
    for name, results in variants.items():
        built = build_table(results)
        if row not in built:
            raise ValueError(f"variant {name!r} has no {row!r} row (has {sorted(built)})")
        table[name] = built[row]
    return table


def _cell(ours: Stat | None, paper: Stat | None, metric: str, with_paper: bool) -> str:
    digits = _DIGITS[metric]
    text = "–" if ours is None else ours.format(digits)
    if with_paper:
        text += f" (paper {'–' if paper is None else paper.format(digits)})"
    return text


def _sizes(row: Row) -> str:
    return ", ".join(f"{k}={v}" for k, v in row.sizes.items())


def to_markdown(table: Table, paper: Table | None = None) -> str:
    """A markdown table: ``Split | Group`` columns for Table I rows (``Variant`` otherwise), then
    Acc, Acc top-5 (only when some row has it), FID, Div, Multi as ``mean±std`` and the sample
    sizes used. ``paper`` (e.g. ``PAPER_TABLE_I["subset"]``) puts the reference value beside each
    cell; pass it only when the dataset follows the paper's definition."""
    rows = list(table.items())
    with_paper = paper is not None
    paper = paper or {}
    top5 = any(r.acc_top5 is not None for r in [*table.values(), *paper.values()])
    metrics = [m for m in METRICS if m != "acc_top5" or top5]
    table_one = all(key in TABLE_ONE_ROWS for key in table)
    lead = ["Split", "Group"] if table_one else ["Variant"]
    lines = [
        "| " + " | ".join(lead + [_HEADERS[m] for m in metrics] + ["Samples"]) + " |",
        "|" + "---|" * (len(lead) + len(metrics) + 1),
    ]
    for key, row in rows:
        names = list(reversed(key.split("_", 1))) if table_one else [key]
        reference = paper.get(key, Row())
        cells = [_cell(getattr(row, m), getattr(reference, m), m, with_paper) for m in metrics]
        lines.append("| " + " | ".join(names + cells + [_sizes(row)]) + " |")
    return "\n".join(lines) + "\n"


def _stat_json(stat: Stat | None) -> dict[str, float | None] | None:
    if stat is None:
        return None
    return {"mean": _finite(stat.mean), "std": None if stat.std is None else _finite(stat.std)}


def _finite(value: float) -> float | None:
    """JSON has no NaN/inf; they become null."""
    return value if math.isfinite(value) else None


def to_json(table: Table) -> str:
    """``{"rows": {name: {metric: {"mean", "std"} | null, ..., "sizes": {...}}}}``, rows in order."""
    rows = {
        key: {**{m: _stat_json(getattr(row, m)) for m in METRICS}, "sizes": dict(row.sizes)}
        for key, row in table.items()
    }
    return json.dumps({"rows": rows}, indent=2, ensure_ascii=False)


# The SignAvatar paper's Table I (ASL3DWord). The exact table could not be checked here, so only
# the values quoted in DESIGN.md are filled in (subset setting, with curriculum); every other cell
# is unknown and left empty rather than guessed.
PAPER_TABLE_I: dict[str, Table] = {
    "subset": build_table({"Gen_test": {"acc": 0.941, "fid": 46.4}}),
    "full": {},
}
