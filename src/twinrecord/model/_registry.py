"""Every model class, in the order defined: relations and foreign keys find models
by name here, so they need not import the record core above them.

Rule: classes are held weakly, so a model class nothing else uses any more (a test's,
an earlier run of a factory) goes away as it would without the registry.
"""

from __future__ import annotations

import weakref
from typing import Any

_defined: list[weakref.ref[type[Any]]] = []
_known: weakref.WeakSet[type[Any]] = weakref.WeakSet()


def register(model: type[Any]) -> None:
    """Record a model class once it is defined (the record core calls this)."""
    _defined.append(weakref.ref(model))
    _known.add(model)


def all_models() -> list[type[Any]]:
    """The live model classes, oldest first."""
    alive = [model for model in (ref() for ref in _defined) if model is not None]
    if len(alive) < len(_defined):
        _defined[:] = [weakref.ref(model) for model in alive]
    return alive


def is_model(value: object) -> bool:
    return isinstance(value, type) and value in _known
