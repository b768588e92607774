"""Timing and reporting shared by the benchmark scripts (never run as tests)."""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

Work = Callable[[], Any]


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    return parser.parse_args()


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


def best_rate_async(
    work: Callable[[], Awaitable[Any]], operations: int, repeats: int,
    setup: Callable[[], Awaitable[Any]] | None = None,
) -> Callable[[], Awaitable[float]]:
    async def measure() -> float:
        best = math.inf
        for _ in range(repeats):
            if setup is not None:
                await setup()
            started = time.perf_counter()
            await work()
            best = min(best, time.perf_counter() - started)
        return operations / best

    return measure


def report(title: str, rows: list[tuple[str, float, float]], contender: str, baseline: str) -> float:
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


def run_async(coroutine: Awaitable[Any]) -> Any:
    return asyncio.run(coroutine)  # type: ignore[arg-type]
