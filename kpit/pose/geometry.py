"""The numeric part of pose facts: 2D pose measures for many people at once, with numpy.

Input is the 17 COCO body keypoints of N people in pixels, ``(N, 17, 2)``, and their
visibility, ``(N, 17)``. Output is a :class:`PoseMeasures` of arrays: joint angles, limb and
torso orientation, facing and posture, each with a category code (``-1`` where unknown) and
a confidence. :mod:`kpit.pose` turns them into worded facts.

Geometry is in pixels, so angles are true angles. Image ``y`` grows downwards; "up" is
``(0, -1)``. Left and right are the person's own (COCO's convention).

Rules that decide a category leave an *ignore band* around each threshold: a value in a band
gives no claim, so no fact sits on a boundary. A measure needs its points labelled; an
occluded point (visibility 1) lowers the confidence; a limb segment much shorter than the
body's scale predicts (foreshortened, pointing at or away from the camera) makes the angles
that use it unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from kpit.layouts import COCO_17

__all__ = [
    "FORESHORTENED",
    "JOINTS",
    "OCCLUDED_WEIGHT",
    "ArmPosition",
    "Facing",
    "Flexion",
    "Measure",
    "PoseMeasures",
    "Posture",
    "Torso",
    "measure_pose",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Test = Callable[[FloatArray], BoolArray]

K = {name: i for i, name in enumerate(COCO_17.names)}

OCCLUDED_WEIGHT = 0.6
"""Confidence factor of a point labelled but not visible (visibility 1)."""

# Typical segment lengths relative to the torso (mid-shoulder to mid-hip) of an adult.
SEGMENT_RATIO = {"upper_arm": 0.6, "forearm": 0.55, "thigh": 0.85, "shin": 0.8, "shoulders": 0.8}
FORESHORTENED = 0.45
"""A segment shorter than this fraction of its expected length is foreshortened."""


class Flexion(IntEnum):
    """Bins of a joint's interior angle (180 degrees is straight)."""

    STRAIGHT = 0
    SLIGHTLY_BENT = 1
    BENT = 2
    RIGHT_ANGLE = 3
    SHARPLY_BENT = 4


# (low, high, bin): a value inside [low, high] gets the bin; values between bins get none.
FLEXION_BINS: tuple[tuple[float, float, Flexion], ...] = (
    (162.0, 180.0, Flexion.STRAIGHT),
    (140.0, 156.0, Flexion.SLIGHTLY_BENT),
    (107.0, 133.0, Flexion.BENT),
    (80.0, 100.0, Flexion.RIGHT_ANGLE),
    (0.0, 73.0, Flexion.SHARPLY_BENT),
)


class ArmPosition(IntEnum):
    """Where an arm is, relative to the body."""

    ABOVE_HEAD = 0
    RAISED = 1
    AT_SIDE = 2
    OUT_SIDEWAYS = 3
    OUT_FORWARD = 4
    OUT_BACKWARD = 5


class Torso(IntEnum):
    """The torso's orientation."""

    UPRIGHT = 0
    LEANING = 1
    BENT_OVER = 2
    LYING = 3


class Facing(IntEnum):
    """Where the body (or the head) faces."""

    CAMERA = 0
    AWAY = 1
    PROFILE_LEFT = 2  # facing the left side of the image
    PROFILE_RIGHT = 3
    PROFILE = 4  # in profile, direction unknown


class Posture(IntEnum):
    """Whole-body posture, in plain words."""

    STANDING = 0
    WALKING = 1
    SITTING = 2
    CROUCHING = 3
    SQUATTING = 4
    KNEELING = 5
    LYING = 6


JOINTS: dict[str, tuple[str, str, str]] = {
    "left_elbow": ("left_shoulder", "left_elbow", "left_wrist"),
    "right_elbow": ("right_shoulder", "right_elbow", "right_wrist"),
    "left_knee": ("left_hip", "left_knee", "left_ankle"),
    "right_knee": ("right_hip", "right_knee", "right_ankle"),
    "left_hip": ("left_shoulder", "left_hip", "left_knee"),
    "right_hip": ("right_shoulder", "right_hip", "right_knee"),
}
"""Joint name -> the three points whose middle one is the joint."""

