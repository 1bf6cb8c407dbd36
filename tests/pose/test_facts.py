"""Pose facts: synthetic skeletons for each rule's edges, and the real people of the sample."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

import kpit
from kpit.layouts import COCO_17, KeypointLayout
from kpit.pose.facts import PoseFacts, pose_facts, pose_facts_batch, pose_measures, pose_notes
from kpit.types import Box, ImageContext, ObjectBox, Person

SIZE = 1000  # synthetic people live in a 1000 x 1000 image, so pixels / 1000 = normalised

# A person standing straight, facing the camera: their left side on the image's right.
STANDING = {
    "nose": (500, 100), "left_eye": (510, 90), "right_eye": (490, 90),
    "left_ear": (522, 96), "right_ear": (478, 96),
    "left_shoulder": (560, 180), "right_shoulder": (440, 180),
    "left_elbow": (575, 280), "right_elbow": (425, 280),
    "left_wrist": (580, 370), "right_wrist": (420, 370),
    "left_hip": (540, 380), "right_hip": (460, 380),
    "left_knee": (540, 550), "right_knee": (460, 550),
    "left_ankle": (540, 720), "right_ankle": (460, 720),
}  # fmt: skip

Points = dict[str, tuple[float, float]]


def person(points: Points, hidden: tuple[str, ...] = (), size: int = SIZE) -> Person:
    """A COCO-17 person from pixel points; names in ``hidden`` get visibility 1."""
    array = np.zeros((17, 3))
    for name, (x, y) in points.items():
        array[COCO_17.index(name)] = [round(x / size, 3), round(y / size, 3),
                                      1 if name in hidden else 2]  # fmt: skip
    xs = [x for x, _ in points.values()] or [0]
    ys = [y for _, y in points.values()] or [0]
    box = Box(min(xs) / size, min(ys) / size, max(xs) / size, max(ys) / size)
    return Person(box, array, COCO_17, None, (size, size))


def facts_of(points: Points, **kwargs: object) -> PoseFacts:
    return pose_facts(person(points, **kwargs))  # type: ignore[arg-type]


def mirrored(points: Points) -> Points:
    """The mirror image, relabelled so left and right stay the person's own."""
    swap = {"left": "right", "right": "left"}
    out = {}
    for name, (x, y) in points.items():
        side, _, rest = name.partition("_")
        out[f"{swap[side]}_{rest}" if side in swap else name] = (SIZE - x, y)
    return out


def rotated(points: Points, degrees: float, centre: tuple[float, float] = (500, 450)) -> Points:
    a = math.radians(degrees)
    cx, cy = centre
    return {
        n: (cx + (x - cx) * math.cos(a) - (y - cy) * math.sin(a),
            cy + (x - cx) * math.sin(a) + (y - cy) * math.cos(a))
        for n, (x, y) in points.items()
    }  # fmt: skip


def with_elbow_angle(points: Points, side: str, angle: float) -> Points:
    """Move the wrist so that the interior angle at the elbow is ``angle`` degrees."""
    sx, sy = points[f"{side}_shoulder"]
    ex, ey = points[f"{side}_elbow"]
    upper = math.atan2(sy - ey, sx - ex)  # direction elbow -> shoulder
    turn = math.radians(angle) * (1 if side == "left" else -1)
    direction = upper + turn
    out = dict(points)
    out[f"{side}_wrist"] = (ex + 95 * math.cos(direction), ey + 95 * math.sin(direction))
    return out


# --- one rule at a time ------------------------------------------------------------------


def test_standing_person_facing_the_camera() -> None:
    facts = facts_of(STANDING)
    assert facts.labels("posture") == ["standing"]
    assert facts.labels("body") == ["facing the camera"]
    assert facts.labels("torso") == ["upright"]
    assert facts.labels("arm") == ["at the side", "at the side"]
    for joint in ("elbow", "knee", "hip"):
        assert facts.labels(joint) == ["straight", "straight"], joint
    assert facts.find("elbow", "left").text == "their left elbow is straight"
    assert "left" in str(facts) and str(facts) == "; ".join(f.text for f in facts)
    assert all(0 < f.confidence <= 1 for f in facts)


