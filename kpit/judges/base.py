"""The abstract benchmark judge: reads a question, a context and two answers, and reviews."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from kpit.types import Message

__all__ = ["Judge"]


class Judge(ABC):
    """A judge backend: returns the text of a review (two scores on its first line).

    Class attributes:
        name: what ``--judge`` selects.
        description: one line for ``kpit plugins``.

    Raise :class:`kpit.generators.base.GeneratorError` for a review that could not be had
    (it is recorded and excluded), :class:`~kpit.generators.base.FatalGeneratorError` for a
    failure no retry can fix.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def __init__(self, model: str | None = None, **options: Any) -> None:
        self.model = model
        self.options = dict(options)

    @abstractmethod
    async def review(self, messages: Sequence[Message], key: str) -> str:
        """The judge's review of one pair of answers."""

    def settings(self) -> dict[str, Any]:
        """What the review files record about the judge; never secrets."""
        return {"name": self.name, "model": self.model}

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
