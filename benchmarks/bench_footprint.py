"""Import time and memory per loaded record.

    python benchmarks/bench_footprint.py [--quick] [--runs N] [--json FILE]

- Import time: a fresh interpreter running `import X`, for twinrecord, SQLAlchemy and
  Peewee (those installed), minus a fresh interpreter running nothing; the median of
  `--runs` runs (9; 5 with --quick), with the spread (lowest-highest). The runs
  alternate between the contenders, so a noisy neighbour hits all alike.
- First query, cold: a fresh interpreter that imports the ORM, declares a model,
  connects to a new SQLite file, creates the table and runs one primary-key lookup
  (twinrecord, SQLAlchemy 2 ORM session, Peewee), minus the bare interpreter; median.
  "Cold" is a new process: the modules' bytecode caches and the OS file cache are warm,
  as they are for an application that restarts.
- Memory: tracemalloc's count of bytes held by 100,000 records loaded from SQLite,
  against 100,000 plain Pydantic models of the same fields built from the same rows.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(__file__))
from _common import Results, argument_parser

FIRST_QUERY = {
    "twinrecord": """
import sys
from typing import Optional
from twinrecord import BaseActiveRecord
class User(BaseActiveRecord):
    id: Optional[int] = None
    name: str
User.configure("sqlite:///" + sys.argv[1])
User.create_table()
User.find_one(1)
""",
    "sqlalchemy": """
import sys
from sqlalchemy import Integer, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column
class Base(DeclarativeBase):
    pass
class User(Base):
    __tablename__ = "users"
    id = mapped_column(Integer, primary_key=True)
    name = mapped_column(String)
engine = create_engine("sqlite:///" + sys.argv[1])
Base.metadata.create_all(engine)
with Session(engine) as session:
    session.get(User, 1)
""",
    "peewee": """
import sys
import peewee
db = peewee.SqliteDatabase(sys.argv[1])
class User(peewee.Model):
    name = peewee.TextField()
    class Meta:
        database = db
        table_name = "users"
db.create_tables([User])
User.get_or_none(User.id == 1)
""",
}


def seconds(code: str, *args: str) -> float:
    """Wall time of one fresh interpreter running `code`."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], check=True)
    return time.perf_counter() - started


def medians(codes: dict[str, tuple[str, ...]], runs: int) -> dict[str, list[float]]:
    """Each code's `runs` timings, in turns (code A, code B, ..., then again)."""
    times: dict[str, list[float]] = {name: [] for name in codes}
    for _ in range(runs):
        for name, (code, *args) in codes.items():
            times[name].append(seconds(code, *args))
    return times


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
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=None, help="fresh interpreters per figure")
    args = parser.parse_args()
    runs = args.runs or (5 if args.quick else 9)
    modules = [m for m in ("twinrecord", "sqlalchemy", "peewee") if importlib.util.find_spec(m)]
    directory = tempfile.mkdtemp(prefix="twinrecord-footprint-")
    codes: dict[str, tuple[str, ...]] = {"bare": ("pass",)}
    for module in modules:
        codes[f"import {module}"] = (f"import {module}",)
        # A new database file per run would need a new argument per run: the table is
        # created once (IF NOT EXISTS for all three), the lookup finds nothing each time.
        codes[f"first query {module}"] = (FIRST_QUERY[module], os.path.join(directory, f"{module}.db"))
    times = medians(codes, runs)
    bare = statistics.median(times["bare"])
    print(f"fresh interpreter running nothing: {bare * 1000:.0f} ms (median of {runs})")
    print(f"{'ms over the bare interpreter':<44}{'median':>8}{'lowest':>8}{'highest':>8}")
    rows = []
    for name, values in times.items():
        if name == "bare":
            continue
        over = [(v - bare) * 1000 for v in values]
        median = statistics.median(over)
        print(f"{name:<44}{median:>8.0f}{min(over):>8.0f}{max(over):>8.0f}")
        rows.append((name, median))
    ours, plain = memory(20_000 if args.quick else 100_000)
    print(f"memory per loaded record: twinrecord {ours:.0f} bytes, plain Pydantic model "
          f"{plain:.0f} bytes ({ours / plain:.2f}x)")
    results = Results("bench_footprint")
    results.tables.append({"title": "memory per record (bytes)", "contender": "twinrecord",
                           "baseline": "plain Pydantic", "rows": [
                               {"operation": "bytes per loaded record", "baseline_ops": plain,
                                "contender_ops": ours, "ratio": ours / plain}]})
    results.tables.append({"title": "startup (ms over a bare interpreter, median)",
                           "kind": "milliseconds", "values": dict(rows)})
    results.write(args.json)


if __name__ == "__main__":
    main()
