"""Validating one field's value on its own (`query().update({...})`, API.md §4): the
field's type, constraints and field validators, as an assignment checks them, without
the model-level validators (there is no record to run them on)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import SchemaValidator

from ..errors import RecordInvalid


def field_validator(model: type[Any], field: str) -> Any:
    """A validator for one field, taken from the model's own compiled schema (so config,
    constraints and @field_validator functions are the ones assignment uses)."""
    schema = model.__pydantic_core_schema__
    definitions = None
    if schema.get("type") == "definitions":
        definitions = schema["definitions"]
        schema = schema["schema"]
    fields_schema = schema.get("schema", {})
    fields = fields_schema.get("fields") if fields_schema.get("type") == "model-fields" else None
    if schema.get("type") != "model" or not fields or field not in fields:
        info = model.model_fields[field]  # an unusual schema: the annotation and its facets
        return TypeAdapter(Annotated[info.annotation, info])  # type: ignore[arg-type]
    field_schema = fields[field]["schema"]
    if definitions:
        field_schema = {"type": "definitions", "schema": field_schema, "definitions": definitions}
    return SchemaValidator(field_schema, schema.get("config"))


def validate_field_value(model: type[Any], validator: Any, field: str, value: Any) -> Any:
    """The value as the field would hold it, or RecordInvalid (Pydantic's errors, each
    located at the field)."""
    try:
        return validator.validate_python(value)
    except ValidationError as error:
        errors = [{**e, "loc": (field, *e["loc"])} for e in error.errors()]
        messages = "; ".join(str(e["msg"]) for e in errors)
        raise RecordInvalid(
            f"{model.__name__}.{field}: {messages}; update() sent nothing", errors
        ) from error
