"""The object boxes of an instances file: read as pixels, then normalised into an
:class:`~kpit.coco._tables.ObjectTable`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kpit.coco._columns import (
    BoolArray,
    FloatArray,
    IntArray,
    bbox_column,
    check_unique_ids,
    column,
    crowd_column,
    id_column,
    is_int,
    lookup,
)
from kpit.coco._images import ImageTable
from kpit.coco._read import CocoFile
from kpit.coco._tables import Counts, CrowdPolicy, ObjectTable, group_objects, normalised_boxes
from kpit.errors import DataError


@dataclass(slots=True)
class RawObjects:
    """The annotations of an instances file, in pixels, before the image table is known."""

    path: Path
    names: list[str]
    image_ids: IntArray
    annotation_ids: IntArray
    boxes: FloatArray  # (O, 4) pixels [x, y, w, h]
    categories: npt.NDArray[np.int32]  # index into names
    crowd: BoolArray


def category_names(categories: list[Any], path: Path) -> tuple[list[str], list[int]]:
    """The ``name`` and ``id`` of every category; each must have both."""
    names: list[str] = []
    category_ids: list[int] = []
    for n, cat in enumerate(categories):
        if (
            not isinstance(cat, dict)
            or not is_int(cat.get("id"))
            or not isinstance(cat.get("name"), str)
        ):
            raise DataError(
                "category needs an integer 'id' and a string 'name'",
                file=path,
                record=f"categories[{n}]",
            )
        category_ids.append(cat["id"])
        names.append(cat["name"])
    return names, category_ids


def extract_objects(coco: CocoFile, path: Path, skip_ids: IntArray) -> RawObjects:
    """Read the object boxes of an instances file, leaving out annotations in ``skip_ids``."""
    names, category_ids = category_names(coco.dataset["categories"], path)
    all_anns = coco.dataset["annotations"]
    all_ids = id_column(all_anns, path)
    check_unique_ids(all_ids, path)
    keep = ~np.isin(all_ids, skip_ids)
    anns = [a for a, k in zip(all_anns, keep.tolist(), strict=True) if k]
    annotation_ids = id_column(anns, path)
    wanted = column(anns, "category_id", np.int64, path, is_int, "an integer")
    order = np.argsort(np.array(category_ids, dtype=np.int64), kind="stable")
    sorted_ids = np.array(category_ids, dtype=np.int64)[order]
    position, unknown = lookup(sorted_ids, wanted)
    if len(unknown):
        n = int(unknown[0])
        raise DataError(
            f"unknown category {int(wanted[n])}",
            file=path,
            record=f"annotation {int(annotation_ids[n])}",
            field="category_id",
        )
    return RawObjects(
        path=path,
        names=names,
        image_ids=column(anns, "image_id", np.int64, path, is_int, "an integer image id"),
        annotation_ids=annotation_ids,
        boxes=bbox_column(anns, path),
        categories=order[position].astype(np.int32),
        crowd=crowd_column(anns),
    )


def object_table(
    raw: RawObjects, images: ImageTable, counts: Counts, crowd: CrowdPolicy
) -> ObjectTable:
    """The object table (crowd regions left out unless ``crowd == "keep"``)."""
    rows = images.rows(raw.image_ids, raw.annotation_ids, raw.path)
    boxes = normalised_boxes(raw.boxes, rows, images, counts)
    n_crowd = int(raw.crowd.sum())
    counts.crowd_regions += n_crowd
    kept = np.arange(len(rows))
    if crowd == "skip":
        counts.crowd_skipped += n_crowd
        kept = np.flatnonzero(~raw.crowd)
    return group_objects(
        rows[kept], boxes[kept], raw.categories[kept], raw.crowd[kept], raw.names, len(images.ids)
    )
