"""Experiment configs and spec files: JSON (or YAML) checked against a strict schema.

An experiment's schema is a pydantic model (subclass :class:`ExperimentConfig`);
its default values live in ``configs/<experiment>.json``, ``KEY=VALUE`` overrides
go on top. Search specs, ensemble specs and ``params.yaml`` are :class:`Strict`
models read by :func:`load_spec`. Every problem is a
:class:`~tunelab.errors.TunelabError` naming the file (with line and column for
bad JSON) or the override, and the key at fault.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Container, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from tunelab.errors import TunelabError


class Strict(BaseModel):
    """Base of every tunelab spec: unknown keys are errors, values are not coerced (an int passes as a float),
    and JSON's NaN and Infinity are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class ExperimentConfig(Strict):
    """Base of an experiment's config schema."""

    seed: int


Model = TypeVar("Model", bound=BaseModel)


def load_config(path: Path) -> dict[str, Any]:
    """Read a JSON object, or a YAML mapping if ``path`` ends in ``.yaml``/``.yml``.

    Errors name the file, and for bad JSON ``path:line:col``.
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise TunelabError(f"{path}: config file not found") from None
    except OSError as exc:
        raise TunelabError(f"{path}: cannot read: {exc.strerror}") from None
    is_yaml = path.suffix in (".yaml", ".yml")
    try:
        value = yaml.safe_load(text) if is_yaml else json.loads(text)
    except json.JSONDecodeError as exc:
        raise TunelabError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except yaml.YAMLError as exc:
        raise TunelabError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(value, dict):
        kind = "YAML mapping" if is_yaml else "JSON object"
        raise TunelabError(f"{path}: a config must be a {kind}, got {type(value).__name__}")
    return value


def load_spec(
    path: Path, schema: type[Model], union_members: Container[str] = (), extra: Mapping[str, Any] | None = None
) -> Model:
    """Read ``path`` (see :func:`load_config`) as ``schema``.

    ``extra`` adds keys the file does not hold (e.g. where it came from). Raises
    TunelabError ``"<path>: key 'a.b': <why>"`` (see :func:`describe_validation_error`).
    """
    return parse_spec(load_config(path), str(path), schema, union_members, extra)


def parse_spec(
    raw: Any,
    label: str,
    schema: type[Model],
    union_members: Container[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> Model:
    """``raw``, read from ``label`` (a file or an option), as ``schema``.

    Raises TunelabError ``"<label>: key 'a.b': <why>"``.
    """
    try:
        return schema.model_validate({**raw, **(extra or {})})
    except ValidationError as exc:
        raise TunelabError(f"{label}: {describe_validation_error(exc, union_members)}") from None


def parse_value(text: str) -> Any:
    """A value as Sacred's ``with KEY=VALUE`` reads it: a Python/JSON literal, else the string."""
    for literal in (text, text.replace("true", "True").replace("false", "False").replace("null", "None")):
        try:
            return ast.literal_eval(literal)
        except (ValueError, SyntaxError):
            continue
    return text


def parse_overrides(assignments: Iterable[str]) -> dict[str, Any]:
    """``["C=2.0", "kernel=rbf"]`` -> ``{"C": 2.0, "kernel": "rbf"}`` (dotted keys nest)."""
    overrides: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        key = key.strip()
        if not sep or not key or any(not part.isidentifier() for part in key.split(".")):
            raise TunelabError(f"--set {assignment!r}: expected KEY=VALUE, e.g. --set C=2.0")
        *parents, leaf = key.split(".")
        target = overrides
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = parse_value(raw.strip())
    return overrides


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """A recursive dict update that returns a new dict."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def validate(schema: type[ExperimentConfig], sources: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Merge ``sources`` (label -> values, lowest precedence first) and check them.

    The error names the label of the source that supplied the offending key.
    Returns the merged config.
    """
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for label, values in sources.items():
        merged = merge(merged, values)
        origin.update(dict.fromkeys(values, label))
    try:
        schema.model_validate(merged)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"]) or "(config)"
        label = origin.get(str(error["loc"][0]), "config") if error["loc"] else "config"
        if error["type"] == "extra_forbidden":
            message = f"unknown config key (known keys: {', '.join(schema.model_fields)})"
        elif error["type"] == "missing":
            message = "missing required key"
        else:
            message = f"{error['msg']}, got {error['input']!r}"
        raise TunelabError(f"{label}: key {key!r}: {message}") from None
    return merged


def describe_validation_error(exc: ValidationError, union_members: Container[str] = ()) -> str:
    """The first error of a spec file as ``key 'a.b': <why>``, one line.

    Union members name themselves in pydantic's error path (``space.C.float.low``,
    ``meta.literal[...]``); ``union_members`` lists the names to leave out, and
    parts with brackets always go. A cross-field check says ``"key: why"`` itself.
    """
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"] if str(part) not in union_members and "[" not in str(part)]
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "missing":
        message = "missing required key"
    elif error["type"] == "union_tag_invalid":
        tags = [tag.strip().strip("'") for tag in error["ctx"]["expected_tags"].split(",")]
        choices = f"{', '.join(tags[:-1])} or {tags[-1]}" if len(tags) > 1 else tags[0]
        message = f"{error['ctx']['discriminator'].strip(chr(39))} must be {choices}, got {error['ctx']['tag']!r}"
    elif error["type"] != "value_error":
        message = f"{message}, got {error['input']!r}"
    if ": " in message and not loc:
        key, _, message = message.partition(": ")
        loc = [key]
    return f"key {'.'.join(loc) or '(spec)'!r}: {message}"
