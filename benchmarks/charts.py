"""Bar charts (PNG) of the benchmark results the scripts wrote with `--json`.

    python benchmarks/bench_sqlite.py --json benchmarks/results/sqlite.json
    python benchmarks/bench_postgres.py --json benchmarks/results/postgres.json
    python benchmarks/bench_peers.py --json benchmarks/results/peers.json
    python benchmarks/charts.py benchmarks/results/*.json [--out docs/images]

One chart per table: twinrecord's ratio to its baseline per operation (the raw
driver, or for the peer tables the best other ORM), 1.0 drawn as a line. Peer tables
get a second chart with every contender's ops/s. Needs matplotlib (the `bench` extra).
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
    labels = [r["operation"] for r in rows]
    ratios = [r["ratio"] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.4))
    colors = ["#2a7ab0" if r >= 1 else "#d98b2b" for r in ratios]
    ax.barh(labels, ratios, color=colors)
    ax.axvline(1.0, color="black", linewidth=1)
    if max(ratios) > 8:
        ax.set_xscale("log")  # peers can be tens of times slower
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
    fig, axes = plt.subplots(len(operations), 1, figsize=(8, 1.3 * len(operations) + 0.8))
    if len(operations) == 1:
        axes = [axes]
    for ax, operation in zip(axes, operations):
        values = [peers[operation].get(n, 0.0) for n in names]
        ax.barh(names, values, color=["#2a7ab0" if n == "twinrecord" else "#999999" for n in names])
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
