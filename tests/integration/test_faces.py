"""Combined models (API.md §6): `Model.aio` / `Model.sync` (and `record.aio` /
`record.sync`) resolve every public method to the face's kind, in both base orders.

The methods are enumerated from the shells, so a method added later without a recipe
here fails `test_every_public_method_has_a_recipe`.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional

import pytest

from twinrecord import (
    ActiveQuery,
    AsyncActiveQuery,
    AsyncBaseActiveRecord,
    BaseActiveRecord,
    ConfigurationError,
)

ORDERS = {
    "sync-first": (BaseActiveRecord, AsyncBaseActiveRecord),
    "async-first": (AsyncBaseActiveRecord, BaseActiveRecord),
}
SHELL = {"aio": AsyncBaseActiveRecord, "sync": BaseActiveRecord}


def public_methods(shell: type[Any]) -> set[str]:
    return {
        name
        for name, value in vars(shell).items()
        if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, classmethod))
    }


def staff_model(bases: tuple[type[Any], ...], url: str) -> Any:
    combined = type("Combined", bases, {"__module__": __name__})

    class Staff(combined):  # type: ignore[misc,valid-type]
        __table_name__ = "faces_staff"
        id: Optional[int] = None
        name: str

    Staff.configure(url)
    return Staff


# name -> (on the class or on a record, call(face, model, record) -> result)
RECIPES: dict[str, Any] = {
    "backend": ("class", lambda f, M, r: f.backend()),
    "transaction": ("class", lambda f, M, r: f.transaction()),
    "query": ("class", lambda f, M, r: f.query()),
    "find_one": ("class", lambda f, M, r: f.find_one(r.id)),
    "find_one_or_fail": ("class", lambda f, M, r: f.find_one_or_fail(r.id)),
    "find_all": ("class", lambda f, M, r: f.find_all({"name": r.name})),
    "find_by_sql": ("class", lambda f, M, r: f.find_by_sql("SELECT * FROM faces_staff WHERE id = ?", (r.id,))),
    "insert_many": ("class", lambda f, M, r: f.insert_many([M(name="many")])),
    "create": ("class", lambda f, M, r: f.create(name="created")),
    "create_table": ("class", lambda f, M, r: f.create_table()),
    "drop_table": ("class", lambda f, M, r: f.drop_table()),
    "upsert_many": ("class", lambda f, M, r: f.upsert_many([M(id=r.id, name=r.name + "-up")])),
    "update_many": ("class", lambda f, M, r: f.update_many([rename(r)])),
    "find_or_create_by": ("class", lambda f, M, r: f.find_or_create_by({"name": r.name})),
    "update_or_create_by": (
        "class",
        lambda f, M, r: f.update_or_create_by({"name": r.name}, {"name": r.name + "-u"}),
    ),
    "save": ("record", lambda f, M, r: f.save()),
    "hard_delete": ("record", lambda f, M, r: f.hard_delete()),
    "restore": ("record", lambda f, M, r: f.restore()),  # SoftDeleteMixin only
    "touch": ("record", lambda f, M, r: f.touch()),  # TimestampMixin only
    "delete": ("record", lambda f, M, r: f.delete()),
    "refresh": ("record", lambda f, M, r: f.refresh()),
}


MIXIN_ONLY = {"restore", "touch"}  # a plain model refuses them: ConfigurationError


def rename(record: Any) -> Any:
    record.name += "-m"
    return record


def test_every_public_method_has_a_recipe() -> None:
    for shell in (AsyncBaseActiveRecord, BaseActiveRecord):
        missing = public_methods(shell) - set(RECIPES)
        assert not missing, f"add a recipe for {sorted(missing)} to RECIPES in {__name__}"
    assert public_methods(AsyncBaseActiveRecord) == public_methods(BaseActiveRecord)


async def call_through(face_name: str, name: str, Staff: Any, record: Any) -> Any:
    """Call one method through a face; check its kind; return its (awaited) result."""
    where, call = RECIPES[name]
    face = getattr(record if where == "record" else Staff, face_name)
    try:
        result = call(face, Staff, record)
    except ConfigurationError as error:
        if name not in MIXIN_ONLY or face_name == "aio":
            raise
        return error
    is_coroutine = inspect.iscoroutinefunction(getattr(AsyncBaseActiveRecord, name))
    if face_name == "aio" and is_coroutine:
        assert inspect.isawaitable(result), f"{Staff.__name__}.aio.{name}() is not awaitable"
        if name in MIXIN_ONLY:
            try:
                return await result
            except ConfigurationError as error:
                if "SQLite" in str(error):
                    raise
                return error
        return await result
    if name != "query":  # an async query defines __await__ only to explain it is a builder
        assert not inspect.isawaitable(result), f"{Staff.__name__}.{face_name}.{name}() is awaitable"
    return result


@pytest.mark.parametrize("order", sorted(ORDERS))
@pytest.mark.parametrize("face_name", ["aio", "sync"])
async def test_every_method_through_either_face_is_of_that_kind(async_db, order, face_name):
    Staff = staff_model(ORDERS[order], async_db.url)
    is_async = face_name == "aio"
    try:
        Staff.sync.drop_table()
        Staff.sync.create_table()
        for name in sorted(RECIPES):
            record = Staff(name=f"r-{name}")
            record.sync.save()
            value = await call_through(face_name, name, Staff, record)
            if name == "backend":
                assert value.is_async is is_async
            elif name == "query":
                assert isinstance(value, AsyncActiveQuery if is_async else ActiveQuery)
                counted = value.where({"name": record.name}).count()
                assert (await counted if is_async else counted) == 1
            elif name == "transaction":
                if is_async:
                    async with value:
                        await Staff.aio.create(name="in-tx")
                else:
                    with value:
                        Staff.sync.create(name="in-tx")
                assert Staff.sync.find_all({"name": "in-tx"})[0].name == "in-tx"
            elif name in ("find_one", "find_one_or_fail"):
                assert type(value) is Staff and value.id == record.id
            elif name in ("find_all", "find_by_sql"):
                assert [s.id for s in value] == [record.id]
            elif name == "insert_many":
                assert value == 1
            elif name == "upsert_many":
                assert value >= 1 and Staff.sync.find_one(record.id).name == record.name + "-up"
            elif name == "update_many":
                assert value == 1 and Staff.sync.find_one(record.id).name == record.name
            elif name in ("find_or_create_by", "update_or_create_by"):
                assert type(value) is Staff and value.id == record.id
            elif name == "hard_delete":
                assert value == 1 and Staff.sync.find_one(record.id) is None
            elif name in MIXIN_ONLY:
                assert isinstance(value, ConfigurationError) and "SQLite" not in str(value)
            elif name == "create":
                assert type(value) is Staff and value.id is not None and not value.is_new_record
            elif name == "drop_table":
                Staff.sync.create_table()
            elif name == "save":
                assert value == 0  # saved already, nothing dirty
            elif name == "delete":
                assert value == 1 and Staff.sync.find_one(record.id) is None
            elif name == "refresh":
                assert value is None
    finally:
        Staff.sync.drop_table()
        Staff.sync.backend().close()
        await Staff.aio.backend().close()


@pytest.mark.parametrize("order", sorted(ORDERS))
async def test_on_sqlite_every_method_of_the_aio_face_is_a_configuration_error(tmp_path, order):
    Staff = staff_model(ORDERS[order], f"sqlite:///{tmp_path}/faces.db")
    try:
        Staff.sync.create_table()
        record = Staff.sync.create(name="ann")
        for name in sorted(RECIPES):
            with pytest.raises(ConfigurationError, match="SQLite"):
                result = await call_through("aio", name, Staff, record)
                if name == "query":
                    await result.all()
        # The sync face works, whatever the base order.
        assert [s.name for s in Staff.sync.find_all()] == ["ann"]
        assert Staff.sync.query().count() == 1
    finally:
        Staff.sync.backend().close()
