"""The abstract benchmark judge (built-in judges arrive with the benchmark)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

__all__ = ["Judge"]


class Judge(ABC):
    """Scores a model's answer against a reference answer.

    Class attributes:
        name: what ``--judge`` selects.
        description: one line for ``kpit plugins``.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def __init__(self, model: str | None = None, **options: Any) -> None:
        self.model = model
        self.options = dict(options)

    @abstractmethod
    async def judge(self, question: str, context: str, reference: str, answer: str
                    ) -> tuple[float, float]:  # fmt: skip
        """Scores (reference, answer), each from 1 to 10."""
