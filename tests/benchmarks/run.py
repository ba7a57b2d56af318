"""Benchmark runner: `python -m tests.benchmarks.run [--only NAME] [--quick]` (what `make bench` calls).

Runs every `tests/benchmarks/bench_*.py` module's `main(quick: bool) -> dict`, writes each result to
`var/bench/<name>.json` and prints its rows as a table. A result is a dict with `title`, `rows` (a
list of flat dicts, one table row each) and optionally `goals` (name -> {"target", "met"}).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE.parents[1] / "var" / "bench"


def discover() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of flat dicts (columns in first-seen order)."""
    if not rows:
        return "(no rows)"
    cols: list[str] = []
    for row in rows:
        cols += [k for k in row if k not in cols]
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    line = lambda values: "  ".join(v.rjust(w) for v, w in zip(values, widths, strict=True))  # noqa: E731
    return "\n".join([line(cols), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def run(name: str, quick: bool) -> dict[str, Any]:
    module = importlib.import_module(f"tests.benchmarks.bench_{name}")
    started = time.perf_counter()
    result: dict[str, Any] = module.main(quick)
    result.update(name=name, quick=quick, seconds=round(time.perf_counter() - started, 1))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return result


def report(result: dict[str, Any]) -> str:
    lines = [
        f"== {result['name']}: {result.get('title', '')} ({result['seconds']} s{', quick' if result['quick'] else ''})"
    ]
    lines.append(table(result.get("rows", [])))
    for goal, verdict in result.get("goals", {}).items():
        lines.append(
            f"goal {goal}: {verdict['target']} -> {'met' if verdict['met'] else 'NOT met'} ({verdict.get('value')})"
        )
    lines.append(f"written to {OUT / (result['name'] + '.json')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.benchmarks.run", description=__doc__)
    p.add_argument("--only", action="append", choices=discover(), help="run only this benchmark (repeatable)")
    p.add_argument("--quick", action="store_true", help="small sizes only (a smoke run)")
    args = p.parse_args(argv)
    for name in args.only or discover():
        print(report(run(name, args.quick)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
