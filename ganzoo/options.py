"""Option schemas: each component declares its options as a frozen dataclass.

    @dataclass(frozen=True)
    class MLPOptions:
        hidden: int = option(256, "units per hidden layer", min=1)

Recipes are checked strictly against these schemas (types, ranges, choices, unknown
keys), so a plugin can add keys of its own and still be validated like a built-in.
Supported field types: bool, int, float, str, Literal[...], tuple[T, ...],
tuple[T, T], list[T], and `X | None`.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

from .errors import GanzooError, did_you_mean


def option(default: Any, help: str = "", *, min: float | None = None, max: float | None = None,
           min_exclusive: bool = False) -> Any:
    """A dataclass field with a help text and an optional numeric range."""
    if isinstance(default, list):
        default = tuple(default)
    return dataclasses.field(default=default, metadata={
        "help": help, "min": min, "max": max, "min_exclusive": min_exclusive})


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """Schema for a component that takes no options."""


_PLURAL = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}


def _describe(tp, meta: dict | None = None) -> str:
    """What a value of type `tp` may be, in words, with the numeric range in `meta`."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return " or ".join(_describe(a, meta) for a in inner) + " or null"
    if tp in (int, float) and meta:
        return _describe(tp) + _range_text(meta)
    if origin in (tuple, list):
        noun = _PLURAL.get(args[0], _describe(args[0]))
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            return f"a list of {noun}"
        return f"a list of {len(args)} {noun}"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _range_text(meta) -> str:
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and hi is not None:
        return f" in {'(' if meta.get('min_exclusive') else '['}{lo}, {hi}]"
    if lo is not None:
        return f" > {lo}" if meta.get("min_exclusive") else f" >= {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


def _coerce(value: Any, tp, path: str, meta: dict) -> Any:
    """Check `value` against the annotation `tp`; return it in canonical form."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    given = value

    def bad(extra: str = ""):
        raise GanzooError(f"{path}: expected {_describe(tp, meta)}, got {given!r}{extra}")

    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for candidate in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, candidate, path, meta)
            except GanzooError:
                pass
        bad()
    if origin is Literal:
        if value in args and type(value) in {type(a) for a in args}:
            return value
        bad(did_you_mean(value, args))
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            bad()
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                bad()
            return tuple(_coerce(v, a, f"{path}[{i}]", meta) for i, (v, a) in enumerate(zip(value, args)))
        return tuple(_coerce(v, args[0], f"{path}[{i}]", meta) for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            bad()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                bad()
    elif tp is float:
        # PyYAML reads `2e-4` (no dot) as a string; accept numeric strings for numbers.
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                bad()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            bad()
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            bad()
    elif tp is str:
        if not isinstance(value, str):
            bad()
        return value
    elif tp is Any:
        return value
    else:  # pragma: no cover - schema bug, not user input
        raise TypeError(f"unsupported option type {tp!r} at {path}")
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and (value < lo or (meta.get("min_exclusive") and value == lo)):
        bad()
    if hi is not None and value > hi:
        bad()
    return value


def schema_fields(schema) -> dict[str, tuple[Any, dataclasses.Field]]:
    """{name: (type, field)} for a dataclass schema, with string annotations resolved."""
    hints = typing.get_type_hints(schema)
    return {f.name: (hints[f.name], f) for f in dataclasses.fields(schema)}


def validate(schema, values: dict | None, path: str, *, ignore: tuple[str, ...] = ()) -> Any:
    """Build a frozen `schema` instance from a recipe mapping, strictly.

    Unknown keys, wrong types and out-of-range values raise GanzooError naming the
    key path, the value, what is allowed and close matches. Keys in `ignore` (such as
    a component's `name`) are skipped.
    """
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise GanzooError(f"{path or 'recipe'}: expected a mapping of options, got {values!r}")
    fields = schema_fields(schema)
    prefix = f"{path}." if path else ""
    for key in values:
        if key in ignore:
            continue
        if key not in fields:
            allowed = ", ".join(sorted(fields)) or "(none)"
            raise GanzooError(f"{prefix}{key}: unknown key; allowed: {allowed}{did_you_mean(key, fields)}")
    kwargs = {}
    for name, (tp, f) in fields.items():
        if name in values:
            kwargs[name] = _coerce(values[name], tp, prefix + name, dict(f.metadata))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise GanzooError(f"{prefix}{name}: missing; expected {_describe(tp, dict(f.metadata))}")
    return schema(**kwargs)


def to_plain(value: Any) -> Any:
    """Dataclass instances and tuples to plain dicts and lists (for YAML and checkpoints)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value


def describe_schema(schema) -> list[tuple[str, str, Any, str]]:
    """(name, type description with range, default, help) for each option: for docs and `ganzoo list`."""
    rows = []
    for name, (tp, f) in schema_fields(schema).items():
        meta = dict(f.metadata)
        rows.append((name, _describe(tp, meta), to_plain(f.default), meta.get("help", "")))
    return rows


def flatten(d: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1} (for recipe comparisons and hyperparameter tables)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
