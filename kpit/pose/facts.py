"""Pose facts: interpretable statements about a person's pose, each checkable on the keypoints.

:func:`pose_facts` gives one person's facts: joint flexion, arm position, torso, posture,
facing, and (with the image's context) where they are relative to other people and to
objects. Each :class:`PoseFact` carries the body part, the side, the relation, the measured
value, a confidence and its wording. The numbers come from :mod:`kpit.pose.geometry`, which
works on many people at once; :func:`pose_facts_batch` runs it over a whole split.

Left and right are always the person's own (COCO's convention), and the wording says so
("their left elbow"); positions in the picture say "of the image".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from kpit.layouts import COCO_17
from kpit.pose import geometry as geo
from kpit.pose.geometry import ArmPosition, Facing, Flexion, PoseMeasures, Posture, Torso
from kpit.types import Box, ImageContext, ObjectBox, Person

__all__ = [
    "PoseFact",
    "PoseFacts",
    "facts_from_measures",
    "pose_facts",
    "pose_facts_batch",
    "pose_measures",
    "pose_notes",
]


@dataclass(frozen=True, slots=True)
class PoseFact:
    """One statement about a person's pose.

    Attributes:
        part: the body part or aspect: ``"elbow"``, ``"knee"``, ``"hip"``, ``"arm"``,
            ``"torso"``, ``"posture"``, ``"body"`` and ``"head"`` (facing), ``"hand"``,
            ``"hips"`` and ``"feet"`` (object relations), ``"position"`` (other people).
        side: ``"left"`` or ``"right"`` (the person's own), or ``None``.
        relation: what is stated: ``"flexion"``, ``"position"``, ``"orientation"``,
            ``"posture"``, ``"facing"``, ``"near"``, ``"on"``, ``"left of"``, ``"right of"``,
            ``"in front of"``.
        label: the category stated (``"bent"``, ``"sitting"``, ``"facing the camera"``, the
            object's category for relations...).
        value: the measured value behind it (degrees for angles), or ``None``.
        confidence: in ``(0, 1]``: lower for occluded points and values near a bin's edge.
        text: the fact in words, without numbers.
        target: the other person ("person 2") or the object category of a relation.
    """

    part: str
    side: str | None
    relation: str
    label: str
    value: float | None
    confidence: float
    text: str
    target: str | None = None


class PoseFacts(Sequence[PoseFact]):
    """The facts about one person: a sequence of :class:`PoseFact`; ``str()`` joins them."""

    __slots__ = ("_facts",)

    def __init__(self, facts: Iterable[PoseFact] = ()) -> None:
        self._facts = tuple(facts)

    def __len__(self) -> int:
        return len(self._facts)

    def __getitem__(self, index: int) -> PoseFact:  # type: ignore[override]
        return self._facts[index]

    def __iter__(self) -> Iterator[PoseFact]:
        return iter(self._facts)

    def __str__(self) -> str:
        return "; ".join(f.text for f in self._facts)

    def __repr__(self) -> str:
        return f"PoseFacts({list(self._facts)!r})"

    def find(self, part: str, side: str | None = None, relation: str | None = None) -> PoseFact:
        """The first fact about ``part`` (and ``side``, ``relation``); ``KeyError`` if none."""
        for fact in self._facts:
            if (
                fact.part == part
                and (side is None or fact.side == side)
                and (relation is None or fact.relation == relation)
            ):
                return fact
        raise KeyError((part, side, relation))

    def labels(self, part: str, side: str | None = None) -> list[str]:
        """The labels of every fact about ``part`` (and ``side``)."""
        return [f.label for f in self._facts if f.part == part and (side is None or f.side == side)]

    def above(self, confidence: float) -> PoseFacts:
        """Only the facts at or above ``confidence``."""
        return PoseFacts(f for f in self._facts if f.confidence >= confidence)


# --- measuring -----------------------------------------------------------------------------


def _body_index(person: Person) -> list[int] | None:
    names = person.layout.names
    if names[:17] == COCO_17.names:
        return list(range(17))
    try:
        return [person.layout.index(n) for n in COCO_17.names]
    except KeyError:
        return None


def pose_measures(people: Sequence[Person]) -> PoseMeasures:
    """The numeric pose measures of many people at once (see :mod:`kpit.pose.geometry`).

    People whose layout lacks COCO's 17 body points get all-unknown measures. Pixel geometry
    uses each person's ``image_size`` (a square image is assumed where it is unknown).
    """
    xy = np.zeros((len(people), 17, 2))
    visibility = np.zeros((len(people), 17))
    for i, person in enumerate(people):
        index = _body_index(person)
        if index is None:
            continue
        points = person.keypoint_array[index]
        width, height = person.image_size or (1, 1)
        xy[i] = points[:, :2] * (width, height)
        visibility[i] = points[:, 2]
    return geo.measure_pose(xy, visibility)


# --- wording -------------------------------------------------------------------------------

_FLEXION_WORDS = {
    Flexion.STRAIGHT: "straight",
    Flexion.SLIGHTLY_BENT: "slightly bent",
    Flexion.BENT: "bent",
    Flexion.RIGHT_ANGLE: "bent at about a right angle",
    Flexion.SHARPLY_BENT: "sharply bent",
}
_HIP_WORDS = {
    Flexion.STRAIGHT: "their body is straight at the {side} hip",
    Flexion.SLIGHTLY_BENT: "their body is slightly bent at the {side} hip",
    Flexion.BENT: "their body is bent at the {side} hip",
    Flexion.RIGHT_ANGLE: "their body is bent at about a right angle at the {side} hip",
    Flexion.SHARPLY_BENT: "their body is sharply bent at the {side} hip",
}
_ARM_WORDS = {
    ArmPosition.ABOVE_HEAD: ("hand above the head", "their {side} hand is raised above their head"),
    ArmPosition.RAISED: (
        "raised above the shoulder",
        "their {side} arm is raised above the shoulder",
    ),
    ArmPosition.AT_SIDE: ("at the side", "their {side} arm hangs at their side"),
    ArmPosition.OUT_SIDEWAYS: (
        "stretched out to the side",
        "their {side} arm is stretched out to the side",
    ),
    ArmPosition.OUT_FORWARD: ("stretched out forward", "their {side} arm is stretched out forward"),
    ArmPosition.OUT_BACKWARD: (
        "stretched out backward",
        "their {side} arm is stretched out behind them",
    ),
}
_POSTURE_WORDS = {
    Posture.STANDING: ("standing", "standing"),
    Posture.WALKING: ("walking", "walking or striding, with the feet apart"),
    Posture.SITTING: ("sitting", "sitting"),
    Posture.CROUCHING: ("crouching", "crouching"),
    Posture.SQUATTING: ("squatting", "squatting"),
    Posture.KNEELING: ("kneeling", "kneeling"),
    Posture.LYING: ("lying", "lying down"),
}
_FACING_WORDS = {
    Facing.CAMERA: "facing the camera",
    Facing.AWAY: "facing away from the camera",
    Facing.PROFILE_LEFT: "in profile, facing the left of the image",
    Facing.PROFILE_RIGHT: "in profile, facing the right of the image",
    Facing.PROFILE: "in profile",
}
_HEAD_WORDS = {
    Facing.CAMERA: "their head is turned towards the camera",
    Facing.AWAY: "their head is turned away from the camera",
    Facing.PROFILE_LEFT: "their head is turned towards the left of the image",
    Facing.PROFILE_RIGHT: "their head is turned towards the right of the image",
    Facing.PROFILE: "their head is in profile",
}


def _value(array: np.ndarray, i: int) -> float | None:
    value = float(array[i])
    return None if np.isnan(value) else round(value, 1)


def facts_from_measures(m: PoseMeasures, i: int) -> list[PoseFact]:
    """The worded facts of person ``i`` of ``m`` (no relations: those need the context)."""
    facts: list[PoseFact] = []
    posture = int(m.posture.code[i])
    if posture >= 0:
        label, text = _POSTURE_WORDS[Posture(posture)]
        facts.append(
            PoseFact("posture", None, "posture", label, None, float(m.posture.confidence[i]), text)
        )
    body = int(m.body_facing.code[i])
    head = int(m.head_facing.code[i])
    if body >= 0:
        facts.append(
            PoseFact(
                "body",
                None,
                "facing",
                _FACING_WORDS[Facing(body)],
                _value(m.body_facing.value, i),
                float(m.body_facing.confidence[i]),
                _FACING_WORDS[Facing(body)],
            )
        )
    if head >= 0 and head != body and not (body == Facing.PROFILE and head >= Facing.PROFILE_LEFT):
        facts.append(
            PoseFact(
                "head",
                None,
                "facing",
                _FACING_WORDS[Facing(head)],
                None,
                float(m.head_facing.confidence[i]),
                _HEAD_WORDS[Facing(head)],
            )
        )
    torso = int(m.torso.code[i])
    if torso >= 0:
        facts.append(_torso_fact(m, i, Torso(torso), _direction(body, head)))
    for side in ("left", "right"):
        arm = int(m.arms[side].code[i])
        if arm >= 0:
            label, text = _ARM_WORDS[ArmPosition(arm)]
            facts.append(
                PoseFact(
                    "arm",
                    side,
                    "position",
                    label,
                    _value(m.arms[side].value, i),
                    float(m.arms[side].confidence[i]),
                    text.format(side=side),
                )
            )
    for joint in ("elbow", "knee", "hip"):
        for side in ("left", "right"):
            measure = m.joints[f"{side}_{joint}"]
            code = int(measure.code[i])
            if code < 0:
                continue
            flexion = Flexion(code)
            if joint == "hip":
                text = _HIP_WORDS[flexion].format(side=side)
            else:
                text = f"their {side} {joint} is {_FLEXION_WORDS[flexion]}"
            facts.append(
                PoseFact(
                    joint,
                    side,
                    "flexion",
                    _FLEXION_WORDS[flexion],
                    _value(measure.value, i),
                    float(measure.confidence[i]),
                    text,
                )
            )
    return [f for f in facts if f.confidence > 0]  # a fact needs some evidence


def _direction(body: int, head: int) -> int:
    """Which way the person faces, for "forward" and "back": the body's profile first."""
    profiles = (Facing.PROFILE_LEFT, Facing.PROFILE_RIGHT)
    if body in profiles:
        return body
    if body in (Facing.CAMERA, Facing.AWAY):
        return body  # frontal: a lean goes to a side of the image, not forward or back
    return head if head in profiles else body


def _torso_fact(m: PoseMeasures, i: int, torso: Torso, facing: int) -> PoseFact:
    value, confidence = _value(m.torso.value, i), float(m.torso.confidence[i])
    if torso == Torso.UPRIGHT:
        return PoseFact(
            "torso",
            None,
            "orientation",
            "upright",
            value,
            confidence,
            "their upper body is upright",
        )
    if torso == Torso.BENT_OVER:
        return PoseFact(
            "torso",
            None,
            "orientation",
            "bent over",
            value,
            confidence,
            "they are bent over at the waist",
        )
    if torso == Torso.LYING:
        return PoseFact(
            "torso",
            None,
            "orientation",
            "lying",
            value,
            confidence,
            "their upper body is horizontal",
        )
    lean = m.lean[i]
    towards = "right" if lean > 0 else "left"
    if facing in (Facing.PROFILE_LEFT, Facing.PROFILE_RIGHT):
        ahead = (facing == Facing.PROFILE_RIGHT) == (lean > 0)
        label = "leaning forward" if ahead else "leaning back"
        text = f"they lean {'forward' if ahead else 'back'}"
    else:
        label = f"leaning towards the {towards} of the image"
        text = f"they lean towards the {towards} of the image"
    return PoseFact("torso", None, "orientation", label, value, confidence, text)


# --- relations -----------------------------------------------------------------------------

HANDHELD = frozenset(
    {
        "baseball bat",
        "baseball glove",
        "tennis racket",
        "frisbee",
        "sports ball",
        "umbrella",
        "bottle",
        "cup",
        "wine glass",
        "cell phone",
        "remote",
        "book",
        "kite",
        "knife",
        "fork",
        "spoon",
        "scissors",
        "toothbrush",
        "hair drier",
        "handbag",
        "skateboard",
        "surfboard",
        "teddy bear",
        "banana",
        "apple",
        "sandwich",
        "hot dog",
        "pizza",
        "donut",
        "cake",
        "mouse",
        "keyboard",
        "laptop",
        "suitcase",
        "backpack",
    }
)
"""Object categories a hand is worth relating to."""
SEATS = frozenset({"chair", "bench", "couch", "bed", "toilet"})
"""Object categories one sits (or lies) on."""
MOUNTS = frozenset({"horse", "bicycle", "motorcycle", "elephant"})
"""Object categories one rides."""
FOOTWEAR = frozenset({"skis", "snowboard", "skateboard", "surfboard"})
"""Object categories one stands on."""


def _inside(x: float, y: float, box: Box, margin_x: float, margin_y: float) -> bool:
    return (box.x1 - margin_x <= x <= box.x2 + margin_x) and (
        box.y1 - margin_y <= y <= box.y2 + margin_y
    )


def _object_facts(
    person: Person, objects: Sequence[ObjectBox], scale: float, posture: str | None
) -> list[PoseFact]:
    width, height = person.image_size or (1, 1)
    mx, my = (0.15 * scale / width, 0.15 * scale / height) if scale == scale else (0.02, 0.02)
    facts: list[PoseFact] = []
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        category = obj.category
        size = max(obj.box.width * width, obj.box.height * height)
        if category in HANDHELD and not size > 2.5 * scale:  # a hand is not "near" a huge box
            for side in ("left", "right"):
                wrist = person.keypoint(f"{side}_wrist")
                if wrist.labelled and _inside(wrist.x, wrist.y, obj.box, mx, my):
                    key = (f"{side} hand", category)
                    if key not in seen:
                        seen.add(key)
                        facts.append(
                            PoseFact(
                                "hand",
                                side,
                                "near",
                                category,
                                None,
                                1.0 if wrist.visible else geo.OCCLUDED_WEIGHT,
                                f"their {side} hand is near the {category}",
                                category,
                            )
                        )
        if category in SEATS | MOUNTS:
            hips = [person.keypoint(f"{s}_hip") for s in ("left", "right")]
            hips = [h for h in hips if h.labelled]
            if not hips:
                continue
            hx, hy = sum(h.x for h in hips) / len(hips), sum(h.y for h in hips) / len(hips)
            on = _inside(hx, hy, obj.box, mx, my)
            seated = category in SEATS and on and posture in ("sitting", "lying", "squatting")
            mounted = category in MOUNTS and on and hy < obj.box.y1 + 0.6 * obj.box.height
            if seated or mounted:
                verb = ("lying " if posture == "lying" else "sitting ") if seated else ""
                text = f"they are {verb}on the {category}"
                facts.append(PoseFact("hips", None, "on", category, None, 0.8, text, category))
        if category in FOOTWEAR and ("feet", category) not in seen:
            ankles = [person.keypoint(f"{s}_ankle") for s in ("left", "right")]
            if any(a.labelled and _inside(a.x, a.y, obj.box, mx, my) for a in ankles):
                seen.add(("feet", category))
                facts.append(
                    PoseFact(
                        "feet",
                        None,
                        "on",
                        category,
                        None,
                        0.8,
                        f"their feet are on the {category}",
                        category,
                    )
                )
    return facts


def _people_facts(index: int, people: Sequence[Person]) -> list[PoseFact]:
    me = people[index].box
    facts: list[PoseFact] = []
    left = right = None
    for j, other in enumerate(people):
        if j == index:
            continue
        dx = other.box.center[0] - me.center[0]
        if dx > 0.05 and (right is None or dx < right[1]):
            right = (j, dx)
        if dx < -0.05 and (left is None or -dx < left[1]):
            left = (j, -dx)
        overlap_x = min(me.x2, other.box.x2) - max(me.x1, other.box.x1)
        if overlap_x > 0.25 * min(me.width, other.box.width) and me.y2 > other.box.y2 + 0.05:
            facts.append(
                PoseFact(
                    "position",
                    None,
                    "in front of",
                    f"person {j + 1}",
                    None,
                    0.7,
                    f"they are in front of person {j + 1}, closer to the camera",
                    f"person {j + 1}",
                )
            )
    for found, relation, where in ((left, "right of", "left"), (right, "left of", "right")):
        if found is not None:
            j = found[0]
            facts.append(
                PoseFact(
                    "position",
                    None,
                    relation,
                    f"person {j + 1}",
                    None,
                    0.9,
                    f"the nearest person further {where} in the image is person {j + 1}",
                    f"person {j + 1}",
                )
            )
    return facts


# --- public entry points -------------------------------------------------------------------


def _facts_for(
    m: PoseMeasures, i: int, person: Person, context: ImageContext | None, index: int | None
) -> PoseFacts:
    facts = facts_from_measures(m, i)
    if context is not None:
        posture = next((f.label for f in facts if f.part == "posture"), None)
        if _body_index(person) is not None:  # objects are related through body points
            facts += _object_facts(person, context.objects, float(m.scale[i]), posture)
        if index is not None:
            facts += _people_facts(index, context.people)
    return PoseFacts(facts)


def _with_size(person: Person, context: ImageContext | None) -> Person:
    if person.image_size is None and context is not None:
        return Person(
            person.box,
            person.keypoint_array,
            person.layout,
            person.annotation_id,
            (context.width, context.height),
        )
    return person


def pose_facts(person: Person, context: ImageContext | None = None) -> PoseFacts:
    """The pose facts of one person.

    Args:
        person: the person.
        context: the image's context; adds relations to other people (numbered as in the
            context, "person 2") and to objects, and supplies the image size if the person
            lacks it.
    """
    index = None
    if context is not None:
        index = next((n for n, p in enumerate(context.people) if p is person or p == person), None)
    person = _with_size(person, context)
    return _facts_for(pose_measures([person]), 0, person, context, index)


def pose_facts_batch(contexts: Iterable[ImageContext]) -> list[list[PoseFacts]]:
    """Pose facts of every person of every context, measured together with numpy.

    Returns one list per context, with one :class:`PoseFacts` per person, in order.
    """
    contexts = list(contexts)
    people = [_with_size(p, ctx) for ctx in contexts for p in ctx.people]
    measures = pose_measures(people)
    out: list[list[PoseFacts]] = []
    row = 0
    for ctx in contexts:
        facts = []
        for index in range(len(ctx.people)):
            facts.append(_facts_for(measures, row, people[row], ctx, index))
            row += 1
        out.append(facts)
    return out


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
             "ninth", "tenth", "eleventh", "twelfth")  # fmt: skip


def ordinal(n: int) -> str:
    """``1`` -> ``first``, ``12`` -> ``twelfth``, ``21`` -> ``21st``."""
    if 1 <= n <= len(_ORDINALS):
        return _ORDINALS[n - 1]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def pose_notes(context: ImageContext, min_confidence: float = 0.4) -> str:
    """The pose facts of every person as prose notes without numbers, for a prompt.

    People are named by their order in the context ("The first person"); relations name
    other people the same way. Facts below ``min_confidence`` are left out.
    """
    lines = []
    for index, facts in enumerate(pose_facts_batch([context])[0]):
        kept = [f for f in facts if f.confidence >= min_confidence]
        if not kept:
            continue
        texts = [_ordinal_text(f.text) for f in kept]
        lines.append(f"The {ordinal(index + 1)} person: " + "; ".join(texts) + ".")
    return "\n".join(lines)


def _ordinal_text(text: str) -> str:
    return re.sub(r"\bperson (\d+)\b", lambda m: f"the {ordinal(int(m.group(1)))} person", text)
