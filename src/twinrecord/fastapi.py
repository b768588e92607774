"""FastAPI integration: error handlers, a lifespan, request-scoped transactions and input
models without server-owned fields. Needs the `fastapi` extra
(`pip install 'twinrecord[fastapi]'`); `import twinrecord` never imports FastAPI.

```python
app = FastAPI(lifespan=lifespan(AppModel, DATABASE_URL))
install_error_handlers(app)
UserIn = input_model(User)          # no `id`, no timestamps: a client cannot set them

@app.post("/users", status_code=201, dependencies=[transaction(AppModel)])
async def create_user(body: UserIn) -> User:
    user = User(**body.model_dump())
    await user.save()
    return user
```
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Optional

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo

from .backends import BackendBase, BaseConfig
from .errors import ConfigurationError, RecordInvalid, RecordNotFound, RecordNotUnique
from .model._configure import SLOT, Refused, kinds_of
from .model._mixins import features_of

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


# ---- errors -> HTTP responses ---------------------------------------------------------------
async def record_not_found_handler(request: Request, error: Exception) -> JSONResponse:
    """RecordNotFound (a `*_or_fail` lookup matched nothing) -> 404."""
    return JSONResponse({"detail": str(error) or "Not Found"}, status_code=404)


async def record_not_unique_handler(request: Request, error: Exception) -> JSONResponse:
    """RecordNotUnique -> 409 naming the constraint. The server's own message is not
    sent: it quotes the conflicting values."""
    constraint = getattr(error, "constraint", None)
    which = f" {constraint!r}" if constraint else ""
    return JSONResponse(
        {"detail": f"conflict: unique constraint{which} violated", "constraint": constraint},
        status_code=409,
    )


async def record_invalid_handler(request: Request, error: Exception) -> JSONResponse:
    """RecordInvalid -> 422 in the shape of FastAPI's own validation errors:
    `{"detail": [{"loc": [field, ...], "msg": ..., "type": ...}]}`; the input values are
    left out. `loc` is the record's field (FastAPI's own start with "body" or "query").
    Also used for a Pydantic ValidationError raised by the endpoint (a record built from
    request data failing a model-level validator)."""
    errors = error.errors() if isinstance(error, (RecordInvalid, ValidationError)) else []
    detail = [
        {"loc": list(item.get("loc", ())), "msg": item.get("msg", ""), "type": item.get("type", "")}
        for item in errors
    ]
    return JSONResponse({"detail": detail}, status_code=422)


ERROR_HANDLERS: dict[type[Exception], Callable[[Request, Exception], Any]] = {
    RecordNotFound: record_not_found_handler,
    RecordNotUnique: record_not_unique_handler,
    RecordInvalid: record_invalid_handler,
    ValidationError: record_invalid_handler,
}


def install_error_handlers(app: FastAPI) -> None:
    """Map RecordNotFound -> 404, RecordNotUnique -> 409, RecordInvalid and Pydantic's
    ValidationError -> 422. (Also usable as `FastAPI(exception_handlers=ERROR_HANDLERS)`.)"""
    for error_class, handler in ERROR_HANDLERS.items():
        app.add_exception_handler(error_class, handler)


# ---- lifespan: configure at startup, close at shutdown ---------------------------------------
def lifespan(
    model: type[Any],
    config: BaseConfig | str,
    backend_class: type[BackendBase[Any]] | None = None,
    *,
    create_tables: Iterable[type[Any]] = (),
    inner: Lifespan | None = None,
) -> Lifespan:
    """A FastAPI lifespan that runs `model.configure(config, backend_class)` at startup
    (usually the application's base model: every subclass shares its backend), creates
    the tables of `create_tables` if they do not exist (for demos and tests; use
    migrations in production), runs `inner` (another lifespan: a second database, the
    application's own startup) and closes the backends' pools at shutdown."""
    tables = tuple(create_tables)

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        model.configure(config, backend_class)
        try:
            for table in tables:
                await _maybe_await(table.create_table())
            if inner is None:
                yield
            else:
                async with inner(app):
                    yield
        finally:
            await close_backends(model)

    return run


async def close_backends(model: type[Any]) -> None:
    """Close the pools of every kind `model` is configured with (sync and async)."""
    for kind in kinds_of(model):
        backend = model.__dict__.get(SLOT[kind])
        if backend is None or isinstance(backend, Refused):
            continue
        await _maybe_await(backend.close())


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


# ---- a transaction per request --------------------------------------------------------------
def transaction(model: type[Any], isolation_level: str | None = None) -> Any:
    """A dependency that runs the request's endpoint inside `model.transaction()`:
    committed when the endpoint returns, before the response is sent (a failed commit is
    an error response, never a success for a write that was lost), rolled back when it
    raises (HTTPException included). Use it in `dependencies=[...]` or as a parameter
    (`_: None = transaction(AppModel)`).

    For async models (and the async face of combined models) and `async def`
    endpoints: FastAPI runs a sync endpoint and a sync dependency in different worker
    threads, and a sync transaction belongs to its thread, so a sync model is refused
    here, and a sync endpoint is refused at its first request (its statements would run
    outside the async transaction, silently not atomic); open `with
    Model.transaction():` inside the sync endpoint instead."""
    if "async" not in kinds_of(model):
        raise ConfigurationError(
            f"transaction({model.__name__}): a sync model's transaction belongs to one "
            "thread, and FastAPI runs a sync dependency and the endpoint in different "
            f"threads; use `with {model.__name__}.transaction():` inside the endpoint, or "
            "an async model"
        )
    face = model.aio if kinds_of(model)[0] != "async" else model

    async def request_transaction(request: Request) -> AsyncIterator[None]:
        endpoint = request.scope.get("endpoint")
        if endpoint is not None and not inspect.iscoroutinefunction(endpoint):
            name = getattr(endpoint, "__name__", repr(endpoint))
            raise ConfigurationError(
                f"transaction({model.__name__}) wraps `async def` endpoints; {name}() is a "
                "sync endpoint, which FastAPI runs in a worker thread outside this "
                f"transaction: use `with {model.__name__}.transaction():` inside it"
            )
        async with face.transaction(isolation_level):
            yield

    return Depends(request_transaction, scope="function")


# ---- input models ---------------------------------------------------------------------------
def server_owned_fields(model: type[Any]) -> tuple[str, ...]:
    """Fields a client must not set: a generated primary key (an auto-increment `id`, a
    UUIDMixin key) and the mixins' row state (created_at, updated_at, deleted_at, the
    lock version)."""
    fields: dict[str, FieldInfo] = model.model_fields
    meta = model._meta()
    generated = tuple(
        key
        for key in meta.primary_key
        if key in fields and not fields[key].is_required()  # a default or a factory
    )
    features = features_of(model)
    return generated + (features.row_state if features is not None else ())


def input_model(
    model: type[BaseModel],
    *,
    exclude: Iterable[str] = (),
    keep: Iterable[str] = (),
    partial: bool = False,
    name: str | None = None,
) -> type[BaseModel]:
    """A Pydantic model for request bodies: `model`'s fields (types, constraints,
    defaults, descriptions) minus the server-owned ones (`server_owned_fields`) and
    `exclude`; `keep` names server-owned fields to accept anyway (`lock_version` in an
    edit form). Unknown fields are refused (422), so a body with `"id": 999` never
    reaches the model. `partial=True` makes every field optional with a None default
    (a PATCH body: `body.model_dump(exclude_unset=True)` holds what was sent).

    The model's own validators run when the record is built from the body
    (`User(**body.model_dump())`); their failures are 422 with the error handlers."""
    dropped = (set(server_owned_fields(model)) - set(keep)) | set(exclude)
    unknown = (set(exclude) | set(keep)) - set(model.model_fields)
    if unknown:
        raise ConfigurationError(
            f"input_model({model.__name__}): no field named {', '.join(sorted(unknown))}; "
            f"its fields are {', '.join(model.model_fields)}"
        )
    definitions: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        if field_name in dropped:
            continue
        if partial:
            copied = FieldInfo.merge_field_infos(info, default=None)
            definitions[field_name] = (Optional[info.annotation], copied)
        else:
            definitions[field_name] = (info.annotation, FieldInfo.merge_field_infos(info))
    suffix = "Patch" if partial else "In"
    built: type[BaseModel] = create_model(
        name or f"{model.__name__}{suffix}",
        __config__=ConfigDict(extra="forbid"),
        __module__=model.__module__,
        **definitions,
    )
    return built


__all__ = [
    "ERROR_HANDLERS",
    "close_backends",
    "input_model",
    "install_error_handlers",
    "lifespan",
    "record_invalid_handler",
    "record_not_found_handler",
    "record_not_unique_handler",
    "server_owned_fields",
    "transaction",
]
