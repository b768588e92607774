"""Count `Any` in the package's source: the name `Any` as a Python token (not in
comments or strings), per 1,000 lines of src/twinrecord/**/*.py and *.pyi.

    python tools/count_any.py            # the total, per 1,000 lines
    python tools/count_any.py --files    # per file, most first
    python tools/count_any.py --max 30   # exit 1 above 30 per 1,000 lines
"""

from __future__ import annotations

import argparse
import io
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "twinrecord"


def any_tokens(source: str) -> int:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return sum(1 for tok in tokens if tok.type == tokenize.NAME and tok.string == "Any")


def count() -> dict[Path, tuple[int, int]]:
    """File -> (Any tokens, lines)."""
    found = {}
    for path in sorted([*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.pyi")]):
        source = path.read_text()
        found[path.relative_to(ROOT)] = (any_tokens(source), len(source.splitlines()))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", action="store_true", help="list files, most Any first")
    parser.add_argument("--max", type=float, help="fail above this many per 1,000 lines")
    args = parser.parse_args()
    found = count()
    anys = sum(a for a, _ in found.values())
    lines = sum(n for _, n in found.values())
    rate = 1000 * anys / lines
    if args.files:
        for path, (a, n) in sorted(found.items(), key=lambda item: -item[1][0]):
            print(f"{a:5} {n:6}  {path}")
    print(f"{anys} Any in {lines} lines of src/twinrecord: {rate:.1f} per 1,000 lines")
    return 1 if args.max is not None and rate > args.max else 0


if __name__ == "__main__":
    sys.exit(main())
