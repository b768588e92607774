"""CTEs, window functions, set operations and the refusals of §13.7 (API.md §13.4 to
§13.7), in every backend x kind. Expected rows come from plain Python.
"""

from __future__ import annotations

from datetime import date
from typing import Optional

import pytest
from pydantic import Field

from twinrecord import FeatureNotSupported, StatementInvalid, cte, func

TREE = [  # name, parent index
    ("root", None),
    ("a", 0),
    ("b", 0),
    ("a1", 1),
    ("a2", 1),
    ("a1x", 3),
    ("other", None),
    ("other1", 6),
]
STAFF = [  # name, dept, salary
    ("ann", "eng", 120.0),
    ("bob", "eng", 100.0),
    ("cid", "eng", 140.0),
    ("dan", "eng", 90.0),
    ("dee", "ops", 90.0),
    ("eve", "ops", 80.0),
    ("fay", "ops", 95.0),
    ("gus", "ops", 70.0),
    ("hal", "hr", 60.0),
]
SALES = [(date(2024, 1, d), float(d * 10)) for d in range(1, 8)]


def models(db):
    class Category(db.Base):
        __table_name__ = "categories"
        id: Optional[int] = None
        name: str = Field(max_length=40)
        parent_id: Optional[int] = None

    class Staff(db.Base):
        __table_name__ = "staff"
        id: Optional[int] = None
        name: str = Field(max_length=20)
        dept: str = Field(max_length=20)
        salary: float

    class Sale(db.Base):
        __table_name__ = "sales"
        id: Optional[int] = None
        day: date
        amount: float

    return Category, Staff, Sale


async def seeded(db):
    Category, Staff, Sale = models(db)
    await db.create(Category, Staff, Sale)
    saved = []
    for name, parent in TREE:
        record = Category(name=name, parent_id=saved[parent].id if parent is not None else None)
        await db(record.save())
        saved.append(record)
    await db(Staff.insert_many([Staff(name=n, dept=d, salary=s) for n, d, s in STAFF]))
    await db(Sale.insert_many([Sale(day=d, amount=a) for d, a in SALES]))
    return Category, Staff, Sale, saved


def subtree(root: int) -> set[str]:
    names = {TREE[root][0]}
    grew = True
    while grew:
        grew = False
        for name, parent in TREE:
            if parent is not None and TREE[parent][0] in names and name not in names:
                names.add(name)
                grew = True
    return names


# ---- §13.4 CTEs ----------------------------------------------------------------------------
async def test_cte_in_a_subquery_and_as_a_join(db):
    Category, Staff, _, _ = await seeded(db)
    rich = cte("rich", Staff.query().where(Staff.c.salary > 95))
    found = await db(Staff.query().where(Staff.c.id.in_(rich.c.id)).order_by(Staff.c.id).pluck(Staff.c.name))
    assert found == [n for n, _, s in STAFF if s > 95]
    joined = await db(Staff.query().inner_join(rich, alias="r", on="r.id = staff.id").count())
    assert joined == sum(1 for *_, s in STAFF if s > 95)


async def test_recursive_cte_returns_models(db):
    Category, _, _, saved = await seeded(db)
    tree = cte(
        "tree", Category.query().where(Category.c.id == saved[1].id),
        recursive=lambda t: Category.query().inner_join(t, on=Category.c.parent_id == t.c.id),
    )
    nodes = await db(Category.query().from_(tree).all())
    assert sorted(n.name for n in nodes) == sorted(subtree(1))
    assert all(isinstance(n, Category) for n in nodes)
    deeper = await db(Category.query().from_(tree).where(Category.c.id != saved[1].id).order_by(Category.c.id).pluck(Category.c.name))
    assert deeper == [n for n, _ in TREE if n in subtree(1) - {"a"}]


async def test_recursive_cte_with_a_growing_string_column(db):
    Category, _, _, saved = await seeded(db)
    # MySQL/MariaDB type CTE columns from the anchor: the path is cast wide first
    paths = cte(
        "paths",
        Category.query().where(Category.c.parent_id == None)  # noqa: E711
        .select(Category.c.id, Category.c.name.cast(str).alias("path")),
        recursive=lambda p: Category.query().inner_join(p, on=Category.c.parent_id == p.c.id)
        .select(Category.c.id, (p.c.path + "/" + Category.c.name).alias("path")),
    )
    # read as `categories`, the CTE's extra columns are named by their labels
    found = await db(Category.query().from_(paths).select("path").pluck())
    found.sort()
    expected = []
    for i, (name, parent) in enumerate(TREE):
        parts = [name]
        while parent is not None:
            parts.insert(0, TREE[parent][0])
            parent = TREE[parent][1]
        expected.append("/".join(parts))
    assert found == sorted(expected)


