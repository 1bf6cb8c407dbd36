"""Image contexts from the loader's tables, many images at a time.

Building contexts one image at a time costs a dozen small numpy calls per image; here each
call covers a run of images (the rows of all their people and objects at once), and the
objects are made by ``map`` over whole columns. The contexts equal, field for field, those
built one image at a time. The keypoints of a run's people are one array, and each person's
``keypoint_array`` is a read-only view of its rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise, repeat, starmap
from typing import Any

import numpy as np

from kpit.coco import _tables as tables
from kpit.coco._columns import IntArray
from kpit.coco._images import ImageTable
from kpit.types import Box, ImageContext, ObjectBox, Person

__all__ = ["ContextBuilder"]


def _rows(table: tables.GroupedTable, index: IntArray) -> tuple[IntArray, IntArray]:
    """The rows of the images ``index``, in that order, and each image's number of rows."""
    starts = table.offsets[index]
    counts = table.offsets[index + 1] - starts
    ends = np.cumsum(counts)
    rows = np.arange(int(ends[-1]) if len(ends) else 0) + np.repeat(starts - ends + counts, counts)
    return rows, counts


def _nothing() -> Iterable[tuple[Any, ...]]:
    """An empty tuple for every image (``map`` stops at the shortest of its columns)."""
    return repeat(())


def _split(items: list[Any], counts: IntArray) -> list[tuple[Any, ...]]:
    """``items`` cut into consecutive tuples of ``counts`` items."""
    bounds = [0, *np.cumsum(counts).tolist()]
    return [tuple(items[a:b]) for a, b in pairwise(bounds)]


class ContextBuilder:
    """Builds the :class:`ImageContext` of any images of the loaded tables."""

    def __init__(
        self,
        images: ImageTable,
        captions: list[tuple[str, ...]] | None,
        people: tables.PeopleTable | None,
        objects: tables.ObjectTable | None,
        raw_captions: dict[int, tuple[str, ...]] | None = None,
    ) -> None:
        self._images = images
        self._captions = captions
        self._raw_captions = raw_captions or {}
        self._people = people
        self._objects = objects
        self._names = np.array(objects.names, dtype=object) if objects is not None else None

    def build(self, index: IntArray) -> list[ImageContext]:
        """The contexts of the images at ``index`` (rows of the image table), in that order."""
        images = self._images
        order: list[int] = index.tolist()
        widths = images.widths[index]
        heights = images.heights[index]
        captions: Iterable[tuple[str, ...]] = _nothing()
        if self._captions is not None:
            captions = [self._captions[i] for i in order]
        objects: Iterable[tuple[ObjectBox, ...]] = _nothing()
        if self._objects is not None:
            objects = self._build_objects(index)
        people: Iterable[tuple[Person, ...]] = _nothing()
        if self._people is not None:
            people = self._build_people(index, widths, heights)
        file_names = [images.file_names[i] for i in order]
        ids, sizes = images.ids[index].tolist(), (widths.tolist(), heights.tolist())
        raw = self._raw_captions
        if not raw:
            return list(map(ImageContext, ids, file_names, *sizes, captions, objects, people))
        as_in_file = [raw.get(i) for i in order]
        return list(map(ImageContext, ids, file_names, *sizes, captions, objects, people,
                        as_in_file))  # fmt: skip

    def _build_objects(self, index: IntArray) -> list[tuple[ObjectBox, ...]]:
        table = self._objects
        assert table is not None and self._names is not None
        rows, counts = _rows(table, index)
        boxes = starmap(Box, (table.boxes[rows] / tables.SCALE).tolist())
        names = self._names[table.categories[rows]].tolist()
        objects = list(map(ObjectBox, names, boxes, table.crowd[rows].tolist()))
        return _split(objects, counts)

    def _build_people(
        self, index: IntArray, widths: IntArray, heights: IntArray
    ) -> list[tuple[Person, ...]]:
        table = self._people
        assert table is not None
        rows, counts = _rows(table, index)
        keypoints = table.keypoints[rows].astype(np.float64)
        keypoints[..., :2] /= tables.SCALE
        keypoints.setflags(write=False)
        boxes = starmap(Box, (table.boxes[rows] / tables.SCALE).tolist())
        sizes = zip(
            np.repeat(widths, counts).tolist(), np.repeat(heights, counts).tolist(), strict=True
        )
        people = list(
            map(
                Person,
                boxes,
                keypoints,
                repeat(table.layout),
                table.annotation_ids[rows].tolist(),
                sizes,
            )
        )
        return _split(people, counts)
