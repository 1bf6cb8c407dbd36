"""Reviews of a plugin's single-answer judge: what a record must hold, and its report.

A single-answer judge (:class:`kpit.judges.base.AnswerJudge`) returns one review per answer;
the pose judge's have the kind ``"pose"`` and a table of their own. Any other judge's review
records (a plugin's) must hold:

- ``kind``: the judge's review kind, a name of its own (not ``reference``, ``pairwise``,
  ``pose`` or ``error``); one review file holds one kind;
- ``question_id`` (an integer), ``category`` (``conv``, ``detail``, ``complex``...) and
  ``model_id`` (the model that answered), as every review does;
- ``scores``: the review's scores by name, each a number or ``null`` (not scored for this
  answer); the report gives each score's mean per model and category, in a table of its
  own (:mod:`kpit.bench.plugin_report`), never pooled with a GPT judge's scores.

Optional: ``text`` (the answer), ``notes`` (a list of strings) and anything else, shown by
``kpit bench show``; ``judge`` is filled in with the judge's ``settings()`` (its name and
model) when the record has none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kpit.bench.files import CATEGORIES
from kpit.errors import ConfigError, DataError

__all__ = ["BUILTIN_KINDS", "check_plugin_review", "finish_review", "is_plugin_kind"]

BUILTIN_KINDS = ("reference", "pairwise", "pose", "error")
"""Review kinds kpit's own judges write (``error``: a review that failed)."""


def is_plugin_kind(kind: object) -> bool:
    """Whether ``kind`` is a plugin judge's review kind (a string none of kpit's own)."""
    return isinstance(kind, str) and bool(kind) and kind not in BUILTIN_KINDS


def _problem(record: Mapping[str, Any]) -> tuple[str, str] | None:
    """What a plugin review record lacks, as ``(message, field)``, or ``None``."""
    if not is_plugin_kind(record.get("kind")):
        return (f"kind {record.get('kind')!r} is not a review kind of its own (not one of "
                f"{', '.join(BUILTIN_KINDS)})", "kind")  # fmt: skip
    question_id = record.get("question_id")
    if isinstance(question_id, bool) or not isinstance(question_id, int):
        return "the review names no question_id (an integer)", "question_id"
    category = record.get("category")
    if not isinstance(category, str) or not category.strip() or category == "all":
        return f"the review names no category ({', '.join(CATEGORIES)})", "category"
    if not isinstance(record.get("model_id"), str):
        return "the review names no model_id (a string)", "model_id"
    scores = record.get("scores")
    if not isinstance(scores, Mapping):
        return "the review holds no scores (an object of numbers by name)", "scores"
    for name, value in scores.items():
        if value is not None and _number(value) is None:
            return f"score {name!r} is {value!r}, not a finite number or null", "scores"
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def check_plugin_review(record: Mapping[str, Any], source: Path, line: int) -> None:
    """A plugin review read from ``source`` holds what the report needs.

    Raises:
        DataError: naming the file, the line and the field.
    """
    problem = _problem(record)
    if problem is not None:
        raise DataError(problem[0], file=source, record=f"line {line}", field=problem[1])


def finish_review(
    record: dict[str, Any], judge: str, settings: Mapping[str, Any]
) -> dict[str, Any]:
    """A single-answer judge's review record, with the judge's ``settings`` (name and model)
    when it names none, checked when its kind is a plugin's.

    Raises:
        ConfigError: the judge returned a record without what a review must hold.
    """
    if not isinstance(record, dict):
        raise ConfigError(f"judge {judge!r} returned {type(record).__name__}, not a review "
                          "record (a dict)", field="judge")  # fmt: skip
    record.setdefault("judge", dict(settings))
    if record.get("kind") != "pose":
        problem = _problem(record)
        if problem is not None:
            raise ConfigError(f"judge {judge!r} returned a review that kpit cannot report: "
                              f"{problem[0]}", field=problem[1])  # fmt: skip
    return record
