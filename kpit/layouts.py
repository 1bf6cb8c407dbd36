"""Keypoint layouts: the names of a skeleton's points and the limbs that join them.

A layout normally comes from the ``categories`` entry of the annotation file itself
(:func:`layout_from_category`), so COCO-17, COCO-WholeBody and other keypoint sets load
unchanged. :data:`COCO_17` and :data:`COCO_WHOLEBODY` are the two layouts kpit knows by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "COCO_17",
    "COCO_WHOLEBODY",
    "WHOLEBODY_PARTS",
    "KeypointLayout",
    "layout_from_category",
    "layout_from_dict",
    "layout_reference",
]


@dataclass(frozen=True, slots=True)
class KeypointLayout:
    """The ordered keypoint names of a skeleton and its limbs.

    Attributes:
        name: a short identifier (``"coco-17"``, ``"coco-wholebody"``, or the category name).
        names: keypoint names in annotation order.
        skeleton: limbs as pairs of 0-based indices into ``names``.
    """

    name: str
    names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...] = ()
    _index: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(self.names)})

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Return the position of keypoint ``name``; raise ``KeyError`` if the layout lacks it."""
        return self._index[name]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``name``, ``names``, ``skeleton``)."""
        return {
            "name": self.name,
            "names": list(self.names),
            "skeleton": [list(pair) for pair in self.skeleton],
        }


_COCO_17_NAMES = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
# COCO's own skeleton, 1-based in the annotation files, 0-based here.
_COCO_17_SKELETON_1 = (
    (16, 14),
    (14, 12),
    (17, 15),
    (15, 13),
    (12, 13),
    (6, 12),
    (7, 13),
    (6, 7),
    (6, 8),
    (7, 9),
    (8, 10),
    (9, 11),
    (2, 3),
    (1, 2),
    (1, 3),
    (2, 4),
    (3, 5),
    (4, 6),
    (5, 7),
)

COCO_17 = KeypointLayout(
    "coco-17", _COCO_17_NAMES, tuple((a - 1, b - 1) for a, b in _COCO_17_SKELETON_1)
)
"""The 17 COCO body keypoints and COCO's skeleton."""

_FOOT = (
    "left_big_toe",
    "left_small_toe",
    "left_heel",
    "right_big_toe",
    "right_small_toe",
    "right_heel",
)
_FINGERS = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")


def _hand(side: str) -> tuple[str, ...]:
    fingers = (f"{side}_{f}{j}" for f in _FINGERS for j in range(1, 5))
    return (f"{side}_hand_root", *fingers)


def _hand_limbs(offset: int) -> list[tuple[int, int]]:
    limbs = []
    for finger in range(5):
        first = offset + 1 + 4 * finger
        limbs.append((offset, first))
        limbs.extend((first + j, first + j + 1) for j in range(3))
    return limbs


WHOLEBODY_PARTS: tuple[tuple[str, int], ...] = (
    ("keypoints", 17),
    ("foot_kpts", 6),
    ("face_kpts", 68),
    ("lefthand_kpts", 21),
    ("righthand_kpts", 21),
)
"""COCO-WholeBody's annotation fields, in the order their points are concatenated."""


def _wholebody() -> KeypointLayout:
    names = (
        _COCO_17_NAMES
        + _FOOT
        + tuple(f"face_{i}" for i in range(68))
        + _hand("left")
        + _hand("right")
    )
    left_ankle, right_ankle = (
        _COCO_17_NAMES.index("left_ankle"),
        _COCO_17_NAMES.index("right_ankle"),
    )
    foot = [(left_ankle, 17), (left_ankle, 18), (left_ankle, 19)]
    foot += [(right_ankle, 20), (right_ankle, 21), (right_ankle, 22)]
    left_hand, right_hand = 17 + 6 + 68, 17 + 6 + 68 + 21
    skeleton = COCO_17.skeleton + tuple(foot + _hand_limbs(left_hand) + _hand_limbs(right_hand))
    return KeypointLayout("coco-wholebody", names, skeleton)


COCO_WHOLEBODY = _wholebody()
"""COCO-WholeBody's 133 points: body 17, feet 6, face 68, left hand 21, right hand 21."""

_KNOWN = {COCO_17.name: COCO_17, COCO_WHOLEBODY.name: COCO_WHOLEBODY}


def layout_from_category(category: Mapping[str, Any]) -> KeypointLayout:
    """Build a layout from a COCO ``categories`` entry with ``keypoints`` and ``skeleton``.

    The file's own names are used; a category whose names and skeleton equal COCO's gets the
    shared :data:`COCO_17` object. Raises ``ValueError`` if the entry has no keypoint names.
    """
    names = category.get("keypoints")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ValueError("the category has no list of keypoint names")
    raw_skeleton: Sequence[Sequence[int]] = category.get("skeleton") or []
    if not isinstance(raw_skeleton, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(type(i) is int for i in pair)
        for pair in raw_skeleton
    ):
        raise ValueError("the skeleton must be a list of [a, b] pairs of keypoint numbers")
    skeleton = tuple((a - 1, b - 1) for a, b in raw_skeleton)
    if any(not (0 <= i < len(names)) for pair in skeleton for i in pair):
        raise ValueError("the skeleton refers to a keypoint number outside the names")
    if tuple(names) == COCO_17.names and set(skeleton) == set(COCO_17.skeleton):
        return COCO_17
    return KeypointLayout(str(category.get("name", "custom")), tuple(names), skeleton)


def layout_reference(layout: KeypointLayout) -> str | dict[str, Any]:
    """The short form of ``layout`` for JSON: its name if kpit knows it, else its full dict."""
    return layout.name if _KNOWN.get(layout.name) is layout else layout.to_dict()


def layout_from_dict(data: str | Mapping[str, Any]) -> KeypointLayout:
    """Rebuild a layout from :meth:`KeypointLayout.to_dict` output or a known layout name."""
    if isinstance(data, str):
        try:
            return _KNOWN[data]
        except KeyError:
            raise ValueError(f"unknown keypoint layout {data!r}") from None
    names = tuple(data["names"])
    skeleton = tuple((int(a), int(b)) for a, b in data.get("skeleton", []))
    known = _KNOWN.get(str(data.get("name")))
    if known is not None and known.names == names:
        return known
    return KeypointLayout(str(data["name"]), names, skeleton)
