"""What a card of the benchmark page shows: a question, each model's answer with its claims
cut into marked segments, and the judge's reviews of each pairing, with the flags the
page's filters read (scores that disagree between orders, a contradicted claim) and the
score differences it sorts by."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kpit.bench.files import Answer, Bench, Question
from kpit.bench.report import ReviewFile

__all__ = [
    "ICONS",
    "Card",
    "Claim",
    "Column",
    "Pairing",
    "ReviewRow",
    "Segment",
    "build_cards",
    "pairings",
]

ICONS = {"supported": "\u2713", "contradicted": "\u2717", "undecidable": "?"}
"""The mark of each claim status, beside its colour (colour is never the only carrier)."""

REFERENCE = "reference"
"""The column of the benchmark's reference answers, and the other side of a reference review."""

LONG_TEXT = 600
"""Answers and explanations longer than this many characters are folded."""


@dataclass(frozen=True, slots=True)
class Pairing:
    """Two sides the judge compared (two models, or a model and the reference)."""

    index: int
    sides: tuple[str, str]

    @property
    def label(self) -> str:
        """``a vs b``."""
        return " vs ".join(self.sides)


@dataclass(frozen=True, slots=True)
class Claim:
    """One of the pose judge's claims about an answer, numbered in text order."""

    number: int
    status: str
    start: int
    end: int
    words: str
    why: str

    @property
    def icon(self) -> str:
        """The status's mark."""
        return ICONS[self.status]


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of an answer's text: plain (``claim`` is ``None``), a claim's words
    (``whole``), or a claim's mark alone where it shares words with an earlier claim."""

    text: str
    claim: Claim | None = None
    whole: bool = True


@dataclass(slots=True)
class Column:
    """One side's answer to a question."""

    index: int
    model: str
    text: str | None
    segments: list[Segment] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    note: str = ""

    @property
    def long(self) -> bool:
        """Whether the answer is folded."""
        return self.text is not None and len(self.text) > LONG_TEXT

    def tally(self, status: str) -> int:
        """How many of its claims have ``status``."""
        return sum(1 for c in self.claims if c.status == status)


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """One review of a pairing: its order and run, each side's score, and the explanation."""

    pairing: Pairing
    order: str
    run: int
    first: str
    scores: tuple[tuple[str, float | None], ...]
    content: str
    error: str = ""

    @property
    def long(self) -> bool:
        """Whether the explanation is folded."""
        return len(self.content) > LONG_TEXT


@dataclass(slots=True)
class Card:
    """One question of the benchmark and everything said about it."""

    question: Question
    image: int
    columns: list[Column]
    reviews: list[ReviewRow]
    disagree: bool = False
    diffs: dict[int, float] = field(default_factory=dict)

    @property
    def contradicted(self) -> bool:
        """Whether an answer holds a contradicted claim."""
        return any(c.status == "contradicted" for col in self.columns for c in col.claims)

    @property
    def diff(self) -> float:
        """The largest score difference over its pairings (0 without reviews)."""
        return max(self.diffs.values(), default=0.0)

    def pairing_indices(self) -> list[int]:
        """The pairings reviewed on this question."""
        return sorted(self.diffs)


def _scores(review: Mapping[str, Any], kind: str) -> dict[str, float | None]:
    """Each side's score of a review (pairwise: by model; reference: the reference too)."""
    model = str(review.get("model_id") or "model")
    other = str(review.get("versus_id") or REFERENCE) if kind == "pairwise" else REFERENCE
    pair = review.get("tuple")
    if isinstance(pair, Sequence) and len(pair) == 2 and pair != [-1, -1]:
        return {other: float(pair[0]), model: float(pair[1])}
    return {other: None, model: None}


def pairings(files: Sequence[ReviewFile]) -> list[Pairing]:
    """Every pairing the GPT judge's review files hold, in the order they first appear."""
    found: dict[frozenset[str], tuple[str, str]] = {}
    for review_file in files:
        if review_file.kind == "pose":
            continue
        for review in [*review_file.reviews, *review_file.failed]:
            sides = tuple(_scores(review, review_file.kind))
            key = frozenset(sides)
            if len(sides) == 2 and key not in found:
                found[key] = (sides[1], sides[0])  # the model under review first
    return [Pairing(n, sides) for n, sides in enumerate(found.values())]


def _rows(files: Sequence[ReviewFile], known: list[Pairing]) -> dict[int, list[ReviewRow]]:
    by_key = {frozenset(p.sides): p for p in known}
    rows: dict[int, list[ReviewRow]] = {}
    for review_file in files:
        if review_file.kind == "pose":
            continue
        for review in [*review_file.reviews, *review_file.failed]:
            scores = _scores(review, review_file.kind)
            pairing = by_key.get(frozenset(scores))
            qid = review.get("question_id")
            if pairing is None or not isinstance(qid, int):
                continue
            ordered = tuple((side, scores[side]) for side in pairing.sides)
            unread = "unreadable" if None in scores.values() else ""
            rows.setdefault(qid, []).append(
                ReviewRow(pairing, str(review.get("order") or ""), int(review.get("run") or 0),
                          str(review.get("assistant1") or ""), ordered,
                          str(review.get("content") or ""), str(review.get("error") or unread))
            )  # fmt: skip
    return rows


