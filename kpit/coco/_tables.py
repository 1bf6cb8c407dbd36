"""The compact numpy tables behind :func:`kpit.load_coco`: people and objects grouped by
image, coordinates quantised to integer thousandths of the image size (exactly three
decimals, in two bytes), and the counts of what was dropped or changed on the way.

Each file is parsed, checked and reduced to arrays before the next one is read, so peak
memory is that of one parsed file plus the tables. Well-formed files are decoded by
:mod:`kpit.coco._fast` into the same ``Raw*`` tables; the record-by-record path reads the
files it leaves (:mod:`kpit.coco._read`, :mod:`kpit.coco._images`, and the ``extract_*``
functions of :mod:`kpit.coco._people`, :mod:`kpit.coco._objects` and
:mod:`kpit.coco._captions`), and names the file, the record and the field of any error.
kpit joins images, annotations and captions itself, column-wise
(:mod:`kpit.coco._columns`); pycocotools' index (``COCO.createIndex``: per-record dicts, 11%
of the load time) would be built only to be thrown away, so the loader does not use it. The
tests check the loader against pycocotools' index on real COCO files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from kpit.coco._columns import BoolArray, FloatArray, IntArray, QuantArray
from kpit.coco._images import ImageTable
from kpit.layouts import COCO_17, KeypointLayout

SCALE = 1000
"""Coordinates are stored as integer multiples of ``1 / SCALE``."""

CrowdPolicy = Literal["skip", "keep"]


@dataclass(slots=True)
class Counts:
    """What the tables dropped or changed: crowd regions, sparse people, clamped values."""

    crowd_regions: int = 0
    crowd_skipped: int = 0
    people_below_min_keypoints: int = 0
    clamped_values: int = 0
    visibility_changed: int = 0


# --- quantisation --------------------------------------------------------------------------


def quantise(values: FloatArray, labelled: BoolArray | None, counts: Counts) -> QuantArray:
    """Round normalised values to thousandths, clamping (and counting) those outside [0, 1].

    The result equals Python's ``round(value, 3)``, as LLaVA's contexts use: values whose
    scaled form lies within float error of a half are rounded by Python itself. Only
    ``labelled`` values are counted when clamped (all, when it is ``None``).
    """
    scaled = values * SCALE
    q = np.floor(scaled + 0.5)
    ties = np.flatnonzero(np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6)
    if len(ties):
        exact = [round(round(v, 3) * SCALE) for v in values.ravel()[ties].tolist()]
        np.put(q, ties, exact)
    outside = (q < 0) | (q > SCALE)
    counts.clamped_values += int(
        np.count_nonzero(outside if labelled is None else outside & labelled)
    )
    return np.clip(q, 0, SCALE).astype(np.int16)


def normalised_boxes(
    xywh: FloatArray, rows: IntArray, images: ImageTable, counts: Counts
) -> QuantArray:
    """Pixel ``[x, y, w, h]`` to clamped ``[x1, y1, x2, y2]`` thousandths."""
    w = images.widths[rows].astype(np.float64)
    h = images.heights[rows].astype(np.float64)
    x, y, bw, bh = xywh.T
    return quantise(np.stack([x / w, y / h, (x + bw) / w, (y + bh) / h], axis=1), None, counts)


# --- tables --------------------------------------------------------------------------------


@dataclass(slots=True)
class GroupedTable:
    """Rows sorted by image, with ``offsets[i]:offsets[i + 1]`` the rows of image ``i``."""

    offsets: IntArray

    def span(self, index: int) -> tuple[int, int]:
        """The row range of image ``index``."""
        return int(self.offsets[index]), int(self.offsets[index + 1])

    def image_of_row(self) -> IntArray:
        """The image index of every row."""
        return np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))


@dataclass(slots=True)
class PeopleTable(GroupedTable):
    """People: boxes and keypoints in thousandths, visibility 0/1/2."""

    boxes: QuantArray  # (P, 4)
    keypoints: QuantArray  # (P, K, 3)
    annotation_ids: IntArray
    layout: KeypointLayout = COCO_17


@dataclass(slots=True)
class ObjectTable(GroupedTable):
    """Object boxes in thousandths, with their category (an index into ``names``)."""

    boxes: QuantArray  # (O, 4)
    categories: npt.NDArray[np.int32]
    crowd: BoolArray
    names: list[str] = field(default_factory=list)


def row_offsets(sorted_rows: IntArray, n_images: int) -> IntArray:
    """The :attr:`GroupedTable.offsets` of rows sorted by image index."""
    return np.searchsorted(sorted_rows, np.arange(n_images + 1)).astype(np.int64)


def group_objects(
    rows: IntArray,
    boxes: QuantArray,
    categories: npt.NDArray[np.int32],
    crowd: BoolArray,
    names: list[str],
    n_images: int,
) -> ObjectTable:
    """Sort object rows by image (stable) into an :class:`ObjectTable`."""
    order = np.argsort(rows, kind="stable")
    return ObjectTable(
        offsets=row_offsets(rows[order], n_images),
        boxes=boxes[order],
        categories=categories[order],
        crowd=crowd[order],
        names=names,
    )


def merge_objects(first: ObjectTable | None, second: ObjectTable | None) -> ObjectTable | None:
    """The rows of two object tables in one, image by image, ``first``'s rows first."""
    if first is None or second is None:
        return first if second is None else second
    names = list(second.names)
    for name in first.names:
        if name not in names:
            names.append(name)
    remap = np.array([names.index(name) for name in first.names], dtype=np.int32)
    return group_objects(
        np.concatenate([first.image_of_row(), second.image_of_row()]),
        np.concatenate([first.boxes, second.boxes]),
        np.concatenate([remap[first.categories], second.categories]),
        np.concatenate([first.crowd, second.crowd]),
        names,
        len(first.offsets) - 1,
    )
