"""Bar charts (PNG) of the benchmark results the scripts wrote with `--json`.

    python benchmarks/bench_sqlite.py --json benchmarks/results/sqlite.json
    python benchmarks/bench_postgres.py --json benchmarks/results/postgres.json
    python benchmarks/bench_peers.py --json benchmarks/results/peers.json
    python benchmarks/charts.py benchmarks/results/*.json [--out docs/images]

One chart per table: twinrecord's ratio to its baseline per operation (the raw
driver, or for the peer tables the best other ORM, named beside each row), 1.0 drawn
as a line, bars below it in orange. Peer tables (bench_peers.py: SQLAlchemy 2, Peewee,
Django, Tortoise) get a second chart with every contender's ops/s per operation.
Tables without per-operation rows (bench_footprint.py's startup times) are skipped.
Needs matplotlib (the `bench` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import re
from typing import Any


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def ratio_chart(table: dict[str, Any], path: str) -> None:
    import matplotlib.pyplot as plt

    rows = table["rows"]
    labels = [r["operation"] + (f" — vs {r['best_peer']}" if "best_peer" in r else "")
              for r in rows]
    ratios = [r["ratio"] for r in rows]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.4))
    colors = ["#2a7ab0" if r >= 1 else "#d98b2b" for r in ratios]
    ax.barh(labels, ratios, color=colors)
    ax.axvline(1.0, color="black", linewidth=1)
    if max(ratios) > 8:
        from matplotlib.ticker import FuncFormatter

        ax.set_xscale("log")  # peers can be tens of times slower
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    for y, value in enumerate(ratios):
        ax.text(value, y, f" {value:.2f}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"{table['contender']} ops/s ÷ {table['baseline']} ops/s (higher is better)")
    ax.set_title(table["title"], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def peers_chart(table: dict[str, Any], path: str) -> None:
    import matplotlib.pyplot as plt

    peers: dict[str, dict[str, float]] = table["peers"]
    operations = list(peers)
    names = list(next(iter(peers.values())))
    columns = 2 if len(operations) > 3 else 1
    lines = -(-len(operations) // columns)
    fig, grid = plt.subplots(lines, columns, squeeze=False,
                             figsize=(6 * columns, (0.25 * len(names) + 0.8) * lines + 0.8))
    axes = [ax for line in grid for ax in line]
    for ax in axes[len(operations):]:
        ax.set_visible(False)
    for ax, operation in zip(axes, operations):
        values = [peers[operation].get(n, 0.0) for n in names]
        ax.barh(names, values, color=["#2a7ab0" if n == "twinrecord" else "#999999" for n in names])
        for y, value in enumerate(values):
            ax.text(value, y, f" {value:,.0f}", va="center", fontsize=6)
        ax.set_xlim(0, max(values) * 1.25)
        ax.invert_yaxis()
        ax.set_title(f"{operation} (ops/s, higher is better)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(table["title"].split(",")[0], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="JSON files written with --json")
    parser.add_argument("--out", default=os.path.join("docs", "images"), help="where PNGs go")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    os.makedirs(args.out, exist_ok=True)
    for file in args.results:
        with open(file) as source:
            data = json.load(source)
        for table in data["tables"]:
            if not table.get("rows"):
                continue
            name = f"{data['script'].removeprefix('bench_')}-{slug(table['title'])}"
            path = os.path.join(args.out, f"{name}.png")
            ratio_chart(table, path)
            print(path)
            if "peers" in table:
                peers_path = os.path.join(args.out, f"{name}-ops.png")
                peers_chart(table, peers_path)
                print(peers_path)


if __name__ == "__main__":
    main()
