"""The loader's fast paths: typed decoding of whole files and contexts built many at a time.

Each is checked against something written the straightforward way: contexts built image by
image from the raw JSON with Python's ``round``, and the record-by-record reader the fast
decoder falls back to. Bad input is still reported by ``load_coco`` itself, naming the file,
the record and the field, exactly as the record-by-record reader names them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kpit
from kpit.coco import _fast as _coco_fast
from kpit.coco import _read as _coco_read
from kpit.coco import loader as coco
from kpit.layouts import COCO_17
from kpit.types import Box, ImageContext, ObjectBox, Person

from ..conftest import PERSON_CATEGORY, person_annotation

Files = dict[str, Path]


def _slow_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record which files the record-by-record path parses."""
    seen: list[str] = []
    plain = _coco_read.read_coco

    def spy(path: Path, kind: str) -> _coco_read.CocoFile:
        seen.append(path.name)
        return plain(path, kind)

    monkeypatch.setattr(_coco_read, "read_coco", spy)
    return seen


# --- a synthetic split with the awkward cases in it ---------------------------------------


def _synthetic(folder: Path, seed: int = 0, images: int = 40) -> Files:
    """Captions, instances and keypoints with crowds, clamped values, scores and gaps."""
    rng = random.Random(seed)
    records = []
    for image_id in rng.sample(range(1, 10 * images), images):  # ids out of order
        size = [rng.randint(50, 640), rng.randint(50, 480)]
        if rng.random() < 0.2:
            size[0] = float(size[0])  # 640.0 is a whole number of pixels too
        records.append({"id": image_id, "file_name": f"{image_id:012d}.jpg",
                        "width": size[0], "height": size[1], "coco_url": "x"})  # fmt: skip
    people, objects, captions = [], [], []
    next_id = iter(range(1, 10**6))
    for image in records[:-3]:  # the last three images have no annotations at all
        w, h = image["width"], image["height"]
        for _ in range(rng.randint(0, 6)):
            points = {}
            for name in COCO_17.names:
                roll = rng.random()
                if roll < 1 / 3:
                    continue  # unlabelled
                x = rng.uniform(-0.1 * w, 1.1 * w)  # a few outside the image, to be clamped
                y = rng.choice([rng.randint(0, h), rng.uniform(0, h)])
                points[name] = (x, y, rng.choice([1, 2, 2, 0.4]))  # 0.4: a WholeBody score
            box = [rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, w / 2), rng.randint(0, h)]
            crowd = int(rng.random() < 0.1)
            ann = person_annotation(next(next_id), image["id"], points, box, iscrowd=crowd,
                                    segmentation=[[1.5, 2.5, 3, 4, 5, 6]])  # fmt: skip
            people.append(ann)
        for _ in range(rng.randint(0, 5)):
            box = [rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0, h)]
            objects.append({"id": next(next_id), "image_id": image["id"], "bbox": box,
                            "category_id": rng.choice([2, 3, 18]),
                            "iscrowd": int(rng.random() < 0.1), "area": 1.0})  # fmt: skip
        for _ in range(rng.randint(0, 5)):
            captions.append({"id": next(next_id), "image_id": image["id"],
                             "caption": f"  A {rng.choice(['dog', 'man'])} here.\n"})  # fmt: skip
    rng.shuffle(people)
    rng.shuffle(objects)
    # Real instance files repeat the people (without keypoints) among the objects.
    instance_people = [{k: v for k, v in p.items() if k != "keypoints"} for p in people]
    things = [{"id": 2, "name": "bicycle"}, {"id": 3, "name": "car"}, {"id": 18, "name": "dog"}]
    # A keypoints file may hold annotations of another category: they are not people.
    stray = {"id": next(next_id), "image_id": records[0]["id"], "category_id": 2,
             "bbox": [1, 1, 2, 2]}  # fmt: skip
    contents = {
        "person_keypoints": {"images": records, "annotations": [*people, stray],
                             "categories": [PERSON_CATEGORY, things[0]]},
        "instances": {"images": records[::-1], "annotations": instance_people + objects,
                      "categories": [PERSON_CATEGORY | {"keypoints": []}, *things]},
        "captions": {"images": [*records, {"id": 10**7, "file_name": "only_captioned.jpg",
                                               "width": 10, "height": 10}],
                     "annotations": captions},
    }  # fmt: skip
    files = {}
    for name, data in contents.items():
        path = folder / f"{name}_synthetic.json"
        path.write_text(json.dumps(data))
        files[{"person_keypoints": "keypoints"}.get(name, name)] = path
    return files


