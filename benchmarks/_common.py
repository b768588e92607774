"""Timing, reporting and command-line flags shared by the benchmark scripts (never run as tests).

What belongs here: how a contender's run is timed and kept (best-of, alone or
alternating with the other contender), how results are printed, and the flags every
script takes. What is run lives in `_workload` (the shared operations) or in the
scripts (their raw-driver side and database setup).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

Work = Callable[[], Any]
AsyncWork = Callable[[], Awaitable[Any]]
Rates = tuple[float, float]  # (raw ops/s, twinrecord ops/s)
Rows = list[tuple[str, float, float]]  # (operation, raw ops/s, twinrecord ops/s) per line


def argument_parser(
    description: str, quick_help: str = "fewer repetitions (smoke run)", **options: Any
) -> argparse.ArgumentParser:
    """The parser with `--quick`; a script with more flags adds them before parsing."""
    parser = argparse.ArgumentParser(description=description, **options)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument(
        "--json", metavar="FILE", default=None,
        help="also write the tables as JSON (benchmarks/charts.py draws them)",
    )
    return parser


def parse_args(description: str) -> argparse.Namespace:
    return argument_parser(description).parse_args()


def best_rate(work: Work, operations: int, repeats: int, setup: Work | None = None) -> float:
    """Operations per second of the fastest of `repeats` runs of `work`."""
    best = math.inf
    for _ in range(repeats):
        if setup is not None:
            setup()
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return operations / best


def _turns(
    repeats: int, raw_setup: Work | None, our_setup: Work | None, before: Work | None
) -> Iterator[int]:
    """0 (raw) and 1 (twinrecord) in turn, `repeats` times each, with that side's setup
    and then `before` done just ahead of each: the untimed part of `duel` and `aduel`,
    written once so that the two differ only in awaiting the work."""
    for _ in range(repeats):
        for side, setup in enumerate((raw_setup, our_setup)):
            if setup is not None:
                setup()
            if before is not None:
                before()
            yield side


def duel(
    raw: Work, ours: Work, operations: int, repeats: int,
    raw_setup: Work | None = None, our_setup: Work | None = None, before: Work | None = None,
) -> Rates:
    """Ops/s of each contender's best run. The two alternate run by run, so that a noisy
    neighbour on the machine hits both alike; `before` runs ahead of every timed run
    (bench_postgres pins new server sessions to its CPU there)."""
    works, best = (raw, ours), [math.inf, math.inf]
    for side in _turns(repeats, raw_setup, our_setup, before):
        started = time.perf_counter()
        works[side]()
        best[side] = min(best[side], time.perf_counter() - started)
    return operations / best[0], operations / best[1]


async def aduel(
    raw: AsyncWork, ours: AsyncWork, operations: int, repeats: int,
    raw_setup: Work | None = None, our_setup: Work | None = None, before: Work | None = None,
) -> Rates:
    """`duel` for coroutine functions (the setups and `before` stay plain functions)."""
    works, best = (raw, ours), [math.inf, math.inf]
    for side in _turns(repeats, raw_setup, our_setup, before):
        started = time.perf_counter()
        await works[side]()
        best[side] = min(best[side], time.perf_counter() - started)
    return operations / best[0], operations / best[1]


def report(title: str, rows: Rows, contender: str, baseline: str) -> float:
    """Print ops/s and ratios; return the geometric mean of the ratios."""
    print(f"\n{title}")
    print(f"{'operation':<34} {baseline + ' ops/s':>18} {contender + ' ops/s':>20} {'ratio':>7}")
    ratios = []
    for name, raw, ours in rows:
        ratio = ours / raw
        ratios.append(ratio)
        print(f"{name:<34} {raw:>18,.0f} {ours:>20,.0f} {ratio:>7.2f}")
    geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"{'geometric mean':<34} {'':>18} {'':>20} {geomean:>7.2f}")
    return geomean


def ratio(rows: Rows, operation: str) -> float:
    """twinrecord ops/s over raw ops/s on the row named `operation` (for target lines)."""
    for name, raw, ours in rows:
        if name == operation:
            return ours / raw
    raise KeyError(operation)


class Results:
    """The tables a script printed, kept for `--json` (one file per script run)."""

    def __init__(self, script: str) -> None:
        self.script = script
        self.tables: list[dict[str, Any]] = []

    def add(self, title: str, rows: Rows, contender: str, baseline: str) -> float:
        """`report` the table and keep it; returns the geometric mean."""
        self.tables.append({
            "title": title, "contender": contender, "baseline": baseline,
            "rows": [{"operation": n, "baseline_ops": raw, "contender_ops": ours,
                      "ratio": ours / raw} for n, raw, ours in rows],
        })
        return report(title, rows, contender, baseline)

    def write(self, path: str | None) -> None:
        if not path:
            return
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as out:
            json.dump({"script": self.script, "when": time.strftime("%Y-%m-%d %H:%M"),
                       "tables": self.tables}, out, indent=1)
        print(f"results written to {path}")
