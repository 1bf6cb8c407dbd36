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

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kpit.errors import DataError
from kpit.exclusion import image_id_of
from kpit.judges.base import AnswerJudge
from kpit.judges.pose.claims import Claim, Mention, extract_claims
from kpit.judges.records import Answer, BenchContext, Question
from kpit.layouts import COCO_17, COCO_WHOLEBODY
from kpit.options import option
from kpit.pose.facts import PoseFact, PoseFacts, pose_facts_batch, pose_measures
from kpit.pose.geometry import Facing
from kpit.types import Box, ImageContext, ObjectBox, Person

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

RULES_VERSION = "pose-rules-2"
"""The version of the claim and decision rules; review files record it."""

STATUSES = ("supported", "contradicted", "undecidable")
"""What the judge says of a claim."""

SALIENT_PARTS = (
    "posture",
    "body",
    "head",
    "torso",
    "arm",
    "elbow",
    "knee",
    "hip",
    "hand",
    "hips",
    "feet",
)
"""The parts whose facts count as salient for coverage (relations to other people do not)."""

_SUPPORT, _CONTRADICT = "supported", "contradicted"
_RELATIONS = ("near", "on", "left of", "right of", "in front of")

COCO_SIGMAS = np.array([0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062,
                        0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089])  # fmt: skip
"""COCO's spread between annotators for each of the 17 body points (cocoeval's OKS sigmas):
the RMS distance between two annotators' points, over the square root of the person's area."""

STABILITY_SAMPLES = 16
"""How many re-annotations of each image a fact is checked against before it contradicts."""


def reannotated(person: Person, rng: np.random.Generator) -> Person:
    """``person`` as a second annotator might have labelled them: each labelled body point
    moved by Gaussian noise of COCO's spread for that point (:data:`COCO_SIGMAS`, an RMS
    displacement of sigma x sqrt(area), the area taken as half the box's), rounded to three
    decimals like the loader's."""
    width, height = person.image_size or (1000, 1000)
    points = person.keypoint_array.copy()
    area = 0.5 * person.box.width * width * person.box.height * height
    spread = np.zeros(len(points))
    spread[:17] = COCO_SIGMAS * np.sqrt(max(area, 1.0)) / np.sqrt(2)  # per coordinate
    shift = rng.normal(0, 1, (len(points), 2)) * spread[:, None] / (width, height)
    labelled = points[:, 2] > 0
    points[labelled, :2] = np.clip(np.round(points[labelled, :2] + shift[labelled], 3), 0, 1)
    points.setflags(write=False)
    return Person(person.box, points, person.layout, person.annotation_id, person.image_size)


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


# --- the image as the judge sees it -------------------------------------------------------