def _why(claim: Mapping[str, Any]) -> str:
    """What a claim says and what decided it, as ``kpit bench show`` words it."""
    what = f"{claim.get('kind')}: {'not ' if claim.get('negated') else ''}{claim.get('label')}"
    if claim.get("side"):
        what += f" ({claim['side']} {claim.get('part') or ''})".rstrip()
    if claim.get("about"):
        what += f" about {claim['about']}"
    people = claim.get("people") or []
    if people:
        what += " [person " + ", ".join(map(str, people)) + "]"
    if claim.get("status") == "undecidable":
        return f"{what}. Undecidable: {claim.get('reason')}"
    return (f"{what}. {str(claim.get('status')).capitalize()} by {claim.get('fact')} "
            f"(confidence {claim.get('confidence')})")  # fmt: skip


def mark(text: str, claims: Sequence[Mapping[str, Any]]) -> tuple[list[Segment], list[Claim]]:
    """``text`` cut into plain runs and claims, numbered in text order as ``kpit bench show``
    numbers them; a claim that shares words with an earlier one gets its mark only."""

    def span(claim: Mapping[str, Any]) -> tuple[int, int]:
        start, end = claim.get("start"), claim.get("end")
        if not isinstance(start, int) or not isinstance(end, int):
            return 0, 0
        start = min(max(start, 0), len(text))
        return start, min(max(end, start), len(text))

    ordered = sorted(claims, key=span)
    numbered = [Claim(n, str(c["status"]), *span(c), text[slice(*span(c))], _why(c))
                for n, c in enumerate(ordered, start=1)]  # fmt: skip
    segments: list[Segment] = []
    at = 0
    for claim in numbered:
        if claim.start >= at:
            if claim.start > at:
                segments.append(Segment(text[at : claim.start]))
            segments.append(Segment(claim.words, claim))
            at = claim.end
        else:
            if claim.end > at:
                segments.append(Segment(text[at : claim.end]))
                at = claim.end
            segments.append(Segment("", claim, whole=False))
    if at < len(text):
        segments.append(Segment(text[at:]))
    return segments, numbered


def _column(index: int, model: str, answer: Answer | None,
            review: Mapping[str, Any] | None) -> Column:  # fmt: skip
    if answer is None:
        return Column(index, model, None, note="no answer to this question")
    column = Column(index, model, answer.text, [Segment(answer.text)] if answer.text else [])
    if review is None:
        return column
    if review.get("text") != answer.text:
        column.note = "the pose review read another text than this answer: claims not marked"
        return column
    column.segments, column.claims = mark(answer.text, review.get("claims") or [])
    return column


def _disagree(rows: Sequence[ReviewRow]) -> bool:
    """Whether the two orders of a pairing (in one run) gave the sides different scores."""
    seen: dict[tuple[int, int], set[tuple[tuple[str, float | None], ...]]] = {}
    orders: dict[tuple[int, int], set[str]] = {}
    for row in rows:
        if row.error:
            continue
        key = (row.pairing.index, row.run)
        seen.setdefault(key, set()).add(row.scores)
        orders.setdefault(key, set()).add(row.order)
    return any(len(orders[key]) > 1 and len(scores) > 1 for key, scores in seen.items())


def _diffs(rows: Sequence[ReviewRow]) -> dict[int, float]:
    """Per pairing, the gap between the sides' mean scores (every order and run)."""
    values: dict[int, dict[str, list[float]]] = {}
    for row in rows:
        sides = values.setdefault(row.pairing.index, {})
        for side, score in row.scores:
            if score is not None:
                sides.setdefault(side, []).append(score)
    out = {}
    for index, sides in values.items():
        means = [sum(v) / len(v) for v in sides.values()]
        out[index] = abs(means[0] - means[1]) if len(means) == 2 else 0.0
    return out


def build_cards(
    bench: Bench,
    answers: Mapping[str, Mapping[int, Answer]],
    files: Sequence[ReviewFile],
    images: Mapping[str, int],
) -> tuple[list[Card], list[Pairing]]:
    """A card per question of ``bench`` (in its order): the reference answer when the
    benchmark has one, then each model's (``answers`` by model), each marked with its pose
    review; the GPT judge's reviews of the question; ``images`` numbers each image file."""
    known = pairings(files)
    rows = _rows(files, known)
    pose: dict[tuple[int, str], Mapping[str, Any]] = {}
    for review_file in files:
        if review_file.kind == "pose":
            for review in review_file.reviews:
                model = str(review.get("model_id") or review_file.path.stem)
                pose.setdefault((int(review["question_id"]), model), review)
    sides: dict[str, Mapping[int, Answer]] = {}
    if bench.references:
        sides[REFERENCE] = bench.references
    sides.update(answers)
    cards = []
    for question in bench.questions:
        qid = question.question_id
        columns = [_column(n, model, given.get(qid), pose.get((qid, model)))
                   for n, (model, given) in enumerate(sides.items())]  # fmt: skip
        mine = rows.get(qid, [])
        cards.append(Card(question, images[question.image], columns, mine, _disagree(mine),
                          _diffs(mine)))  # fmt: skip
    return cards, known
