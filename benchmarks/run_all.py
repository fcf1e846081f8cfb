"""Run every ``benchmarks/bench_*.py`` (each prints one JSON object) and collect the results in
``runs/bench/<name>.json``, then print each one's ``summary`` line (``benchmarks.timing``).
``python -m benchmarks.run_all [name ...]`` runs only those named."""

from __future__ import annotations

import importlib
import json
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "runs" / "bench"


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO)
    names = argv or sorted(p.stem for p in HERE.glob("bench_*.py"))
    OUT.mkdir(parents=True, exist_ok=True)
    summaries: dict[str, dict | None] = {}
    for name in names:
        report = importlib.import_module(f"benchmarks.{name}").main([])
        (OUT / f"{name}.json").write_text(json.dumps(report, indent=2))
        logging.info("%s -> %s", name, OUT / f"{name}.json")
        summaries[name] = report.get("summary")
    for name, line in summaries.items():  # start-up apart from steady state, one line per benchmark
        print(f"{name}: {json.dumps(line)}")


if __name__ == "__main__":
    main(sys.argv[1:])
