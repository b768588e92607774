"""Import time and memory per loaded record.

    python benchmarks/bench_footprint.py [--quick] [--json FILE]

- Import time: a fresh interpreter running `import X` (best of 5), for twinrecord,
  SQLAlchemy and Peewee (those installed), and twinrecord's first query on SQLite
  (import, model class, configure, one query) against the bare interpreter.
- Memory: tracemalloc's count of bytes held by 100,000 records loaded from SQLite,
  against 100,000 plain Pydantic models of the same fields built from the same rows.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(__file__))
from _common import Results, argument_parser

FIRST_QUERY = """
import sqlite3, sys
from typing import Optional
from twinrecord import BaseActiveRecord
class User(BaseActiveRecord):
    id: Optional[int] = None
    name: str
User.configure("sqlite:///" + sys.argv[1])
User.create_table()
User.find_one(1)
"""


def startup(code: str, *args: str, repeats: int = 5) -> float:
    """Seconds for a fresh interpreter to run `code` (best of `repeats`)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, *args], check=True)
        best = min(best, time.perf_counter() - started)
    return best


def memory(rows: int) -> tuple[float, float]:
    """Bytes per record: twinrecord's loaded records, plain Pydantic models."""
    from typing import Optional

    from pydantic import BaseModel

    from twinrecord import BaseActiveRecord

    class Person(BaseActiveRecord):
        __table_name__ = "people"
        id: Optional[int] = None
        name: str
        email: str
        age: int
        score: float

    class PlainPerson(BaseModel):
        id: Optional[int] = None
        name: str
        email: str
        age: int
        score: float

    path = os.path.join(tempfile.mkdtemp(), "footprint.db")
    Person.configure(f"sqlite:///{path}")
    Person.create_table()
    Person.insert_many(
        [Person(name=f"n{i}", email=f"e{i}@x", age=i % 90, score=i / 3) for i in range(rows)]
    )
    raw = Person.backend().fetch_all("SELECT id, name, email, age, score FROM people")

    def held(make: object) -> float:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        made = make()  # type: ignore[operator]
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert len(made) == rows
        return (after - before) / rows

    ours = held(lambda: Person.query().all())
    plain = held(lambda: [PlainPerson(**r) for r in raw])
    Person.backend().close()
    return ours, plain


def main() -> None:
    args = argument_parser(__doc__.splitlines()[0]).parse_args()
    repeats = 3 if args.quick else 5
    bare = startup("pass", repeats=repeats)
    print(f"bare interpreter: {bare * 1000:.0f} ms")
    print("import time (fresh interpreter, minus the bare one):")
    for module in ("twinrecord", "sqlalchemy", "peewee"):
        if importlib.util.find_spec(module) is None:
            print(f"  {module:<12} not installed")
            continue
        print(f"  {module:<12} {(startup(f'import {module}', repeats=repeats) - bare) * 1000:6.0f} ms")
    path = os.path.join(tempfile.mkdtemp(), "first.db")
    first = startup(FIRST_QUERY, path, repeats=repeats) - bare
    print(f"  twinrecord import + model + configure + first query (SQLite): {first * 1000:.0f} ms")
    ours, plain = memory(20_000 if args.quick else 100_000)
    print(f"memory per loaded record: twinrecord {ours:.0f} bytes, plain Pydantic model "
          f"{plain:.0f} bytes ({ours / plain:.2f}x)")
    results = Results("bench_footprint")
    results.tables.append({"title": "memory per record (bytes)", "contender": "twinrecord",
                           "baseline": "plain Pydantic", "rows": [
                               {"operation": "bytes per loaded record", "baseline_ops": plain,
                                "contender_ops": ours, "ratio": ours / plain}]})
    results.write(args.json)


if __name__ == "__main__":
    main()