@pytest.fixture(params=["sample", "synthetic"])
def split(request: pytest.FixtureRequest, sample_annotations: Path, tmp_path: Path) -> Files:
    """The real bundled sample, or the synthetic split."""
    if request.param == "sample":
        return {
            "keypoints": sample_annotations / "person_keypoints_val2017.json",
            "instances": sample_annotations / "instances_val2017.json",
            "captions": sample_annotations / "captions_val2017.json",
        }
    return _synthetic(tmp_path)


# --- contexts built the straightforward way -----------------------------------------------


def _clamped(value: float) -> float:
    return min(max(round(value, 3), 0.0), 1.0)


def _box(xywh: list[float], w: int, h: int) -> Box:
    x, y, bw, bh = xywh
    return Box(_clamped(x / w), _clamped(y / h), _clamped((x + bw) / w), _clamped((y + bh) / h))


def _reference(files: Files) -> list[ImageContext]:
    """Every context, one image at a time, from the raw JSON (crowds skipped)."""
    raw = {kind: json.loads(path.read_text()) for kind, path in files.items()}
    sizes: dict[int, tuple[str, int, int]] = {}
    for data in raw.values():
        for img in data["images"]:
            sizes.setdefault(img["id"], (img["file_name"], int(img["width"]), int(img["height"])))
    kp_category = next(c for c in raw["keypoints"]["categories"] if c.get("keypoints"))
    person_ids = {a["id"] for a in raw["keypoints"]["annotations"]}
    names = {c["id"]: c["name"] for c in raw["instances"]["categories"]}
    contexts = []
    for image_id in sorted(sizes):
        file_name, w, h = sizes[image_id]
        people = []
        for ann in raw["keypoints"]["annotations"]:
            if ann["image_id"] != image_id or ann["category_id"] != kp_category["id"]:
                continue
            if ann.get("iscrowd"):
                continue
            rows = []
            for x, y, v in np.reshape(ann["keypoints"], (-1, 3)).tolist():
                if v > 0:
                    rows.append([_clamped(x / w), _clamped(y / h), 2 if v >= 1.5 else 1])
                else:
                    rows.append([0.0, 0.0, 0])
            people.append(Person(_box(ann["bbox"], w, h), np.array(rows, dtype=np.float64),
                                 COCO_17, ann["id"], (w, h)))  # fmt: skip
        objects = [
            ObjectBox(names[ann["category_id"]], _box(ann["bbox"], w, h), False)
            for ann in raw["instances"]["annotations"]
            if ann["image_id"] == image_id and ann["id"] not in person_ids and not ann["iscrowd"]
        ]
        texts = tuple(
            a["caption"] for a in raw["captions"]["annotations"] if a["image_id"] == image_id
        )
        captions = tuple(t.strip() for t in texts)
        as_in_file = None if captions == texts else texts
        contexts.append(ImageContext(image_id, file_name, w, h, captions, tuple(objects),
                                     tuple(people), as_in_file))  # fmt: skip
    return contexts


def test_contexts_equal_those_built_one_by_one_from_the_json(split: Files) -> None:
    loaded = kpit.load_coco(**split)  # type: ignore[arg-type]
    expected = _reference(split)
    assert loaded.image_ids == [c.image_id for c in expected]
    built = list(loaded)
    assert sum(len(c.people) for c in built) > 0 and sum(len(c.objects) for c in built) > 0
    for context, reference in zip(built, expected, strict=True):
        assert context == reference
        for person in context.people:  # shared arrays must stay read-only
            assert not person.keypoint_array.flags.writeable
            assert person.keypoint_array.dtype == np.float64


def _load(files: Files, **options: Any) -> tuple[list[ImageContext], kpit.LoadStats]:
    loaded = kpit.load_coco(**files, **options)  # type: ignore[arg-type]
    return list(loaded), loaded.stats


OPTIONS: list[dict[str, Any]] = [
    {},
    {"crowd": "keep"},
    {"min_people": 2, "min_keypoints": 3},
    {"limit": 7},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "defaults")
