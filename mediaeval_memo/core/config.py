"""Config dataclasses: the base every settings dataclass shares, and how recipes and overrides resolve into one.

A config is a dataclass whose every field is typed, defaulted and documented (`metadata={"help": ...}`) and whose
`__post_init__` raises `ConfigError(field, value, message)` for a value it cannot use (peft's config dataclasses
are the model). `resolve_config(cls, recipe, overrides)` builds one from a YAML recipe and `--set` overrides,
coercing every value to its field's type and turning each problem into an `InputError` that names the source,
the field and the value; unknown keys get a "did you mean".
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from mediaeval_memo.core.errors import InputError, Problem


class ConfigError(ValueError):
    """A config field holds a value that cannot be used; raised by `__post_init__`, named in the error."""

    def __init__(self, field_name: str, value: object, message: str):
        self.field_name, self.value, self.message = field_name, value, message
        super().__init__(f"{field_name}={value!r}: {message}")


@dataclass
class Config:
    """The base of every config dataclass. Subclasses add fields and call `super().__post_init__()` first."""

    def __post_init__(self) -> None:
        pass


C = TypeVar("C", bound=Config)


def config_fields(cls: type[Config]) -> list[tuple[str, Any, Any, str]]:
    """(name, type, default, help) for each field: what `memo train VARIANT --help-config` prints."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else (f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        )
        out.append((f.name, hints[f.name], default, str(f.metadata.get("help", ""))))
    return out


def resolve_config(cls: type[C], recipe: str | Path | None = None, overrides: Mapping[str, object] | None = None) -> C:
    """Build a Config from a YAML recipe and overrides (CLI flags win). Unknown keys and bad values are errors.

    A recipe may nest the fields under a `config:` key beside a `variant:` key, or hold them at the top level.
    """
    values: dict[str, object] = {}
    source = "--set"
    if recipe is not None:
        source = str(recipe)
        path = Path(recipe)
        if not path.is_file():
            raise InputError(Problem(source, "run recipe not found"))
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[: exc.start].count(b"\n") + 1
            raise InputError(Problem(source, "not UTF-8 text; save the recipe as UTF-8", line=line)) from None
        except yaml.YAMLError as exc:
            raise InputError(
                Problem(source, f"not valid YAML ({str(exc).splitlines()[0]})", line=_yaml_line(exc))
            ) from None
        if not isinstance(data, dict):
            raise InputError(Problem(source, "a run recipe must be a mapping of config fields"))
        if "config" in data and isinstance(data["config"], dict):
            beside = sorted(str(k) for k in data if k not in ("variant", "config"))
            if beside:  # a key beside `config:` would otherwise be dropped in silence
                raise InputError(
                    [Problem(source, "unknown recipe key (accepted beside config: variant)", field=k) for k in beside]
                )
            data = data["config"]
        values.update(data)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    merged = dict(values)
    merged.update(overrides or {})
    problems = []
    for key in merged:
        if key not in names:
            where = source if key in values and key not in (overrides or {}) else "command line"
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(
                Problem(
                    where, f"unknown config field for {cls.__qualname__}{hint} (fields: {', '.join(names)})", field=key
                )
            )
    if problems:
        raise InputError(problems)
    coerced: dict[str, object] = {}
    for key, value in merged.items():
        where = "command line" if key in (overrides or {}) else source
        try:
            coerced[key] = coerce(value, hints[key])
        except (TypeError, ValueError) as exc:
            raise InputError(Problem(where, str(exc), field=key, value=value)) from None
    try:
        return cls(**coerced)
    except ConfigError as exc:
        # A nested field (`params.lightgbm.n_estimators`) comes from where its top-level field was set; the
        # command line wins over the recipe, so a value given on both is blamed on the command line.
        top = exc.field_name.split(".")[0]
        raise InputError(
            Problem(
                "command line" if top in (overrides or {}) or top not in values else source,
                exc.message,
                field=exc.field_name,
                value=exc.value,
            )
        ) from None


def _yaml_line(exc: yaml.YAMLError) -> int | None:
    mark = getattr(exc, "problem_mark", None)
    return None if mark is None else int(mark.line) + 1


def coerce(value: object, tp: Any) -> object:
    """Convert a YAML or command-line value to a field's declared type, or raise ValueError saying what fits."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg)
            except (TypeError, ValueError) as exc:
                errors.append(str(exc))
        raise ValueError(" or ".join(errors))
    if isinstance(value, str) and tp is not str:
        try:
            value = yaml.safe_load(value) if value.strip() else value
        except yaml.YAMLError as exc:
            raise ValueError(f"not a valid value ({str(exc).splitlines()[0]})") from None
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"expected one of {', '.join(map(repr, args))}")
        return value
    if origin in (list, tuple, Sequence):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError("expected a list")
        inner = args[0] if args else Any
        items = [coerce(v, inner) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError("expected a mapping")
        _finite_inside(value)
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ValueError("expected true or false")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("expected an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("expected a number")
        if not math.isfinite(float(value)):
            raise ValueError("expected a finite number")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ValueError("expected a string")
        return str(value)
    return value


def _finite_inside(value: object, where: str = "") -> None:
    """NaN or infinity anywhere in a mapping (a member's parameters) would reach a library that may take it."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number at {where}")
    if isinstance(value, dict):
        for key, inner in value.items():
            _finite_inside(inner, f"{where}.{key}" if where else str(key))
    elif isinstance(value, (list, tuple)):
        for i, inner in enumerate(value):
            _finite_inside(inner, f"{where}[{i}]")


def config_to_dict(config: Config) -> dict[str, Any]:
    return dataclasses.asdict(config)
