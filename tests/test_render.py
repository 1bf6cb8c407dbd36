"""Rendering contexts: the paper and compact styles, and user templates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import kpit
from kpit.types import ImageContext

NUMBER = r"(-?\d+(?:\.\d+)?)"


@pytest.fixture
def contexts(sample_root: Path) -> kpit.CocoContexts:
    return kpit.load_coco(sample_root)


def test_paper_style_on_the_real_skier(contexts: kpit.CocoContexts) -> None:
    text = kpit.render_context(contexts.get(785), "paper")
    lines = text.splitlines()
    assert lines[:5] == list(contexts.get(785).captions)
    assert lines[5] == ""
    assert lines[6] == "skis: [0.325, 0.8, 0.961, 0.939]"
    assert lines[7] == "person: [0.439, 0.105, 0.78, 0.921]"
    assert lines[8].startswith("keypoints: [(0.573, 0.191, 2), (0.584, 0.172, 2), ")
    assert lines[8].endswith("(0.619, 0.802, 2)]")
    assert len(lines) == 9


def test_paper_style_lists_every_keypoint_of_every_person(contexts: kpit.CocoContexts) -> None:
    for ctx in contexts:
        text = kpit.render_context(ctx)
        keypoint_lines = [line for line in text.splitlines() if line.startswith("keypoints: ")]
        assert len(keypoint_lines) == len(ctx.people)
        for line, person in zip(keypoint_lines, ctx.people, strict=True):
            triples = re.findall(rf"\({NUMBER}, {NUMBER}, (\d)\)", line)
            assert [[float(x), float(y), int(v)] for x, y, v in triples] == [
                [x, y, int(v)] for x, y, v in person.keypoint_array.tolist()
            ]


def test_paper_style_matches_llava_box_lines(llava_record: dict) -> None:
    """LLaVA's own COCO context lines come out byte for byte."""
    ctx = ImageContext.from_dict(
        {
            "image_id": int(llava_record["id"]),
            "file_name": llava_record["image"],
            "width": 1,
            "height": 1,
            "captions": llava_record["captions"],
            "objects": llava_record["instances"],
        }
    )
    expected = (
        "\n".join(llava_record["captions"])
        + "\n\n"
        + "\n".join(f"{i['category']}: {i['bbox']}" for i in llava_record["instances"])
    )
    assert kpit.render_context(ctx, "paper") == expected


def _parse_compact(text: str) -> list[dict[str, tuple[float, float, int]]]:
    people = []
    for line in text.splitlines():
        match = re.match(r"\d+\. box \[.*?\]; (.*)$", line)
        if not match:
            continue
        points = {}
        for name, x, y, hidden in re.findall(
            rf"([a-z_ 0-9]+?) \({NUMBER}, {NUMBER}(, hidden)?\)", match.group(1)
        ):
            points[name.strip(", ").replace(" ", "_")] = (float(x), float(y), 1 if hidden else 2)
        people.append(points)
    return people


@pytest.mark.parametrize(
    "keypoints", ["person_keypoints_val2017.json", "coco_wholebody_val_v1.0.json"]
)
def test_compact_style_loses_no_information(sample_annotations: Path, keypoints: str) -> None:
    """Parsing the compact text back gives every labelled point with its visibility."""
    contexts = kpit.load_coco(keypoints=sample_annotations / keypoints)
    for ctx in contexts:
        parsed = _parse_compact(kpit.render_context(ctx, "compact"))
        assert len(parsed) == len(ctx.people)
        for points, person in zip(parsed, ctx.people, strict=True):
            expected = {kp.name: (kp.x, kp.y, kp.visibility) for kp in person.labelled_keypoints()}
            assert points == expected


def test_compact_style_is_shorter_and_marks_what_is_missing(contexts: kpit.CocoContexts) -> None:
    ctx = contexts.get(40083)
    compact = kpit.render_context(ctx, "compact")
    assert len(compact) < len(kpit.render_context(ctx, "paper"))
    assert "3. box [0.55, 0.38, 0.572, 0.585]; no keypoints labelled" in compact
    assert "left hip (0.114, 0.739, hidden)" in compact
    assert "left ear" not in compact.splitlines()[-3]  # unlabelled on person 1
    assert compact.startswith("Captions:\n- A black and white photo")
    assert "Objects:\n- umbrella [0.078, 0.0, 0.92, 0.781]" in compact


def test_crowd_regions_are_marked() -> None:
    ctx = ImageContext.from_dict(
        {
            "image_id": 1,
            "file_name": "a.jpg",
            "width": 1,
            "height": 1,
            "objects": [{"category": "person", "box": [0, 0, 1, 1], "iscrowd": True}],
        }
    )
    assert kpit.render_context(ctx) == "person (crowd): [0.0, 0.0, 1.0, 1.0]"
    assert kpit.render_context(ctx, "compact") == "Objects:\n- person (crowd) [0.0, 0.0, 1.0, 1.0]"


def test_empty_context_renders_empty() -> None:
    ctx = ImageContext(1, "a.jpg", 10, 10)
    assert kpit.render_context(ctx) == ""
    assert kpit.render_context(ctx, "compact") == ""


def test_user_template_file(contexts: kpit.CocoContexts, tmp_path: Path) -> None:
    template = tmp_path / "mine.j2"
    template.write_text(
        "{{ ctx.image_id }}: {{ ctx.people | length }} people; "
        "{% for p in ctx.people %}{{ p.box | box }}{% endfor %}"
    )
    assert kpit.render_context(contexts.get(785), template) == (
        "785: 1 people; [0.439, 0.105, 0.78, 0.921]"
    )


def test_template_dir_overrides_by_name(contexts: kpit.CocoContexts, tmp_path: Path) -> None:
    (tmp_path / "context").mkdir()
    (tmp_path / "context" / "paper.j2").write_text("overridden {{ ctx.image_id }}")
    (tmp_path / "context" / "short.j2").write_text("{{ ctx.captions[0] }}")
    ctx = contexts.get(785)
    assert kpit.render_context(ctx, "paper", template_dir=tmp_path) == "overridden 785"
    assert kpit.render_context(ctx, "short", template_dir=tmp_path) == ctx.captions[0]
    assert kpit.render_context(ctx, "compact", template_dir=tmp_path).startswith("Captions:")


def test_template_errors_are_clear(contexts: kpit.CocoContexts, tmp_path: Path) -> None:
    with pytest.raises(kpit.TemplateError, match="unknown context style 'fancy'"):
        kpit.render_context(contexts[0], "fancy")
    undefined = tmp_path / "undefined.j2"
    undefined.write_text("{{ ctx.nothing_here }}")
    with pytest.raises(kpit.TemplateError, match="undefined") as info:
        kpit.render_context(contexts[0], undefined)
    assert info.value.file == str(undefined) and info.value.record == "image 785"
    broken = tmp_path / "broken.j2"
    broken.write_text("{% for %}")
    with pytest.raises(kpit.TemplateError, match="syntax error"):
        kpit.render_context(contexts[0], broken)


def test_template_failures_at_render_time(contexts: kpit.CocoContexts, tmp_path: Path) -> None:
    include = tmp_path / "include.j2"
    include.write_text('{% include "nope.j2" %}')
    with pytest.raises(kpit.TemplateError, match=r"nope\.j2"):
        kpit.render_context(contexts[0], include)
    divide = tmp_path / "divide.j2"
    divide.write_text("{{ 1 / 0 }}")
    with pytest.raises(kpit.TemplateError, match="ZeroDivisionError") as info:
        kpit.render_context(contexts[0], divide)
    assert info.value.record == "image 785"
