"""`evolved`: a frozen dataclass with some fields changed, without re-running its `__init__`."""
from __future__ import annotations

from dataclasses import fields
from functools import cache
from typing import TypeVar

T = TypeVar("T")


@cache
def _field_names(cls: type) -> frozenset[str]:
    assert not hasattr(cls, "__post_init__"), f"{cls.__name__} checks its fields: use dataclasses.replace"
    return frozenset(f.name for f in fields(cls))


def evolved(obj: T, **changes: object) -> T:
    """`dataclasses.replace(obj, **changes)` as a shallow copy. `replace` re-runs `__init__` over every field
    (through `object.__setattr__` for a frozen class): a decision evolves its memory a dozen times, and that was
    a tenth of its time. Only for classes without `__post_init__` (nothing to re-check)."""
    cls = type(obj)
    if not _field_names(cls).issuperset(changes):
        unknown = changes.keys() - _field_names(cls)
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
    copy = object.__new__(cls)
    copy.__dict__.update(obj.__dict__, **changes)
    return copy
