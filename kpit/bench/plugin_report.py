"""The report of a plugin's single-answer judge: its scores as a table of their own, one
review for ``kpit bench show``, and ``kpit bench judge``'s summary line. What such a review
record holds: :mod:`kpit.bench.plugin_reviews`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kpit.bench.files import CATEGORIES
from kpit.bench.plugin_reviews import is_plugin_kind
from kpit.bench.report import CATEGORY_TITLES, ReviewFile
from kpit.errors import ConfigError

__all__ = [
    "AnswerScores",
    "answer_summary",
    "describe_review",
    "plugin_report",
    "plugin_scores",
    "plugin_table",
]


@dataclass(frozen=True, slots=True)
class AnswerScores:
    """A plugin judge's scores of one model (or one model's category).

    Attributes:
        model: the ``model_id``.
        category: ``all``, or a category.
        answers: answers reviewed.
        means: each score's mean over the answers that have it (``nan`` if none has).
        counts: how many answers have each score.
    """

    model: str
    category: str
    answers: int
    means: dict[str, float]
    counts: dict[str, int]


def _scores(model: str, category: str, reviews: Sequence[Mapping[str, Any]],
            names: Sequence[str]) -> AnswerScores:  # fmt: skip
    means, counts = {}, {}
    for name in names:
        values = [float(r["scores"][name]) for r in reviews
                  if r["scores"].get(name) is not None]  # fmt: skip
        means[name] = sum(values) / len(values) if values else float("nan")
        counts[name] = len(values)
    return AnswerScores(model, category, len(reviews), means, counts)


def plugin_scores(files: Iterable[ReviewFile]) -> dict[str, dict[str, dict[str, AnswerScores]]]:
    """By review kind, then model (pooled over its files): the scores for ``all`` and per
    category. Refuses files of kpit's own kinds."""
    by_kind: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for review_file in files:
        if not is_plugin_kind(review_file.kind):
            raise ConfigError(f"{review_file.path} holds {review_file.kind} reviews, not a "
                              "plugin judge's", field="reviews")  # fmt: skip
        models = by_kind.setdefault(review_file.kind, {})
        for review in review_file.reviews:
            model = str(review.get("model_id") or review_file.path.stem)
            models.setdefault(model, []).append(review)
    out: dict[str, dict[str, dict[str, AnswerScores]]] = {}
    for kind, models in by_kind.items():
        names = sorted({name for rs in models.values() for r in rs for name in r["scores"]})
        out[kind] = {}
        for model, reviews in models.items():
            rows = {"all": _scores(model, "all", reviews, names)}
            for category in [*CATEGORIES, *sorted({str(r["category"]) for r in reviews})]:
                chosen = [r for r in reviews if r["category"] == category]
                if chosen and category not in rows:
                    rows[category] = _scores(model, category, chosen, names)
            out[kind][model] = rows
    return out


def plugin_table(scores: Mapping[str, Mapping[str, AnswerScores]]) -> str:
    """One kind's table: a row per model and per category, a column per score (its mean,
    with how many answers have it when not all do)."""
    names = sorted({name for rows in scores.values() for s in rows.values() for name in s.means})
    header = ["model", "answers", *names]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for model, rows in scores.items():
        for category, score in rows.items():
            label = model if category == "all" else (
                f"{model} ({CATEGORY_TITLES.get(category, category)})")  # fmt: skip
            cells = [label, str(score.answers)]
            for name in names:
                mean, count = score.means.get(name, math.nan), score.counts.get(name, 0)
                cell = "-" if not count else f"{mean:.2f}"
                cells.append(cell if count in (0, score.answers) else f"{cell} (of {count})")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _judges(reviews: Iterable[Mapping[str, Any]]) -> str:
    named = set()
    for review in reviews:
        judge = review.get("judge")
        if isinstance(judge, Mapping):
            model = judge.get("model")
            named.add(f"{judge.get('name')}" + ("" if model is None else f"/{model}"))
    return ", ".join(sorted(named)) or "unknown"


def plugin_report(files: Sequence[ReviewFile], *, heading: bool = True) -> str:
    """The Markdown report of plugin judges' review files: one table per review kind, with
    the judge and the files it read."""
    parts = []
    for kind, scores in plugin_scores(files).items():
        mine = [f for f in files if f.kind == kind]
        title = f"## Judge reviews of kind {kind!r} (never pooled with other judges' scores)\n\n"
        notes = [
            "Each answer reviewed on its own by a single-answer judge; each column is the "
            "mean of one of its scores over the answers that have it.",
            f"Judge: {_judges(r for f in mine for r in f.reviews)}; files: "
            + ", ".join(f.path.name for f in mine),
        ]
        unreadable = sum(f.unreadable for f in mine)
        if unreadable:
            notes.append(f"- {unreadable} reviews failed (in the failures files) and are "
                         "left out")  # fmt: skip
        parts.append((title if heading else "") + plugin_table(scores) + "\n\n"
                     + "\n".join(notes) + "\n")  # fmt: skip
    return "\n".join(parts)


def describe_review(review: Mapping[str, Any]) -> str:
    """A plugin review for ``kpit bench show``: the question, model, judge and scores, its
    notes, then the answer and any other fields the judge recorded."""
    scores = review.get("scores") or {}
    shown = ", ".join(f"{name} {value}" for name, value in scores.items()) or "no scores"
    lines = [f"question {review.get('question_id')} ({review.get('category')}), model "
             f"{review.get('model_id')}, judge {_judges([review])}: {shown}"]  # fmt: skip
    lines += [f"note: {note}" for note in review.get("notes") or []]
    if review.get("text"):
        lines += ["", str(review["text"])]
    known = {"kind", "question_id", "category", "model_id", "scores", "judge", "notes", "text"}
    extra = {k: v for k, v in review.items() if k not in known}
    if extra:
        lines += [""] + [f"{k}: {v}" for k, v in extra.items()]
    return "\n".join(lines)


def answer_summary(output: Path, reviews: Sequence[Mapping[str, Any]], judge: str) -> str:
    """``bench judge``'s line for a plugin's single-answer judge: answers reviewed, failed,
    and the mean of each score."""
    failed = sum(1 for r in reviews if "error" in r)
    done = [r for r in reviews if "error" not in r]
    names = sorted({name for r in done for name in r.get("scores") or {}})
    means = []
    for name in names:
        values = [float(r["scores"][name]) for r in done if r["scores"].get(name) is not None]
        if values:
            means.append(f"{name} {sum(values) / len(values):.2f}")
    line = f"{output}: {len(done)} answers reviewed by judge {judge!r}, {failed} failed"
    return line + (f"; mean {', '.join(means)}" if means else "")
