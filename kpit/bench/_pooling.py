"""What the report may pool: every review file once, and a model's pairings over one set of
questions.

Under the paper's protocol a model's score is the mean over every question of every pairing
it appears in, so a pairing weighs by its number of questions: a pairing judged on fewer
questions moves the model's score (and every change measured against it) though no score in
it changed. :func:`uneven_pairings` finds the models pooled over pairings whose question sets
differ; :func:`refuse_copies` refuses a review file given twice under two names.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kpit.errors import ConfigError

__all__ = [
    "UnevenPooling",
    "check_pooling",
    "opponents_questions",
    "pairing_questions",
    "refuse_copies",
    "uneven_pairings",
]

log = logging.getLogger("kpit.bench.report")


class ReviewFile(Protocol):
    """What these checks read of :class:`kpit.bench.report.ReviewFile` (no import: no cycle)."""

    @property
    def path(self) -> Path:
        """The file."""

    @property
    def reviews(self) -> list[dict[str, Any]]:
        """Its reviews with readable scores."""


@dataclass(frozen=True, slots=True)
class UnevenPooling:
    """A model pooled over pairings whose question sets differ.

    Attributes:
        model: the ``model_id``.
        questions: per opponent, the questions scored in that pairing.
        differing: questions scored in some of its pairings but not in all.
    """

    model: str
    questions: dict[str, int]
    differing: int

    @property
    def message(self) -> str:
        """One line naming the model, its pairings with their questions, and the difference."""
        pairings = ", ".join(f"vs {other}: {n} questions" for other, n in self.questions.items())
        return (f"{self.model} is pooled over pairings with different question sets "
                f"({pairings}); {self.differing} questions are not in every pairing, so the "
                "pairings weigh unequally: judge every pairing on the same questions")  # fmt: skip


def pairing_questions(files: Iterable[ReviewFile]) -> dict[tuple[str, str], frozenset[int]]:
    """The questions with readable scores in each pairing (the two ``model_id`` sorted),
    over every pairwise file that holds it."""
    questions: dict[tuple[str, str], set[int]] = {}
    for review_file in files:
        for review in review_file.reviews:
            pair = sorted((str(review["model_id"]), str(review["versus_id"])))
            questions.setdefault((pair[0], pair[1]), set()).add(int(review["question_id"]))
    return {pairing: frozenset(ids) for pairing, ids in questions.items()}


def opponents_questions(
    pairings: Mapping[tuple[str, str], frozenset[int]], model: str
) -> dict[str, int]:
    """Per opponent of ``model``, sorted by name, the questions of their pairing."""
    mine = {(b if a == model else a): ids for (a, b), ids in pairings.items() if model in (a, b)}
    return {other: len(mine[other]) for other in sorted(mine)}


def uneven_pairings(files: Iterable[ReviewFile]) -> list[UnevenPooling]:
    """Every model pooled over pairings whose question sets differ, by ``model_id``."""
    pairings = pairing_questions(files)
    models = sorted({model for pairing in pairings for model in pairing})
    found = []
    for model in models:
        sets = [ids for pairing, ids in pairings.items() if model in pairing]
        if len(set(sets)) < 2:
            continue
        differing = len(frozenset.union(*sets) - frozenset.intersection(*sets))
        found.append(UnevenPooling(model, opponents_questions(pairings, model), differing))
    return found


def check_pooling(files: Iterable[ReviewFile], *, strict: bool = False) -> None:
    """Log a warning for each model pooled over pairings with different question sets.

    Raises:
        ConfigError: with ``strict``, for the first such model.
    """
    for uneven in uneven_pairings(files):
        if strict:
            raise ConfigError(uneven.message)
        log.warning("%s", uneven.message)


def _digest(review_file: ReviewFile) -> str | None:
    """A hash of a file's reviews, whatever their order and layout (``None`` if it has none)."""
    if not review_file.reviews:
        return None
    lines = sorted(json.dumps(r, sort_keys=True) for r in review_file.reviews)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def refuse_copies(files: Sequence[ReviewFile]) -> None:
    """Refuse two files that hold the same reviews (a copy under another name), as the
    report refuses one file named twice.

    Raises:
        ConfigError: naming both files.
    """
    seen: dict[str, int] = {}
    for n, review_file in enumerate(files):
        digest = _digest(review_file)
        if digest is None:
            continue
        first = seen.setdefault(digest, n)
        if first != n:
            raise ConfigError(f"named twice ({files[first].path} and {review_file.path} hold "
                              "the same reviews): its reviews would count twice",
                              file=review_file.path)  # fmt: skip