_JOINT_SEGMENTS = {
    "elbow": ("upper_arm", "forearm"),
    "knee": ("thigh", "shin"),
    "hip": ("torso", "thigh"),
}


@dataclass(slots=True)
class Measure:
    """One measure for N people: a value, a category code (-1 unknown) and a confidence."""

    value: FloatArray
    code: IntArray
    confidence: FloatArray


@dataclass(slots=True)
class PoseMeasures:
    """Pose measures of N people (arrays of length N)."""

    scale: FloatArray  # the body's reference length (a torso) in pixels; nan if unknown
    joints: dict[str, Measure]  # interior angles in degrees, Flexion codes
    arms: dict[str, Measure]  # "left"/"right": elevation in degrees from hanging down
    torso: Measure  # degrees from upright; Torso codes
    lean: FloatArray  # -1 torso leans towards the image's left, +1 right, 0 not leaning
    body_facing: Measure  # shoulder ratio; Facing codes
    head_facing: Measure  # Facing codes
    posture: Measure  # Posture codes

    def __len__(self) -> int:
        return len(self.scale)


def _norm(v: FloatArray) -> FloatArray:
    norm: FloatArray = np.sqrt((v**2).sum(axis=-1))
    return norm


def _bin(value: FloatArray, bins: tuple[tuple[float, float, IntEnum], ...]) -> IntArray:
    code = np.full(value.shape, -1, dtype=np.int64)
    for low, high, label in bins:
        code[(value >= low) & (value <= high)] = int(label)
    return code


def _margin(value: FloatArray, bins: tuple[tuple[float, float, IntEnum], ...]) -> FloatArray:
    """Confidence factor from a value's distance to its bin's nearest edge (0.6 at the edge)."""
    distance = np.full(value.shape, np.inf)
    for low, high, _ in bins:
        inside = (value >= low) & (value <= high)
        edges = [abs_edge for abs_edge in (low, high) if 0.0 < abs_edge < 180.0]
        for edge in edges:
            distance = np.where(inside, np.minimum(distance, np.abs(value - edge)), distance)
    factor: FloatArray = 0.6 + 0.4 * np.clip(distance / 10.0, 0.0, 1.0)
    return factor


class _Body:
    """Per-person points, weights and derived vectors for a batch."""

    def __init__(self, xy: FloatArray, visibility: FloatArray) -> None:
        self.labelled = visibility > 0
        self.weight = np.where(visibility >= 2, 1.0, np.where(self.labelled, OCCLUDED_WEIGHT, 0.0))
        self.xy = np.where(self.labelled[..., None], xy, np.nan)

    def p(self, name: str) -> FloatArray:
        point: FloatArray = self.xy[:, K[name]]
        return point

    def w(self, *names: str) -> FloatArray:
        weights: FloatArray = np.min(np.stack([self.weight[:, K[n]] for n in names]), axis=0)
        return weights

    def mid(self, a: str, b: str) -> FloatArray:
        """Midpoint of two points, or either one where only one is labelled."""
        pa, pb = self.p(a), self.p(b)
        mid: FloatArray = np.where(np.isnan(pa), pb, np.where(np.isnan(pb), pa, (pa + pb) / 2))
        return mid


