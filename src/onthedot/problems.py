"""``file:line: field: what is wrong``: one sentence per problem in a TOML file, with the fix.

Release files and onthedot.toml are reported the same way. ``TomlPositions`` gives the line;
pydantic's errors give the field and the fault, worded here for people (the nearest valid key
for a misspelling, an example of a good value for a wrong one).
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from onthedot.tomlpos import TomlPositions

Loc = Sequence[str | int]
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

_TYPE_FAULTS = {
    "int_type": "should be a whole number",
    "int_from_float": "should be a whole number",
    "int_parsing": "should be a whole number",
    "float_type": "should be a number",
    "float_parsing": "should be a number",
    "bool_type": "should be true or false",
    "bool_parsing": "should be true or false",
    "model_type": "should be a table",
    "dict_type": "should be a table",
}
_WITH_EXAMPLE = (
    *_TYPE_FAULTS,
    "string_type",
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
)


def problem(path: Path, positions: TomlPositions, loc: Loc, what: str) -> str:
    return f"{path}:{positions.line(loc)}: {dotted(loc)}: {what}"


def dotted(loc: Loc) -> str:
    """``("artefact", 0, "file")`` → ``artefact[0].file``; ``("verify", "timeout")`` → ``verify.timeout``;
    ``("statement", "producers", "Welsh Government")`` → ``statement.producers."Welsh Government"``."""
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        key = part if _BARE_KEY.fullmatch(part) else f'"{part}"'  # as the file must write it
        out += f".{key}" if out else key
    return out or "(file)"


def unknown_keys(
    path: Path,
    positions: TomlPositions,
    data: Mapping[str, Any],
    allowed: Sequence[str],
    prefix: tuple[str | int, ...],
) -> list[str]:
    return [
        problem(path, positions, (*prefix, key), unknown_key(key, allowed))
        for key in data
        if key not in allowed
    ]


def unknown_key(key: str, allowed: Sequence[str]) -> str:
    if not allowed:
        return "unknown key: this table takes no keys, leave it empty."
    near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    near = near or [k for k in allowed if len(key) > 2 and key in k][:1]  # grace: default_grace
    hint = f"did you mean {near[0]!r}?" if near else f"known keys: {', '.join(allowed)}."
    return f"unknown key: {hint}"


def validation_problems(
    path: Path, positions: TomlPositions, exc: ValidationError, model: type[BaseModel]
) -> list[str]:
    """Every error of ``model.model_validate`` as a problem, in the file's words, top to bottom."""
    errors = sorted(exc.errors(), key=lambda error: positions.line(error["loc"]))
    return [problem(path, positions, error["loc"], _fault(error, model)) for error in errors]


def _fault(error: ErrorDetails, model: type[BaseModel]) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "missing":
        return "is missing: add it"
    if error["type"] == "extra_forbidden":
        return unknown_key(str(loc[-1]), _keys_at(model, loc[:-1]))
    fault = _TYPE_FAULTS.get(error["type"]) or _plain(error["msg"])
    example = _example(model, loc) if error["type"] in _WITH_EXAMPLE else None
    return f"{fault}: write e.g. {example}" if example else fault


def _plain(message: str) -> str:
    return message.replace("Value error, ", "").replace("Input should be", "should be")


def _keys_at(model: type[BaseModel], loc: Loc) -> tuple[str, ...]:
    """The keys the table at ``loc`` may hold."""
    inner = _model_at(model, loc)
    return tuple(inner.model_fields) if inner else ()


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    named = False  # the part after a table of named tables (``dict[str, Model]``) is a name
    for part in loc:
        if isinstance(part, int) or current is None or named:
            named = False
            continue
        field = current.model_fields.get(part)
        current = _model_in(field.annotation) if field else None
        named = field is not None and typing.get_origin(field.annotation) is dict
    return current


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds: itself, or inside ``X | None`` or ``tuple[X, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return next(filter(None, map(_model_in, typing.get_args(annotation))), None)
    return None


def _example(model: type[BaseModel], loc: Loc) -> str | None:
    """``key = default`` for a field whose default is a plain TOML value, e.g. ``timeout = 10``."""
    table = _model_at(model, loc[:-1])
    field = table.model_fields.get(str(loc[-1])) if table else None
    value = field.default if field else None
    if value is None and field and field.examples:
        value = field.examples[0]  # a setting that is off by default: an example of turning it on
    if isinstance(value, bool):
        return f"{loc[-1]} = {str(value).lower()}"
    if isinstance(value, int):
        return f"{loc[-1]} = {value}"
    if isinstance(value, float):
        return f"{loc[-1]} = {value:g}"
    if isinstance(value, str):
        return f'{loc[-1]} = "{value}"'
    return None
