"""What the ``pose`` judge says: a :class:`ClaimReview` per claim, a :class:`PoseReview` per
answer, and the answer's scores (grounding precision, coverage, whether its count of people
is right).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kpit.judges.pose.records import Claim

__all__ = [
    "CONTRADICTED",
    "STATUSES",
    "SUPPORTED",
    "UNDECIDABLE",
    "ClaimReview",
    "PoseReview",
]

STATUSES = ("supported", "contradicted", "undecidable")
"""What the judge says of a claim."""
SUPPORTED, CONTRADICTED, UNDECIDABLE = STATUSES


@dataclass(frozen=True, slots=True)
class ClaimReview:
    """A claim and its verdict.

    Attributes:
        claim: the claim as read.
        status: ``supported``, ``contradicted`` or ``undecidable``.
        people: the people (numbered from 1, in the context's order) it was taken to speak
            of.
        fact: the fact that decided it, in words (``None`` when undecidable).
        person: whose fact it is (numbered from 1), or ``None`` (counts).
        confidence: the deciding fact's confidence, or ``None``.
        reason: why it is undecidable, in words (``None`` when decided).
        facts: every (person, part, side, label) the verdict used, for coverage.
    """

    claim: Claim
    status: str
    people: tuple[int, ...] = ()
    fact: str | None = None
    person: int | None = None
    confidence: float | None = None
    reason: str | None = None
    facts: tuple[tuple[int, str, str | None, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON record of a review file."""
        claim = self.claim
        data: dict[str, Any] = {
            "kind": claim.kind,
            "label": claim.label,
            "text": claim.text,
            "start": claim.start,
            "end": claim.end,
            "status": self.status,
            "about": claim.subject.describe() if claim.subject is not None else None,
            "people": list(self.people),
        }
        for name in ("part", "side", "number"):
            value = getattr(claim, name)
            if value is not None:
                data[name] = value
        if claim.negated:
            data["negated"] = True
        if claim.target is not None:
            data["target"] = claim.target.describe()
        if self.status == "undecidable":
            data["reason"] = self.reason
        else:
            data["fact"] = self.fact
            data["person"] = self.person
            data["confidence"] = None if self.confidence is None else round(self.confidence, 3)
        return data


@dataclass(frozen=True, slots=True)
class PoseReview:
    """The ``pose`` judge's review of one answer.

    Attributes:
        question_id, category, image: the question.
        model_id, answer_id: the answer's.
        text: the answer.
        claims: every claim read, with its verdict, in text order.
        salient: how many salient facts the image has.
        covered: how many of them a supported claim states.
        people: how many people the context has; ``None`` when it has no people records.
        settings: the judge's settings (rules version, threshold).
        notes: anything that limits the review (an image size assumed, no keypoints).
    """

    question_id: int
    category: str
    image: str
    model_id: str
    answer_id: str
    text: str
    claims: tuple[ClaimReview, ...]
    salient: int
    covered: int
    people: int | None
    settings: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    kind = "pose"

    def count(self, status: str) -> int:
        """How many claims have ``status``."""
        return sum(1 for c in self.claims if c.status == status)

    @property
    def supported(self) -> int:
        """Claims a fact supports."""
        return self.count("supported")

    @property
    def contradicted(self) -> int:
        """Claims a fact contradicts."""
        return self.count("contradicted")

    @property
    def undecidable(self) -> int:
        """Claims nothing decides."""
        return self.count("undecidable")

    @property
    def precision(self) -> float | None:
        """Grounding precision: supported over decided claims (``None`` if none decided)."""
        decided = self.supported + self.contradicted
        return self.supported / decided if decided else None

    @property
    def coverage(self) -> float | None:
        """The share of the image's salient facts the answer states (``None`` if none)."""
        return self.covered / self.salient if self.salient else None

    @property
    def count_correct(self) -> bool | None:
        """Whether the answer's decided counts of people are right; ``None`` if it states none
        that could be decided."""
        counts = [c for c in self.claims if c.claim.kind == "count" and c.status != "undecidable"]
        if not counts:
            return None
        return all(c.status == "supported" for c in counts)

    def to_dict(self) -> dict[str, Any]:
        """The JSON record of a review file (``kind`` ``"pose"``)."""
        return {
            "kind": self.kind,
            "question_id": self.question_id,
            "category": self.category,
            "image": self.image,
            "model_id": self.model_id,
            "answer_id": self.answer_id,
            "judge": dict(self.settings),
            "text": self.text,
            "claims": [c.to_dict() for c in self.claims],
            "supported": self.supported,
            "contradicted": self.contradicted,
            "undecidable": self.undecidable,
            "precision": self.precision,
            "salient": self.salient,
            "covered": self.covered,
            "coverage": self.coverage,
            "people": self.people,
            "count_correct": self.count_correct,
            "notes": list(self.notes),
        }
