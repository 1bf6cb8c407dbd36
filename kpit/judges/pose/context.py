"""The image as the ``pose`` judge sees it: a benchmark context read into people with their
pose facts (:func:`image_context`, :func:`measure_scene`), and how stable each fact is under
COCO's spread between annotators (:func:`reannotated`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from kpit.errors import DataError
from kpit.exclusion import image_id_of
from kpit.judges.records import BenchContext
from kpit.layouts import COCO_17, COCO_WHOLEBODY
from kpit.pose.facts import PoseFact, PoseFacts, pose_facts_batch, pose_measures
from kpit.pose.geometry import Facing
from kpit.types import Box, ImageContext, ObjectBox, Person

__all__ = [
    "COCO_SIGMAS",
    "FACING_LABELS",
    "SALIENT_PARTS",
    "STABILITY_SAMPLES",
    "Scene",
    "Someone",
    "image_context",
    "measure_scene",
    "reannotated",
]

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

# facts about what a person is near or on, or where they are, not about their body
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


FACING_LABELS = {
    Facing.CAMERA: "facing the camera",
    Facing.AWAY: "facing away from the camera",
    Facing.PROFILE_LEFT: "in profile, facing the left of the image",
    Facing.PROFILE_RIGHT: "in profile, facing the right of the image",
    Facing.PROFILE: "in profile",
}
"""How a head's facing reads in a claim's words."""


@dataclass(slots=True)
class Someone:
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
        """Their first fact (at or above the threshold) about ``part`` (and ``side``)."""
        for fact in self.facts:
            if fact.part == part and (side is None or fact.side == side):
                return fact
        return None


@dataclass(slots=True)
class Scene:
    """The image as the judge sees it: its people, its boxes, and the judge's threshold."""

    context: ImageContext
    people: list[Someone]
    person_boxes: int  # person instances that are not among the people (crowds, LLaVA's)
    notes: tuple[str, ...]
    threshold: float  # facts below this confidence decide nothing

    def objects(self, categories: Iterable[str]) -> list[ObjectBox]:
        """The image's boxes of these categories."""
        wanted = set(categories)
        return [o for o in self.context.objects if o.category in wanted]

    def salient(self) -> set[tuple[int, str, str | None, str]]:
        """Every salient (person, part, side, label) of the image, for coverage."""
        return {
            (someone.number, f.part, f.side, f.label)
            for someone in self.people
            for f in someone.facts
            if f.part in SALIENT_PARTS
        }


def measure_scene(
    context: BenchContext,
    size: tuple[int, int] | None,
    *,
    threshold: float,
    min_stability: float,
) -> Scene:
    """The image of ``context`` (``size``: its size in pixels, when the context lacks it)
    with each person's pose facts and, when ``min_stability`` is above 0, how stable they
    are under re-annotation."""
    notes: list[str] = []
    if (context.width is None or context.height is None) and size is None and context.people:
        notes.append("image size unknown: angles measured as if the image were square")
    ctx = image_context(context, size)
    people: list[Someone] = []
    if ctx.people:
        measures = pose_measures(ctx.people)
        for i, facts in enumerate(pose_facts_batch([ctx])[0]):
            head = int(measures.head_facing.code[i])
            people.append(
                Someone(
                    i + 1,
                    ctx.people[i],
                    facts.above(threshold),
                    facts,
                    float(measures.scale[i]),
                    FACING_LABELS[Facing(head)] if head >= 0 else None,
                    float(measures.head_facing.confidence[i]),
                    min_stability=min_stability,
                )
            )
        if min_stability > 0:
            _measure_stability(ctx, people, threshold)
    elif context.instances:
        notes.append("no keypoints in the context: only counts of people can be decided")
    boxes = sum(1 for o in ctx.objects if o.category == "person")
    return Scene(ctx, people, boxes, tuple(notes), threshold)


def _measure_stability(ctx: ImageContext, people: list[Someone], threshold: float) -> None:
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
                     _RELATIONS and f.confidence >= threshold}  # fmt: skip
            for key in keys:
                variants[key].append(found.get(key))
            head = int(heads[k * n + i])
            variants[("head", None)].append(FACING_LABELS[Facing(head)] if head >= 0 else None)
        someone.variants = variants
