"""The ``pose`` judge: checks what an answer says about people against their pose facts.

Offline, deterministic and free. For each answer it reads the claims about people
(:func:`kpit.judges.pose.claims.extract_claims`), finds the person or people each claim speaks of in
the benchmark's context, and marks the claim

- ``supported``: a pose fact (at or above ``min_confidence``) says the same;
- ``contradicted``: a pose fact (at or above ``min_confidence``) says otherwise;
- ``undecidable``: nothing decides it: no fact covers it, the fact is below the threshold,
  the person cannot be told apart, or the context has no keypoints.

Undecidable claims are never counted for or against an answer. Each decided claim records
the fact that decided it, whose fact it is and its confidence.

Per answer it scores the grounding precision (supported over decided claims), the
contradictions, the coverage (the share of the image's salient facts the answer states:
salient facts are those at or above ``min_confidence`` about posture, facing, torso, arms,
elbows, knees, hips, and what hands hold and what a person sits, rides or stands on, for
each person with keypoints) and, when the answer says how many people there are, whether
the count is right.

What decides what (the rules behind each verdict) is listed in ``docs/bench.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kpit.errors import DataError
from kpit.judges.base import AnswerJudge
from kpit.judges.pose.claims import extract_claims
from kpit.judges.pose.context import (
    COCO_SIGMAS,
    SALIENT_PARTS,
    STABILITY_SAMPLES,
    Scene,
    image_context,
    measure_scene,
    reannotated,
)
from kpit.judges.pose.kinds import kind_of
from kpit.judges.pose.records import Claim
from kpit.judges.pose.review import STATUSES, SUPPORTED, UNDECIDABLE, ClaimReview, PoseReview
from kpit.judges.pose.verdicts import decide_for_people
from kpit.judges.records import Answer, BenchContext, Question
from kpit.options import option

__all__ = [
    "COCO_SIGMAS",
    "RULES_VERSION",
    "SALIENT_PARTS",
    "STABILITY_SAMPLES",
    "STATUSES",
    "ClaimReview",
    "PoseJudge",
    "PoseJudgeOptions",
    "PoseReview",
    "image_context",
    "reannotated",
]

RULES_VERSION = "pose-rules-5"
"""The version of the claim and decision rules; review files record it."""


@dataclass(frozen=True)
class PoseJudgeOptions:
    """The ``pose`` judge's options."""

    min_confidence: float = option(
        0.6,
        "Facts below this confidence decide nothing (the template backend's default).",
        minimum=0,
    )
    images: str | None = option(
        None,
        "A folder of the benchmark's images, read for their sizes when the context "
        "file does not give them (older HPAUB folders).",
    )
    min_stability: float = option(
        0.75,
        "A fact contradicts a claim only if at least this share of the image's re-annotations "
        "(COCO's spread between annotators) state it too; 0 turns the check off.",
        minimum=0,
    )


class PoseJudge(AnswerJudge):
    """Checks each answer's claims about people against the pose facts of the image.

    Options: :class:`PoseJudgeOptions`. Deterministic: the same answer and context always get
    the same review; nothing is called and nothing is cached.
    """

    name = "pose"
    description = "checks answers against the pose facts of the keypoints (offline, free)"
    Options = PoseJudgeOptions
    options: PoseJudgeOptions

    def __init__(self, model: str | None = None, **options: Any) -> None:
        super().__init__(model or RULES_VERSION, **options)
        self.threshold = self.options.min_confidence
        # the images already measured, by their context (kept, so its id stays its own)
        self._images: dict[int, tuple[BenchContext, Scene]] = {}

    def settings(self) -> dict[str, Any]:
        """Name, rules version and thresholds."""
        return {
            "name": self.name,
            "model": self.model,
            "rules": RULES_VERSION,
            "min_confidence": self.threshold,
            "min_stability": self.options.min_stability,
        }

    # --- the image -----------------------------------------------------------------------

    def _image(self, context: BenchContext) -> Scene:
        cached = self._images.get(id(context))
        if cached is not None and cached[0] is context:
            return cached[1]
        size = None
        if context.width is None or context.height is None:
            size = self._size_from_images(context.image)
        image = measure_scene(
            context, size, threshold=self.threshold, min_stability=self.options.min_stability
        )
        if len(self._images) > 256:
            self._images.clear()
        self._images[id(context)] = (context, image)
        return image

    def _size_from_images(self, name: str) -> tuple[int, int] | None:
        if self.options.images is None:
            return None
        from PIL import Image

        path = Path(self.options.images) / name
        try:
            with Image.open(path) as picture:
                return picture.size
        except OSError:
            raise DataError(
                "cannot read the image for its size", file=path, field="images"
            ) from None

    # --- the review ------------------------------------------------------------------------

    def assess(self, question: Question, context: BenchContext, answer: Answer) -> PoseReview:
        """Read ``answer``'s claims and decide each against ``context``'s pose facts."""
        image = self._image(context)
        claims = extract_claims(answer.text)
        reviews = tuple(self.decide(claim, image) for claim in claims)
        salient = image.salient()
        stated = {key for review in reviews if review.status == SUPPORTED for key in review.facts}
        return PoseReview(
            question.question_id,
            question.category,
            question.image,
            answer.model_id,
            answer.answer_id,
            answer.text,
            reviews,
            len(salient),
            len(salient & stated),
            len(image.people) if context.people else None,
            self.settings(),
            image.notes,
        )

    def decide(self, claim: Claim, image: Scene) -> ClaimReview:
        """The verdict on one claim in one image."""
        kind = kind_of(claim.kind)
        if kind.needs_keypoints and not image.people:
            return ClaimReview(claim, UNDECIDABLE, reason="the context has no keypoints")
        if kind.decide_scene is not None:
            return kind.decide_scene(claim, image)
        return decide_for_people(claim, image, kind.decide_person)
