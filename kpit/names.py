"""Lists of names given as ``"a, b"`` or as a list: split, checked, kept in order.

Every option that names several things (tasks, recipes, plugins to load, image sources)
reads them here, so each refuses an empty list and a name given twice the same way,
and suggests the nearest known name for a typo in the same words.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Collection, Iterable

from kpit.errors import ConfigError

__all__ = ["close_names", "did_you_mean", "parse_names", "split_names"]

NamesLike = str | Iterable[str]
"""Names as one comma-separated string or as a list of strings."""

CUTOFF = 0.6
"""How alike a typo and a known name must be to suggest it (:func:`difflib.get_close_matches`)."""


def split_names(value: NamesLike, *, what: str = "name", field: str | None = None) -> list[str]:
    """The names in ``value`` (``"a, b"`` or a list of strings): stripped, blanks dropped,
    in order. Nothing is checked but their type.

    Raises:
        ConfigError: ``value`` is neither a string nor a list of strings (naming ``field``).
    """
    given: object = value  # the type is checked here: callers pass what users typed
    if isinstance(given, str):
        listed: list[object] = list(given.split(","))
    elif isinstance(given, Iterable) and not isinstance(given, bytes):
        listed = list(given)
    else:
        listed = [given]
    strings = [part for part in listed if isinstance(part, str)]
    if len(strings) != len(listed):
        raise ConfigError(
            f"expected {what} names (a list of strings or 'a,b'), not {value!r}", field=field
        )
    return [name for name in (part.strip() for part in strings) if name]


def close_names(
    name: str, known: Iterable[str], *, n: int = 1, cutoff: float = CUTOFF
) -> list[str]:
    """Up to ``n`` of the ``known`` names most like ``name``, the most alike first."""
    return difflib.get_close_matches(name, list(known), n=n, cutoff=cutoff)


def did_you_mean(
    name: str, known: Iterable[str], *, n: int = 1, cutoff: float = CUTOFF, quote: bool = True
) -> str:
    """``"; did you mean 'x'?"`` (or ``'x' or 'y'`` for ``n=2``) for the known names most
    like ``name``; ``""`` when none is alike. ``quote=False`` leaves out the quotes."""
    near = close_names(name, known, n=n, cutoff=cutoff)
    if not near:
        return ""
    return f"; did you mean {' or '.join(repr(m) if quote else m for m in near)}?"


def parse_names(
    value: NamesLike,
    *,
    what: str = "task",
    field: str | None = "tasks",
    known: Collection[str] | None = None,
    scope: str | None = None,
    file: str | os.PathLike[str] | None = None,
    unique: bool = True,
    cutoff: float = CUTOFF,
) -> list[str]:
    """The names in ``value`` (``"a, b"`` or a list of strings), in order, checked.

    Args:
        value: the names, as one comma-separated string or a list.
        what: what one name names (``"task"``, ``"recipe"``), for the messages.
        field: the option the names came from, named by the errors.
        known: the names allowed; ``None`` allows any.
        scope: where the known names come from (``"this run"``), for the messages.
        file: the file the errors name (the run folder whose names are known), if any.
        unique: refuse a name given twice; ``False`` lets a repeat through (it changes nothing
            where names only select).
        cutoff: how alike a typo and a known name must be to suggest it.

    Raises:
        ConfigError: no name, a name given twice, or one not ``known`` (with the nearest
            known name and the list of them), naming ``field``.
    """
    names = split_names(value, what=what, field=field)
    if not names:
        raise ConfigError(f"no {what} given", file=file, field=field)
    if unique and len(set(names)) != len(names):
        raise ConfigError(f"a {what} is named twice: {', '.join(names)}", file=file, field=field)
    if known is not None:
        for name in names:
            if name not in known:
                raise ConfigError(_unknown(name, known, what, scope, cutoff), file=file,
                                  field=field)  # fmt: skip
    return names


def _unknown(name: str, known: Collection[str], what: str, scope: str | None, cutoff: float) -> str:
    """``no task 'x' in this run; did you mean 'y'? (its tasks: a, b)``."""
    where = f" in {scope}" if scope else ""
    listed = f"{'its' if scope else 'known'} {what}s: {', '.join(sorted(known)) or 'none'}"
    return f"no {what} {name!r}{where}{did_you_mean(name, known, cutoff=cutoff)} ({listed})"
