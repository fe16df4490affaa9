"""`evolved`: a frozen dataclass with some fields changed, without re-running its `__init__`; `quick_init`: a
frozen dataclass built without `object.__setattr__` per field."""
from __future__ import annotations

from dataclasses import MISSING, fields
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


def quick_init(cls: type[T]) -> type[T]:
    """`cls`, a frozen dataclass, with an `__init__` that stores its fields straight into the instance's dict.
    The generated one calls `object.__setattr__` once per field (frozen): a decision builds some eighty of these
    objects, and that was a tenth of its time. Fields, defaults, factories and `__post_init__` stay as declared."""
    env: dict[str, object] = {"MISSING": MISSING}
    params, lines = [], []
    for f in fields(cls):  # type: ignore[arg-type]
        assert f.init and not f.kw_only, f"{cls.__name__}.{f.name}: quick_init takes plain fields only"
        if f.default is not MISSING:
            env[f"default_{f.name}"] = f.default
            params.append(f"{f.name}=default_{f.name}")
        elif f.default_factory is not MISSING:
            env[f"factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=MISSING")
            lines.append(f"    if {f.name} is MISSING:\n        {f.name} = factory_{f.name}()")
        else:
            params.append(f.name)
        lines.append(f"    values[{f.name!r}] = {f.name}")
    if hasattr(cls, "__post_init__"):
        lines.append("    self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}):\n    values = self.__dict__\n" + "\n".join(lines) + "\n"
    exec(source, env)  # noqa: S102 - code made from the class's own field names, as dataclasses does
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
    cls.__init__ = init  # type: ignore[misc]
    return cls