@pytest.mark.parametrize(
    ("angle", "label"),
    [(175, "straight"), (148, "slightly bent"), (120, "bent"), (90, "bent at about a right angle"),
     (45, "sharply bent"), (159, None), (136, None), (103, None), (76, None)],
)  # fmt: skip
def test_elbow_bins_and_their_ignore_bands(angle: float, label: str | None) -> None:
    facts = facts_of(with_elbow_angle(STANDING, "left", angle))
    assert facts.labels("elbow", "left") == ([label] if label else [])
    if label is None:
        assert "left elbow" not in str(facts)
    else:
        assert facts.find("elbow", "left").value == pytest.approx(angle, abs=1.5)


def test_a_rotated_person_keeps_its_joint_angles() -> None:
    bent = with_elbow_angle(with_elbow_angle(STANDING, "left", 120), "right", 90)
    upright = facts_of(bent)
    for degrees in (30, -45, 90, 180):
        turned = facts_of(rotated(bent, degrees))
        for joint in ("elbow", "knee"):
            for side in ("left", "right"):
                assert turned.find(joint, side).value == pytest.approx(
                    upright.find(joint, side).value, abs=1.0
                )
                assert turned.labels(joint, side) == upright.labels(joint, side)


def test_a_mirror_image_swaps_left_and_right() -> None:
    pose = with_elbow_angle(STANDING, "right", 90)
    pose["left_elbow"], pose["left_wrist"] = (580, 120), (590, 30)  # left hand above the head
    facts, mirror = facts_of(pose), facts_of(mirrored(pose))
    assert facts.labels("arm", "left") == ["hand above the head"]
    assert facts.labels("elbow", "right") == ["bent at about a right angle"]
    assert mirror.labels("arm", "right") == ["hand above the head"]
    assert mirror.labels("elbow", "left") == ["bent at about a right angle"]
    assert mirror.find("arm", "right").text == "their right hand is raised above their head"


def test_missing_points_give_unknown_not_a_guess() -> None:
    pose = {k: v for k, v in STANDING.items() if k != "left_wrist"}
    facts = facts_of(pose)
    assert facts.labels("elbow", "left") == []
    assert facts.labels("arm", "left") == []
    assert facts.labels("elbow", "right") == ["straight"]
    legless = {k: v for k, v in STANDING.items() if "knee" not in k and "ankle" not in k}
    facts = facts_of(legless)
    assert facts.labels("posture") == [] and facts.labels("knee") == []
    assert list(facts_of({})) == []


def test_a_foreshortened_forearm_makes_the_elbow_unknown() -> None:
    pose = dict(STANDING)
    ex, ey = pose["left_elbow"]
    pose["left_wrist"] = (ex + 5, ey + 18)  # pointing at the camera: a fifth of its length
    assert facts_of(pose).labels("elbow", "left") == []
    assert facts_of(pose).labels("elbow", "right") == ["straight"]


def test_occluded_points_lower_the_confidence() -> None:
    clear = facts_of(STANDING).find("elbow", "left").confidence
    hidden = facts_of(STANDING, hidden=("left_wrist",)).find("elbow", "left").confidence
    assert hidden < clear
    assert hidden == pytest.approx(0.6 * clear)


def test_geometry_is_in_pixels_not_normalised_units() -> None:
    """The same pixels in a wider image give the same angles, though x is normalised apart."""
    pose = with_elbow_angle(STANDING, "left", 90)
    square = person(pose)
    array = square.keypoint_array.copy()
    array[:, 0] /= 2  # the same pixels, normalised by a width of 2000
    wide = Person(Box(0, 0, 1, 1), array, COCO_17, None, (2 * SIZE, SIZE))
    for side in ("left", "right"):
        assert pose_facts(wide).find("elbow", side).value == pytest.approx(
            pose_facts(square).find("elbow", side).value, abs=1.0
        )
    assert pose_facts(wide).find("elbow", "left").value == pytest.approx(90, abs=1.5)
    # read as if the image were square, the same numbers would give another angle
    squashed = Person(Box(0, 0, 1, 1), array, COCO_17, None, (SIZE, SIZE))
    angle = pose_measures([squashed]).joints["left_elbow"].value[0]
    assert not abs(angle - 90) < 10  # another angle, or unknown (nan)


