"""A COCO ``file_name`` is a plain name inside the image folder, refused at load otherwise
(issue 23, item 13).

Before: ``load_coco`` accepted ``../../../../etc/hostname`` (and absolute names, newlines,
U+202E) and ``kpit export`` wrote ``coco/val2017/../../../../etc/hostname`` into LLaVA JSON,
while ``kpit show``, the Hugging Face export and the trainer refused the same name.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from pycocotools.coco import COCO

import kpit
from kpit.cli import cli
from kpit.errors import DataError
from kpit.paths import safe_join

from ..conftest import PERSON_CATEGORY, WriteCoco, person_annotation

BAD_NAMES = [
    "../../../../etc/hostname",
    "val2017/../../secret.jpg",
    "..\\..\\secret.jpg",
    "/etc/hostname",
    "C:\\Windows\\win.ini",
    "\\\\server\\share\\x.jpg",
    "000000000785.jpg\nforged line",
    "gpj.\u202eexe.jpg",  # shown as "gpj.gpj.exe" reversed: a bidi override
    "a\u2066b.jpg",  # another bidi control (LEFT-TO-RIGHT ISOLATE)
    "tab\there.jpg",
    "bell\x07.jpg",
    "nul\x00.jpg",
    "zero\u200bwidth.jpg",
    "line\u2028separator.jpg",
    "   ",
]
GOOD_NAMES = [
    "000000000785.jpg",
    "caf\u00e9 photo.jpg",
    "a..b.jpg",
    "train2017/x.jpg",
    "\u00e9.png",
]

IMAGE = {"id": 7, "width": 200, "height": 100}


def _image(name: str, image_id: int = 7) -> dict[str, Any]:
    return {**IMAGE, "id": image_id, "file_name": name}


def _file(write_coco: WriteCoco, kind: str, images: list[dict[str, Any]]) -> Path:
    """A real COCO file of ``kind`` (pycocotools reads it) with these images."""
    if kind == "captions":
        anns = [{"id": 1, "image_id": images[0]["id"], "caption": "A person skis."}]
        path = write_coco(f"{kind}.json", images=images, annotations=anns)
    else:
        path = write_coco(f"{kind}.json", images=images, categories=[PERSON_CATEGORY],
                          annotations=[person_annotation(1, images[0]["id"])])  # fmt: skip
    COCO(str(path))  # a file pycocotools itself loads
    return path


@pytest.mark.parametrize("kind", ["captions", "instances", "keypoints"])
@pytest.mark.parametrize("name", BAD_NAMES)
def test_load_refuses_a_file_name_outside_the_folder_or_with_a_control_character(
    write_coco: WriteCoco, kind: str, name: str
) -> None:
    path = _file(write_coco, kind, [_image("000000000001.jpg", 1), _image(name)])
    with pytest.raises(DataError) as info:
        kpit.load_coco(**{kind: path})
    error = info.value
    assert (error.file, error.record, error.field) == (str(path), "image 7", "file_name")
    assert repr(name) in error.message  # the name as Python writes it, escapes shown
    assert "\n" not in str(error) and "\u202e" not in str(error)  # one line, printed safely


def test_a_bad_name_only_in_a_later_file_is_refused(write_coco: WriteCoco) -> None:
    """The fast path adds a later file's new images on their own branch: checked there too."""
    keypoints = _file(write_coco, "keypoints", [_image("000000000007.jpg")])
    captions = write_coco("captions.json", images=[_image("000000000007.jpg"),
                                                    _image("../../x.jpg", 8)],
                          annotations=[{"id": 1, "image_id": 8, "caption": "c"}])  # fmt: skip
    with pytest.raises(DataError, match=r"'\.\./\.\./x\.jpg' has a '\.\.' part") as info:
        kpit.load_coco(keypoints=keypoints, captions=captions)
    assert (info.value.file, info.value.record) == (str(captions), "image 8")


@pytest.mark.parametrize("kind", ["captions", "instances", "keypoints"])
def test_plain_and_non_ascii_names_still_load(write_coco: WriteCoco, kind: str) -> None:
    images = [_image(name, n) for n, name in enumerate(GOOD_NAMES, start=1)]
    contexts = kpit.load_coco(**{kind: _file(write_coco, kind, images)})
    assert [c.file_name for c in contexts] == GOOD_NAMES


@pytest.mark.parametrize("command", ["contexts", "generate"])
def test_the_commands_refuse_the_name_in_one_line(
    write_coco: WriteCoco, tmp_path: Path, command: str
) -> None:
    keypoints = _file(write_coco, "keypoints", [_image("../../../../etc/hostname")])
    args = ["--keypoints", str(keypoints), "--images", str(tmp_path)]
    if command == "generate":
        args += ["-o", str(tmp_path / "run"), "--no-progress"]
    result = CliRunner().invoke(cli, [command, *args])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        f"Error: {keypoints}: image 7: field 'file_name': refused, outside the image folder: "
        "'../../../../etc/hostname' has a '..' part (names stay inside the image folder)"
    )
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_a_bidi_control_is_named_by_its_code_point(write_coco: WriteCoco) -> None:
    path = _file(write_coco, "captions", [_image("gpj.\u202eexe.jpg")])
    with pytest.raises(DataError, match=r"U\+202E \(RIGHT-TO-LEFT OVERRIDE\)"):
        kpit.load_coco(captions=path)


def _refused(name: str) -> bool:
    from kpit.coco._images import check_file_name  # here: the base lacks it, not the tests

    try:
        check_file_name(name, file=Path("x.json"), record="image 1")
    except DataError:
        return True
    return False


@given(st.text(max_size=12))
def test_a_name_is_refused_exactly_where_it_is_unsafe(name: str) -> None:
    """Accepted names are those :func:`safe_join` takes with no control or format
    character; the fast path's column check agrees with the record-by-record check."""
    from kpit.coco._images import plain_names

    hidden = any(unicodedata.category(c) in {"Cc", "Cf", "Cs", "Zl", "Zp"} for c in name)
    try:
        safe_join("images", name)
        joins = True
    except DataError:
        joins = False
    assert _refused(name) == (hidden or not joins)
    assert plain_names(["000000000001.jpg", name]) == (not _refused(name))


@given(st.lists(st.text(alphabet=st.characters(codec="ascii"), max_size=8), max_size=6))
def test_the_column_check_agrees_name_by_name(names: list[str]) -> None:
    from kpit.coco._images import plain_names

    assert plain_names(names) == (not any(map(_refused, names)))
