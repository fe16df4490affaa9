"""The JSON form of the engine's dataclasses (case memory, ladder snapshots, timeline events), through
one cached pydantic TypeAdapter per class.

The stored form is the fields in order, instants and dates in ISO form (`isoformat()`, so
`+00:00`, never `Z`), durations in seconds. A class says where its stored form differs in `wire`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from typing import ClassVar, Self

from pydantic import JsonValue, SerializerFunctionWrapHandler, TypeAdapter, model_serializer, model_validator


@dataclass(frozen=True)
class Wire:
    """Where a class's stored JSON differs from its fields."""

    keys: Mapping[str, str] = field(default_factory=dict)  # field → stored key, e.g. target → target_seconds
    tables: tuple[str, ...] = ()  # fields of (key, value) pairs, stored as a table
    blank: Mapping[str, object] = field(default_factory=dict)  # field → its value when stored empty or absent
    same_as: Mapping[str, str] = field(default_factory=dict)  # field → the field it copies when stored empty


@cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def _plain(value: object) -> JsonValue:
    """A dumped value as JSON types."""
    if isinstance(value, (date, timedelta)):
        return value.total_seconds() if isinstance(value, timedelta) else value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(_plain(k)): _plain(v) for k, v in value.items()}
    return value  # type: ignore[return-value]  # str, int, float, bool, None


class JsonForm:
    """`to_json()` and `from_json(data)` for a frozen dataclass; nested ones must be JsonForms too."""

    wire: ClassVar[Wire] = Wire()

    def to_json(self) -> dict[str, JsonValue]:
        """The stored form: a dict of JSON types."""
        return _plain(_adapter(type(self)).dump_python(self))  # type: ignore[return-value]  # a dataclass dumps as a dict

    @classmethod
    def from_json(cls, data: Mapping[str, object] | None) -> Self:
        """Read what `to_json` wrote; keys missing from older forms take their defaults."""
        return _adapter(cls).validate_python(data or {})

    @model_validator(mode="before")
    @classmethod
    def _from_wire(cls, data: object) -> object:
        if not isinstance(data, Mapping):
            return data
        fields = {cls.wire.keys.get(k, k): k for k in cls.__dataclass_fields__}  # type: ignore[attr-defined]
        values = {fields.get(k, k): v for k, v in data.items()}
        for name in cls.wire.tables:
            if isinstance(values.get(name), Mapping):
                values[name] = sorted(values[name].items())
        for name, blank in cls.wire.blank.items():
            values[name] = values.get(name) or blank
        for name, other in cls.wire.same_as.items():
            values[name] = values.get(name) or values.get(other)
        return values

    @model_serializer(mode="wrap")
    def _to_wire(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        values = handler(self)
        for name in self.wire.tables:
            values[name] = dict(values[name])
        return {self.wire.keys.get(k, k): v for k, v in values.items()}