def measure_pose(xy: FloatArray, visibility: FloatArray) -> PoseMeasures:
    """Measure the poses of N people.

    Args:
        xy: ``(N, 17, 2)`` keypoint positions in pixels, COCO-17 order.
        visibility: ``(N, 17)`` COCO visibility (0 unlabelled, 1 occluded, 2 visible).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        return _measure(_Body(np.asarray(xy, np.float64), np.asarray(visibility, np.float64)))


def _segment_lengths(body: _Body) -> dict[str, FloatArray]:
    lengths: dict[str, FloatArray] = {}
    for side in ("left", "right"):
        pairs = {
            "upper_arm": ("shoulder", "elbow"),
            "forearm": ("elbow", "wrist"),
            "thigh": ("hip", "knee"),
            "shin": ("knee", "ankle"),
        }
        for segment, (a, b) in pairs.items():
            lengths[f"{side}_{segment}"] = _norm(body.p(f"{side}_{b}") - body.p(f"{side}_{a}"))
        lengths[f"{side}_torso"] = _norm(body.p(f"{side}_hip") - body.p(f"{side}_shoulder"))
    lengths["shoulders"] = _norm(body.p("left_shoulder") - body.p("right_shoulder"))
    lengths["torso"] = _norm(
        body.mid("left_shoulder", "right_shoulder") - body.mid("left_hip", "right_hip")
    )
    return lengths


def _scale(lengths: dict[str, FloatArray]) -> FloatArray:
    """The body's reference length: the largest estimate of the torso from any segment.

    Foreshortening only shortens a segment, so the largest estimate is the most trustworthy.
    """
    estimates = [lengths["torso"], lengths["shoulders"] / SEGMENT_RATIO["shoulders"]]
    for side in ("left", "right"):
        estimates.append(lengths[f"{side}_torso"])
        for segment in ("upper_arm", "forearm", "thigh", "shin"):
            estimates.append(lengths[f"{side}_{segment}"] / SEGMENT_RATIO[segment])
    stacked = np.stack(estimates)
    largest = np.nanmax(np.nan_to_num(stacked, nan=-1), axis=0)
    scale: FloatArray = np.where(largest > 0, largest, np.nan)  # no body, no scale
    return scale


def _not_foreshortened(length: FloatArray, ratio: float, scale: FloatArray) -> BoolArray:
    ok: BoolArray = length >= FORESHORTENED * ratio * scale
    return ok


def _joints(body: _Body, lengths: dict[str, FloatArray], scale: FloatArray) -> dict[str, Measure]:
    out = {}
    for joint, (a, b, c) in JOINTS.items():
        side, kind = joint.split("_")
        va, vc = body.p(a) - body.p(b), body.p(c) - body.p(b)
        cosine = (va * vc).sum(axis=-1) / (_norm(va) * _norm(vc))
        angle = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
        first, second = _JOINT_SEGMENTS[kind]
        ok = np.ones(len(angle), dtype=bool)
        for segment in (first, second):
            ratio = 1.0 if segment == "torso" else SEGMENT_RATIO[segment]
            ok &= _not_foreshortened(lengths[f"{side}_{segment}"], ratio, scale)
        angle = np.where(ok, angle, np.nan)
        code = _bin(angle, FLEXION_BINS)
        confidence = np.where(code >= 0, body.w(a, b, c) * _margin(angle, FLEXION_BINS), 0.0)
        out[joint] = Measure(angle, code, confidence)
    return out


def _body_axes(body: _Body) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The unit vector up the torso (hips to shoulders), its right-hand normal, and a weight.

    Where the torso is unknown, the image's up is used, with weight 0.
    """
    up = body.mid("left_shoulder", "right_shoulder") - body.mid("left_hip", "right_hip")
    length = _norm(up)[:, None]
    known = np.isfinite(length[:, 0]) & (length[:, 0] > 0)
    up = np.where(known[:, None], up / length, np.array([0.0, -1.0]))
    right = np.stack([-up[:, 1], up[:, 0]], axis=1)  # up rotated a quarter turn clockwise
    weight = np.where(known, 1.0, 0.0)
    return up, right, weight


