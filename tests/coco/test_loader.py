"""Loading COCO files into contexts: the real sample, options, and every kind of bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import kpit
from kpit.coco.loader import coco_files
from kpit.layouts import COCO_17, COCO_WHOLEBODY

from ..conftest import PERSON_CATEGORY, WriteCoco, person_annotation

SAMPLE_IDS = [785, 40083, 196141, 197388]


def _raw(path: Path) -> dict:
    return json.loads(path.read_text())


def test_loads_the_real_sample(sample_root: Path) -> None:
    contexts = kpit.load_coco(sample_root, split="val2017")
    assert contexts.image_ids == SAMPLE_IDS
    assert len(contexts) == 4
    assert contexts.layout is COCO_17
    assert [len(ctx.people) for ctx in contexts] == [1, 3, 5, 5]
    assert all(len(ctx.captions) == 5 for ctx in contexts)
    skier = contexts.get(785)
    assert (skier.width, skier.height, skier.file_name) == (640, 425, "000000000785.jpg")
    assert [o.category for o in skier.objects] == ["skis"]
    assert contexts.image_path(skier) == sample_root / "val2017" / "000000000785.jpg"
    assert contexts.image_path(skier).is_file()
    assert contexts.stats.people == 14
    assert contexts.stats.people_without_keypoints == 2
    assert contexts.stats.clamped_values == 0


def test_coordinates_follow_llava_normalisation(sample_annotations: Path) -> None:
    """Every value equals round(pixel / size, 3), boxes as [x1, y1, x2, y2]."""
    raw = _raw(sample_annotations / "person_keypoints_val2017.json")
    sizes = {img["id"]: (img["width"], img["height"]) for img in raw["images"]}
    contexts = kpit.load_coco(keypoints=sample_annotations / "person_keypoints_val2017.json")
    people = {p.annotation_id: p for ctx in contexts for p in ctx.people}
    assert len(people) == len(raw["annotations"])
    for ann in raw["annotations"]:
        w, h = sizes[ann["image_id"]]
        person = people[ann["id"]]
        x, y, bw, bh = ann["bbox"]
        expected = [
            round(x / w, 3),
            round(y / h, 3),
            round((x + bw) / w, 3),
            round((y + bh) / h, 3),
        ]
        assert person.box.to_list() == pytest.approx(expected, abs=1e-9)
        triples = np.reshape(ann["keypoints"], (-1, 3)).tolist()
        for kp, (px, py, v) in zip(person.keypoints, triples, strict=True):
            assert kp.visibility == v
            if v:
                assert (kp.x, kp.y) == pytest.approx((round(px / w, 3), round(py / h, 3)), abs=1e-9)
            else:
                assert (kp.x, kp.y) == (0.0, 0.0)


def test_people_from_instances_are_not_repeated_as_objects(sample_root: Path) -> None:
    contexts = kpit.load_coco(sample_root)
    categories = [o.category for ctx in contexts for o in ctx.objects]
    assert "person" not in categories
    assert contexts.stats.objects == 21
    baseball = contexts.get(196141)
    assert {"baseball bat", "baseball glove", "sports ball"} <= {
        o.category for o in baseball.objects
    }


def test_without_keypoints_people_are_person_boxes(sample_annotations: Path) -> None:
    contexts = kpit.load_coco(instances=sample_annotations / "instances_val2017.json")
    assert contexts.layout is None
    ctx = contexts.get(196141)
    assert ctx.people == ()
    assert sum(o.category == "person" for o in ctx.objects) == 5
    assert ctx.captions == ()


def test_any_file_may_be_absent(sample_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    shutil.copy(sample_root / "annotations" / "captions_val2017.json", root / "annotations")
    files = coco_files(root, "val2017")
    assert files.captions is not None and files.instances is None and files.keypoints is None
    contexts = kpit.load_coco(root, "val2017")
    assert [ctx.people for ctx in contexts] == [()] * 4
    assert contexts.get(40083).captions[0].startswith("A black and white photo")
    assert contexts.files.images is None
    with pytest.raises(kpit.ConfigError, match="image folder"):
        contexts.image_path(contexts[0])


def test_explicit_files_override_the_layout(sample_root: Path, sample_annotations: Path) -> None:
    wholebody = sample_annotations / "coco_wholebody_val_v1.0.json"
    contexts = kpit.load_coco(sample_root, keypoints=wholebody)
    assert contexts.layout is COCO_WHOLEBODY
    assert contexts.files.keypoints == wholebody
    assert contexts.files.captions == sample_annotations / "captions_val2017.json"


def test_wholebody_has_133_named_points_matching_the_body_file(sample_annotations: Path) -> None:
    body = kpit.load_coco(keypoints=sample_annotations / "person_keypoints_val2017.json")
    whole = kpit.load_coco(keypoints=sample_annotations / "coco_wholebody_val_v1.0.json")
    assert whole.layout is COCO_WHOLEBODY
    for ctx_body, ctx_whole in zip(body, whole, strict=True):
        for p_body, p_whole in zip(ctx_body.people, ctx_whole.people, strict=True):
            assert len(p_whole.keypoints) == 133
            assert (p_whole.keypoint_array[:17] == p_body.keypoint_array).all()
    skier = whole.get(785).people[0]
    assert skier.keypoint("left_heel").visible
    assert skier.keypoint("right_hand_root").labelled
    assert not skier.keypoint("left_hand_root").labelled  # lefthand_valid is false there
    assert skier.keypoint("face_0").visibility == 1


def test_min_people_counts_people_with_keypoints(sample_root: Path) -> None:
    # 40083 has 3 people, one without keypoints; 196141 has 5, one without.
    assert kpit.load_coco(sample_root, min_people=3).image_ids == [196141, 197388]
    assert kpit.load_coco(sample_root, min_people=5).image_ids == [197388]
    assert kpit.load_coco(sample_root, min_people=2).image_ids == [40083, 196141, 197388]
    loaded = kpit.load_coco(sample_root, min_people=5)
    assert loaded.stats.images == 1 and loaded.stats.images_filtered == 3


def test_min_keypoints_drops_sparse_people(sample_root: Path) -> None:
    loaded = kpit.load_coco(sample_root, min_keypoints=16)
    kept = [p.num_keypoints for ctx in loaded for p in ctx.people]
    assert kept and min(kept) >= 16
    assert loaded.stats.people_below_min_keypoints == 14 - len(kept)


def test_limit_and_image_ids(sample_root: Path) -> None:
    assert kpit.load_coco(sample_root, limit=2).image_ids == [785, 40083]
    assert kpit.load_coco(sample_root, image_ids=[197388, 785]).image_ids == [785, 197388]
    assert kpit.load_coco(sample_root, image_ids=[1]).image_ids == []
    contexts = kpit.load_coco(sample_root)
    assert [c.image_id for c in contexts[1:3]] == [40083, 196141]
    with pytest.raises(KeyError):
        contexts.get(1)


def _crowd_files(write_coco: WriteCoco) -> Path:
    crowd = person_annotation(2, 1, bbox=[0, 0, 100, 50], iscrowd=1)
    person = person_annotation(1, 1, {"nose": (50, 50, 2)})
    return write_coco("kp.json", annotations=[person, crowd], categories=[PERSON_CATEGORY])


def test_crowd_regions_are_skipped_or_kept(write_coco: WriteCoco) -> None:
    path = _crowd_files(write_coco)
    skipped = kpit.load_coco(keypoints=path)
    assert len(skipped[0].people) == 1 and skipped[0].objects == ()
    assert skipped.stats.crowd_regions == skipped.stats.crowd_skipped == 1
    kept = kpit.load_coco(keypoints=path, crowd="keep")
    assert len(kept[0].people) == 1
    (region,) = kept[0].objects
    assert region.iscrowd and region.category == "person"
    assert region.box.to_list() == [0.0, 0.0, 0.5, 0.5]
    assert kept.stats.crowd_skipped == 0


def test_crowd_objects_in_instances(write_coco: WriteCoco) -> None:
    cats = [{"id": 5, "name": "banana"}]
    anns = [
        {"id": 1, "image_id": 1, "category_id": 5, "bbox": [0, 0, 20, 10], "iscrowd": 1},
        {"id": 2, "image_id": 1, "category_id": 5, "bbox": [0, 0, 20, 10], "iscrowd": 0},
    ]
    path = write_coco("inst.json", annotations=anns, categories=cats)
    assert len(kpit.load_coco(instances=path)[0].objects) == 1
    kept = kpit.load_coco(instances=path, crowd="keep")[0].objects
    assert [o.iscrowd for o in kept] == [True, False]


def test_values_outside_the_image_are_clamped_and_counted(write_coco: WriteCoco) -> None:
    ann = person_annotation(
        1,
        1,
        {"nose": (250.0, 50.0, 2), "left_eye": (-3.0, 120.0, 1), "right_eye": (100, 50, 2)},
        bbox=[150.0, 10.0, 80.0, 20.0],
    )
    path = write_coco("kp.json", annotations=[ann], categories=[PERSON_CATEGORY])
    contexts = kpit.load_coco(keypoints=path)
    person = contexts[0].people[0]
    assert (person.keypoint("nose").x, person.keypoint("nose").y) == (1.0, 0.5)
    assert (person.keypoint("left_eye").x, person.keypoint("left_eye").y) == (0.0, 1.0)
    assert person.keypoint("right_eye").x == 0.5
    assert person.box.to_list() == [0.75, 0.1, 1.0, 0.3]
    assert contexts.stats.clamped_values == 4  # nose x, eye x and y, box x2


def test_images_without_annotations_are_kept(write_coco: WriteCoco) -> None:
    images = [
        {"id": 3, "file_name": "c.jpg", "width": 10, "height": 10},
        {"id": 1, "file_name": "a.jpg", "width": 10, "height": 10},
    ]
    path = write_coco("kp.json", images=images, categories=[PERSON_CATEGORY])
    contexts = kpit.load_coco(keypoints=path)
    assert contexts.image_ids == [1, 3]
    assert contexts[1].people == ()


def test_other_keypoint_sets_use_the_files_names(write_coco: WriteCoco) -> None:
    category = {
        "id": 7,
        "name": "hand",
        "keypoints": ["wrist", "thumb", "index"],
        "skeleton": [[1, 2], [1, 3]],
    }
    ann = {
        "id": 1,
        "image_id": 1,
        "category_id": 7,
        "bbox": [0, 0, 10, 10],
        "keypoints": [20, 10, 2, 40, 20, 1, 0, 0, 0],
    }
    path = write_coco("hand.json", annotations=[ann], categories=[category])
    contexts = kpit.load_coco(keypoints=path)
    assert contexts.layout is not None and contexts.layout.names == ("wrist", "thumb", "index")
    assert contexts.layout.skeleton == ((0, 1), (0, 2))
    person = contexts[0].people[0]
    assert person.keypoint("thumb").to_dict() == {
        "name": "thumb",
        "x": 0.2,
        "y": 0.2,
        "visibility": 1,
    }


# --- bad input: one clear error naming the file, the record and the field ---------------


def _error(**kwargs: object) -> kpit.KpitError:
    with pytest.raises(kpit.KpitError) as info:
        kpit.load_coco(**kwargs)  # type: ignore[arg-type]
    return info.value


def test_missing_file(tmp_path: Path) -> None:
    err = _error(keypoints=tmp_path / "nope.json")
    assert isinstance(err, kpit.DataError)
    assert err.file == str(tmp_path / "nope.json") and "no such file" in str(err)


def test_missing_split(sample_root: Path) -> None:
    err = _error(root=sample_root, split="train2017")
    assert "person_keypoints_train2017.json" in str(err)
    assert err.file == str(sample_root / "annotations")


def test_invalid_json(write_coco: WriteCoco) -> None:
    path = write_coco("bad.json", raw='{"images": [1, 2,')
    err = _error(keypoints=path)
    assert err.file == str(path) and "invalid JSON" in str(err)


def test_not_a_coco_file(write_coco: WriteCoco) -> None:
    path = write_coco("list.json", raw="[]")
    assert "expected a JSON object" in str(_error(captions=path))
    path = write_coco("noann.json", raw='{"images": []}')
    err = _error(captions=path)
    assert err.field == "annotations"


def test_keypoint_count_mismatch(write_coco: WriteCoco) -> None:
    good = person_annotation(1, 1, {"nose": (1, 1, 2)})
    bad = person_annotation(2, 1)
    bad["keypoints"] = bad["keypoints"][:48]
    path = write_coco("kp.json", annotations=[good, bad], categories=[PERSON_CATEGORY])
    err = _error(keypoints=path)
    assert (err.file, err.record, err.field) == (str(path), "annotation 2", "keypoints")
    assert "51 values" in str(err) and "got 48 values" in str(err)


def test_annotation_for_unknown_image(write_coco: WriteCoco) -> None:
    ann = person_annotation(9, 42, {"nose": (1, 1, 2)})
    path = write_coco("kp.json", annotations=[ann], categories=[PERSON_CATEGORY])
    err = _error(keypoints=path)
    assert (err.record, err.field) == ("annotation 9", "image_id")
    assert "image 42" in str(err)


@pytest.mark.parametrize("field", ["width", "height"])
def test_zero_size_image(write_coco: WriteCoco, field: str) -> None:
    image = {"id": 5, "file_name": "z.jpg", "width": 10, "height": 10, field: 0}
    path = write_coco("cap.json", images=[image])
    err = _error(captions=path)
    assert (err.file, err.record, err.field) == (str(path), "image 5", field)


def test_image_record_without_file_name(write_coco: WriteCoco) -> None:
    path = write_coco("cap.json", images=[{"id": 5, "width": 10, "height": 10}])
    assert _error(captions=path).field == "file_name"


def test_images_disagreeing_between_files(write_coco: WriteCoco) -> None:
    caps = write_coco(
        "cap.json", images=[{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}]
    )
    kps = write_coco("kp.json", categories=[PERSON_CATEGORY])
    err = _error(captions=caps, keypoints=kps)
    assert err.record == "image 1" and "disagrees" in str(err)


def test_unknown_object_category(write_coco: WriteCoco) -> None:
    ann = {"id": 3, "image_id": 1, "category_id": 99, "bbox": [0, 0, 1, 1]}
    path = write_coco("inst.json", annotations=[ann], categories=[{"id": 1, "name": "cat"}])
    err = _error(instances=path)
    assert (err.record, err.field) == ("annotation 3", "category_id")


def test_missing_and_malformed_boxes(write_coco: WriteCoco) -> None:
    cats = [{"id": 1, "name": "cat"}]
    ann = {"id": 3, "image_id": 1, "category_id": 1}
    path = write_coco("inst.json", annotations=[ann], categories=cats)
    err = _error(instances=path)
    assert (err.record, err.field) == ("annotation 3", "bbox") and "missing" in str(err)
    ann["bbox"] = [0, 0, -5, 1]
    path = write_coco("inst2.json", annotations=[ann], categories=cats)
    assert "negative" in str(_error(instances=path))
    ann["bbox"] = [0, 0, "x", 1]
    path = write_coco("inst3.json", annotations=[ann], categories=cats)
    assert _error(instances=path).field == "bbox"


def test_caption_without_text(write_coco: WriteCoco) -> None:
    path = write_coco("cap.json", annotations=[{"id": 8, "image_id": 1}])
    err = _error(captions=path)
    assert (err.record, err.field) == ("annotation 8", "caption")


def test_keypoints_file_without_keypoint_category(write_coco: WriteCoco) -> None:
    path = write_coco("kp.json", categories=[{"id": 1, "name": "person"}])
    assert _error(keypoints=path).field == "categories"


def test_bad_options(sample_root: Path) -> None:
    assert _error(root=sample_root, crowd="maybe").field == "crowd"
    assert _error(root=sample_root, min_people=-1).field == "min_people"
    assert isinstance(_error(), kpit.ConfigError)


# --- records that would otherwise crash deep inside pycocotools or numpy -------------------


def _person_file(write_coco: WriteCoco, **changes: object) -> Path:
    ann = person_annotation(5, 1, {"nose": (1, 1, 2)})
    ann.update(changes)
    return write_coco("kp.json", annotations=[ann], categories=[PERSON_CATEGORY])


@pytest.mark.parametrize(
    ("changes", "record", "field"),
    [
        ({"image_id": None}, "annotation 5", "image_id"),
        ({"image_id": "1"}, "annotation 5", "image_id"),
        ({"category_id": 1.0}, "annotation 5", "category_id"),
        ({"id": [1]}, "annotations[0]", "id"),
        ({"id": 2**70}, "annotations[0]", "id"),
        ({"iscrowd": "1"}, "annotation 5", "iscrowd"),
        ({"keypoints": ["100"] + [0] * 50}, "annotation 5", "keypoints"),
        ({"bbox": [0, 0, "4", 4]}, "annotation 5", "bbox"),
    ],
)
def test_bad_annotation_fields(
    write_coco: WriteCoco, changes: dict, record: str, field: str
) -> None:
    path = _person_file(write_coco, **changes)
    err = _error(keypoints=path)
    assert isinstance(err, kpit.DataError)
    assert (err.file, err.record, err.field) == (str(path), record, field)


@pytest.mark.parametrize(
    ("image", "field"),
    [({"width": 0.5}, "width"), ({"height": 1e300}, "height"), ({"width": True}, "width"),
     ({"id": "1"}, "id")],
)  # fmt: skip
def test_bad_image_records(write_coco: WriteCoco, image: dict, field: str) -> None:
    record = {"id": 1, "file_name": "a.jpg", "width": 10, "height": 10} | image
    path = write_coco("cap.json", images=[record])
    assert _error(captions=path).field == field


def test_bad_category_and_image_lists(write_coco: WriteCoco) -> None:
    path = write_coco("kp.json", categories=[PERSON_CATEGORY, "x"])
    assert _error(keypoints=path).record == "categories[1]"
    path = write_coco("kp2.json", categories=[PERSON_CATEGORY, {"name": "dog"}])
    assert _error(keypoints=path).field == "id"
    path = write_coco("kp3.json", categories=[PERSON_CATEGORY, PERSON_CATEGORY])
    assert "appears twice" in str(_error(keypoints=path))
    images = [{"id": 1, "file_name": "a.jpg", "width": 9, "height": 9}] * 2
    path = write_coco("cap.json", images=images)
    assert "image id 1 appears twice" in str(_error(captions=path))
    path = write_coco("cap2.json", raw='{"images": [5], "annotations": []}')
    assert _error(captions=path).record == "images[0]"
    path = write_coco("cap3.json", raw='{"images": [], "annotations": [], "categories": 5}')
    assert _error(captions=path).field == "categories"
    bad_skeleton = PERSON_CATEGORY | {"skeleton": [[1, 2, 3]]}
    path = write_coco("kp4.json", categories=[bad_skeleton])
    assert _error(keypoints=path).field == "skeleton"


def test_positive_visibility_scores_are_labelled(write_coco: WriteCoco) -> None:
    ann = person_annotation(1, 1, {"nose": (50, 50, 2), "left_eye": (60, 50, 1)})
    ann["keypoints"][5] = 0.3  # a WholeBody-style score on the left eye
    ann["keypoints"][8] = -1  # and a negative one on the right eye, with coordinates
    ann["keypoints"][6:8] = [70, 50]
    path = write_coco("kp.json", annotations=[ann], categories=[PERSON_CATEGORY])
    loaded = kpit.load_coco(keypoints=path)
    person = loaded[0].people[0]
    assert person.keypoint("left_eye").visibility == 1
    assert person.keypoint("right_eye").visibility == 0
    assert loaded.stats.visibility_changed == 2


def test_wholebody_is_recognised_beyond_the_first_annotation(sample_annotations: Path,
                                                              tmp_path: Path) -> None:  # fmt: skip
    data = _raw(sample_annotations / "coco_wholebody_val_v1.0.json")
    first = data["annotations"][0]
    for part in ("foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts"):
        del first[part]
    data["annotations"] = data["annotations"][:1] + data["annotations"][1:]
    path = tmp_path / "wb.json"
    path.write_text(json.dumps(data))
    err = _error(keypoints=path)  # recognised as WholeBody, so the stripped one is named
    assert (err.record, err.field) == (f"annotation {first['id']}", "foot_kpts")


def test_explicit_file_with_a_root_that_holds_only_images(sample_root: Path,
                                                          tmp_path: Path) -> None:  # fmt: skip
    root = tmp_path / "coco"
    shutil.copytree(sample_root / "val2017", root / "val2017")
    loaded = kpit.load_coco(
        root, keypoints=sample_root / "annotations" / "person_keypoints_val2017.json"
    )
    assert len(loaded) == 4
    assert loaded.image_path(loaded[0]).is_file()


# --- pycocotools as the reference index -----------------------------------------------------


def test_the_loader_agrees_with_pycocotools_index(sample_root: Path) -> None:
    """kpit joins the files itself; pycocotools' own index must find the same records."""
    import contextlib
    import io

    from pycocotools.coco import COCO

    annotations = sample_root / "annotations"
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        keypoints = COCO(str(annotations / "person_keypoints_val2017.json"))
        instances = COCO(str(annotations / "instances_val2017.json"))
        captions = COCO(str(annotations / "captions_val2017.json"))
    person = keypoints.getCatIds(catNms=["person"])
    contexts = kpit.load_coco(sample_root)
    assert contexts.image_ids == sorted(keypoints.getImgIds())
    for ctx in contexts:
        image = keypoints.loadImgs([ctx.image_id])[0]
        assert (ctx.file_name, ctx.width, ctx.height) == (
            image["file_name"], image["width"], image["height"]
        )  # fmt: skip
        people = keypoints.loadAnns(keypoints.getAnnIds([ctx.image_id], person, iscrowd=False))
        labelled = {a["id"]: a for a in people}  # min_keypoints=0 keeps unlabelled people too
        assert sorted(p.annotation_id for p in ctx.people) == sorted(labelled)
        for p in ctx.people:
            raw = labelled[p.annotation_id]["keypoints"]
            for k, point in enumerate(p.keypoints):
                x, y, v = raw[3 * k : 3 * k + 3]
                assert point.visibility == v
                if v:
                    assert point.x == round(x / ctx.width, 3)
                    assert point.y == round(y / ctx.height, 3)
        objects = instances.loadAnns(instances.getAnnIds([ctx.image_id], iscrowd=False))
        names = {c["id"]: c["name"] for c in instances.loadCats(instances.getCatIds())}
        expected = sorted(
            names[a["category_id"]] for a in objects if a["category_id"] not in person
        )
        assert sorted(o.category for o in ctx.objects) == expected
        texts = [
            a["caption"].strip() for a in captions.loadAnns(captions.getAnnIds([ctx.image_id]))
        ]
        assert sorted(ctx.captions) == sorted(texts)
