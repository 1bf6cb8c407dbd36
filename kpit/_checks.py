"""Argument checks at the Python API's boundary.

``load_coco(123)``, ``generate("/path")``, ``generate(tasks=5)``, ``limit=-1`` or
``image_ids="785"`` must not reach numpy or the event loop as they are: they would end in a
traceback from deep inside, or worse in a silent empty result (``"785"`` iterates as the
ids 7, 8 and 5). Each check raises one :class:`~kpit.errors.ConfigError` that names the
argument and says what was expected.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kpit.errors import ConfigError

__all__ = [
    "check_count",
    "check_image_ids",
    "check_names",
    "check_path",
    "check_type",
    "shown",
]


def shown(value: Any) -> str:
    """``value`` as an error message shows it: its repr, cut at 60 characters, and its type."""
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def check_path(value: Any, name: str, *, optional: bool = False, what: str = "a path") -> None:
    """``value`` is a path (``str`` or ``os.PathLike``), or ``None`` when ``optional``."""
    if value is None and optional:
        return
    if isinstance(value, (str, os.PathLike)) and not isinstance(value, bytes):
        return
    raise ConfigError(f"expected {what} (str or os.PathLike), not {shown(value)}", field=name)


def check_count(value: Any, name: str, *, minimum: int = 0, optional: bool = False) -> None:
    """``value`` is a whole number (not a bool) of at least ``minimum``."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"expected a whole number, not {shown(value)}", field=name)
    if value < minimum:
        raise ConfigError(f"must be {minimum} or more, not {value}", field=name)


def check_type(value: Any, name: str, types: tuple[type, ...], what: str) -> None:
    """``value`` is an instance of one of ``types``."""
    if not isinstance(value, types):
        raise ConfigError(f"expected {what}, not {shown(value)}", field=name)


def check_names(value: Any, name: str) -> None:
    """``value`` is a name, ``"a,b"``, or a sequence of names."""
    if isinstance(value, str):
        return
    if (
        isinstance(value, Sequence)
        and not isinstance(value, (bytes, bytearray))
        and all(isinstance(item, str) for item in value)
    ):
        return
    raise ConfigError(
        f"expected names: a string such as 'a,b' or a list of strings, not {shown(value)}",
        field=name,
    )


def check_image_ids(value: Any) -> list[int] | None:
    """``image_ids`` as a list of ints: an iterable of whole numbers, not a string."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        raise ConfigError(f"expected image ids (a list of ints, such as [785]), not "
                          f"{shown(value)}", field="image_ids")  # fmt: skip
    ids = list(value)
    for item in ids:
        if isinstance(item, bool) or not isinstance(item, numbers.Integral):
            raise ConfigError(f"expected image ids (ints), found {shown(item)}",
                              field="image_ids")  # fmt: skip
    return [int(item) for item in ids]
