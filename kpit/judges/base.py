"""The abstract benchmark judges.

Two kinds:

- :class:`Judge` (``single_answer = False``): reads LLaVA-Bench's messages (the context, the
  question and two answers) and returns the text of a review with two scores, as the ``gpt``
  judge does;
- :class:`AnswerJudge` (``single_answer = True``): checks one answer against the benchmark's
  context itself, without a model, and returns an :class:`AnswerReview`, as the ``pose``
  judge does.

:func:`kpit.bench.judge_answers` asks a judge which kind it is through ``single_answer``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Protocol

from kpit.errors import ConfigError
from kpit.judges.records import Answer, BenchContext, Question
from kpit.options import NoOptions, parse_options
from kpit.types import Message

__all__ = ["AnswerJudge", "AnswerReview", "Judge"]


class AnswerReview(Protocol):
    """What an :class:`AnswerJudge` returns for one answer: a record for the review file.

    ``kind`` names the review file's kind (``"pose"`` for the pose judge; a plugin's judge
    names its own); ``to_dict()`` is the JSON record, which holds at least ``kind``,
    ``question_id`` (an integer), ``category`` and ``model_id``, and for any kind but
    ``"pose"`` also ``scores``: the review's scores by name, each a number or ``None``, which
    ``kpit bench report`` averages per model and category in a table of their own. The
    benchmark adds ``judge`` (the judge's :meth:`Judge.settings`) when the record has none.
    See "Judges" in the plugin guide.
    """

    kind: str

    def to_dict(self) -> dict[str, Any]:
        """The review as one JSON-ready record."""
        ...


class Judge(ABC):
    """A judge backend: returns the text of a review (two scores on its first line).

    Class attributes:

    - ``name``: what ``--judge`` selects.
    - ``description``: one line for ``kpit plugins``.
    - ``Options``: the judge's options, a frozen dataclass (see :mod:`kpit.options`).
    - ``single_answer``: ``False``: the judge reviews a pair of answers through
      :meth:`review`; ``True``: it checks one answer against the context through
      :meth:`assess` (see :class:`AnswerJudge`).

    Raise :class:`kpit.GeneratorError` for a review that could not be had (it is recorded
    and excluded), :class:`kpit.FatalGeneratorError` for a failure no retry can fix.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Options: ClassVar[type[Any]] = NoOptions
    single_answer: ClassVar[bool] = False
    options: Any

    def __init__(self, model: str | None = None, **options: Any) -> None:
        """``model``: what ``--model`` gave, ``None`` when nothing did (a judge picks its own
        default, as ``gpt`` picks ``gpt-4o``); ``options``: the ``-O key=value`` options."""
        self.model = model
        self.options = parse_options(type(self).Options, options, owner=f"judge {self.name!r}")

    @abstractmethod
    async def review(self, messages: Sequence[Message], key: str) -> str:
        """The judge's review of one pair of answers."""

    def assess(self, question: Question, context: BenchContext, answer: Answer) -> AnswerReview:
        """A single-answer judge's review of one answer (see :class:`AnswerJudge`)."""
        raise ConfigError(f"judge {self.name!r} reviews pairs of answers, not one answer against "
                          "the context", field="judge")  # fmt: skip

    def settings(self) -> dict[str, Any]:
        """What the review files record about the judge (each review's ``judge``): its
        ``name`` and ``model`` at least; never secrets."""
        return {"name": self.name, "model": self.model}

    def usage_of(self, key: str) -> dict[str, Any] | None:
        """What the review asked for under ``key`` used (tokens), for the review file; ``None``
        for a judge that pays nothing or does not know."""
        return None

    def resume(self, usages: Iterable[Mapping[str, Any]]) -> None:  # noqa: B027 - optional hook
        """Count what earlier sessions' reviews used (their stored usage) against the
        judge's budget, before any new review is asked."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class AnswerJudge(Judge):
    """A judge that checks one answer against the benchmark's context, without a model.

    Subclasses implement :meth:`assess`; :func:`kpit.bench.judge_answers` calls it once per
    answer and writes ``review.to_dict()`` to the review file. Such a judge needs neither a
    reference answer nor another model's answers, and has no order to swap.
    """

    single_answer: ClassVar[bool] = True

    async def review(self, messages: Sequence[Message], key: str) -> str:
        """Not used: a single-answer judge has no messages to read."""
        raise ConfigError(f"judge {self.name!r} checks one answer against the context; it "
                          "does not review pairs of answers", field="judge")  # fmt: skip

    @abstractmethod
    def assess(self, question: Question, context: BenchContext, answer: Answer) -> AnswerReview:
        """Check ``answer`` to ``question`` against the image's ``context``."""