SITTING_SIDE = {  # sitting on a chair, seen from the person's left, facing the image's right
    "nose": (560, 100), "left_eye": (552, 92), "left_ear": (520, 96),
    "left_shoulder": (500, 180), "right_shoulder": (505, 178),
    "left_elbow": (510, 280), "right_elbow": (515, 278),
    "left_wrist": (580, 330), "right_wrist": (585, 328),
    "left_hip": (500, 380), "right_hip": (505, 378),
    "left_knee": (670, 385), "right_knee": (675, 383),
    "left_ankle": (670, 555), "right_ankle": (675, 553),
}  # fmt: skip


def test_sitting_in_profile() -> None:
    facts = facts_of(SITTING_SIDE)
    assert facts.labels("posture") == ["sitting"]
    assert facts.labels("body") == ["in profile, facing the right of the image"]
    assert facts.labels("knee", "left") == ["bent at about a right angle"]
    assert facts_of(mirrored(SITTING_SIDE)).labels("body") == [
        "in profile, facing the left of the image"
    ]


def test_squatting_crouching_and_kneeling() -> None:
    squat = dict(SITTING_SIDE)
    squat.update({"left_hip": (540, 560), "right_hip": (545, 558), "left_knee": (650, 470),
                  "right_knee": (655, 468), "left_ankle": (560, 620), "right_ankle": (565, 618),
                  "left_shoulder": (520, 370), "right_shoulder": (525, 368),
                  "left_elbow": (560, 460), "right_elbow": (565, 458),
                  "left_wrist": (640, 480), "right_wrist": (645, 478),
                  "nose": (580, 290), "left_eye": (572, 282), "left_ear": (540, 286)})  # fmt: skip
    assert facts_of(squat).labels("posture") == ["squatting"]

    crouch = dict(SITTING_SIDE)
    crouch.update({"left_knee": (620, 510), "right_knee": (625, 508),
                   "left_ankle": (560, 660), "right_ankle": (565, 658)})  # fmt: skip
    assert facts_of(crouch).labels("posture") == ["crouching"]

    kneel = dict(SITTING_SIDE)
    kneel.update({"left_knee": (505, 560), "right_knee": (510, 558),
                  "left_ankle": (340, 570), "right_ankle": (345, 568)})  # fmt: skip
    assert facts_of(kneel).labels("posture") == ["kneeling"]


def test_walking_lying_and_bent_over() -> None:
    stride = dict(SITTING_SIDE)
    stride.update({"left_knee": (560, 550), "right_knee": (450, 545),
                   "left_ankle": (610, 720), "right_ankle": (380, 715)})  # fmt: skip
    assert facts_of(stride).labels("posture") == ["walking"]
    assert facts_of(stride).find("posture").text == "walking or striding, with the feet apart"

    lying = facts_of(rotated(STANDING, 90))
    assert lying.labels("posture") == ["lying"]
    assert lying.labels("torso") == ["lying"]

    bent = dict(SITTING_SIDE)
    bent.update({"left_knee": (500, 550), "right_knee": (505, 548),
                 "left_ankle": (500, 720), "right_ankle": (505, 718),
                 "left_shoulder": (700, 390), "right_shoulder": (705, 388),
                 "nose": (790, 420), "left_eye": (785, 410), "left_ear": (760, 400),
                 "left_elbow": (710, 500), "right_elbow": (715, 498),
                 "left_wrist": (715, 590), "right_wrist": (720, 588)})  # fmt: skip
    assert facts_of(bent).labels("torso") == ["bent over"]


def test_leaning_forward_in_profile() -> None:
    lean = rotated(SITTING_SIDE, 35, centre=SITTING_SIDE["left_hip"])
    lean.update({k: SITTING_SIDE[k] for k in ("left_knee", "right_knee", "left_ankle",
                                              "right_ankle", "left_hip", "right_hip")})  # fmt: skip
    facts = facts_of(lean)
    assert facts.labels("torso") == ["leaning forward"]
    assert facts_of(mirrored(lean)).labels("torso") == ["leaning forward"]