def _torso(
    body: _Body, lengths: dict[str, FloatArray], scale: FloatArray, up: FloatArray
) -> tuple[Measure, FloatArray]:
    torso_known = np.isfinite(lengths["torso"]) & (lengths["torso"] >= 0.55 * scale)
    angle = np.degrees(np.arccos(np.clip(-up[:, 1], -1.0, 1.0)))  # 0 upright, 90 horizontal
    angle = np.where(torso_known, angle, np.nan)
    # Legs hanging below the hips tell "bent over" from "lying".
    hips = body.mid("left_hip", "right_hip")
    knees = body.mid("left_knee", "right_knee")
    thigh = knees - hips
    legs_down = (thigh[:, 1] > 0.7 * _norm(thigh)) & (_norm(thigh) > 0.4 * scale)
    code = np.full(len(angle), -1, dtype=np.int64)
    code[angle <= 18] = Torso.UPRIGHT
    code[(angle >= 25) & (angle <= 52)] = Torso.LEANING
    horizontal = (angle >= 62) & (angle <= 125)
    code[horizontal & legs_down] = Torso.BENT_OVER
    code[horizontal & ~legs_down] = Torso.LYING
    weight = body.w("left_shoulder", "right_shoulder", "left_hip", "right_hip")
    weight = np.maximum(
        weight,
        np.minimum(body.w("left_shoulder", "left_hip"), body.w("right_shoulder", "right_hip")),
    )
    confidence = np.where(code >= 0, np.maximum(weight, OCCLUDED_WEIGHT), 0.0)
    lean = np.where(code == Torso.LEANING, np.sign(up[:, 0]), 0.0)
    return Measure(angle, code, confidence), lean


def _side(offset: FloatArray, margin: FloatArray) -> IntArray:
    """PROFILE_LEFT / PROFILE_RIGHT by the sign of ``offset`` beyond ``margin``, else PROFILE."""
    side: IntArray = np.where(
        offset < -margin,
        Facing.PROFILE_LEFT,
        np.where(offset > margin, Facing.PROFILE_RIGHT, Facing.PROFILE),
    )
    return side


def _facing(body: _Body, scale: FloatArray, right: FloatArray) -> tuple[Measure, Measure]:
    # Body: the person's left shoulder (and hip) on the image's right means facing us.
    pairs = (("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"))
    ratios = []
    for a, b in pairs:
        ratios.append(((body.p(a) - body.p(b)) * right).sum(axis=-1) / scale)
    ratio = np.where(np.isnan(ratios[0]), ratios[1], ratios[0])
    weight = np.where(np.isnan(ratios[0]), body.w(*pairs[1]), body.w(*pairs[0]))
    nose, ears = body.p("nose"), body.mid("left_ear", "right_ear")
    eyes = body.mid("left_eye", "right_eye")
    face_point = np.where(np.isnan(nose), eyes, nose)
    shoulders = body.mid("left_shoulder", "right_shoulder")
    head_offset = ((face_point - np.where(np.isnan(ears), shoulders, ears)) * right).sum(axis=-1)
    profile_side = _side(head_offset, 0.04 * scale)
    # In profile, bent knees point the way the body faces (the head may look elsewhere).
    per_leg = np.stack([
        ((body.p(f"{s}_knee") - (body.p(f"{s}_hip") + body.p(f"{s}_ankle")) / 2) * right).sum(-1)
        for s in ("left", "right")
    ])  # fmt: skip
    known_legs = np.isfinite(per_leg).sum(axis=0)
    protrusion = np.where(known_legs > 0, np.nansum(per_leg, axis=0) / np.maximum(known_legs, 1),
                          np.nan)  # fmt: skip
    legs_side = _side(protrusion, 0.1 * scale)
    body_side = np.where(legs_side != Facing.PROFILE, legs_side, profile_side)
    code = np.full(len(ratio), -1, dtype=np.int64)
    code[ratio >= 0.3] = Facing.CAMERA
    code[ratio <= -0.3] = Facing.AWAY
    profile = np.abs(ratio) <= 0.15
    code[profile] = body_side[profile]
    body_facing = Measure(ratio, code, np.where(code >= 0, weight, 0.0))

    # Head: the nose and both eyes visible face us; a labelled face without them faces away.
    visible = body.weight >= 1.0
    nose_v, leye_v, reye_v = (
        visible[:, K["nose"]],
        visible[:, K["left_eye"]],
        visible[:, K["right_eye"]],
    )
    face_labelled = body.labelled[:, [K["nose"], K["left_eye"], K["right_eye"]]].any(axis=1)
    ears_labelled = body.labelled[:, [K["left_ear"], K["right_ear"]]].any(axis=1)
    head = np.full(len(ratio), -1, dtype=np.int64)
    head[~face_labelled & ears_labelled] = Facing.AWAY
    one_eye = nose_v & (leye_v ^ reye_v)
    head[one_eye] = profile_side[one_eye]
    frontal = nose_v & leye_v & reye_v
    # Both eyes on the same side of the nose means the head is turned into profile.
    eye_side = ((body.p("left_eye") - nose) * right).sum(axis=-1) * (
        (body.p("right_eye") - nose) * right
    ).sum(axis=-1)
    head[frontal & (eye_side < 0)] = Facing.CAMERA
    turned = frontal & (eye_side > 0)
    head[turned] = profile_side[turned]
    head_conf = np.where(head >= 0, 0.8, 0.0)
    return body_facing, Measure(np.full(len(ratio), np.nan), head, head_conf)