def test_the_fast_decoder_reads_what_the_record_by_record_path_reads(
    split: Files, options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_reads = _slow_reads(monkeypatch)
    fast = _load(split, **options)
    assert slow_reads == []  # well-formed files never take the slow path
    for name in ("read_people", "read_objects", "read_captions"):
        monkeypatch.setattr(_coco_fast, name, _refuse)
    slow = _load(split, **options)
    assert len(slow_reads) == 3
    assert fast == slow


def _refuse(*args: object) -> None:
    raise _coco_fast.Fallback


def test_wholebody_files_are_read_record_by_record(
    sample_annotations: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_reads = _slow_reads(monkeypatch)
    loaded = kpit.load_coco(keypoints=sample_annotations / "coco_wholebody_val_v1.0.json")
    assert slow_reads == ["coco_wholebody_val_v1.0.json"]
    assert len(loaded.get(785).people[0].keypoints) == 133


def test_access_order_does_not_matter(split: Files) -> None:
    loaded = kpit.load_coco(**split)  # type: ignore[arg-type]
    in_order = list(loaded)
    n = len(loaded)
    backwards = [loaded[i] for i in reversed(range(n))][::-1]
    by_id = [loaded.get(image_id) for image_id in reversed(loaded.image_ids)][::-1]
    shuffled = list(range(n))
    random.Random(1).shuffle(shuffled)
    by_position = {i: loaded[i] for i in shuffled}
    assert backwards == in_order == by_id == [by_position[i] for i in range(n)]
    assert loaded[1:n:2] == in_order[1::2] and loaded[-1] == in_order[-1]
    assert loaded[::-1] == in_order[::-1]


def test_runs_longer_than_one_batch(tmp_path: Path) -> None:
    """Iteration builds runs of images; a split longer than a run is cut and joined right."""
    files = _synthetic(tmp_path, seed=3, images=300)
    loaded = kpit.load_coco(**files)  # type: ignore[arg-type]
    assert len(loaded) > 2 * coco._RUN
    assert list(loaded) == [loaded[i] for i in range(len(loaded))] == _reference(files)


# --- bad input is reported at load time, as the record-by-record path reports it ---------

Change = Callable[[dict[str, Any]], None]


# The change is made to a person (keypoints), an object (instances) or a caption.
WHICH = {"keypoints": 0, "instances": -1, "captions": 0}


def _set_annotation(kind: str, field: str, value: Any) -> tuple[str, Change]:
    def change(data: dict[str, Any]) -> None:
        data["annotations"][WHICH[kind]][field] = value

    return kind, change


def _drop_annotation_field(kind: str, field: str) -> tuple[str, Change]:
    def change(data: dict[str, Any]) -> None:
        del data["annotations"][WHICH[kind]][field]

    return kind, change


def _set_image(kind: str, field: str, value: Any) -> tuple[str, Change]:
    def change(data: dict[str, Any]) -> None:
        data["images"][0][field] = value

    return kind, change


def _repeat_annotation(data: dict[str, Any]) -> None:
    data["annotations"].append(dict(data["annotations"][0]))


def _huge_image_id_elsewhere(data: dict[str, Any]) -> None:
    data["annotations"][-1]["image_id"] = 2**70


def _huge_category_of_a_person(data: dict[str, Any]) -> None:
    data["annotations"][0]["category_id"] = 2**70


def _rename_image(data: dict[str, Any]) -> None:
    data["images"][-1]["file_name"] = data["images"][0]["file_name"]


BAD: list[tuple[str, Change]] = [
    _set_annotation("keypoints", "keypoints", [1, 2, 2] * 16),
    _set_annotation("keypoints", "bbox", [0, 0, -3, 4]),
    _set_annotation("keypoints", "bbox", [0, 0, 3]),
    _set_annotation("keypoints", "image_id", 123456789),
    _set_annotation("keypoints", "iscrowd", 2),
    _set_annotation("keypoints", "id", 2**64),
    ("keypoints", _huge_image_id_elsewhere),  # an annotation that is not a person's
    _drop_annotation_field("keypoints", "bbox"),
    ("keypoints", _repeat_annotation),
    _set_annotation("instances", "category_id", 999),
    _set_annotation("instances", "bbox", [0, 0, "3", 4]),
    _drop_annotation_field("instances", "category_id"),
    ("instances", _huge_category_of_a_person),  # people are skipped here, but checked
    _set_image("instances", "width", 7.5),
    _set_image("instances", "height", 10**40),
    _set_annotation("captions", "caption", 5),
    _drop_annotation_field("captions", "image_id"),
    _set_image("captions", "file_name", ""),
    ("captions", _rename_image),
    _set_image("captions", "width", 1),  # disagrees with the files read before
]


def _error(files: Files) -> kpit.KpitError:
    with pytest.raises(kpit.KpitError) as info:
        kpit.load_coco(**files)  # type: ignore[arg-type]
    return info.value


def _changed(folder: Path, kind: str, change: Change) -> Files:
    files = _synthetic(folder, seed=2)
    data = json.loads(files[kind].read_text())
    change(data)
    files[kind].write_text(json.dumps(data))
    return files


@pytest.mark.parametrize(("kind", "change"), BAD)
def test_bad_input_is_named_at_load_as_before(
    tmp_path: Path, kind: str, change: Change, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _changed(tmp_path, kind, change)
    err = _error(files)
    assert isinstance(err, kpit.DataError)
    assert err.file == str(files[kind])
    assert err.record is not None or err.field is not None
    for name in ("read_people", "read_objects", "read_captions"):
        monkeypatch.setattr(_coco_fast, name, _refuse)
    before = _error(files)
    assert (str(err), err.file, err.record, err.field) == (
        str(before), before.file, before.record, before.field
    )  # fmt: skip


def _odd_person_box(data: dict[str, Any]) -> None:
    data["annotations"][0]["bbox"] = [0, 0, 1, 2, 3]


# Valid files with unusual values: the fast decoder reads them or leaves them to the
# record-by-record path, and either way they load as before.
UNUSUAL: list[tuple[str, Change, bool]] = [
    (*_set_annotation("keypoints", "keypoints", [1, 2, True] * 17), True),
    (*_set_annotation("keypoints", "iscrowd", False), True),
    (*_set_annotation("keypoints", "keypoints", [10**20] + [0] * 50), True),  # numpy's to read
    (*_set_annotation("keypoints", "foot_kpts", [0] * 18), True),  # one WholeBody part alone
    (*_set_annotation("captions", "iscrowd", True), True),
    ("instances", _odd_person_box, False),  # people are read from the keypoints file
]


@pytest.mark.parametrize(("kind", "change", "slowly"), UNUSUAL)
def test_unusual_files_load_as_before(
    tmp_path: Path, kind: str, change: Change, slowly: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _changed(tmp_path, kind, change)
    slow_reads = _slow_reads(monkeypatch)
    loaded = _load(files)
    assert slow_reads == ([files[kind].name] if slowly else [])
    for name in ("read_people", "read_objects", "read_captions"):
        monkeypatch.setattr(_coco_fast, name, _refuse)
    assert loaded == _load(files)


def _pad_captions(data: dict[str, Any]) -> None:
    """White space around two captions of one image and one of another, none elsewhere."""
    anns = data["annotations"]
    for ann in anns:
        ann["caption"] = ann["caption"].strip()
    first = anns[0]["image_id"]
    same = [a for a in anns if a["image_id"] == first]
    other = next(a for a in anns if a["image_id"] != first)
    same[0]["caption"] = " \t" + same[0]["caption"]
    same[-1]["caption"] += "\n"
    other["caption"] = "  " + other["caption"] + "  "


def test_captions_keep_their_file_text_beside_the_stripped_one_on_both_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _changed(tmp_path, "captions", _pad_captions)
    data = json.loads(files["captions"].read_text())
    by_image: dict[int, list[str]] = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann["caption"])
    fast, _ = _load(files)
    padded = [c for c in fast if c.raw_captions is not None]
    assert len(padded) == 2
    for ctx in fast:
        texts = by_image.get(ctx.image_id, [])
        assert ctx.captions == tuple(t.strip() for t in texts)
        assert ctx.file_captions() == tuple(texts)
        assert (ctx.raw_captions is None) == all(t == t.strip() for t in texts)
    for name in ("read_people", "read_objects", "read_captions"):
        monkeypatch.setattr(_coco_fast, name, _refuse)
    assert _load(files)[0] == fast
