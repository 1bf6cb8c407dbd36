"""The people of a keypoints file (COCO-17, COCO-WholeBody or another layout): read as
pixels, then normalised into a :class:`~kpit.coco._tables.PeopleTable`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kpit.coco._columns import (
    BoolArray,
    FloatArray,
    IntArray,
    QuantArray,
    bbox_column,
    check_unique_ids,
    column,
    crowd_column,
    id_column,
    is_int,
    matrix,
)
from kpit.coco._images import ImageTable
from kpit.coco._read import CocoFile
from kpit.coco._tables import (
    Counts,
    CrowdPolicy,
    ObjectTable,
    PeopleTable,
    group_objects,
    normalised_boxes,
    quantise,
    row_offsets,
)
from kpit.errors import DataError
from kpit.layouts import COCO_17, COCO_WHOLEBODY, WHOLEBODY_PARTS, KeypointLayout
from kpit.layouts import layout_from_category as _layout_from_category

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RawPeople:
    """The annotations of a keypoints file, in pixels, before the image table is known."""

    path: Path
    category: str
    layout: KeypointLayout
    image_ids: IntArray
    annotation_ids: IntArray
    boxes: FloatArray  # (P, 4) pixels [x, y, w, h]
    keypoints: FloatArray  # (P, K, 3) pixels, visibility
    crowd: BoolArray
    all_annotation_ids: IntArray  # every annotation of the file, people or not


def keypoint_category(
    categories: list[Any], path: Path
) -> tuple[Mapping[str, Any], KeypointLayout]:
    """The one category of a file that names keypoints, and the layout it describes."""
    with_points = [c for c in categories if isinstance(c, dict) and c.get("keypoints")]
    if not with_points:
        raise DataError("no category lists keypoint names", file=path, field="categories")
    if len(with_points) > 1:
        names = ", ".join(repr(c.get("name")) for c in with_points)
        raise DataError(
            f"several keypoint categories ({names}); kpit reads one per file",
            file=path,
            field="categories",
        )
    category = with_points[0]
    try:
        layout = _layout_from_category(category)
    except (ValueError, TypeError) as exc:
        field_name = "skeleton" if "skeleton" in str(exc) else "keypoints"
        raise DataError(
            str(exc), file=path, record=f"category {category.get('id')}", field=field_name
        ) from None
    return category, layout


def _keypoint_category(
    coco: CocoFile, path: Path
) -> tuple[Mapping[str, Any], KeypointLayout, bool]:
    """The keypoint category of a file, its layout, and whether the file is COCO-WholeBody."""
    category, layout = keypoint_category(coco.dataset["categories"], path)
    # WholeBody files add the feet, face and hands as extra fields of each person.
    wholebody = any(
        a["category_id"] == category["id"] and all(part in a for part, _ in WHOLEBODY_PARTS[1:])
        for a in coco.dataset["annotations"]
    )
    if wholebody:
        if layout.names != COCO_17.names:
            raise DataError(
                "a COCO-WholeBody file must list COCO's 17 body keypoints",
                file=path,
                field="categories",
            )
        layout = COCO_WHOLEBODY
    return category, layout, wholebody


def note_other_categories(path: Path, count: int, category: Mapping[str, Any]) -> None:
    """Log that ``count`` annotations of a keypoints file are not of its keypoint category."""
    if count:
        log.warning("%s: %d annotations of other categories than %r are not people",
                    path, count, category.get("name"))  # fmt: skip


def extract_people(coco: CocoFile, path: Path) -> RawPeople:
    """Read the people of a keypoints file (COCO-17, WholeBody or another layout)."""
    category, layout, wholebody = _keypoint_category(coco, path)
    all_anns = coco.dataset["annotations"]
    all_ids = id_column(all_anns, path)
    check_unique_ids(all_ids, path)
    anns = [a for a in all_anns if a["category_id"] == category["id"]]
    note_other_categories(path, len(all_anns) - len(anns), category)
    parts = WHOLEBODY_PARTS if wholebody else (("keypoints", len(layout)),)
    keypoints = np.concatenate(
        [
            matrix(anns, key, 3 * n, path, f"{3 * n} values ({n} points x 3)").reshape(-1, n, 3)
            for key, n in parts
        ],
        axis=1,
    )
    return RawPeople(
        path=path,
        category=str(category.get("name", "person")),
        layout=layout,
        image_ids=column(anns, "image_id", np.int64, path, is_int, "an integer image id"),
        annotation_ids=id_column(anns, path),
        boxes=bbox_column(anns, path),
        keypoints=keypoints,
        crowd=crowd_column(anns),
        all_annotation_ids=all_ids,
    )


def people_table(
    raw: RawPeople, images: ImageTable, counts: Counts, crowd: CrowdPolicy, min_keypoints: int
) -> tuple[PeopleTable, ObjectTable | None]:
    """The people table, and the crowd regions as objects when ``crowd == "keep"``."""
    rows = images.rows(raw.image_ids, raw.annotation_ids, raw.path)
    boxes = normalised_boxes(raw.boxes, rows, images, counts)
    keypoints, labelled = _normalised_keypoints(raw.keypoints, rows, images, counts)
    n_images = len(images.ids)
    counts.crowd_regions += int(raw.crowd.sum())
    crowd_rows = np.flatnonzero(raw.crowd)
    crowd_objects = None
    if crowd == "skip":
        counts.crowd_skipped += len(crowd_rows)
    elif len(crowd_rows):
        crowd_objects = group_objects(
            rows[crowd_rows],
            boxes[crowd_rows],
            np.zeros(len(crowd_rows), np.int32),
            np.ones(len(crowd_rows), bool),
            [raw.category],
            n_images,
        )
    enough = labelled.sum(axis=1) >= min_keypoints
    counts.people_below_min_keypoints += int(np.count_nonzero(~raw.crowd & ~enough))
    kept = np.flatnonzero(~raw.crowd & enough)
    order = kept[np.argsort(rows[kept], kind="stable")]
    table = PeopleTable(
        offsets=row_offsets(rows[order], n_images),
        boxes=boxes[order],
        keypoints=keypoints[order],
        annotation_ids=raw.annotation_ids[order],
        layout=raw.layout,
    )
    return table, crowd_objects


def _normalised_keypoints(
    pixels: FloatArray, rows: IntArray, images: ImageTable, counts: Counts
) -> tuple[QuantArray, BoolArray]:
    """Pixel keypoints ``(P, K, 3)`` in thousandths with visibility 0/1/2, and which are
    labelled (an unlabelled point's coordinates are 0)."""
    raw_v = pixels[..., 2]
    # COCO's 0/1/2; COCO-WholeBody's face and hand points carry scores in (0, 1]: any
    # positive value is labelled, and only a value of 2 (or more) is "visible".
    labelled = raw_v > 0
    visibility = np.where(raw_v >= 1.5, 2, np.where(labelled, 1, 0))
    counts.visibility_changed += int(np.count_nonzero(~np.isin(raw_v, (0, 1, 2))))
    w = images.widths[rows].astype(np.float64)[:, None]
    h = images.heights[rows].astype(np.float64)[:, None]
    keypoints = np.empty(pixels.shape, dtype=np.int16)
    keypoints[..., 0] = np.where(labelled, quantise(pixels[..., 0] / w, labelled, counts), 0)
    keypoints[..., 1] = np.where(labelled, quantise(pixels[..., 1] / h, labelled, counts), 0)
    keypoints[..., 2] = visibility
    return keypoints, labelled