async def test_cte_update_and_delete_act_on_the_rows_selected(db):
    Category, Staff, _, _ = await seeded(db)
    low = cte("low", Staff.query().where(Staff.c.salary < 85))
    changed = await db(Staff.query().where(Staff.c.id.in_(low.c.id)).update({"salary": Staff.c.salary + 1000}))
    assert changed == sum(1 for *_, s in STAFF if s < 85)
    assert await db(Staff.query().where(Staff.c.salary > 1000).count()) == changed
    gone = await db(Staff.query().where(Staff.c.id.in_(low.c.id)).delete())
    assert gone == 0  # the CTE reads the salaries as they are now: none is < 85 any more
    high = cte("high", Staff.query().where(Staff.c.salary > 1000))
    assert await db(Staff.query().where(Staff.c.id.in_(high.c.id)).delete()) == changed


async def test_mariadb_recursion_truncation_is_an_error(db):
    Category, _, _, _ = await seeded(db)
    counter = cte(
        "counter", Category.query().where(Category.c.parent_id == None).select(Category.c.id.alias("n")),  # noqa: E711
        recursive=lambda c: Category.query().from_(c).select("n + 1").where("n < ?", (5000,)),
    )
    query = Category.query().from_(counter).select(func.count().alias("n"))
    if db.backend_name == "mysql":
        # MariaDB stops at max_recursive_iterations (1000) without an error; MySQL raises
        with pytest.raises(StatementInvalid, match=r"recursive|recursion"):
            await db(query.pluck())
    else:
        assert await db(query.pluck()) == [sum(5000 - root_id + 1 for root_id in (1, 7))]


# ---- §13.5 window functions -------------------------------------------------------------
async def test_top_three_per_department_with_a_window(db):
    _, Staff, _, _ = await seeded(db)
    rank = func.row_number().over(partition_by=Staff.c.dept, order_by=Staff.c.salary.desc())
    ranked = Staff.query().select(*Staff.c, rank.alias("rn")).subquery("ranked")
    top3 = await db(Staff.query().from_(ranked).where("rn <= ?", (3,)).all())
    expected = set()
    for dept in {d for _, d, _ in STAFF}:
        members = sorted((s for s in STAFF if s[1] == dept), key=lambda s: -s[2])
        expected |= {s[0] for s in members[:3]}
    assert {s.name for s in top3} == expected
    assert all(isinstance(s, Staff) for s in top3)


async def test_running_total_and_frames(db):
    _, _, Sale, _ = await seeded(db)
    running = func.sum(Sale.c.amount).over(order_by=Sale.c.day, rows=(None, 0))
    moving = func.sum(Sale.c.amount).over(order_by=Sale.c.day, rows=(-1, 1))
    rows = await db(Sale.query().select(Sale.c.day, running.alias("total"), moving.alias("around")).order_by(Sale.c.day).to_dicts())
    amounts = [a for _, a in SALES]
    assert [r["day"] for r in rows] == [d for d, _ in SALES]
    assert [r["total"] for r in rows] == [sum(amounts[: i + 1]) for i in range(len(amounts))]
    assert [r["around"] for r in rows] == [sum(amounts[max(0, i - 1): i + 2]) for i in range(len(amounts))]
    assert all(type(r["total"]) is float for r in rows)


# ---- §13.6 set operations ------------------------------------------------------------------
async def test_union_returns_models_ordered_and_limited_as_a_whole(db):
    _, Staff, _, _ = await seeded(db)
    union = Staff.query().where(Staff.c.dept == "hr").union(Staff.query().where(Staff.c.salary >= 120))
    found = await db(union.order_by(Staff.c.name).limit(2).all())
    expected = sorted(n for n, d, s in STAFF if d == "hr" or s >= 120)[:2]
    assert [s.name for s in found] == expected
    assert await db(union.count()) == sum(1 for _, d, s in STAFF if d == "hr" or s >= 120)
    filtered = await db(union.where(Staff.c.salary > 100).pluck(Staff.c.name))
    assert sorted(filtered) == sorted(n for n, d, s in STAFF if (d == "hr" or s >= 120) and s > 100)


