"""The captions of a captions file, and every image's list of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kpit.coco._columns import IntArray, check_unique_ids, column, id_column, is_int
from kpit.coco._images import ImageTable
from kpit.coco._read import CocoFile
from kpit.errors import DataError


@dataclass(slots=True)
class RawCaptions:
    """The captions of a captions file, before the image table is known."""

    path: Path
    image_ids: IntArray
    annotation_ids: IntArray
    texts: list[str]


def extract_captions(coco: CocoFile, path: Path) -> RawCaptions:
    """Read the captions of a captions file (surrounding white space removed)."""
    anns = coco.dataset["annotations"]
    texts: list[str] = []
    for ann in anns:
        text = ann.get("caption")
        if not isinstance(text, str):
            raise DataError(
                "missing or not a string",
                file=path,
                record=f"annotation {ann['id']}",
                field="caption",
            )
        texts.append(text.strip())
    annotation_ids = id_column(anns, path)
    check_unique_ids(annotation_ids, path)
    return RawCaptions(
        path=path,
        image_ids=column(anns, "image_id", np.int64, path, is_int, "an integer image id"),
        annotation_ids=annotation_ids,
        texts=texts,
    )


def caption_lists(raw: RawCaptions, images: ImageTable) -> list[tuple[str, ...]]:
    """Every image's captions, in file order."""
    rows = images.rows(raw.image_ids, raw.annotation_ids, raw.path)
    by_image: list[list[str]] = [[] for _ in range(len(images.ids))]
    for row, text in zip(rows.tolist(), raw.texts, strict=True):
        by_image[row].append(text)
    return [tuple(texts) for texts in by_image]
