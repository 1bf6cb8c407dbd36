"""The aliases that keep kpit 0.1's module paths importable for one minor version.

Each moved module's old path (``kpit.render``, ``kpit.store``, ...) is a small module that
calls :func:`moved`: importing it warns once with a :class:`DeprecationWarning` naming the new
path, and every name it had is looked up in the new module.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["REMOVED_IN", "moved"]

REMOVED_IN = "0.3.0"
"""The version in which the old paths stop working."""


def moved(old: str, new: str) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Warn that ``old`` moved to ``new``; return the alias module's ``__getattr__``,
    ``__dir__`` and ``__all__``, which forward to the new module."""
    warnings.warn(
        f"{old} moved to {new} in kpit 0.2.0: import from {new} "
        f"(the old path is removed in kpit {REMOVED_IN})",
        DeprecationWarning,
        stacklevel=3,
    )
    target = importlib.import_module(new)

    def __getattr__(name: str) -> Any:
        try:
            return getattr(target, name)
        except AttributeError:
            raise AttributeError(f"module {old!r} has no attribute {name!r}") from None

    def __dir__() -> list[str]:
        return dir(target)

    return __getattr__, __dir__, list(getattr(target, "__all__", ()))
