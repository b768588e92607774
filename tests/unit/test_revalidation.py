"""save()'s second validation and when it is skipped (API.md §3).

save() may skip validating a record again when that cannot change the outcome: every
value came through validated construction or assignment, or was loaded. These tests
prove the skip happens, and that it never lets through what the full validation
would refuse: model validators (before, after, wrap) see every assignment, refused
assignments, model_construct() records, copies and in-place changes to dict/list
fields get the full validation. Plans run against a fake backend that records what
would be sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Optional

import pytest
from pydantic import ConfigDict, ValidationError, model_validator

from twinrecord import BaseActiveRecord
from twinrecord.errors import RecordInvalid
from twinrecord.plan import run
from twinrecord.sql.dialect import SQLITE


class Recorder:
    """Answers every statement as a database would and keeps what was sent."""

    is_async: ClassVar[bool] = False

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any]]] = []

    def run_execute(self, sql: str, params: Sequence[Any]) -> int:
        self.sent.append((sql, list(params)))
        return 1

    def run_insert(self, sql: str, params: Sequence[Any], row_count: int) -> list[int]:
        self.sent.append((sql, list(params)))
        return list(range(1, row_count + 1))


calls: list[str] = []


class Ranged(BaseActiveRecord):
    """`before` refuses a forbidden name, `after` refuses low > high; both count calls."""

    __table_name__ = "ranged"
    id: Optional[int] = None
    name: str
    low: int
    high: int

    @model_validator(mode="before")
    @classmethod
    def _name_allowed(cls, data: Any) -> Any:
        calls.append("before")
        if isinstance(data, dict) and data.get("name") == "forbidden":
            raise ValueError("forbidden name")
        return data

    @model_validator(mode="after")
    def _ordered(self) -> Ranged:
        calls.append("after")
        if self.low > self.high:
            raise ValueError("low above high")
        return self


class Wrapped(BaseActiveRecord):
    """A `wrap` validator sees a dict at save but the record on assignment."""

    __table_name__ = "wrapped"
    id: Optional[int] = None
    name: str

    @model_validator(mode="wrap")
    @classmethod
    def _no_shouting(cls, data: Any, handler: Any) -> Any:
        calls.append("wrap")
        if isinstance(data, dict) and str(data.get("name", "")).isupper():
            raise ValueError("no shouting")
        return handler(data)


class Tagged(BaseActiveRecord):
    __table_name__ = "tagged"
    id: Optional[int] = None
    tags: list[int]
    settings: dict[str, int]


class Unchecked(BaseActiveRecord):
    """Assignment is not validated here, so save() always validates."""

    model_config = ConfigDict(validate_assignment=False)
    __table_name__ = "unchecked"
    id: Optional[int] = None
    count: int


def save(record: Any) -> tuple[int, Recorder]:
    backend = Recorder()
    return run(record._save_plan(SQLITE), backend), backend


@pytest.fixture(autouse=True)
def clear_calls() -> None:
    calls.clear()


def test_a_record_built_and_assigned_with_validation_is_not_validated_again() -> None:
    record = Ranged(name="a", low=1, high=5)
    assert calls == ["before", "after"]
    assert save(record)[0] == 1
    record.high = 9  # validated here: both model validators run
    assert calls == ["before", "after", "before", "after"]
    assert save(record)[0] == 1
    assert calls == ["before", "after", "before", "after"]  # neither save validated again


@pytest.mark.parametrize(
    ("field", "value"), [("name", "forbidden"), ("low", 10)], ids=["before", "after"]
)
def test_model_validators_see_every_assignment(field: str, value: Any) -> None:
    record = Ranged(name="a", low=1, high=5)
    with pytest.raises(ValidationError):
        setattr(record, field, value)


def test_a_refused_assignment_left_behind_is_caught_by_save() -> None:
    record = Ranged(name="a", low=1, high=5)
    with pytest.raises(ValidationError):
        record.low = 10  # Pydantic keeps the value when an `after` validator refuses it
    assert record.low == 10
    with pytest.raises(RecordInvalid):
        save(record)
    record.low = 2
    result, backend = save(record)
    assert result == 1
    assert backend.sent[0][1] == ["a", 2, 5]


def test_a_refused_before_validator_assignment_still_saves_validated() -> None:
    record = Ranged(name="a", low=1, high=5)
    with pytest.raises(ValidationError):
        record.name = "forbidden"
    calls.clear()
    assert save(record)[0] == 1
    assert calls == ["before", "after"]  # validated in full once
    calls.clear()
    record.high = 6
    save(record)
    assert calls == ["before", "after"]  # the assignment's; the save trusts it again


def test_a_wrap_validator_model_is_always_validated_at_save() -> None:
    record = Wrapped(name="quiet")
    record.name = "LOUD"  # on assignment the validator gets the record, not a dict
    calls.clear()
    with pytest.raises(RecordInvalid):
        save(record)
    assert calls == ["wrap"]


def test_model_construct_records_are_validated_in_full() -> None:
    record = Ranged.model_construct(name="a", low=9, high=1)
    with pytest.raises(RecordInvalid):
        save(record)
    fine = Ranged.model_construct(name="a", low=1, high=2)
    calls.clear()
    assert save(fine)[0] == 1
    assert calls == ["before", "after"]


def test_copies_are_validated_in_full() -> None:
    record = Ranged(name="a", low=1, high=5)
    for copy in (record.model_copy(update={"low": 7, "high": 3}),
                 record.model_copy(update={"low": 7, "high": 3}, deep=True)):
        with pytest.raises(RecordInvalid):
            save(copy)


def test_in_place_changes_to_dict_and_list_fields_get_full_validation() -> None:
    record = Tagged(tags=[1, 2], settings={"a": 1})
    assert save(record)[0] == 1
    record.tags.append("not a number")  # type: ignore[arg-type]
    with pytest.raises(RecordInvalid) as caught:
        save(record)
    assert caught.value.errors()[0]["loc"][0] == "tags"
    record.tags.pop()
    record.settings["b"] = "x"  # type: ignore[assignment]
    with pytest.raises(RecordInvalid):
        save(record)


def test_without_validate_assignment_every_save_validates() -> None:
    record = Unchecked(count=1)
    record.count = "many"  # type: ignore[assignment]  # not validated by this model
    with pytest.raises(RecordInvalid):
        save(record)


def test_insert_many_still_refuses_an_invalid_record_among_trusted_ones() -> None:
    good = [Ranged(name=str(i), low=i, high=i + 1) for i in range(3)]
    bad = Ranged.model_construct(name="x", low=5, high=1)
    backend = Recorder()
    with pytest.raises(RecordInvalid):
        run(Ranged._insert_many_plan([*good, bad], SQLITE), backend)
    assert backend.sent == []