def _arms(
    body: _Body,
    joints: dict[str, Measure],
    scale: FloatArray,
    up: FloatArray,
    facing: Measure,
) -> dict[str, Measure]:
    face = np.stack([body.p(n) for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")])
    hips = body.mid("left_hip", "right_hip")
    base = np.where(np.isnan(hips), body.mid("left_shoulder", "right_shoulder"), hips)

    def height(point: FloatArray) -> FloatArray:
        h: FloatArray = ((point - base) * up).sum(axis=-1)
        return h

    face_heights = np.stack([height(face[i]) for i in range(len(face))])
    head_top = (
        np.where(
            np.all(np.isnan(face_heights), axis=0),
            np.nan,
            np.nanmax(np.nan_to_num(face_heights, nan=-np.inf), axis=0),
        )
        + 0.15 * scale
    )
    out = {}
    for side in ("left", "right"):
        shoulder, wrist = body.p(f"{side}_shoulder"), body.p(f"{side}_wrist")
        arm = wrist - shoulder
        reach = _norm(arm)
        down_angle = np.degrees(np.arccos(np.clip((arm * -up).sum(axis=-1) / reach, -1, 1)))
        elbow = joints[f"{side}_elbow"].value
        straight_arm = elbow >= 145
        extended = straight_arm & (reach >= 0.8 * scale)
        code = np.full(len(scale), -1, dtype=np.int64)
        wrist_h, shoulder_h = height(wrist), height(shoulder)
        code[(down_angle <= 20) & (elbow >= 140) & (reach >= 0.6 * scale)] = ArmPosition.AT_SIDE
        horizontal = extended & (down_angle >= 65) & (down_angle <= 115)
        # Out sideways when the body faces us or away; forward or backward in profile.
        toward_image_right = arm[:, 0] > 0
        facing_right = facing.code == Facing.PROFILE_RIGHT
        facing_left = facing.code == Facing.PROFILE_LEFT
        in_profile = facing_right | facing_left
        ahead = np.where(facing_right, toward_image_right, ~toward_image_right)
        frontal = (facing.code == Facing.CAMERA) | (facing.code == Facing.AWAY)
        code[horizontal & frontal] = ArmPosition.OUT_SIDEWAYS
        code[horizontal & in_profile & ahead] = ArmPosition.OUT_FORWARD
        code[horizontal & in_profile & ~ahead] = ArmPosition.OUT_BACKWARD
        code[wrist_h >= shoulder_h + 0.2 * scale] = ArmPosition.RAISED
        code[wrist_h >= head_top + 0.1 * scale] = ArmPosition.ABOVE_HEAD
        unknown_ceiling = (wrist_h >= shoulder_h + 0.2 * scale) & np.isnan(head_top)
        code[unknown_ceiling] = ArmPosition.RAISED
        weight = body.w(f"{side}_shoulder", f"{side}_wrist")
        code[weight <= 0] = -1  # an arm's position needs its shoulder and its wrist
        out[side] = Measure(down_angle, code, np.where(code >= 0, weight, 0.0))
    return out


@dataclass(frozen=True, slots=True)
class _Legs:
    """What the posture rules read: the torso, and the legs (by side: ``left``, ``right``)."""

    torso: FloatArray  # degrees from upright
    lying: BoolArray  # the torso lies down
    thigh_down: dict[str, FloatArray]  # degrees of each thigh from pointing straight down
    shin_down: dict[str, FloatArray]
    knee_above_ankle: dict[str, FloatArray]  # heights, in units of the scale
    hip_above_ankle: dict[str, FloatArray]
    knees: dict[str, FloatArray]  # interior angles
    hips_flex: dict[str, FloatArray]
    feet_apart: BoolArray  # the ankles at least 0.8 of the scale apart
    spread: FloatArray  # degrees between the thighs


def _legs(
    body: _Body,
    joints: dict[str, Measure],
    torso: Measure,
    scale: FloatArray,
    lengths: dict[str, FloatArray],
) -> _Legs:
    """The legs' measures; a segment's angle is unknown where it is foreshortened."""
    thigh_down, shin_down, knee_above_ankle, hip_above_ankle = {}, {}, {}, {}
    for side in ("left", "right"):
        hip, knee, ankle = (body.p(f"{side}_{j}") for j in ("hip", "knee", "ankle"))
        thigh_ok = _not_foreshortened(lengths[f"{side}_thigh"], SEGMENT_RATIO["thigh"], scale)
        shin_ok = _not_foreshortened(lengths[f"{side}_shin"], SEGMENT_RATIO["shin"], scale)
        thigh_down[side] = _from_down(knee - hip, thigh_ok)
        shin_down[side] = _from_down(ankle - knee, shin_ok)
        knee_above_ankle[side] = (ankle[:, 1] - knee[:, 1]) / scale
        hip_above_ankle[side] = (ankle[:, 1] - hip[:, 1]) / scale
    left_hip, right_hip = body.p("left_hip"), body.p("right_hip")
    feet_apart = _norm(body.p("left_ankle") - body.p("right_ankle")) >= 0.8 * scale
    thighs = [body.p(f"{s}_knee") - h for s, h in (("left", left_hip), ("right", right_hip))]
    between = (thighs[0] * thighs[1]).sum(axis=-1) / (_norm(thighs[0]) * _norm(thighs[1]))
    return _Legs(
        torso.value, torso.code == Torso.LYING, thigh_down, shin_down, knee_above_ankle,
        hip_above_ankle, {s: joints[f"{s}_knee"].value for s in ("left", "right")},
        {s: joints[f"{s}_hip"].value for s in ("left", "right")}, feet_apart,
        np.degrees(np.arccos(np.clip(between, -1, 1))),
    )  # fmt: skip


def _from_down(segment: FloatArray, ok: BoolArray) -> FloatArray:
    """Degrees of ``segment`` from pointing straight down; nan where not ``ok``."""
    down = np.degrees(np.arccos(np.clip(segment[:, 1] / _norm(segment), -1, 1)))
    degrees: FloatArray = np.where(ok, down, np.nan)
    return degrees


def _both(values: dict[str, FloatArray], test: Test) -> BoolArray:
    """Every known side passes, and at least one side is known."""
    left, right = values["left"], values["right"]
    known = np.isfinite(left) | np.isfinite(right)
    return known & (~np.isfinite(left) | test(left)) & (~np.isfinite(right) | test(right))


def _either(values: dict[str, FloatArray], test: Test) -> BoolArray:
    """Some side is known and passes."""
    left, right = values["left"], values["right"]
    return (np.isfinite(left) & test(left)) | (np.isfinite(right) & test(right))


def _kneeling(legs: _Legs) -> BoolArray:
    """A thigh hangs down from the hip and its shin lies flat behind the knee."""
    return (_either(legs.thigh_down, lambda v: v < 35) & _either(legs.shin_down, lambda v: v > 60)
            & (legs.torso <= 40)
            & _either(legs.knee_above_ankle, lambda v: np.abs(v) < 0.25))  # fmt: skip


def _squatting(legs: _Legs) -> BoolArray:
    """Knees sharply bent, hips down near the heels."""
    return (_both(legs.knees, lambda v: v < 75) & _either(legs.hip_above_ankle, lambda v: v < 0.7)
            & (legs.torso <= 70))  # fmt: skip


def _sitting(legs: _Legs) -> BoolArray:
    """The torso upright and a thigh near horizontal, the knee not folded shut."""
    return ((legs.torso <= 40) & _either(legs.thigh_down, lambda v: v > 60)
            & ~_both(legs.knees, lambda v: v < 60))  # fmt: skip


def _crouching(legs: _Legs) -> BoolArray:
    """Thighs slanting forward, knees and hips bent."""
    return (_both(legs.thigh_down, lambda v: v > 28) & _both(legs.knees, lambda v: v < 135)
            & _either(legs.hips_flex, lambda v: v < 140) & (legs.torso <= 65))  # fmt: skip


def _walking(legs: _Legs) -> BoolArray:
    """Walking or striding: legs spread front to back (or wide apart at the feet)."""
    return ((legs.torso <= 50) & _both(legs.thigh_down, lambda v: v < 50)
            & ((legs.feet_apart & (legs.spread >= 25)) | (legs.spread >= 40)))  # fmt: skip


def _standing(legs: _Legs) -> BoolArray:
    """The torso upright, the thighs hanging down, the knees straight."""
    return ((legs.torso <= 30) & _both(legs.thigh_down, lambda v: v < 35)
            & _both(legs.knees, lambda v: v > 125))  # fmt: skip


_POSTURE_RULES: tuple[tuple[Posture, float, Callable[[_Legs], BoolArray]], ...] = (
    (Posture.LYING, 0.8, lambda legs: legs.lying),
    (Posture.KNEELING, 0.7, _kneeling),
    (Posture.SQUATTING, 0.75, _squatting),
    (Posture.SITTING, 0.75, _sitting),
    (Posture.CROUCHING, 0.7, _crouching),
    (Posture.WALKING, 0.65, _walking),
    (Posture.STANDING, 0.8, _standing),
)
"""Each posture with its confidence and its rule, in the order tried: the first that holds."""


def _posture(
    body: _Body,
    joints: dict[str, Measure],
    torso: Measure,
    scale: FloatArray,
    lengths: dict[str, FloatArray],
) -> Measure:
    """Each person's posture by the first rule that holds, less confident for hidden legs."""
    legs = _legs(body, joints, torso, scale, lengths)
    n = len(scale)
    code = np.full(n, -1, dtype=np.int64)
    confidence = np.zeros(n)
    for label, conf, rule in _POSTURE_RULES:
        free = rule(legs) & (code < 0)
        code[free] = label
        confidence[free] = conf
    legs_weight = np.maximum(body.w("left_hip", "left_knee"), body.w("right_hip", "right_knee"))
    confidence = np.where(code >= 0, confidence * np.maximum(legs_weight, OCCLUDED_WEIGHT), 0.0)
    return Measure(np.full(n, np.nan), code, confidence)


def _measure(body: _Body) -> PoseMeasures:
    lengths = _segment_lengths(body)
    scale = _scale(lengths)
    joints = _joints(body, lengths, scale)
    up, right, _ = _body_axes(body)
    torso, lean = _torso(body, lengths, scale, up)
    body_facing, head_facing = _facing(body, scale, right)
    arms = _arms(body, joints, scale, up, body_facing)
    posture = _posture(body, joints, torso, scale, lengths)
    return PoseMeasures(scale, joints, arms, torso, lean, body_facing, head_facing, posture)
