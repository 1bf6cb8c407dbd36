"""The compact context loses nothing: a parser reads it back into the same context.

The parser below is written from the format as the teacher is told it (``common/source.j2``)
and knows nothing of kpit's renderer. It reads the captions, every object's category, crowd
mark and box, and every person's box and labelled keypoints with their visibility; the tests
check that against the context to the third decimal, on the bundled real COCO sample (COCO-17
and COCO-WholeBody), on COCO-train-shaped synthetic contexts and on edge cases.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import kpit
from kpit.layouts import COCO_17, COCO_WHOLEBODY, KeypointLayout
from kpit.prompts.tokens import estimate_tokens, tokenizer_name
from kpit.types import Box, ImageContext, ObjectBox, Person

from ..helpers.coco_shapes import coco_train_context, coco_train_contexts

OBJECTS_HEADER = "Objects (x1 y1 x2 y2):"
PEOPLE_HEADER = "People (box x1 y1 x2 y2, then labelled keypoints: name x y):"
# a number as the compact style writes it: no leading zero, at most three decimals
NUMBER = r"(-?(?:[1-9]\d*(?:\.\d{0,2}[1-9])?|0|\.\d{0,2}[1-9]))"
BOX = rf"{NUMBER} {NUMBER} {NUMBER} {NUMBER}"
OBJECT_LINE = re.compile(rf"(?P<category>.+?)(?P<crowd> \(crowd\))? {BOX}")
PERSON_LINE = re.compile(rf"(?P<index>\d+)\. box {BOX}; (?P<points>.+)")
POINT = re.compile(rf"(?P<name>.+?) {NUMBER} {NUMBER}(?P<hidden> hidden)?")

Point = tuple[float, float, int]


@dataclass
class Parsed:
    """What the compact text says: captions, objects, and each person's box and points."""

    captions: list[str] = field(default_factory=list)
    objects: list[tuple[str, bool, tuple[float, ...]]] = field(default_factory=list)
    people: list[tuple[tuple[float, ...], dict[str, Point]]] = field(default_factory=list)


def _numbers(match: re.Match[str], first: int = 1) -> tuple[float, ...]:
    return tuple(float(match.group(i)) for i in range(first, first + 4))


def parse_compact(text: str) -> Parsed:
    """Read a compact context back; any line it cannot place fails the test."""
    body = text.split("\n\nPose notes:\n", 1)[0]
    parsed = Parsed()
    section = None
    for line in body.split("\n") if body else []:
        if line in ("Captions:", OBJECTS_HEADER, PEOPLE_HEADER):
            assert section != line, f"section twice: {line}"
            section = line
        elif section == "Captions:":
            parsed.captions.append(line)
        elif section == OBJECTS_HEADER:
            match = OBJECT_LINE.fullmatch(line)
            assert match, f"not an object line: {line!r}"
            box = _numbers(match, 3)
            parsed.objects.append((match["category"], bool(match["crowd"]), box))
        elif section == PEOPLE_HEADER:
            match = PERSON_LINE.fullmatch(line)
            assert match, f"not a person line: {line!r}"
            assert int(match["index"]) == len(parsed.people) + 1, line
            points: dict[str, Point] = {}
            if match["points"] != "no keypoint labelled":
                for part in match["points"].split(", "):
                    point = POINT.fullmatch(part)
                    assert point, f"not a keypoint: {part!r} in {line!r}"
                    assert point["name"] not in points, f"{point['name']} twice in {line!r}"
                    x, y = float(point.group(2)), float(point.group(3))
                    points[point["name"]] = (x, y, 1 if point["hidden"] else 2)
            parsed.people.append((_numbers(match, 2), points))
        else:
            raise AssertionError(f"a line outside any section: {line!r}")
    return parsed


def _box(box: Box) -> tuple[float, ...]:
    return tuple(round(v, 3) for v in box.to_list())


def points_read_back(points: dict[str, Point], layout: KeypointLayout) -> np.ndarray:
    """The ``(K, 3)`` keypoint rows the parsed points describe: unlisted points unlabelled."""
    by_name = {name.replace("_", " "): i for i, name in enumerate(layout.names)}
    rows = np.zeros((len(layout), 3))
    for name, point in points.items():
        rows[by_name[name]] = point  # a KeyError is a name the layout does not have
    return rows