def test_arm_positions() -> None:
    out = dict(STANDING)
    out.update({"left_elbow": (660, 185), "left_wrist": (755, 190),
                "right_elbow": (440, 90), "right_wrist": (440, 0)})  # fmt: skip
    facts = facts_of(out)
    assert facts.labels("arm", "left") == ["stretched out to the side"]
    assert facts.labels("arm", "right") == ["hand above the head"]

    raised = dict(STANDING)
    raised.update({"left_elbow": (640, 130), "left_wrist": (700, 80)})
    assert facts_of(raised).labels("arm", "left") == ["raised above the shoulder"]

    forward = dict(SITTING_SIDE)
    forward.update({"left_elbow": (600, 185), "left_wrist": (695, 190)})
    assert facts_of(forward).labels("arm", "left") == ["stretched out forward"]
    backward = dict(SITTING_SIDE)
    backward.update({"left_elbow": (400, 185), "left_wrist": (305, 190)})
    assert facts_of(backward).labels("arm", "left") == ["stretched out backward"]


def test_facing_away_and_head_turned() -> None:
    away = mirrored(STANDING)
    away = {n: (SIZE - x, y) for n, (x, y) in away.items()}  # left shoulder on the image's left
    back = {k: v for k, v in away.items() if k not in ("nose", "left_eye", "right_eye")}
    facts = facts_of(back)
    assert facts.labels("body") == ["facing away from the camera"]
    looking_back = dict(back, nose=away["nose"], left_eye=away["left_eye"],
                        right_eye=away["right_eye"])  # fmt: skip
    turned = facts_of(looking_back)
    assert turned.labels("body") == ["facing away from the camera"]
    assert turned.find("head").text == "their head is turned towards the camera"


def test_other_layouts_without_body_names_give_no_facts() -> None:
    layout = KeypointLayout("hand", ("wrist", "thumb"))
    hand = Person(Box(0, 0, 1, 1), np.array([[0.1, 0.1, 2], [0.2, 0.2, 2]]), layout, None, (9, 9))
    assert list(pose_facts(hand)) == []


# --- relations -------------------------------------------------------------------------------


def _context(people: list[Person], objects: list[ObjectBox]) -> ImageContext:
    return ImageContext(1, "a.jpg", SIZE, SIZE, (), tuple(objects), tuple(people))


def test_hand_near_a_small_object_but_not_inside_a_huge_box() -> None:
    me = person(STANDING)
    bat = ObjectBox("baseball bat", Box(0.57, 0.35, 0.7, 0.39))
    umbrella = ObjectBox("umbrella", Box(0.0, 0.0, 1.0, 0.9))
    facts = pose_facts(me, _context([me], [bat, umbrella]))
    near = [f for f in facts if f.relation == "near"]
    assert [(f.side, f.target) for f in near] == [("left", "baseball bat")]
    assert near[0].text == "their left hand is near the baseball bat"


def test_sitting_on_a_chair_and_feet_on_skis() -> None:
    sitter = person(SITTING_SIDE)
    chair = ObjectBox("chair", Box(0.45, 0.35, 0.7, 0.6))
    facts = pose_facts(sitter, _context([sitter], [chair]))
    assert facts.find("hips", relation="on").text == "they are sitting on the chair"
    stander = person(STANDING)
    skis = ObjectBox("skis", Box(0.3, 0.7, 0.8, 0.75))
    assert pose_facts(stander, _context([stander], [chair, skis])).find("feet").target == "skis"
    assert [
        f for f in pose_facts(stander, _context([stander], [chair])) if f.relation == "on"
    ] == []


