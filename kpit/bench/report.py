"""Scores from reviews, under two protocols.

``llava`` (LLaVA-Bench's): each review holds a ``tuple`` ``[reference score, model score]``
(1 to 10). For each category and for all questions pooled, a review file's row gives the
model's mean x10, the reference's mean x10 and the relative score ``100 x mean(model) /
mean(reference)`` (LLaVA's summary), with 95% bootstrap intervals.

``paper`` (the paper's Tables 4 and 5): reviews are pairwise, model against model. A
model's category score is 10 x the mean of all its scores across every pairing it appears
in (both orders of a question, when swapped, averaged first); All is the mean of the three
category scores; a row is a ``model_id`` pooled over every file it appears in.

Under both, reviews whose scores could not be read are excluded and counted, never scored
as -1 (which pulls both means down and the relative score towards 100): they sit in the
failures file beside the reviews, or, in files written by LLaVA or older kpit, carry
``[-1, -1]``.

Pose reviews (``kind`` ``"pose"``, from the ``pose`` judge) hold no scores from 1 to 10 but
claims checked against the keypoints: :mod:`kpit.bench.pose_report` reports them in a
table of their own, never pooled with a GPT judge's scores.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kpit.bench._pooling import check_pooling, opponents_questions, pairing_questions
from kpit.bench.files import CATEGORIES
from kpit.bench.plugin_reviews import check_plugin_review, is_plugin_kind
from kpit.errors import ConfigError, DataError
from kpit.jsonl import read_jsonl

__all__ = [
    "CATEGORY_TITLES",
    "STATUSES",
    "PaperScore",
    "ReviewFile",
    "Score",
    "category_table",
    "flip_rate",
    "load_reviews",
    "markdown_table",
    "paper_scores",
    "paper_table",
    "repeated_note",
    "report_reviews",
    "run_spread",
]

log = logging.getLogger(__name__)

CATEGORY_TITLES = {
    "conv": "Conversation",
    "detail": "Detailed description",
    "complex": "Complex reasoning",
}
"""The paper's names of LLaVA-Bench's categories."""


@dataclass(frozen=True, slots=True)
class Score:
    """The scores of one category (or ``all``).

    Attributes:
        n: reviews scored.
        excluded: reviews left out because their scores could not be read.
        model, reference: mean score x10.
        relative: ``100 x mean(model) / mean(reference)``.
        model_ci, relative_ci: 95% bootstrap intervals.
    """

    n: int
    excluded: int
    model: float
    reference: float
    relative: float
    model_ci: tuple[float, float]
    relative_ci: tuple[float, float]


def _valid_tuple(review: Mapping[str, Any]) -> tuple[float, float] | None:
    pair = review.get("tuple")
    if not isinstance(pair, Sequence) or len(pair) != 2:
        return None
    ref, model = float(pair[0]), float(pair[1])
    return (ref, model) if ref > 0 and model > 0 else None


def _score_of(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and 1 <= number <= 10 else None


@dataclass(frozen=True, slots=True)
class ReviewFile:
    """One review file, read and checked.

    Attributes:
        path: the file.
        kind: ``reference`` (against the references), ``pairwise`` (model against model),
            ``pose`` (the pose judge's claims, checked against the keypoints) or a plugin
            judge's own kind (see "Judges" in the plugin guide).
        reviews: the reviews with readable scores.
        failed: reviews without readable scores: the lines of the failures file beside it,
            and reviews that carry LLaVA's ``[-1, -1]``.
        repeated: the line numbers of reviews that repeat an earlier line's review (the same
            model, opponent, question, order and run), counted once, at their first line.
    """

    path: Path
    kind: str
    reviews: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    repeated: list[int] = field(default_factory=list)

    @property
    def unreadable(self) -> int:
        """How many reviews have no readable scores."""
        return len(self.failed)

    @property
    def model_id(self) -> str:
        """The model the file reviews (its first review's ``model_id``, else the file stem)."""
        return next((str(r["model_id"]) for r in self.reviews if r.get("model_id")), self.path.stem)


def _kind(review: Mapping[str, Any]) -> str:
    kind = review.get("kind")
    if isinstance(kind, str) and kind and kind != "error":  # pose, or a plugin judge's
        return kind
    return "pairwise" if "versus_id" in review else "reference"


STATUSES = ("supported", "contradicted", "undecidable")
"""A pose claim's verdicts."""


def _check_pose(record: Mapping[str, Any], source: Path, line: int) -> None:
    """A pose review names its question and model and holds well-formed claims."""
    where = f"line {line}"
    if not isinstance(record.get("question_id"), int):
        raise DataError("a pose review names no question_id", file=source, record=where,
                        field="question_id")  # fmt: skip
    claims = record.get("claims")
    if not isinstance(claims, list):
        raise DataError("a pose review holds no list of claims", file=source, record=where,
                        field="claims")  # fmt: skip
    for n, claim in enumerate(claims, start=1):
        if not isinstance(claim, dict) or claim.get("status") not in STATUSES:
            raise DataError(f"claim {n} has no status ({', '.join(STATUSES)})", file=source,
                            record=where, field="claims")  # fmt: skip


def load_reviews(path: str | os.PathLike[str]) -> ReviewFile:
    """Read a review file (kpit's or LLaVA's) and the failures file beside it.

    A review's ``tuple`` must be two scores from 1 to 10, or LLaVA's ``[-1, -1]`` for a
    review without scores (counted as unreadable, never as a score); anything else is a
    :class:`~kpit.errors.DataError` naming the file, the line and the field. One file holds
    one kind of review. A review that repeats an earlier one (the same question, model,
    opponent, order and run: a file appended to twice) counts once and is listed in
    ``repeated``; reviews of ``swap`` and ``runs`` differ in order or run and all count.
    """
    from kpit.bench.review import failures_path

    source = Path(path)
    reviews: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    kinds: set[str] = set()
    seen: set[tuple[str, ...]] = set()
    repeated: list[int] = []
    for n, record in read_jsonl(source):
        identity = _identity(record)
        if identity in seen:
            repeated.append(n)
            continue
        seen.add(identity)
        kinds.add(_kind(record))
        if _kind(record) == "pose":
            _check_pose(record, source, n)
            reviews.append(record)
            continue
        if is_plugin_kind(_kind(record)):
            check_plugin_review(record, source, n)
            reviews.append(record)
            continue
        _check_category(record, source, n)
        pair = record.get("tuple")
        if pair == [-1, -1] or (pair is None and "error" in record):
            failed.append({k: v for k, v in record.items() if k != "tuple"})
            continue
        scores = [_score_of(v) for v in pair] if isinstance(pair, list) else []
        if len(scores) != 2 or None in scores:
            raise DataError(f"not two scores from 1 to 10: {str(pair)[:60]}", file=source,
                            record=f"line {n}", field="tuple")  # fmt: skip
        if _kind(record) == "pairwise" and not record.get("versus_id"):
            raise DataError("a pairwise review names no versus_id", file=source,
                            record=f"line {n}", field="versus_id")  # fmt: skip
        reviews.append(record)
    if len(kinds) > 1:
        mixed = " and ".join([k for k in ("reference", "pairwise", "pose") if k in kinds]
                             + sorted(kinds - {"reference", "pairwise", "pose"}))  # fmt: skip
        raise DataError(f"the file mixes {mixed} reviews", file=source, field="kind")
    beside = failures_path(source)
    if beside.is_file():
        for n, record in read_jsonl(beside):
            if kinds <= {"reference", "pairwise"}:
                _check_category(record, beside, n)
            failed.append(record)
    if repeated:
        log.warning("%s: %d repeated reviews counted once (lines %s)", source, len(repeated),
                    _lines(repeated))  # fmt: skip
    return ReviewFile(source, kinds.pop() if kinds else "reference", reviews, failed, repeated)


def _check_category(record: Mapping[str, Any], source: Path, line: int) -> None:
    """A scored review names its category: it is counted in that row and once in All."""
    problem = _category_problem(record)
    if problem is not None:
        raise DataError(problem, file=source, record=f"line {line}", field="category")


def _category_problem(review: Mapping[str, Any]) -> str | None:
    """Why a review's ``category`` places it in no row of the report, or ``None``."""
    category = review.get("category")
    if category == "all":
        return "'all' is the pool of every category, not a category of its own"
    if not isinstance(category, str) or not category.strip():
        return (f"a review without a category ({', '.join(CATEGORIES)}): it belongs to no "
                "row of the report")  # fmt: skip
    return None


def _identity(review: Mapping[str, Any]) -> tuple[str, ...]:
    """What makes a review one review: its question, the two sides, the order and the run."""
    keys = ("question_id", "model_id", "versus_id", "order", "run")
    return tuple(json.dumps(review.get(k, 0 if k == "run" else None)) for k in keys)


def repeated_note(review_file: ReviewFile) -> str | None:
    """A report line on the repeated reviews of a file, or ``None`` when there are none."""
    if not review_file.repeated:
        return None
    return (f"- {review_file.path.name}: {len(review_file.repeated)} repeated reviews (the same "
            f"question, order and run as an earlier line) counted once: lines "
            f"{_lines(review_file.repeated)}")  # fmt: skip


def _lines(numbers: Sequence[int], shown: int = 5) -> str:
    """``1, 4, 9`` or ``1, 4, 9, 12, 15 and 3 more``."""
    text = ", ".join(map(str, numbers[:shown]))
    return text + (f" and {len(numbers) - shown} more" if len(numbers) > shown else "")


def _score(
    pairs: list[tuple[float, float]], excluded: int, rng: np.random.Generator, resamples: int
) -> Score:
    if not pairs:
        nan = float("nan")
        return Score(0, excluded, nan, nan, nan, (nan, nan), (nan, nan))
    data = np.asarray(pairs, dtype=np.float64)
    ref, model = data[:, 0].mean(), data[:, 1].mean()
    picks = rng.integers(0, len(data), size=(resamples, len(data)))
    boot = data[picks].mean(axis=1)  # (resamples, 2)
    boot_model = boot[:, 1] * 10
    boot_relative = 100 * boot[:, 1] / boot[:, 0]
    return Score(
        n=len(data),
        excluded=excluded,
        model=float(model * 10),
        reference=float(ref * 10),
        relative=float(100 * model / ref),
        model_ci=(float(np.percentile(boot_model, 2.5)), float(np.percentile(boot_model, 97.5))),
        relative_ci=(
            float(np.percentile(boot_relative, 2.5)),
            float(np.percentile(boot_relative, 97.5)),
        ),
    )


def report_reviews(
    reviews: Iterable[Mapping[str, Any]], *, resamples: int = 2000, seed: int = 0
) -> dict[str, Score]:
    """Scores per category (``conv``, ``detail``, ``complex``, and any other) and ``all``,
    where each review counts once.

    Raises:
        DataError: a review names no category (``review N``, counted from 1).
    """
    pairs: dict[str, list[tuple[float, float]]] = {}
    excluded: dict[str, int] = {}
    for n, review in enumerate(reviews, start=1):
        problem = _category_problem(review)
        if problem is not None:
            raise DataError(problem, record=f"review {n}", field="category")
        category = str(review["category"])
        pair = _valid_tuple(review)
        for key in (category, "all"):
            pairs.setdefault(key, [])
            excluded.setdefault(key, 0)
            if pair is None:
                excluded[key] += 1
            else:
                pairs[key].append(pair)
    rng = np.random.default_rng(seed)
    order = [c for c in CATEGORIES if c in pairs] + sorted(set(pairs) - {*CATEGORIES, "all"})
    return {
        key: _score(pairs[key], excluded[key], rng, resamples)
        for key in [*order, "all"]
        if key in pairs
    }


def markdown_table(results: Mapping[str, Mapping[str, Score]]) -> str:
    """Models side by side (the paper's Table 4): the model's mean x10 per category, the
    relative score and the reference's mean x10 for all, with intervals and exclusions."""
    categories = [c for c in (*CATEGORIES, "all") if any(c in r for r in results.values())]
    header = (
        "| model | " + " | ".join(categories) + " | relative (all) | reference (all) | excluded |"
    )
    lines = [header, "|" + " --- |" * (len(categories) + 4)]
    for model, scores in results.items():
        cells = []
        for category in categories:
            s = scores.get(category)
            cells.append(
                "-"
                if s is None or not s.n
                else f"{s.model:.2f} [{s.model_ci[0]:.1f}, {s.model_ci[1]:.1f}]"
            )
        total = scores.get("all")
        relative = (
            f"{total.relative:.1f} [{total.relative_ci[0]:.1f}, {total.relative_ci[1]:.1f}]"
            if total and total.n
            else "-"
        )
        reference = f"{total.reference:.2f}" if total and total.n else "-"
        excluded = str(total.excluded) if total else "0"
        lines.append(
            f"| {model} | " + " | ".join(cells) + f" | {relative} | {reference} | {excluded} |"
        )
    return "\n".join(lines)


def flip_rate(reviews: Iterable[Mapping[str, Any]]) -> float | None:
    """With both orders judged: the share of questions whose preferred answer changes.

    ``None`` when no question was judged in both orders.
    """
    preferences: dict[tuple[Any, Any], dict[str, float]] = {}
    for review in reviews:
        pair = _valid_tuple(review)
        if pair is None or "order" not in review:
            continue
        key = (review.get("question_id"), review.get("run", 0))
        preferences.setdefault(key, {})[review["order"]] = float(np.sign(pair[1] - pair[0]))
    both = [p for p in preferences.values() if len(p) == 2]
    if not both:
        return None
    flips = sum(1 for p in both if len(set(p.values())) > 1)
    return flips / len(both)


def run_spread(reviews: Iterable[Mapping[str, Any]]) -> tuple[float, float] | None:
    """With several runs: the mean and standard deviation of the model's overall mean x10."""
    by_run: dict[int, list[Mapping[str, Any]]] = {}
    for review in reviews:
        by_run.setdefault(int(review.get("run", 0)), []).append(review)
    if len(by_run) < 2:
        return None
    means = [report_reviews(rs, resamples=10)["all"].model for rs in by_run.values()]
    return float(np.mean(means)), float(np.std(means, ddof=1))


def category_table(scores: Mapping[str, Score]) -> str:
    """One model's scores per category: model and reference x10, relative, intervals, counts."""
    lines = [
        "| category | model x10 | 95% interval | reference x10 | relative | 95% interval "
        "| reviews | excluded |",
        "|" + " --- |" * 8,
    ]
    for category, s in scores.items():
        if not s.n:
            lines.append(f"| {category} | - | - | - | - | - | 0 | {s.excluded} |")
            continue
        lines.append(
            f"| {category} | {s.model:.2f} | [{s.model_ci[0]:.1f}, {s.model_ci[1]:.1f}] "
            f"| {s.reference:.2f} | {s.relative:.1f} | [{s.relative_ci[0]:.1f}, "
            f"{s.relative_ci[1]:.1f}] | {s.n} | {s.excluded} |"
        )
    return "\n".join(lines)


# --- the paper's protocol ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaperScore:
    """One model's row under the paper's protocol.

    Attributes:
        model: the ``model_id``.
        categories: per category, 10 x the mean of the model's scores over every pairing.
        counts: per category, the scores pooled (one per question and pairing, both orders
            of a swapped question averaged first).
        opponents: the models it was judged against.
        unreadable: reviews of its pairings without readable scores (excluded).
        questions: per opponent, the questions with readable scores in that pairing.
        all: the mean of the three category scores (the paper's All).
    """

    model: str
    categories: dict[str, float]
    counts: dict[str, int]
    opponents: tuple[str, ...]
    unreadable: int = 0
    questions: dict[str, int] = field(default_factory=dict)

    @property
    def all(self) -> float:
        """The mean of the category scores."""
        values = [self.categories[c] for c in CATEGORIES if c in self.categories]
        return float(np.mean(values)) if values else float("nan")

    def as_scores(self) -> dict[str, Score]:
        """The row as :class:`Score` values (no reference, no interval), for the plot."""
        nan = float("nan")
        values = {**self.categories, "all": self.all}
        total = sum(self.counts.values())
        return {
            c: Score(self.counts.get(c, total), 0, v, nan, nan, (v, v), (nan, nan))
            for c, v in values.items()
        }

    def change(self, baseline: PaperScore) -> float:
        """The relative change of All against ``baseline`` (0.2118 for the paper's +21.18%)."""
        return self.all / baseline.all - 1


def paper_scores(files: Iterable[ReviewFile], *, strict: bool = False) -> dict[str, PaperScore]:
    """Every model's pooled scores over pairwise review files (the paper's Tables 4 and 5).

    A model pooled over pairings whose question sets differ (they weigh unequally) is logged
    as a warning, or with ``strict`` raised as a :class:`~kpit.errors.ConfigError`.
    """
    files = list(files)
    # (model, category) -> (pairing, question) -> scores from each order and run
    values: dict[tuple[str, str], dict[tuple[frozenset[str], int], list[float]]] = {}
    opponents: dict[str, set[str]] = {}
    unreadable: dict[str, int] = {}
    for review_file in files:
        if review_file.kind != "pairwise":
            raise ConfigError(f"{review_file.path} holds reviews against references; the paper "
                              "protocol needs pairwise reviews (kpit bench judge --versus), or "
                              "use --protocol llava", field="protocol")  # fmt: skip
        for review in review_file.reviews:
            model, other = str(review["model_id"]), str(review["versus_id"])
            pairing = frozenset((model, other))
            question = (pairing, int(review["question_id"]))
            category = str(review["category"])
            theirs, mine = review["tuple"]
            for who, score in ((model, mine), (other, theirs)):
                values.setdefault((who, category), {}).setdefault(question, []).append(score)
            opponents.setdefault(model, set()).add(other)
            opponents.setdefault(other, set()).add(model)
        for who in {r["model_id"] for r in review_file.reviews} | {
            r["versus_id"] for r in review_file.reviews
        }:
            unreadable[str(who)] = unreadable.get(str(who), 0) + review_file.unreadable
    check_pooling(files, strict=strict)
    pairings = pairing_questions(files)
    out: dict[str, PaperScore] = {}
    for who in sorted(opponents):
        categories, counts = {}, {}
        for category in CATEGORIES:
            by_question = values.get((who, category))
            if not by_question:
                continue
            per_question = [float(np.mean(scores)) for scores in by_question.values()]
            categories[category] = 10 * float(np.mean(per_question))
            counts[category] = len(per_question)
        out[who] = PaperScore(who, categories, counts, tuple(sorted(opponents[who])),
                              unreadable.get(who, 0),
                              opponents_questions(pairings, who))  # fmt: skip
    return out


def paper_table(scores: Mapping[str, PaperScore], baseline: str | None = None) -> str:
    """The paper's table: Conversation, Detailed description, Complex reasoning, All, and
    with ``baseline``, each model's relative change of All against it; beside them, the
    scores pooled per category and the models it was judged against with the questions of
    each pairing."""
    if baseline is not None and baseline not in scores:
        known = ", ".join(scores) or "none"
        raise ConfigError(f"no model {baseline!r} in the reviews; models: {known}",
                          field="baseline")  # fmt: skip
    titles = [CATEGORY_TITLES[c] for c in CATEGORIES]
    header = ["model", *titles, "All"]
    if baseline is not None:
        header.append(f"vs {baseline}")
    header += ["scores pooled", "judged against (questions)", "unreadable"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for model, score in scores.items():
        cells = [f"{score.categories[c]:.2f}" if c in score.categories else "-" for c in CATEGORIES]
        cells.append(f"{score.all:.2f}")
        if baseline is not None:
            cells.append("-" if model == baseline else f"{score.change(scores[baseline]):+.2%}")
        pooled = "/".join(str(score.counts.get(c, 0)) for c in CATEGORIES)
        against = ", ".join(f"{o} ({score.questions.get(o, 0)})" for o in score.opponents)
        cells += [pooled, against, str(score.unreadable)]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
