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


def test_compact_style_is_shorter_and_marks_what_is_missing(contexts: kpit.CocoContexts) -> None:
    """The format the teacher is told of (the round trip is in ``test_compact.py``)."""
    ctx = contexts.get(40083)
    compact = kpit.render_context(ctx, "compact")
    assert len(compact) < len(kpit.render_context(ctx, "paper"))
    lines = compact.splitlines()
    assert lines[:2] == ["Captions:", ctx.captions[0]]
    assert lines[6:8] == ["Objects (x1 y1 x2 y2):", "umbrella .078 0 .92 .781"]
    assert "chair .058 .616 .246 1" in lines
    people = lines.index("People (box x1 y1 x2 y2, then labelled keypoints: name x y):")
    assert lines[people + 1].startswith("1. box .076 .333 .426 .858; nose .198 .432, left eye ")
    assert ", left hip .114 .739 hidden, right hip .164 .778 hidden, " in lines[people + 1]
    assert "left ear" not in lines[people + 1]  # unlabelled on person 1
    assert lines[people + 3] == "3. box .55 .38 .572 .585; no keypoint labelled"
    assert len(lines) == people + 4


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
    assert kpit.render_context(ctx, "compact") == "Objects (x1 y1 x2 y2):\nperson (crowd) 0 0 1 1"


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
