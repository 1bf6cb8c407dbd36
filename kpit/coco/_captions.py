"""The captions of a captions file, and every image's list of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kpit.coco._columns import IntArray, check_unique_ids, column, id_column, is_int
from kpit.coco._images import ImageTable
from kpit.coco._read import CocoFile
from kpit.errors import DataError


@dataclass(slots=True)
class RawCaptions:
    """The captions of a captions file, before the image table is known.

    ``texts`` are stripped of surrounding white space; ``untrimmed`` holds, by position in
    ``texts``, the file's own text of each caption that had some.
    """

    path: Path
    image_ids: IntArray
    annotation_ids: IntArray
    texts: list[str]
    untrimmed: dict[int, str] = field(default_factory=dict)


def strip_texts(texts: list[str]) -> tuple[list[str], dict[int, str]]:
    """Each text stripped, and the originals of those that changed, by position."""
    stripped = list(map(str.strip, texts))
    changed = {n: text for n, (text, new) in enumerate(zip(texts, stripped, strict=True))
               if len(text) != len(new)}  # fmt: skip
    return stripped, changed


def extract_captions(coco: CocoFile, path: Path) -> RawCaptions:
    """Read the captions of a captions file (surrounding white space removed, and kept aside)."""
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
        texts.append(text)
    stripped, untrimmed = strip_texts(texts)
    annotation_ids = id_column(anns, path)
    check_unique_ids(annotation_ids, path)
    return RawCaptions(
        path=path,
        image_ids=column(anns, "image_id", np.int64, path, is_int, "an integer image id"),
        annotation_ids=annotation_ids,
        texts=stripped,
        untrimmed=untrimmed,
    )


def caption_lists(raw: RawCaptions, images: ImageTable) -> list[tuple[str, ...]]:
    """Every image's captions, in file order."""
    rows = images.rows(raw.image_ids, raw.annotation_ids, raw.path)
    by_image: list[list[str]] = [[] for _ in range(len(images.ids))]
    for row, text in zip(rows.tolist(), raw.texts, strict=True):
        by_image[row].append(text)
    return [tuple(texts) for texts in by_image]


def file_caption_lists(raw: RawCaptions, images: ImageTable) -> dict[int, tuple[str, ...]]:
    """The captions as the file holds them, by image row, of the images where one of them
    has surrounding white space (:attr:`kpit.types.ImageContext.raw_captions`)."""
    if not raw.untrimmed:
        return {}
    rows = images.rows(raw.image_ids, raw.annotation_ids, raw.path).tolist()
    touched = {rows[n] for n in raw.untrimmed}
    by_image: dict[int, list[str]] = {row: [] for row in touched}
    for n, (row, text) in enumerate(zip(rows, raw.texts, strict=True)):
        if row in by_image:
            by_image[row].append(raw.untrimmed.get(n, text))
    return {row: tuple(texts) for row, texts in by_image.items()}
