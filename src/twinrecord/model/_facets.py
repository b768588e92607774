"""`Model.aio` / `Model.sync` (and `record.aio` / `record.sync`): the other kind's
methods, bound to the same class or record, for models that have both kinds."""

from __future__ import annotations

import inspect
from typing import Any


class KindFacet:
    """A descriptor giving a view of `shell`'s methods bound to the class or record."""

    def __init__(self, shell: type[Any]) -> None:
        self.shell = shell

    def __get__(self, instance: object, owner: type[Any]) -> BoundFacet:
        return BoundFacet(self.shell, instance, owner)


class BoundFacet:
    __slots__ = ("instance", "owner", "shell")

    def __init__(self, shell: type[Any], instance: object, owner: type[Any]) -> None:
        self.shell = shell
        self.instance = instance
        self.owner = owner

    def __getattr__(self, name: str) -> Any:
        try:
            attribute = inspect.getattr_static(self.shell, name)
        except AttributeError:
            return self._of_kind(name)
        if isinstance(attribute, classmethod):
            return attribute.__get__(None, self.owner)
        if isinstance(attribute, staticmethod):
            return attribute.__func__
        if name == "c":  # `Model.aio.c` is `Model.c`: one object for both faces
            return self.owner.c
        if self.instance is None:
            if inspect.isfunction(attribute):
                raise AttributeError(
                    f"{name}() is a record method: call it on a record, e.g. record.aio.{name}()"
                )
            return attribute
        if hasattr(attribute, "__get__"):
            return attribute.__get__(self.instance, self.owner)
        return getattr(self.instance, name)

    def _of_kind(self, name: str) -> Any:
        """A model attribute that differs by kind (a relation): bound to this facet's kind."""
        bind = getattr(inspect.getattr_static(self.owner, name, None), "bind_kind", None)
        if bind is None:
            raise AttributeError(f"{self.shell.__name__} has no attribute {name!r}") from None
        return bind(self.instance, self.owner, self.shell.__twinrecord_kind__)

    def __repr__(self) -> str:
        target = self.instance if self.instance is not None else self.owner.__name__
        return f"<{self.shell.__name__} view of {target!r}>"
