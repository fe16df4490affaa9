"""The JSON form of the engine's dataclasses (case memory, ladder snapshots, timeline events): read
through one cached pydantic TypeAdapter per class, written by a walk over the fields (pydantic's wrap
serializer and a pass to JSON types made writing the case memory ten times slower, on every decision).

The stored form is the fields in order, instants and dates in ISO form (`isoformat()`, so
`+00:00`, never `Z`), durations in seconds. A class says where its stored form differs in `wire`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from typing import ClassVar, Self

from pydantic import JsonValue, TypeAdapter, model_validator


@dataclass(frozen=True)
class Wire:
    """Where a class's stored JSON differs from its fields."""

    keys: Mapping[str, str] = field(default_factory=dict)  # field → stored key, e.g. target → target_seconds
    tables: tuple[str, ...] = ()  # fields of (key, value) pairs, stored as a table
    blank: Mapping[str, object] = field(default_factory=dict)  # field → its value when stored empty or absent
    same_as: Mapping[str, str] = field(default_factory=dict)  # field → the field it copies when stored empty
    # Fields added after forms were stored: left out while None, so older forms write back unchanged.
    optional: frozenset[str] = frozenset()


@cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


_SCALARS = (str, int, float, type(None))  # a StrEnum is a str, a bool an int


def _plain(value: object) -> JsonValue:
    """A field's value as JSON types."""
    if isinstance(value, _SCALARS):
        return value  # type: ignore[return-value]
    if isinstance(value, JsonForm):
        return value.to_json()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(_plain(k)): _plain(v) for k, v in value.items()}
    raise TypeError(f"no JSON form for {type(value).__name__}")


class JsonForm:
    """`to_json()` and `from_json(data)` for a frozen dataclass; nested ones must be JsonForms too."""

    wire: ClassVar[Wire] = Wire()

    def to_json(self) -> dict[str, JsonValue]:
        """The stored form: a dict of JSON types."""
        wire = self.wire
        return {wire.keys.get(name, name): _plain(dict(value) if name in wire.tables else value)
                for name in self.__dataclass_fields__  # type: ignore[attr-defined]
                for value in (getattr(self, name),) if value is not None or name not in wire.optional}

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
