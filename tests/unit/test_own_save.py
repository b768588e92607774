"""Which save() create() and find_or_create_by() call (API.md §3, §15): the model's own
when it overrides it for the kind being used, else the library's."""

from __future__ import annotations

from typing import Optional

from twinrecord import AsyncBaseActiveRecord, BaseActiveRecord
from twinrecord.model._find_or_create import own_save


class Plain(BaseActiveRecord):
    __table_name__ = "own_plain"
    id: Optional[int] = None


class Stamped(BaseActiveRecord):
    __table_name__ = "own_stamped"
    id: Optional[int] = None

    def save(self) -> int:
        return super().save()


class StampedChild(Stamped):
    pass


class Combined(BaseActiveRecord, AsyncBaseActiveRecord):
    __table_name__ = "own_combined"
    id: Optional[int] = None

    def save(self) -> int:  # the sync kind's: bare names follow the first base
        return super().save()


def test_no_override_means_the_library_save() -> None:
    assert own_save(Plain, "sync") is None


def test_an_override_and_its_subclasses_are_used() -> None:
    assert own_save(Stamped, "sync") is Stamped.__dict__["save"]
    assert own_save(StampedChild, "sync") is Stamped.__dict__["save"]


def test_a_combined_models_other_face_keeps_the_library_save() -> None:
    assert own_save(Combined, "sync") is Combined.__dict__["save"]
    assert own_save(Combined, "async") is None
