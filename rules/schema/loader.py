"""Reading the rules file: TOML, validated by pydantic; every error names file, key path, value, what is allowed."""
from __future__ import annotations

import tomllib
import types
import typing
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from rules.schema.model import Rules
from rules.schema.references import cross_check
from rules.schema.values import show

EXAMPLE_RULES = Path(__file__).parent.parent / "rules.example.toml"


class RulesError(ValueError):
    """The rules file is invalid; `errors` holds one line per problem."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


def parse_rules(text: str, source: str = "rules.toml") -> Rules:
    """Parse and validate rules from TOML text; raise RulesError listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RulesError([f"{source}: not valid TOML: {e}"]) from e
    problems: list[str] = []
    rules: Rules | None = None
    try:
        rules = Rules.model_validate(data)
    except ValidationError as e:
        problems = [_describe(err) for err in e.errors()]
    problems += [p for p in cross_check(data) if p not in problems]
    if problems or rules is None:
        raise RulesError([f"{source}: {p}" for p in problems])
    return rules


def load_rules(path: str | Path | None = None) -> Rules:
    """Load the rules file at `path` (default: the example rules shipped with slaclock)."""
    path = Path(path) if path else EXAMPLE_RULES
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise RulesError([f"{path}: cannot read rules file: {e.strerror}"]) from e
    return parse_rules(text, source=path.name)


def _unwrap(tp: object) -> object:
    """Strip Annotated[...] and Optional[...] down to the type that holds keys."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp


def _locate(loc: tuple) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model holding the last key of `loc`, and that key's field (None if unknown)."""
    tp: object = Rules
    model: type[BaseModel] | None = None
    info: FieldInfo | None = None
    for part in loc:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            model = tp
            info = tp.model_fields.get(str(part))
            if info is None:
                return model, None
            tp = info.annotation
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        elif origin in (list, tuple):
            tp = typing.get_args(tp)[0]
        else:
            break
    return model, info


def _describe(error: dict) -> str:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))  # drop validator tags
    path = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[") or "(top level)"
    model, info = _locate(loc)
    if error["type"] == "extra_forbidden" and model is not None:
        kind = getattr(model, "key_kind", "key")
        return f"{path}: unknown {kind}; expected one of {', '.join(model.model_fields)}"
    expected = f"; expected {info.description}" if info is not None and info.description else ""
    if error["type"] == "missing":
        return f"{path}: missing{expected}"
    message = str(error["msg"])
    if error["type"] == "value_error":
        return f"{path}: {message.removeprefix('Value error, ')}"
    value = error.get("input")
    shown = "a table" if isinstance(value, dict) else show(value)
    return f"{path}: got {shown}; {message[:1].lower()}{message[1:]}{expected}"
