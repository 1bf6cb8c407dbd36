"""The typed core: value semantics and JSON round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest

import kpit
from kpit.layouts import COCO_17, COCO_WHOLEBODY, KeypointLayout, layout_from_category
from kpit.types import Box, ImageContext, Keypoint, ObjectBox, Person, Sample, Turn


def test_box_geometry() -> None:
    box = Box(0.1, 0.2, 0.5, 0.6)
    assert box.width == pytest.approx(0.4)
    assert box.height == pytest.approx(0.4)
    assert box.center == pytest.approx((0.3, 0.4))
    assert Box.from_list(box.to_list()) == box


def test_person_builds_named_keypoints_lazily() -> None:
    array = np.zeros((17, 3))
    array[COCO_17.index("left_wrist")] = [0.25, 0.5, 1]
    person = Person(Box(0, 0, 1, 1), array)
    assert person.num_keypoints == 1
    assert person.keypoint("left_wrist") == Keypoint("left_wrist", 0.25, 0.5, 1)
    assert [kp.name for kp in person.labelled_keypoints()] == ["left_wrist"]
    assert len(person.keypoints) == 17
    assert person.keypoints[0] == Keypoint("nose", 0.0, 0.0, 0)
    with pytest.raises(KeyError):
        person.keypoint("tail")


def test_person_equality_compares_arrays() -> None:
    a = Person(Box(0, 0, 1, 1), np.ones((17, 3)))
    assert a == Person(Box(0, 0, 1, 1), np.ones((17, 3)))
    assert a != Person(Box(0, 0, 1, 1), np.zeros((17, 3)))


@pytest.mark.parametrize(
    "keypoints", ["person_keypoints_val2017.json", "coco_wholebody_val_v1.0.json"]
)
def test_contexts_round_trip_through_json(sample_annotations, keypoints: str) -> None:
    contexts = kpit.load_coco(
        keypoints=sample_annotations / keypoints,
        captions=sample_annotations / "captions_val2017.json",
        instances=sample_annotations / "instances_val2017.json",
    )
    for ctx in contexts:
        again = ImageContext.from_dict(json.loads(json.dumps(ctx.to_dict())))
        assert again == ctx
        assert all(p.layout is contexts.layout for p in again.people)


def test_custom_layout_round_trips_in_full() -> None:
    layout = KeypointLayout("hand", ("a", "b"), ((0, 1),))
    person = Person(Box(0, 0, 1, 1), np.array([[0.1, 0.2, 2], [0.3, 0.4, 1]]), layout)
    data = person.to_dict()
    assert data["layout"] == {"name": "hand", "names": ["a", "b"], "skeleton": [[0, 1]]}
    assert Person.from_dict(data) == person


def test_known_layouts() -> None:
    assert len(COCO_WHOLEBODY) == 133
    assert COCO_WHOLEBODY.names[:17] == COCO_17.names
    assert COCO_WHOLEBODY.names[17] == "left_big_toe"
    assert COCO_WHOLEBODY.names[91] == "left_hand_root"
    assert COCO_WHOLEBODY.names[112] == "right_hand_root"
    n = len(COCO_WHOLEBODY)
    assert all(0 <= a < n and 0 <= b < n for a, b in COCO_WHOLEBODY.skeleton)
    category = {
        "name": "person",
        "keypoints": list(COCO_17.names),
        "skeleton": [[a + 1, b + 1] for a, b in COCO_17.skeleton],
    }
    assert layout_from_category(category) is COCO_17
    with pytest.raises(ValueError, match="outside"):
        layout_from_category({"keypoints": ["a"], "skeleton": [[1, 2]]})


def test_object_box_reads_llava_records() -> None:
    obj = ObjectBox.from_dict({"category": "donut", "bbox": [0.37, 0.584, 0.504, 0.709]})
    assert obj == ObjectBox("donut", Box(0.37, 0.584, 0.504, 0.709))
    assert ObjectBox.from_dict(obj.to_dict()) == obj


def test_sample_round_trip() -> None:
    sample = Sample(
        "1-conv",
        "1.jpg",
        "conversation",
        (Turn("human", "What is she doing?"), Turn("gpt", "Skiing.")),
        {"seed": 0},
    )
    assert Sample.from_dict(json.loads(json.dumps(sample.to_dict()))) == sample
