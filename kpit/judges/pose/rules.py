"""What supports and what contradicts each claim's label: the ``pose`` judge's verdict
tables, from a claim's label to the fact labels that support it and those that contradict it
(every other label decides nothing). :mod:`kpit.judges.pose.verdicts` applies them.
"""

from __future__ import annotations

__all__ = [
    "ARM_RULES",
    "FACING_RULES",
    "FLEXION_BIN",
    "FLEXION_RULES",
    "POSTURE_CONTRADICTS",
    "POSTURE_SUPPORTS",
    "TORSO_RULES",
]

POSTURE_CONTRADICTS = {
    "standing": {"sitting", "squatting", "crouching", "kneeling", "lying"},
    "walking": {"sitting", "squatting", "kneeling", "lying"},
    "sitting": {"standing", "walking", "lying"},
    "crouching": {"standing", "lying"},
    "squatting": {"standing", "lying"},
    "kneeling": {"standing", "walking", "lying"},
    "lying": {"standing", "walking", "sitting", "squatting", "crouching", "kneeling"},
}
POSTURE_SUPPORTS = {
    "crouching": {"crouching", "squatting"},
    "squatting": {"squatting", "crouching"},
}
FLEXION_BIN = {
    "straight": 0,
    "slightly bent": 1,
    "bent": 2,
    "bent at about a right angle": 3,
    "sharply bent": 4,
}
# claim label -> (bins that support it, bins that contradict it); the rest decide nothing.
# "Straight" and "slightly bent" lie 6 degrees apart, within what two annotators' points
# make of a knee: neither contradicts the other.
FLEXION_RULES = {
    "straight": ({0}, {2, 3, 4}),
    "bent": ({1, 2, 3, 4}, {0}),
    "slightly bent": ({1}, {3, 4}),
    "bent at about a right angle": ({3}, {0, 1}),
    "sharply bent": ({4}, {0, 1, 2}),
}
_ABOVE, _RAISED, _SIDE = "hand above the head", "raised above the shoulder", "at the side"
_OUT = ("stretched out to the side", "stretched out forward", "stretched out backward")
ARM_RULES = {
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
FACING_RULES = {
    _CAMERA: ({_CAMERA}, {_AWAY, "in profile", _LEFT, _RIGHT}),
    _AWAY: ({_AWAY}, {_CAMERA, "in profile", _LEFT, _RIGHT}),
    "in profile": ({"in profile", _LEFT, _RIGHT}, {_CAMERA, _AWAY}),
    _LEFT: ({_LEFT}, {_RIGHT, _CAMERA, _AWAY}),
    _RIGHT: ({_RIGHT}, {_LEFT, _CAMERA, _AWAY}),
}
TORSO_RULES = {
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