def test_relations_between_people() -> None:
    near = person(STANDING)
    far = person({n: (x / 2 + 320, y / 2) for n, (x, y) in STANDING.items()})
    facts = pose_facts(near, _context([near, far], []))
    assert facts.find("position", relation="in front of").target == "person 2"
    assert facts.find("position", relation="left of").text == (
        "the nearest person further right in the image is person 2"
    )
    other = pose_facts(far, _context([near, far], []))
    assert other.find("position", relation="right of").target == "person 1"
    assert [f for f in other if f.relation == "in front of"] == []


# --- the real sample ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_facts() -> dict[tuple[int, int], PoseFacts]:
    contexts = kpit.load_coco(Path(__file__).parents[2] / "examples/data/coco-sample")
    return {
        (ctx.image_id, n): facts
        for ctx, people in zip(contexts, pose_facts_batch(contexts), strict=True)
        for n, facts in enumerate(people, start=1)
    }


def test_the_skier_stands_facing_the_camera_on_her_skis(sample_facts: dict) -> None:
    skier = sample_facts[785, 1]
    assert skier.labels("posture") == ["standing"]
    assert skier.labels("body") == ["facing the camera"]
    assert skier.find("feet").target == "skis"
    knees = skier.labels("knee")
    assert knees and all("bent" in k for k in knees)  # a skier's soft knees


def test_the_two_men_at_the_stall_sit(sample_facts: dict) -> None:
    left_man, right_man = sample_facts[40083, 1], sample_facts[40083, 2]
    assert left_man.labels("posture") == ["sitting"]
    assert left_man.find("hips", relation="on").target == "chair"
    assert left_man.find("head").label == "facing the camera"  # body turned, head to us
    assert right_man.labels("posture") == ["sitting"]
    assert right_man.labels("body") == ["facing the camera"]
    assert list(sample_facts[40083, 3].labels("posture")) == []  # no keypoints: no pose claims


def test_the_baseball_scene(sample_facts: dict) -> None:
    batter, catcher = sample_facts[196141, 1], sample_facts[196141, 4]
    assert batter.find("hand", "left").target == "baseball bat"
    assert batter.find("head").label == "in profile, facing the left of the image"
    assert catcher.labels("posture") == ["squatting"]
    assert catcher.labels("body") == ["facing away from the camera"]
    assert catcher.labels("arm", "left") == ["raised above the shoulder"]  # glove up
    assert catcher.find("hand", "left").target == "baseball glove"
    assert catcher.labels("knee") == ["sharply bent", "sharply bent"]
    for onlooker in (sample_facts[196141, 2], sample_facts[196141, 5]):
        assert onlooker.labels("posture") == ["standing"]
        assert onlooker.labels("body") == ["facing the camera"]
    # the man on the right has his arms folded: both elbows bent hard
    assert sample_facts[196141, 2].labels("elbow") == ["bent at about a right angle",
                                                       "sharply bent"]  # fmt: skip


def test_the_cross_country_skiers(sample_facts: dict) -> None:
    for racer in (sample_facts[197388, 1], sample_facts[197388, 4]):  # the two in mid-stride
        assert racer.labels("posture") == ["walking"]
        assert racer.labels("torso") == ["leaning towards the right of the image"]
        assert racer.find("feet").target == "skis"
    for upright in (sample_facts[197388, 3], sample_facts[197388, 5]):
        assert upright.labels("posture") == ["standing"]


# --- batch, notes and prompts -------------------------------------------------------------------


def test_batch_equals_one_at_a_time(sample_root: Path) -> None:
    contexts = kpit.load_coco(sample_root)
    for ctx, batch in zip(contexts, pose_facts_batch(contexts), strict=True):
        for p, facts in zip(ctx.people, batch, strict=True):
            assert str(pose_facts(p, ctx)) == str(facts)


def test_wholebody_people_get_the_same_body_facts(sample_annotations: Path) -> None:
    body = kpit.load_coco(keypoints=sample_annotations / "person_keypoints_val2017.json")
    whole = kpit.load_coco(keypoints=sample_annotations / "coco_wholebody_val_v1.0.json")
    for a, b in zip(pose_facts_batch(body), pose_facts_batch(whole), strict=True):
        assert [str(f) for f in a] == [str(f) for f in b]