def assert_reads_back(ctx: ImageContext, text: str) -> None:
    """The compact ``text`` says everything ``ctx`` holds, to the third decimal."""
    parsed = parse_compact(text)
    assert parsed.captions == list(ctx.captions)
    assert parsed.objects == [(o.category, o.iscrowd, _box(o.box)) for o in ctx.objects]
    assert len(parsed.people) == len(ctx.people)
    for (box, points), person in zip(parsed.people, ctx.people, strict=True):
        assert box == _box(person.box)
        expected = np.round(person.keypoint_array, 3)
        expected[expected[:, 2] == 0] = 0  # an unlabelled point has no position
        assert np.array_equal(points_read_back(points, person.layout), expected), (
            person.annotation_id
        )


@pytest.mark.parametrize(
    "keypoints", ["person_keypoints_val2017.json", "coco_wholebody_val_v1.0.json"]
)
def test_the_real_sample_reads_back(sample_root: Path, keypoints: str) -> None:
    files = sample_root / "annotations"
    contexts = kpit.load_coco(
        captions=files / "captions_val2017.json",
        instances=files / "instances_val2017.json",
        keypoints=files / keypoints,
    )
    assert len(contexts) == 4 and sum(len(c.people) for c in contexts) == 14
    for ctx in contexts:
        assert_reads_back(ctx, kpit.render_context(ctx, "compact"))
        noted = kpit.render_context(ctx, "compact", pose_notes=True)
        assert "\n\nPose notes:\n" in noted
        assert_reads_back(ctx, noted)


def test_coco_train_shaped_contexts_read_back() -> None:
    contexts = coco_train_contexts(300, seed=1)
    points = np.concatenate([p.keypoint_array for c in contexts for p in c.people])
    # the data is what it claims to be: 1-6 people, a third unlabelled, some hidden
    assert {len(c.people) for c in contexts} == {1, 2, 3, 4, 5, 6}
    assert 0.28 < np.mean(points[:, 2] == 0) < 0.38
    assert 0.04 < np.mean(points[:, 2] == 1) < 0.1
    assert any(p.num_keypoints == 0 for c in contexts for p in c.people)
    for ctx in contexts:
        assert_reads_back(ctx, kpit.render_context(ctx, "compact"))


def test_from_json_and_through_a_request_it_still_reads_back() -> None:
    """What the teacher receives (a context through JSON and a task's user message)."""
    from kpit.prompts.tasks import DetailTask, PromptOptions

    ctx = ImageContext.from_dict(coco_train_context(np.random.default_rng(5)).to_dict())
    options = PromptOptions(style="compact", fewshot=False)
    request = DetailTask().build(ctx, key="detail/0/0", seed=0, options=options)
    user = request.messages[-1].content
    text = user[: user.rindex("\n\n")]  # the instruction follows the context
    assert_reads_back(ctx, text)


def _person(
    rows: list[tuple[float, float, int]], box: tuple[float, ...], layout: KeypointLayout = COCO_17
) -> Person:
    array = np.zeros((len(layout), 3))
    if rows:
        array[: len(rows)] = rows
    return Person(Box(*box), array, layout)


EDGE_PEOPLE = {
    "corners and ends": _person(
        [(0, 0, 2), (1, 1, 2), (1.0, 0.0, 1), (0.05, 0.5, 2), (0.001, 0.999, 1), (0.1, 0.01, 2)],
        (0.0, 0.0, 1.0, 1.0),
    ),
    "no labelled point": _person([], (0.55, 0.38, 0.572, 0.585)),
    "only hidden points": _person([(0.5, 0.5, 1)] * 17, (0.4, 0.4, 0.6, 0.6)),
    "only the last point": _person([(0, 0, 0)] * 16 + [(0.999, 0.05, 2)], (0.9, 0.0, 1, 0.1)),
    "more decimals than three": _person(
        [(0.12345, 0.98765, 2), (0.0004, 0.9996, 2)], (0.0004, 0.1235, 0.5555, 0.9999)
    ),
    "whole body": _person(
        [(0.3, 0.3, 2)] * 23 + [(0.0, 0.0, 0)] * 68 + [(0.31, 0.05, 1)] * 42,
        (0.2, 0.02, 0.4, 0.6),
        COCO_WHOLEBODY,
    ),
}


