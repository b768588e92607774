"""How a relation finds its models: the name in its annotation, forward references
resolved among the defined model classes, and Rails' key-name defaults.

Rule: everything that turns a name into a model class lives here, so the error a
user sees for an unknown or ambiguous name is written once.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING, ClassVar, ForwardRef, get_args, get_origin

from ..errors import ConfigurationError
from ..model._configure import kinds_of
from ..model._registry import all_models, is_model

if TYPE_CHECKING:
    from ..model._core import RecordCore

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# `AsyncUser` is the async twin of `User` (API.md §1): both own `user_id`.
_ASYNC_PREFIX = re.compile(r"^Async(?=[A-Z])")


def snake_case(class_name: str) -> str:
    return _CAMEL.sub("_", class_name).lower()


def foreign_key_for(class_name: str) -> str:
    """Rails' default key column for a model: `User` and `AsyncUser` -> `user_id`."""
    return snake_case(_ASYNC_PREFIX.sub("", class_name)) + "_id"


# ---- the related model's name in an annotation ----------------------------------------------
def annotated_target(annotation: object) -> type[object] | str | None:
    """The model named in `ClassVar[HasMany['Post']]`: a class, a name, or None.

    Annotations arrive as strings (modules with `from __future__ import annotations`)
    or as typing objects; either way nothing is evaluated, so a name defined later
    (a forward reference) is fine.
    """
    if isinstance(annotation, str):
        return _name_in_source(annotation)
    if get_origin(annotation) is ClassVar:
        args = get_args(annotation)
        return annotated_target(args[0]) if args else None
    args = get_args(annotation)
    if not args:
        return None
    target = args[0]
    if isinstance(target, ForwardRef):
        return target.__forward_arg__
    if isinstance(target, (str, type)):
        return annotated_target(target) if isinstance(target, str) and "[" in target else target
    return None


def _name_in_source(source: str) -> str | None:
    try:
        node = ast.parse(source, mode="eval").body
    except SyntaxError:
        return None
    while True:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return _name_in_source(node.value) if "[" in node.value else node.value
        if not isinstance(node, ast.Subscript):
            return _dotted_name(node)
        if _dotted_name(node.value) in ("ClassVar", "typing.ClassVar"):
            node = node.slice
            continue
        node = node.slice          # HasMany[...]: its one argument names the model


def _dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted_name(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    return None


# ---- forward references ----------------------------------------------------------------
def resolve_model(
    ref: type[object] | str, owner: type[RecordCore], where: str
) -> type[RecordCore]:
    """The model class `ref` names, seen from `owner` (`where` names the declaration).

    Candidates are the live model classes with that name having every kind the owner
    has. Among them the closest relative of the owner wins (sharing its nearest base
    class, then its module, then its enclosing scope); a class statement run again
    (a factory function, a reloaded module) replaces its earlier runs. Anything still
    ambiguous is an error: pass the class itself as `model=`.

    Resolution happens once, at first use: an owner first used after its factory ran
    again sees the newest run's class. Give each run its own base class (as the test
    harness does) or pass `model=` when runs must stay apart.
    """
    if isinstance(ref, type):
        if not is_model(ref):
            raise ConfigurationError(f"{where}: {ref!r} is not a twinrecord model class")
        return ref
    name = ref.rsplit(".", 1)[-1]
    named = [c for c in all_models() if c.__name__ == name]
    wanted = set(kinds_of(owner))
    candidates = [c for c in named if wanted <= set(kinds_of(c))]
    if not candidates:
        raise ConfigurationError(_unresolved(ref, owner, where, named))
    for narrow in (_closest_base, _same_module, _same_scope, _latest_run):
        candidates = narrow(candidates, owner)
        if len(candidates) == 1:
            return candidates[0]
    listed = ", ".join(f"{c.__module__}.{c.__qualname__}" for c in candidates)
    raise ConfigurationError(
        f"{where}: the model name {ref!r} is ambiguous ({listed}); pass the class itself, "
        f"e.g. model={name}"
    )


def _unresolved(
    ref: str, owner: type[RecordCore], where: str, named: list[type[RecordCore]]
) -> str:
    kinds = "/".join(kinds_of(owner)) or "twinrecord"
    message = f"{where}: no {kinds} model named {ref!r} is defined"
    if named:
        other = ", ".join(f"{c.__qualname__} ({'/'.join(kinds_of(c))})" for c in named)
        message += f" (there is {other}, of another kind)"
    return message + "; define it, or pass the class itself as model=..."


def _closest_base(
    candidates: list[type[RecordCore]], owner: type[RecordCore]
) -> list[type[RecordCore]]:
    """Those sharing the owner's nearest base class (a test's or an app's own base)."""
    def distance(cls: type[RecordCore]) -> int:
        return next(i for i, base in enumerate(owner.__mro__) if issubclass(cls, base))

    nearest = min(distance(c) for c in candidates)
    return [c for c in candidates if distance(c) == nearest]


def _same_module(
    candidates: list[type[RecordCore]], owner: type[RecordCore]
) -> list[type[RecordCore]]:
    return [c for c in candidates if c.__module__ == owner.__module__] or candidates


def _same_scope(
    candidates: list[type[RecordCore]], owner: type[RecordCore]
) -> list[type[RecordCore]]:
    scope = owner.__qualname__.rpartition(".")[0]
    return [c for c in candidates if c.__qualname__.rpartition(".")[0] == scope] or candidates


def _latest_run(
    candidates: list[type[RecordCore]], owner: type[RecordCore]
) -> list[type[RecordCore]]:
    """One class statement run several times: its latest run (subclass order) stands."""
    if len({(c.__module__, c.__qualname__) for c in candidates}) == 1:
        return candidates[-1:]
    return candidates