def test_pose_notes_have_no_numbers(sample_root: Path) -> None:
    contexts = kpit.load_coco(sample_root)
    for ctx in contexts:
        notes = pose_notes(ctx)
        assert not re.search(r"\d", notes), notes
    notes = pose_notes(contexts.get(196141))
    assert notes.splitlines()[3].startswith("The fourth person: squatting; facing away")
    assert "in front of the second person" in notes


def test_contexts_carry_pose_notes_only_when_asked(sample_root: Path) -> None:
    ctx = kpit.load_coco(sample_root).get(40083)
    for style in ("paper", "compact"):
        plain = kpit.render_context(ctx, style)
        noted = kpit.render_context(ctx, style, pose_notes=True)
        assert "Pose notes" not in plain
        assert noted.startswith(plain)
        assert noted[len(plain) :].startswith("\n\nPose notes:\nThe first person: sitting;")


# --- edge cases ------------------------------------------------------------------------------


def test_other_layouts_with_objects_get_no_object_relations() -> None:
    layout = KeypointLayout("hand", ("wrist", "thumb"))
    hand = Person(Box(0, 0, 1, 1), np.array([[0.1, 0.1, 2], [0.2, 0.2, 2]]), layout, None, (9, 9))
    ctx = ImageContext(1, "a.jpg", 9, 9, (), (ObjectBox("cup", Box(0, 0, 0.5, 0.5)),), (hand,))
    assert [f.relation for f in pose_facts(hand, ctx)] == []
    assert pose_notes(ctx) == ""


def test_every_fact_has_some_confidence() -> None:
    arms_up = {k: v for k, v in STANDING.items() if "shoulder" not in k}
    arms_up.update({"left_elbow": (580, 60), "left_wrist": (590, -30)})
    assert all(f.confidence > 0 for f in facts_of(arms_up))
    assert facts_of(arms_up).labels("arm", "left") == []  # no shoulder, no arm position
    collapsed = dict.fromkeys(STANDING, (500.0, 500.0))
    assert list(facts_of(collapsed)) == []  # all points in one pixel: no body, no claims


def test_notes_name_people_past_the_tenth() -> None:
    people = [person({n: (x / 10 + 80 * k, y / 10 + 300) for n, (x, y) in STANDING.items()})
              for k in range(12)]  # fmt: skip
    notes = pose_notes(_context(people, []))
    assert "The twelfth person: standing" in notes
    assert "the eleventh person" in notes and "person1" not in notes
    assert not re.search(r"\d", notes)


def test_relations_without_image_size_on_the_person() -> None:
    near = person(STANDING)
    far = person({n: (x / 2 + 320, y / 2) for n, (x, y) in STANDING.items()})
    bare = Person(near.box, near.keypoint_array, COCO_17, None, None)
    ctx = _context([bare, far], [])
    assert pose_facts(bare, ctx).find("position", relation="in front of").target == "person 2"


def test_in_profile_an_arm_is_never_out_to_the_side() -> None:
    faceless = {k: v for k, v in SITTING_SIDE.items() if k not in ("nose", "left_eye")}
    faceless.update(
        {
            "left_elbow": (600, 185),
            "left_wrist": (695, 190),
            "left_knee": (500, 550),
            "right_knee": (505, 548),
            "left_ankle": (500, 720),
            "right_ankle": (505, 718),
        }
    )  # standing straight
    facts = facts_of(faceless)
    assert facts.labels("body") == ["in profile"]
    assert "stretched out to the side" not in facts.labels("arm", "left")


def test_lean_follows_the_body_not_the_turned_head() -> None:
    lean = rotated(SITTING_SIDE, 35, centre=SITTING_SIDE["left_hip"])
    lean.update({k: SITTING_SIDE[k] for k in ("left_knee", "right_knee", "left_ankle",
                                              "right_ankle", "left_hip", "right_hip")})  # fmt: skip
    hx, hy = lean["left_ear"]
    lean["nose"] = (hx - 40, hy + 4)  # looking back over the shoulder, to the image's left
    lean["left_eye"] = (hx - 30, hy - 4)
    facts = facts_of(lean)
    assert facts.labels("torso") == ["leaning forward"]