@pytest.mark.parametrize("name", list(EDGE_PEOPLE))
def test_edge_cases_read_back(name: str) -> None:
    person = EDGE_PEOPLE[name]
    ctx = ImageContext(7, "a.jpg", 640, 480, ("A caption.",), (), (person,))
    text = kpit.render_context(ctx, "compact")
    assert_reads_back(ctx, text)
    assert len(text.splitlines()) == 4  # captions header, caption, people header, the person


def test_edge_contexts_read_back() -> None:
    crowd = ObjectBox("person", Box(0.0, 0.0, 1.0, 1.0), iscrowd=True)
    chair = ObjectBox("dining table", Box(0.05, 0.5, 0.95, 1.0))
    custom = KeypointLayout("paw", ("front_paw_1", "tail"), ())
    cases = [
        ImageContext(1, "a.jpg", 10, 10),
        ImageContext(2, "a.jpg", 10, 10, captions=("Only a caption.", "And a second one.")),
        ImageContext(3, "a.jpg", 10, 10, objects=(crowd, chair)),
        ImageContext(4, "a.jpg", 10, 10, people=(EDGE_PEOPLE["no labelled point"],)),
        ImageContext(5, "a.jpg", 10, 10, ("A dog.",), (chair,), (
            _person([(0.2, 0.3, 2), (0.05, 0.9, 1)], (0.1, 0.2, 0.3, 1.0), custom),
            EDGE_PEOPLE["corners and ends"],
        )),
    ]  # fmt: skip
    for ctx in cases:
        assert_reads_back(ctx, kpit.render_context(ctx, "compact"))
    assert kpit.render_context(cases[0], "compact") == ""
    assert kpit.render_context(cases[2], "compact") == (
        f"{OBJECTS_HEADER}\nperson (crowd) 0 0 1 1\ndining table .05 .5 .95 1"
    )
    assert "1. box .1 .2 .3 1; front paw 1 .2 .3, tail .05 .9 hidden" in kpit.render_context(
        cases[4], "compact"
    )


def test_the_parser_notices_what_is_lost() -> None:
    """The round trip fails when a point, a visibility or a decimal goes missing."""
    ctx = coco_train_context(np.random.default_rng(3))
    text = kpit.render_context(ctx, "compact")
    person = next(p for p in ctx.people if p.num_keypoints > 1)
    first = next(kp for kp in person.labelled_keypoints())
    rows = person.keypoint_array.copy()
    moved = (first.x + 0.001, first.y, first.visibility)
    seen_otherwise = (first.x, first.y, 3 - first.visibility)
    for changed in (moved, seen_otherwise, (0.0, 0.0, 0)):
        rows[person.layout.index(first.name)] = changed
        other = dataclasses.replace(person, keypoint_array=rows.copy())
        people = tuple(other if p is person else p for p in ctx.people)
        with pytest.raises(AssertionError):
            assert_reads_back(dataclasses.replace(ctx, people=people), text)
    with pytest.raises(AssertionError, match="not a person line"):
        parse_compact(f"{PEOPLE_HEADER}\n1. box 0.5 .1 .2 .3; nose .1 .1")  # a leading zero


def test_compact_has_a_third_fewer_tokens_than_paper_on_coco_train_shapes() -> None:
    """The goal of the compact style, in o200k tokens (the benchmark prints the figures)."""
    assert tokenizer_name().startswith("o200k_base")
    contexts = coco_train_contexts(200, seed=2)
    paper = sum(estimate_tokens(kpit.render_context(c, "paper")) for c in contexts)
    compact = sum(estimate_tokens(kpit.render_context(c, "compact")) for c in contexts)
    assert compact <= 0.65 * paper, (compact, paper)
