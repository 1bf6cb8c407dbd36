"""The pose judge's reviews as scores: a table of their own.

Pose reviews (``kind`` ``"pose"``, from the ``pose`` judge) hold no scores from 1 to 10 but
claims checked against the keypoints. :func:`pose_scores` and :func:`pose_table` report
them per model (and per category): grounding precision, contradictions per answer,
coverage and count accuracy, never pooled with a GPT judge's scores
(:mod:`kpit.bench.report`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kpit.bench.files import CATEGORIES
from kpit.bench.report import CATEGORY_TITLES, STATUSES, ReviewFile
from kpit.errors import ConfigError

__all__ = ["PoseScore", "pose_scores", "pose_table"]


@dataclass(frozen=True, slots=True)
class PoseScore:
    """The pose judge's scores of one model (or one model's category).

    Attributes:
        model: the ``model_id``.
        category: ``all``, or a category.
        answers: answers reviewed.
        supported, contradicted, undecidable: claims, by verdict.
        coverage: the mean share of the image's salient facts an answer states, over
            answers whose image has any (``nan`` if none has).
        count_right, count_decided: answers whose decided counts of people are right, and
            answers with a decided count.
    """

    model: str
    category: str
    answers: int
    supported: int
    contradicted: int
    undecidable: int
    coverage: float
    count_right: int
    count_decided: int

    @property
    def claims(self) -> int:
        """Every claim read."""
        return self.supported + self.contradicted + self.undecidable

    @property
    def decided(self) -> int:
        """Claims a fact decided."""
        return self.supported + self.contradicted

    @property
    def precision(self) -> float:
        """Grounding precision: supported over decided claims, pooled (``nan`` if none)."""
        return self.supported / self.decided if self.decided else float("nan")

    @property
    def contradictions_per_answer(self) -> float:
        """Contradicted claims per answer."""
        return self.contradicted / self.answers if self.answers else float("nan")

    @property
    def count_accuracy(self) -> float:
        """The share of decided counts that are right (``nan`` if none)."""
        return self.count_right / self.count_decided if self.count_decided else float("nan")


def _pose_score(model: str, category: str, reviews: Sequence[Mapping[str, Any]]) -> PoseScore:
    tally = dict.fromkeys(STATUSES, 0)
    for review in reviews:
        for claim in review.get("claims", []):
            tally[str(claim["status"])] += 1
    coverage = [float(r["coverage"]) for r in reviews if r.get("coverage") is not None]
    counts = [r.get("count_correct") for r in reviews if r.get("count_correct") is not None]
    return PoseScore(
        model,
        category,
        len(reviews),
        tally["supported"],
        tally["contradicted"],
        tally["undecidable"],
        float(np.mean(coverage)) if coverage else float("nan"),
        sum(1 for c in counts if c),
        len(counts),
    )


def pose_scores(files: Iterable[ReviewFile]) -> dict[str, dict[str, PoseScore]]:
    """Per model (pooled over its files), the pose judge's scores for ``all`` and per
    category. Refuses files of any other kind."""
    by_model: dict[str, list[Mapping[str, Any]]] = {}
    for review_file in files:
        if review_file.kind != "pose":
            raise ConfigError(f"{review_file.path} holds {review_file.kind} reviews, not the "
                              "pose judge's", field="reviews")  # fmt: skip
        for review in review_file.reviews:
            model = str(review.get("model_id") or review_file.path.stem)
            by_model.setdefault(model, []).append(review)
    out: dict[str, dict[str, PoseScore]] = {}
    for model, reviews in by_model.items():
        rows = {"all": _pose_score(model, "all", reviews)}
        for category in [*CATEGORIES, *sorted({str(r.get("category")) for r in reviews})]:
            chosen = [r for r in reviews if r.get("category") == category]
            if chosen and category not in rows:
                rows[category] = _pose_score(model, category, chosen)
        out[model] = rows
    return out


def _percent(value: float) -> str:
    return "-" if value != value else f"{100 * value:.1f}%"


def pose_table(scores: Mapping[str, Mapping[str, PoseScore]], *, categories: bool = True) -> str:
    """The pose judge's table: a row per model (and per category), with grounding precision,
    contradictions per answer, coverage and count accuracy."""
    header = ["model", "answers", "claims", "decided", "grounding precision",
              "contradictions per answer", "coverage", "count accuracy"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for model, rows in scores.items():
        for category, score in rows.items():
            if category != "all" and not categories:
                continue
            label = (
                model
                if category == "all"
                else f"{model} ({CATEGORY_TITLES.get(category, category)})"
            )
            count = (f"{_percent(score.count_accuracy)} ({score.count_right}/"
                     f"{score.count_decided})" if score.count_decided else "-")  # fmt: skip
            per_answer = f"{score.contradictions_per_answer:.2f}" if score.answers else "-"
            share = score.decided / score.claims if score.claims else float("nan")
            cells = [label, str(score.answers), str(score.claims),
                     f"{score.decided} ({_percent(share)})", _percent(score.precision),
                     per_answer, _percent(score.coverage), count]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
