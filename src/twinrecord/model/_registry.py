"""Every model class, in the order defined: relations and foreign keys find models
by name here, so they need not import the record core above them.

Rule: classes are held weakly, so a model class nothing else uses any more (a test's,
an earlier run of a factory) goes away as it would without the registry.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, TypeGuard

if TYPE_CHECKING:
    from ._core import RecordCore

_defined: list[weakref.ref[type[RecordCore]]] = []
_known: weakref.WeakSet[type[RecordCore]] = weakref.WeakSet()


def register(model: type[RecordCore]) -> None:
    """Record a model class once it is defined (the record core calls this)."""
    _defined.append(weakref.ref(model))
    _known.add(model)


def all_models() -> list[type[RecordCore]]:
    """The live model classes, oldest first."""
    alive = [model for model in (ref() for ref in _defined) if model is not None]
    if len(alive) < len(_defined):
        _defined[:] = [weakref.ref(model) for model in alive]
    return alive


def is_model(value: object) -> TypeGuard[type[RecordCore]]:
    return isinstance(value, type) and value in _known