async def test_union_all_intersect_except_and_members_with_their_own_limit(db):
    _, Staff, _, _ = await seeded(db)
    eng = Staff.query().where(Staff.c.dept == "eng").select(Staff.c.dept)
    both = await db(eng.union(eng, all=True).pluck())
    assert both == ["eng"] * 2 * sum(1 for _, d, _ in STAFF if d == "eng")
    names = Staff.query().select(Staff.c.name)
    well_paid = Staff.query().where(Staff.c.salary > 90).select(Staff.c.name)
    assert sorted(await db(names.intersect(well_paid).pluck())) == sorted(n for n, _, s in STAFF if s > 90)
    assert sorted(await db(names.except_(well_paid).pluck())) == sorted(n for n, _, s in STAFF if s <= 90)
    cheapest = Staff.query().order_by(Staff.c.salary).limit(2)
    priciest = Staff.query().order_by(Staff.c.salary.desc()).limit(1)
    ends = await db(cheapest.union(priciest).order_by(Staff.c.salary).all())
    by_salary = sorted(STAFF, key=lambda s: s[2])
    assert [s.name for s in ends] == [by_salary[0][0], by_salary[1][0], by_salary[-1][0]]
    with pytest.raises(StatementInvalid, match="different numbers of columns"):
        names.union(Staff.query())


async def test_intersect_all_refused_on_sqlite_else_runs(db):
    _, Staff, _, _ = await seeded(db)
    depts = Staff.query().select(Staff.c.dept)
    query = depts.intersect(depts, all=True)
    if db.backend_name == "sqlite":
        with pytest.raises(FeatureNotSupported, match="INTERSECT ALL"):
            await db(query.pluck())
    else:
        assert sorted(await db(query.pluck())) == sorted(d for _, d, _ in STAFF)


# ---- §13.7 refusals ----------------------------------------------------------------------------
async def test_full_join_refused_on_mysql_else_runs(db):
    Category, Staff, _, _ = await seeded(db)
    query = Staff.query().full_join(Category, on=Category.c.id == Staff.c.id).select(Staff.c.name, Category.c.name.alias("category"))
    if db.backend_name == "mysql":
        with pytest.raises(FeatureNotSupported, match=r"FULL JOIN.*MariaDB") as refused:
            await db(query.to_dicts())
        assert "Nothing was sent" in str(refused.value)
    else:
        rows = await db(query.to_dicts())
        assert len(rows) == max(len(STAFF), len(TREE))


async def test_right_join_runs_everywhere(db):
    Category, Staff, _, _ = await seeded(db)
    rows = await db(Staff.query().right_join(Category, on=Category.c.id == Staff.c.id).select(Category.c.name.alias("category"), Staff.c.name).to_dicts())
    assert sorted(r["category"] for r in rows) == sorted(n for n, _ in TREE)


async def test_distinct_on_postgres_only(db):
    _, Staff, _, _ = await seeded(db)
    query = Staff.query().distinct_on(Staff.c.dept).order_by(Staff.c.dept, Staff.c.salary.desc())
    if db.backend_name == "postgres":
        best = await db(query.all())
        assert sorted(s.name for s in best) == sorted(
            max((s for s in STAFF if s[1] == d), key=lambda s: s[2])[0] for d in {d for _, d, _ in STAFF}
        )
    else:
        with pytest.raises(FeatureNotSupported, match="DISTINCT ON"):
            await db(query.all())


async def test_distinct_ordered_by_unselected_column_refused_everywhere(db):
    _, Staff, _, _ = await seeded(db)
    with pytest.raises(StatementInvalid, match="not selected"):
        await db(Staff.query().select(Staff.c.dept).distinct().order_by(Staff.c.salary).pluck())
    assert await db(Staff.query().select(Staff.c.dept).distinct().order_by(Staff.c.dept).pluck()) == sorted({d for _, d, _ in STAFF})


async def test_server_version_is_read_once_per_backend(db):
    _, Staff, _, _ = await seeded(db)
    await db(Staff.query().where("id > ?", (0,)).count())  # any first statement reads it
    server = db.backend.server
    assert server is not None
    expected = {"sqlite": {"sqlite"}, "postgres": {"postgresql"}, "mysql": {"mysql", "mariadb"}}[db.backend_name]
    assert server.flavor in expected and server.version[0] > 2
    await db(Staff.query().where(Staff.c.id > 0).count())
    assert db.backend.server is server