def image_context(
    context: BenchContext,
    size: tuple[int, int] | None = None,
    *,
    file: str | os.PathLike[str] | None = None,
) -> ImageContext:
    """A benchmark context as a kpit :class:`~kpit.types.ImageContext`, for pose facts.

    Args:
        context: the benchmark's context of one image (its ``people`` records hold
            ``bbox`` and 17 or 133 ``[x, y, visibility]`` keypoints, normalised).
        size: the image's ``(width, height)`` in pixels when the context lacks it; without
            either, the image is taken as square (angles are then only approximate).
        file: the context file, named in errors.

    Raises:
        DataError: a person or instance record that cannot be read, naming the file, the
            image and the field.
    """
    width, height = (
        (context.width, context.height)
        if context.width is not None and context.height is not None
        else size or (1000, 1000)
    )
    people = []
    for n, record in enumerate(context.people, start=1):
        where = f"image {context.image}, person {n}"
        try:
            box = Box.from_list(record["bbox"])
            points = np.asarray(record["keypoints"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise DataError(
                "a person needs a 'bbox' of four numbers and 'keypoints' "
                "[x, y, visibility] triples",
                file=file,
                record=where,
                field="people",
            ) from None
        layout = {len(COCO_17): COCO_17, len(COCO_WHOLEBODY): COCO_WHOLEBODY}.get(len(points))
        if points.ndim != 2 or points.shape[1] != 3 or layout is None:
            raise DataError(
                f"keypoints must be 17 or 133 [x, y, visibility] triples, not shape {points.shape}",
                file=file,
                record=where,
                field="keypoints",
            )
        points.setflags(write=False)
        people.append(Person(box, points, layout, None, (width, height)))
    objects = []
    for n, record in enumerate(context.instances, start=1):
        try:
            objects.append(ObjectBox.from_dict(record))
        except (KeyError, TypeError, ValueError):
            raise DataError(
                "an instance needs a 'category' and a 'bbox' of four numbers",
                file=file,
                record=f"image {context.image}, instance {n}",
                field="instances",
            ) from None
    image_id = image_id_of(context.image) or 0  # any name will do for the judge
    return ImageContext(
        image_id, context.image, width, height, context.captions, tuple(objects), tuple(people)
    )


@dataclass(slots=True)
class _Someone:
    """One person of the image, as the judge needs them."""

    number: int  # from 1
    person: Person
    facts: PoseFacts  # at or above the threshold
    all_facts: PoseFacts
    scale: float  # the body's scale in pixels (nan if unknown)
    head: str | None  # the head's facing label
    head_confidence: float
    # (part, side) -> the label each re-annotation gives there (None: no fact)
    variants: dict[tuple[str, str | None], list[str | None]] = field(default_factory=dict)
    min_stability: float = 0.0

    def stable(self, part: str, side: str | None, against: set[str], fits: set[str]) -> float:
        """Of the re-annotations whose fact at ``part`` and ``side`` decides the claim (its
        label is among ``against`` or ``fits``), the share that contradict it (1.0 when none
        were made or none decides)."""
        labels = self.variants.get((part, side), [])
        contra = sum(1 for label in labels if label in against)
        agree = sum(1 for label in labels if label in fits)
        return contra / (contra + agree) if contra + agree else 1.0

    def fact(self, part: str, side: str | None = None) -> PoseFact | None:
        for fact in self.facts:
            if fact.part == part and (side is None or fact.side == side):
                return fact
        return None


@dataclass(slots=True)
class _Image:
    context: ImageContext
    people: list[_Someone]
    person_boxes: int  # person instances that are not among the people (crowds, LLaVA's)
    notes: tuple[str, ...]

    def objects(self, categories: Iterable[str]) -> list[ObjectBox]:
        wanted = set(categories)
        return [o for o in self.context.objects if o.category in wanted]


_FACING_LABELS = {
    Facing.CAMERA: "facing the camera",
    Facing.AWAY: "facing away from the camera",
    Facing.PROFILE_LEFT: "in profile, facing the left of the image",
    Facing.PROFILE_RIGHT: "in profile, facing the right of the image",
    Facing.PROFILE: "in profile",
}


# --- verdict tables -----------------------------------------------------------------------

_POSTURE_CONTRADICTS = {
    "standing": {"sitting", "squatting", "crouching", "kneeling", "lying"},
    "walking": {"sitting", "squatting", "kneeling", "lying"},
    "sitting": {"standing", "walking", "lying"},
    "crouching": {"standing", "lying"},
    "squatting": {"standing", "lying"},
    "kneeling": {"standing", "walking", "lying"},
    "lying": {"standing", "walking", "sitting", "squatting", "crouching", "kneeling"},
}
_POSTURE_SUPPORTS = {
    "crouching": {"crouching", "squatting"},
    "squatting": {"squatting", "crouching"},
}
_FLEXION_BIN = {
    "straight": 0,
    "slightly bent": 1,
    "bent": 2,
    "bent at about a right angle": 3,
    "sharply bent": 4,
}
# claim label -> (bins that support it, bins that contradict it); the rest decide nothing.
# "Straight" and "slightly bent" lie 6 degrees apart, within what two annotators' points
# make of a knee: neither contradicts the other.
_FLEXION_RULES = {
    "straight": ({0}, {2, 3, 4}),
    "bent": ({1, 2, 3, 4}, {0}),
    "slightly bent": ({1}, {3, 4}),
    "bent at about a right angle": ({3}, {0, 1}),
    "sharply bent": ({4}, {0, 1, 2}),
}
_ABOVE, _RAISED, _SIDE = "hand above the head", "raised above the shoulder", "at the side"
_OUT = ("stretched out to the side", "stretched out forward", "stretched out backward")
_ARM_RULES = {
    _ABOVE: ({_ABOVE}, {_SIDE, *_OUT}),
    "raised": ({_ABOVE, _RAISED}, {_SIDE}),
    _RAISED: ({_ABOVE, _RAISED}, {_SIDE}),
    _SIDE: ({_SIDE}, {_ABOVE, _RAISED, *_OUT}),
    "stretched out": (set(_OUT), {_SIDE}),
    _OUT[0]: ({_OUT[0]}, {_SIDE, _ABOVE, _OUT[1], _OUT[2]}),
    _OUT[1]: ({_OUT[1]}, {_SIDE, _ABOVE, _OUT[2]}),
    _OUT[2]: ({_OUT[2]}, {_SIDE, _ABOVE, _OUT[1]}),
}
_CAMERA, _AWAY = "facing the camera", "facing away from the camera"
_LEFT, _RIGHT = (
    "in profile, facing the left of the image",
    "in profile, facing the right of the image",
)
_FACING_RULES = {
    _CAMERA: ({_CAMERA}, {_AWAY, "in profile", _LEFT, _RIGHT}),
    _AWAY: ({_AWAY}, {_CAMERA, "in profile", _LEFT, _RIGHT}),
    "in profile": ({"in profile", _LEFT, _RIGHT}, {_CAMERA, _AWAY}),
    _LEFT: ({_LEFT}, {_RIGHT, _CAMERA, _AWAY}),
    _RIGHT: ({_RIGHT}, {_LEFT, _CAMERA, _AWAY}),
}
_TORSO_RULES = {
    "upright": (
        {"upright"},
        {
            "bent over",
            "lying",
            "leaning forward",
            "leaning back",
            "leaning towards the left of the image",
            "leaning towards the right of the image",
        },
    ),
    "bent over": ({"bent over"}, {"upright"}),
    "leaning forward": ({"leaning forward"}, {"upright", "leaning back"}),
    "leaning back": ({"leaning back"}, {"upright", "leaning forward"}),
    "leaning towards the left of the image": (
        {"leaning towards the left of the image"},
        {"upright", "leaning towards the right of the image"},
    ),
    "leaning towards the right of the image": (
        {"leaning towards the right of the image"},
        {"upright", "leaning towards the left of the image"},
    ),
}
_ROLES = {
    "batter": ("hand", ("baseball bat",)),
    "catcher": ("hand", ("baseball glove",)),
    "fielder": ("hand", ("baseball glove", "sports ball")),
    "skier": ("feet", ("skis",)),
    "snowboarder": ("feet", ("snowboard",)),
    "surfer": ("any", ("surfboard",)),
    "skateboarder": ("any", ("skateboard",)),
    "tennis player": ("hand", ("tennis racket",)),
    "rider": ("hips", ("bicycle", "motorcycle", "horse", "elephant")),
}
_FAR_MARGIN = 0.5  # a hand, hips or feet this many body scales outside a box are not on it


@dataclass(slots=True)
class _Verdict:
    status: str | None  # supported, contradicted, or None (nothing decides)
    fact: str | None = None
    confidence: float | None = None
    used: tuple[tuple[int, str, str | None, str], ...] = ()
    reason: str | None = None


def _from_fact(
    someone: _Someone,
    fact: PoseFact | None,
    supports: set[str],
    contradicts: set[str],
    missing: str,
    part: str | None = None,
    side: str | None = None,
) -> _Verdict:
    if fact is None:
        weak = next(
            (
                f
                for f in someone.all_facts
                if part is not None and f.part == part and (side is None or f.side == side)
            ),
            None,
        )
        if weak is not None:
            return _Verdict(
                None,
                reason=f"person {someone.number}: {weak.text}, confidence "
                f"{weak.confidence:.2f}, below the threshold",
            )
        return _Verdict(None, reason=f"person {someone.number}: {missing}")
    used = ((someone.number, fact.part, fact.side, fact.label),)
    if fact.label in supports:
        return _Verdict(_SUPPORT, fact.text, fact.confidence, used)
    if fact.label in contradicts:
        share = someone.stable(fact.part, fact.side, contradicts, supports)
        if share < someone.min_stability:
            return _Verdict(None, reason=f"person {someone.number}: {fact.text}, but only "
                            f"{share:.0%} of re-annotations would contradict it")  # fmt: skip
        return _Verdict(_CONTRADICT, fact.text, fact.confidence, used)
    return _Verdict(
        None,
        reason=f"person {someone.number}: {fact.text}, which neither supports nor contradicts it",
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
        self._images: dict[int, tuple[BenchContext, _Image]] = {}

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

    def _image(self, context: BenchContext) -> _Image:
        cached = self._images.get(id(context))
        if cached is not None and cached[0] is context:
            return cached[1]
        notes: list[str] = []
        size = None
        if context.width is None or context.height is None:
            size = self._size_from_images(context.image)
            if size is None and context.people:
                notes.append("image size unknown: angles measured as if the image were square")
        ctx = image_context(context, size)
        people: list[_Someone] = []
        if ctx.people:
            measures = pose_measures(ctx.people)
            for i, facts in enumerate(pose_facts_batch([ctx])[0]):
                head = int(measures.head_facing.code[i])
                people.append(
                    _Someone(
                        i + 1,
                        ctx.people[i],
                        facts.above(self.threshold),
                        facts,
                        float(measures.scale[i]),
                        _FACING_LABELS[Facing(head)] if head >= 0 else None,
                        float(measures.head_facing.confidence[i]),
                        min_stability=self.options.min_stability,
                    )
                )
            if self.options.min_stability > 0:
                self._measure_stability(ctx, people)
        elif context.instances:
            notes.append("no keypoints in the context: only counts of people can be decided")
        boxes = sum(1 for o in ctx.objects if o.category == "person")
        image = _Image(ctx, people, boxes, tuple(notes))
        if len(self._images) > 256:
            self._images.clear()
        self._images[id(context)] = (context, image)
        return image

    def _measure_stability(self, ctx: ImageContext, people: list[_Someone]) -> None:
        """How many of :data:`STABILITY_SAMPLES` re-annotations of the image state each fact
        (seeded by the image's name, so the same image always gets the same answer)."""
        seed = int(hashlib.sha256(ctx.file_name.encode()).hexdigest()[:12], 16)
        rng = np.random.default_rng(seed)
        copies = [
            ImageContext(ctx.image_id, ctx.file_name, ctx.width, ctx.height, ctx.captions,
                         ctx.objects, tuple(reannotated(p, rng) for p in ctx.people))
            for _ in range(STABILITY_SAMPLES)
        ]  # fmt: skip
        again = pose_facts_batch(copies)
        heads = pose_measures([p for c in copies for p in c.people]).head_facing.code
        n = len(people)
        for i, someone in enumerate(people):
            keys = {(f.part, f.side) for f in someone.facts if f.relation not in _RELATIONS}
            variants: dict[tuple[str, str | None], list[str | None]] = {k: [] for k in keys}
            variants[("head", None)] = []
            for k, facts in enumerate(again):
                found = {(f.part, f.side): f.label for f in facts[i] if f.relation not in
                         _RELATIONS and f.confidence >= self.threshold}  # fmt: skip
                for key in keys:
                    variants[key].append(found.get(key))
                head = int(heads[k * n + i])
                variants[("head", None)].append(_FACING_LABELS[Facing(head)] if head >= 0 else None)
            someone.variants = variants

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
        claims = extract_claims(answer.text, question.text)
        reviews = tuple(self.decide(claim, image) for claim in claims)
        salient = {
            (someone.number, f.part, f.side, f.label)
            for someone in image.people
            for f in someone.facts
            if f.part in SALIENT_PARTS
        }
        stated = {key for review in reviews if review.status == _SUPPORT for key in review.facts}
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

    def decide(self, claim: Claim, image: _Image) -> ClaimReview:
        """The verdict on one claim in one image."""
        if claim.kind == "count":
            return self._count(claim, image)
        if not image.people:
            return ClaimReview(claim, "undecidable", reason="the context has no keypoints")
        if claim.kind == "position":
            return self._position(claim, image)
        who, need, why = self._who(claim.subject, image)
        if not who:
            return ClaimReview(claim, "undecidable", reason=why or "nobody it could be about")
        verdicts = [(someone, self._one(claim, someone, image)) for someone in who]
        if claim.negated:
            for _, verdict in verdicts:
                if verdict.status is not None:
                    verdict.status = _CONTRADICT if verdict.status == _SUPPORT else _SUPPORT
        return _combine(claim, verdicts, need, why)

    def _who(
        self, mention: Mention | None, image: _Image
    ) -> tuple[list[_Someone], int | None, str]:
        """The people a mention may be, and how many of them the claim needs (``None``: all)."""
        people = image.people
        if mention is None or (mention.pronoun and mention.resolved().pronoun):
            if len(people) == 1:
                return people, 1, ""
            return people, 1, "it does not say who"
        mention = mention.resolved()
        if mention.everyone:
            return people, None, ""
        candidates = list(people)
        why = ""
        if mention.role is not None and mention.role in _ROLES:
            fitting = [p for p in people if _has_role(p, mention.role)]
            if fitting:
                candidates = fitting
            else:
                why = f"no one is seen as a {mention.role}"
        if mention.side is not None:
            candidates = _by_place(candidates, mention.side, mention.ordinal)
            if not candidates:
                return [], 1, f"nobody is {mention.side} (of {len(people)} people)"
        number = mention.number
        if number is not None and number > len(candidates):
            return [], 1, f"it speaks of {number} people, the context has {len(candidates)}"
        if number is not None:
            need: int | None = None if number == len(candidates) and mention.definite else number
        elif mention.plural and mention.definite:
            need = None
        else:
            need = 1
        if len(candidates) > 1 and need == 1 and not why:
            why = f"it could be any of {len(candidates)} people"
        return candidates, need, why

    # --- one person --------------------------------------------------------------------------

    def _one(self, claim: Claim, someone: _Someone, image: _Image) -> _Verdict:
        kind = claim.kind
        if kind == "posture":
            fact = someone.fact("posture")
            supports = _POSTURE_SUPPORTS.get(claim.label, {claim.label})
            return _from_fact(
                someone,
                fact,
                supports,
                _POSTURE_CONTRADICTS[claim.label],
                "no posture fact",
                "posture",
            )
        if kind == "torso":
            fact = someone.fact("torso")
            if claim.label == "leaning":  # a lean in no direction: any lean
                leaning = {fact.label} if fact is not None and "leaning" in fact.label else set()
                return _from_fact(someone, fact, leaning, {"upright"}, "no torso fact", "torso")
            supports, contradicts = _TORSO_RULES.get(claim.label, (set(), set()))
            return _from_fact(someone, fact, supports, contradicts, "no torso fact", "torso")
        if kind == "facing":
            supports, contradicts = _FACING_RULES[claim.label]
            return _from_fact(
                someone, someone.fact("body"), supports, contradicts, "no facing fact", "body"
            )
        if kind == "head":
            supports, contradicts = _FACING_RULES.get(claim.label, (set(), set()))
            head = someone.head
            if head is None or someone.head_confidence < self.threshold:
                return _Verdict(None, reason="the head's direction is not known")
            used = ((someone.number, "head", None, head),)
            if head in supports:
                return _Verdict(_SUPPORT, f"their head: {head}", someone.head_confidence, used)
            share = someone.stable("head", None, contradicts, supports)
            if head in contradicts and share < someone.min_stability:
                return _Verdict(None, reason=f"person {someone.number}'s head: {head}, but only "
                                f"{share:.0%} of re-annotations would contradict it")  # fmt: skip
            if head in contradicts:
                return _Verdict(_CONTRADICT, f"their head: {head}", someone.head_confidence, used)
            return _Verdict(None, reason=f"person {someone.number}'s head: {head}")
        if kind == "arm":
            supports, contradicts = _ARM_RULES[claim.label]
            return self._sides(claim, someone, "arm", supports, contradicts)
        if kind == "flexion":
            part = claim.part or "knee"
            supports_bins, contradicts_bins = _FLEXION_RULES[claim.label]
            supports = {k for k, v in _FLEXION_BIN.items() if v in supports_bins}
            contradicts = {k for k, v in _FLEXION_BIN.items() if v in contradicts_bins}
            return self._sides(claim, someone, part, supports, contradicts)
        if kind == "holds":
            return self._holds(claim, someone, image)
        if kind == "on":
            return self._on(claim, someone, image)
        return _Verdict(None, reason=f"no rule for {kind}")

    def _sides(
        self,
        claim: Claim,
        someone: _Someone,
        part: str,
        supports: set[str],
        contradicts: set[str],
    ) -> _Verdict:
        """A claim about a left or right part: that side, both, or either."""
        sides = ["left", "right"] if claim.side in (None, "both") else [claim.side]
        verdicts = [
            _from_fact(
                someone,
                someone.fact(part, side),
                supports,
                contradicts,
                f"no fact about their {side} {part}",
                part,
                side,
            )
            for side in sides
        ]
        if len(verdicts) == 1:
            return verdicts[0]
        if claim.side == "both":  # every side must hold
            against = [v for v in verdicts if v.status == _CONTRADICT]
            if against:
                return against[0]
            if all(v.status == _SUPPORT for v in verdicts):
                return _merge(verdicts)
            return _Verdict(None, reason=f"not both {part}s are known")
        held = [v for v in verdicts if v.status == _SUPPORT]  # either side will do
        if held:
            return _merge(held)
        if all(v.status == _CONTRADICT for v in verdicts):
            return _merge(verdicts)
        return _Verdict(None, reason=f"no {part} decides it")

    def _holds(self, claim: Claim, someone: _Someone, image: _Image) -> _Verdict:
        sides = ["left", "right"] if claim.side in (None, "both") else [claim.side]
        near = [
            f
            for f in someone.facts
            if f.part == "hand" and f.label in claim.objects and f.side in sides
        ]
        if near:
            used = tuple((someone.number, f.part, f.side, f.label) for f in near)
            best = max(near, key=lambda f: f.confidence)
            return _Verdict(_SUPPORT, best.text, best.confidence, used)
        boxes = image.objects(claim.objects)
        if not boxes:
            return _Verdict(None, reason=f"no {'/'.join(claim.objects)} box in the context")
        if all(self._far(someone, f"{side}_wrist", boxes) for side in sides):
            what = claim.objects[0]
            hand = "neither hand is" if len(sides) == 2 else f"their {sides[0]} hand is not"
            return _Verdict(
                _CONTRADICT, f"{hand} near any {what} (visible, well outside the box)", 1.0
            )
        return _Verdict(
            None, reason=f"no fact puts a hand of person {someone.number} at the {claim.objects[0]}"
        )

    def _on(self, claim: Claim, someone: _Someone, image: _Image) -> _Verdict:
        part = claim.part or "hips"
        on = [
            f
            for f in someone.facts
            if f.part == part and f.relation == "on" and f.label in claim.objects
        ]
        if on:
            fact = on[0]
            return _Verdict(
                _SUPPORT,
                fact.text,
                fact.confidence,
                ((someone.number, fact.part, fact.side, fact.label),),
            )
        boxes = image.objects(claim.objects)
        if not boxes:
            return _Verdict(None, reason=f"no {'/'.join(claim.objects)} box in the context")
        points = ["left_hip", "right_hip"] if part == "hips" else ["left_ankle", "right_ankle"]
        if all(self._far(someone, point, boxes) for point in points):
            what = "their hips are" if part == "hips" else "their feet are"
            return _Verdict(
                _CONTRADICT, f"{what} well away from every {claim.objects[0]} box (visible)", 1.0
            )
        return _Verdict(
            None, reason=f"no fact puts person {someone.number} on the {claim.objects[0]}"
        )

    def _far(self, someone: _Someone, point: str, boxes: Sequence[ObjectBox]) -> bool:
        """The point is visible and well outside every box (by ``_FAR_MARGIN`` scales)."""
        keypoint = someone.person.keypoint(point)
        if not keypoint.visible or someone.scale != someone.scale:
            return False
        width, height = someone.person.image_size or (1, 1)
        mx, my = _FAR_MARGIN * someone.scale / width, _FAR_MARGIN * someone.scale / height
        return all(
            not (
                b.box.x1 - mx <= keypoint.x <= b.box.x2 + mx
                and b.box.y1 - my <= keypoint.y <= b.box.y2 + my
            )
            for b in boxes
        )

    # --- counts and people's places ----------------------------------------------------------

    def _count(self, claim: Claim, image: _Image) -> ClaimReview:
        stated = claim.number or 0
        if image.people:
            actual = len(image.people)
            if image.person_boxes:  # crowd regions: at least this many
                if stated < actual:
                    return ClaimReview(
                        claim,
                        _CONTRADICT,
                        fact=f"at least {actual} people are annotated",
                        confidence=0.9,
                    )
                return ClaimReview(
                    claim,
                    "undecidable",
                    reason=f"at least {actual} people (a "
                    "crowd region counts for an unknown number)",
                )
            fact = f"{actual} {'person is' if actual == 1 else 'people are'} annotated"
            status = _SUPPORT if (stated == actual) != claim.negated else _CONTRADICT
            return ClaimReview(claim, status, fact=fact, confidence=0.9)
        boxes = image.person_boxes
        if not boxes:
            if image.context.objects or image.context.captions:
                return ClaimReview(claim, "undecidable", reason="no person box in the context")
            return ClaimReview(claim, "undecidable", reason="the context is empty")
        fact = f"{boxes} person {'box' if boxes == 1 else 'boxes'} in the context"
        if stated == boxes:
            return ClaimReview(claim, _SUPPORT, fact=fact, confidence=0.7)
        if stated < boxes:
            return ClaimReview(claim, _CONTRADICT, fact=fact, confidence=0.7)
        return ClaimReview(
            claim,
            "undecidable",
            reason=f"{fact}; without keypoints a box may be missing, so more people may be there",
        )

    def _position(self, claim: Claim, image: _Image) -> ClaimReview:
        who, _, why = self._who(claim.subject, image)
        other, _, other_why = self._who(claim.target, image)
        if len(who) != 1 or len(other) != 1:
            return ClaimReview(
                claim, "undecidable", reason=why or other_why or "the two people are not told apart"
            )
        a, b = who[0], other[0]
        numbers = (a.number, b.number)
        if a is b:
            return ClaimReview(
                claim, "undecidable", people=numbers, reason="both sides are the same person"
            )
        status: str | None = None
        if claim.label in ("left of", "right of"):
            dx = b.person.box.center[0] - a.person.box.center[0]
            if abs(dx) > 0.05:
                left_of = dx > 0
                status = _SUPPORT if left_of == (claim.label == "left of") else _CONTRADICT
                where = "left" if left_of else "right"
                fact = f"person {a.number} is further {where} in the image than person {b.number}"
                confidence = 0.9
        else:
            front = (a, b) if claim.label == "in front of" else (b, a)
            ahead = any(
                f.relation == "in front of" and f.target == f"person {front[1].number}"
                for f in front[0].all_facts
            )
            behind = any(
                f.relation == "in front of" and f.target == f"person {front[0].number}"
                for f in front[1].all_facts
            )
            if ahead or behind:
                status = _SUPPORT if ahead else _CONTRADICT
                first, second = front if ahead else front[::-1]
                fact = (
                    f"person {first.number} is in front of person {second.number}, closer "
                    "to the camera"
                )
                confidence = 0.7
        if status is None:
            return ClaimReview(
                claim, "undecidable", people=numbers, reason="their boxes do not tell"
            )
        if claim.negated:
            status = _CONTRADICT if status == _SUPPORT else _SUPPORT
        if confidence < self.threshold:
            return ClaimReview(
                claim,
                "undecidable",
                people=numbers,
                reason=f"{fact}, with confidence {confidence} below {self.threshold}",
            )
        return ClaimReview(claim, status, numbers, fact, a.number, confidence)


def _merge(verdicts: Sequence[_Verdict]) -> _Verdict:
    first = verdicts[0]
    used = tuple(u for v in verdicts for u in v.used)
    facts = "; ".join(v.fact for v in verdicts if v.fact)
    confidence = min(v.confidence for v in verdicts if v.confidence is not None)
    return _Verdict(first.status, facts, confidence, used)


def _combine(
    claim: Claim, verdicts: list[tuple[_Someone, _Verdict]], need: int | None, why: str
) -> ClaimReview:
    """A verdict over the people a claim may be about: ``need`` of them (``None``: all)."""
    people = tuple(someone.number for someone, _ in verdicts)
    held = [(s, v) for s, v in verdicts if v.status == _SUPPORT]
    against = [(s, v) for s, v in verdicts if v.status == _CONTRADICT]
    needed = len(verdicts) if need is None else need
    if len(held) >= needed:
        chosen = held[:needed]
        fact = (
            "; ".join(f"person {s.number}: {v.fact}" for s, v in chosen)
            if len(chosen) > 1
            else chosen[0][1].fact
        )
        confidence = min(v.confidence or 0.0 for _, v in chosen)
        used = tuple(u for _, v in chosen for u in v.used)
        return ClaimReview(
            claim, _SUPPORT, people, fact, chosen[0][0].number, confidence, None, used
        )
    if len(against) > len(verdicts) - needed:
        someone, verdict = against[0]
        return ClaimReview(
            claim,
            _CONTRADICT,
            people,
            verdict.fact,
            someone.number,
            verdict.confidence,
            None,
            verdict.used,
        )
    reasons = [v.reason for _, v in verdicts if v.reason]
    if len(verdicts) == 1:
        reason = reasons[0] if reasons else "nothing decides it"
    else:
        reason = why or f"{len(held)} of {len(verdicts)} people fit, {needed} needed"
        if reasons and len(set(reasons)) == 1:
            reason += f" ({reasons[0]})"
    return ClaimReview(claim, "undecidable", people, reason=reason)


def _has_role(someone: _Someone, role: str) -> bool:
    part, objects = _ROLES[role]
    return any(
        f.label in objects and (part == "any" or f.part == part)
        for f in someone.all_facts
        if f.relation in ("near", "on")
    )


def _by_place(people: list[_Someone], side: str, ordinal: int | None) -> list[_Someone]:
    """The people a place names, among ``people``, by their boxes' centres left to right."""
    ordered = sorted(people, key=lambda p: p.person.box.center[0])
    n = len(ordered)
    if not n:
        return []
    if ordinal is not None:
        index = ordinal - 1 if side == "left" else n - ordinal
        return [ordered[index]] if 0 <= index < n else []
    if side == "far left":
        return ordered[:1]
    if side == "far right":
        return ordered[-1:]
    if side == "left":
        return ordered[:1] if n <= 2 else ordered[: n // 2]
    if side == "right":
        return ordered[-1:] if n <= 2 else ordered[n - n // 2 :]
    if side == "middle":
        if n <= 2:
            return []
        return ordered[1:-1] if n % 2 == 0 else [ordered[n // 2]]
    return ordered
