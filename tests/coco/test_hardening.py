"""Annotation files with repeats: a repeated annotation id or file name is refused.

Each test here failed before its fix: what a hostile or careless input did then is said in
the test's docstring.
"""

from __future__ import annotations

import pytest

import kpit

from ..conftest import PERSON_CATEGORY, WriteCoco, person_annotation


@pytest.mark.parametrize("kind", ["keypoints", "instances", "captions"])
def test_a_repeated_annotation_id_is_refused(write_coco: WriteCoco, kind: str) -> None:
    """Before: the second annotation with an id was loaded as another person or caption."""
    if kind == "captions":
        anns = [{"id": 5, "image_id": 1, "caption": "a"}, {"id": 6, "image_id": 1, "caption": "b"},
                {"id": 5, "image_id": 1, "caption": "c"}]  # fmt: skip
        categories = None
    else:
        anns = [person_annotation(5, 1), person_annotation(6, 1), person_annotation(5, 1)]
        categories = [PERSON_CATEGORY]
    path = write_coco(f"{kind}.json", annotations=anns, categories=categories)
    with pytest.raises(kpit.DataError, match="annotation id 5 appears twice") as info:
        kpit.load_coco(**{kind: path})
    assert (info.value.record, info.value.field) == ("annotations[2]", "id")


def test_two_images_with_one_file_name_are_refused(write_coco: WriteCoco) -> None:
    images = [{"id": 1, "file_name": "a.jpg", "width": 9, "height": 9},
              {"id": 2, "file_name": "a.jpg", "width": 9, "height": 9}]  # fmt: skip
    path = write_coco("captions.json", images=images)
    with pytest.raises(kpit.DataError, match="also image 1") as info:
        kpit.load_coco(captions=path)
    assert (info.value.record, info.value.field) == ("image 2", "file_name")
