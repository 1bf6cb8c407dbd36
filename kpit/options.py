"""Typed backend options: a frozen dataclass per backend, parsed and checked in one place.

A backend (a :class:`~kpit.generators.base.Generator` or a :class:`~kpit.judges.base.Judge`)
declares its settings as a frozen dataclass whose fields carry defaults and help text::

    @dataclass(frozen=True)
    class EchoOptions:
        repeat: int = option(1, "How often to repeat the prompt.", minimum=1)
        api_key: str | None = option(None, "The key.", secret=True)

:func:`parse_options` turns keyword arguments (from Python, or ``-O KEY=VALUE`` on the
command line, where values arrive as strings or JSON) into that dataclass: an unknown key or
a value of the wrong type is one :class:`~kpit.errors.ConfigError` naming the option.
:func:`public_options` gives what a run manifest records (secrets left out), and
:func:`describe_options` what ``kpit generate --generator NAME --help-options`` prints.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, Union

from kpit.errors import ConfigError
from kpit.names import did_you_mean, split_names

__all__ = [
    "NoOptions",
    "OptionInfo",
    "describe_options",
    "option",
    "option_names",
    "parse_options",
    "public_options",
]

T = TypeVar("T")

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def option(
    default: Any,
    help: str,
    *,
    secret: bool = False,
    minimum: float | None = None,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """A dataclass field with a default and help text.

    Args:
        default: the value when the option is not given (a mutable default is copied).
        help: one line for ``--help-options``.
        secret: never recorded in manifests or shown (an API key).
        minimum: the smallest allowed value of a number.
        choices: the allowed values.
    """
    metadata = {"help": help, "secret": secret, "minimum": minimum, "choices": choices}
    if isinstance(default, (dict, list)):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """The options of a backend that has none."""


@dataclasses.dataclass(frozen=True, slots=True)
class OptionInfo:
    """One option, as ``--help-options`` lists it."""

    name: str
    type: str
    default: Any
    help: str
    secret: bool


def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _convert(name: str, hint: Any, value: Any) -> Any:
    """``value`` as the type ``hint`` says, or a ConfigError naming the option."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(name, arg, value)
            except ConfigError as exc:
                errors.append(exc.message)
        raise ConfigError(errors[0] if errors else f"bad value {value!r}", field=name)
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError(f"must be true or false, not {value!r}", field=name)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"must be a whole number, not {value!r}", field=name)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"must be a number, not {value!r}", field=name)
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # -O api_key=12345 arrives as a number
        raise ConfigError(f"must be a string, not {value!r}", field=name)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ConfigError(f"must be a JSON object, not {value!r}", field=name) from None
        if not isinstance(value, Mapping):
            raise ConfigError(f"must be a JSON object, not {value!r}", field=name)
        return dict(value)
    if origin in (tuple, list) or hint in (tuple, list):
        if isinstance(value, str):
            value = split_names(value, field=name)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"must be a list, not {value!r}", field=name)
        return tuple(value) if (origin or hint) is tuple else list(value)
    return value


def parse_options(cls: type[T], values: Mapping[str, Any], *, owner: str = "backend") -> T:
    """``values`` as an instance of the options dataclass ``cls``.

    Args:
        cls: a dataclass whose fields are the options.
        values: option names and values; ``None`` means "not given" (the default applies).
        owner: who the options are for, for error messages (``generator 'openai'``).

    Raises:
        ConfigError: an unknown option (with the nearest known names) or a bad value,
            naming the option.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = _hints(cls)
    parsed: dict[str, Any] = {}
    for name, value in values.items():
        if name not in fields:
            hint = did_you_mean(name, fields, n=2, quote=False)
            known = ", ".join(sorted(fields)) or "none"
            raise ConfigError(f"unknown option of {owner}{hint} (known: {known})", field=name)
        if value is None:
            continue
        converted = _convert(name, hints[name], value)
        meta = fields[name].metadata
        minimum = meta.get("minimum")
        if minimum is not None and converted is not None and converted < minimum:
            raise ConfigError(f"must be at least {minimum}, not {converted!r}", field=name)
        choices = meta.get("choices")
        if choices and converted not in choices:
            allowed = ", ".join(map(str, choices))
            raise ConfigError(f"must be one of {allowed}, not {converted!r}", field=name)
        parsed[name] = converted
    return cls(**parsed)


def option_names(cls: type[Any]) -> set[str]:
    """The names of the options that ``cls`` declares."""
    return {f.name for f in dataclasses.fields(cls)}


def public_options(options: Any) -> dict[str, Any]:
    """The options as a JSON-ready dict for a manifest: secrets left out."""
    return {
        f.name: getattr(options, f.name)
        for f in dataclasses.fields(options)
        if not f.metadata.get("secret")
    }


def describe_options(cls: type[Any]) -> list[OptionInfo]:
    """Every option of ``cls``: name, type, default and help, for ``--help-options``."""
    hints = _hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        help_text = str(f.metadata.get("help", ""))
        secret = bool(f.metadata.get("secret"))
        out.append(OptionInfo(f.name, _type_name(hints[f.name]), default, help_text, secret))
    return out
