"""The abstract benchmark judge: reads a question, a context and two answers, and reviews."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from kpit.options import NoOptions, parse_options
from kpit.types import Message

__all__ = ["Judge"]


class Judge(ABC):
    """A judge backend: returns the text of a review (two scores on its first line).

    Class attributes:
        name: what ``--judge`` selects.
        description: one line for ``kpit plugins``.
        Options: the judge's options, a frozen dataclass (see :mod:`kpit.options`).

    Raise :class:`kpit.GeneratorError` for a review that could not be had (it is recorded
    and excluded), :class:`kpit.FatalGeneratorError` for a failure no retry can fix.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Options: ClassVar[type[Any]] = NoOptions
    options: Any

    def __init__(self, model: str | None = None, **options: Any) -> None:
        self.model = model
        self.options = parse_options(type(self).Options, options, owner=f"judge {self.name!r}")

    @abstractmethod
    async def review(self, messages: Sequence[Message], key: str) -> str:
        """The judge's review of one pair of answers."""

    def settings(self) -> dict[str, Any]:
        """What the review files record about the judge; never secrets."""
        return {"name": self.name, "model": self.model}

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
