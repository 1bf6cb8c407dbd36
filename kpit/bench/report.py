"""Scores from reviews: per category and overall, with bootstrap intervals.

Each review holds a ``tuple`` ``[reference score, model score]`` (1 to 10). For each
category and for all questions, kpit reports the model's mean x10, the reference's mean
x10 and the relative score ``100 x mean(model) / mean(reference)`` (LLaVA's summary), with
95% bootstrap intervals. Reviews whose scores could not be read are excluded and counted,
never scored as -1 (which pulls both means down and the relative score towards 100).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kpit.bench.files import CATEGORIES

__all__ = [
    "Score",
    "category_table",
    "flip_rate",
    "markdown_table",
    "report_reviews",
    "run_spread",
]


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
    """Scores per category (``conv``, ``detail``, ``complex``, and any other) and ``all``."""
    pairs: dict[str, list[tuple[float, float]]] = {}
    excluded: dict[str, int] = {}
    for review in reviews:
        category = str(review.get("category", "all"))
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
