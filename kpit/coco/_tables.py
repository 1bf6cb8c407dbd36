"""COCO annotation files to compact numpy tables (the engine behind :func:`kpit.load_coco`).

Each file is parsed, checked and reduced to arrays before the next one is read, so peak
memory is that of one parsed file plus the tables. Well-formed files are decoded by
:mod:`kpit.coco._fast` into the same ``Raw*`` tables; the record-by-record reading here
(``read_coco``, ``ImageRegistry.add``, ``extract_*``) reads the files it leaves, and names the
file, the record and the field of any error. kpit joins images, annotations and
captions itself, column-wise; pycocotools' index (``COCO.createIndex``: per-record dicts, 11%
of the load time) would be built only to be thrown away, so the loader does not use it. The
tests check the loader against pycocotools' index on real COCO files. Coordinates are kept
as integer thousandths of the image size: exactly three decimals, in two bytes.

Checks run on whole columns; when one fails, a slow pass finds the first bad record so the
error can name the file, the record and the field.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import orjson

from kpit.errors import DataError
from kpit.layouts import COCO_17, COCO_WHOLEBODY, WHOLEBODY_PARTS, KeypointLayout
from kpit.layouts import layout_from_category as _layout_from_category

log = logging.getLogger(__name__)

SCALE = 1000
"""Coordinates are stored as integer multiples of ``1 / SCALE``."""

CrowdPolicy = Literal["skip", "keep"]
IntArray = npt.NDArray[np.int64]
QuantArray = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Annotations = Sequence[Mapping[str, Any]]


@dataclass(slots=True)
class Counts:
    """What the tables dropped or changed: crowd regions, sparse people, clamped values."""

    crowd_regions: int = 0
    crowd_skipped: int = 0
    people_below_min_keypoints: int = 0
    clamped_values: int = 0
    visibility_changed: int = 0


# --- parsing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CocoFile:
    """A parsed and checked annotation file: its ``images``, ``annotations``, ``categories``."""

    path: Path
    dataset: dict[str, Any]


def read_coco(path: Path, kind: str) -> CocoFile:
    """Parse an annotation file and check the fields every record needs.

    Ids, image ids and category ids are checked here, so bad data fails with a
    :class:`DataError` naming the record, not a traceback from deep inside numpy.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror}", file=path) from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc}", file=path) from None
    del raw
    if not isinstance(data, dict):
        raise DataError("expected a JSON object with 'images' and 'annotations'", file=path)
    needs_categories = kind != "captions"
    for key in ("images", "annotations", "categories"):
        value = data.get(key)
        if (key != "categories" or needs_categories or value is not None) and not isinstance(
            value, list
        ):
            raise DataError(f"missing or not a list (a {kind} file needs it)", file=path, field=key)
    check_ids(data["images"], path, "images", "image")
    check_ids(data.get("categories") or [], path, "categories", "category")
    _check_annotations(data["annotations"], path, needs_categories)
    return CocoFile(path, data)


_INT64 = 2**63


def _is_id(value: Any) -> bool:
    return type(value) is int and -_INT64 <= value < _INT64


def check_ids(records: list[Any], path: Path, key: str, name: str) -> None:
    """Each record is an object with an integer id, and no id appears twice."""
    seen: set[int] = set()
    for n, record in enumerate(records):
        if not isinstance(record, dict):
            raise DataError(f"{name} entry is not an object", file=path, record=f"{key}[{n}]")
        record_id = record.get("id")
        if not isinstance(record_id, int) or not _is_id(record_id):
            raise DataError(f"missing or not an integer: {record_id!r}", file=path,
                            record=f"{key}[{n}]", field="id")  # fmt: skip
        if record_id in seen:
            raise DataError(f"{name} id {record_id} appears twice", file=path,
                            record=f"{key}[{n}]", field="id")  # fmt: skip
        seen.add(record_id)


def _check_annotations(anns: list[Any], path: Path, needs_category: bool) -> None:
    """Every annotation is an object with integer ``id``, ``image_id`` (and ``category_id``)."""
    fields = ("id", "image_id", "category_id") if needs_category else ("id", "image_id")
    for n, ann in enumerate(anns):
        if type(ann) is not dict:
            raise DataError("annotation is not an object", file=path, record=f"annotations[{n}]")
        for field_name in fields:
            value = ann.get(field_name)
            if type(value) is not int or not -_INT64 <= value < _INT64:
                record = f"annotation {ann['id']}" if field_name != "id" else f"annotations[{n}]"
                raise DataError(f"missing or not an integer: {str(value)[:40]!r}", file=path,
                                record=record, field=field_name)  # fmt: skip
        crowd = ann.get("iscrowd", 0)
        if crowd not in (0, 1) or type(crowd) is float:
            raise DataError(f"must be 0 or 1, not {crowd!r}", file=path,
                            record=f"annotation {ann['id']}", field="iscrowd")  # fmt: skip


# --- images --------------------------------------------------------------------------------


@dataclass(slots=True)
class ImageTable:
    """All images of the split, sorted by id."""

    ids: IntArray
    file_names: list[str]
    widths: IntArray
    heights: IntArray

    def rows(self, image_ids: IntArray, ann_ids: IntArray, path: Path) -> IntArray:
        """The row of each annotation's image; an unknown image is an error naming it."""
        rows, unknown = lookup(self.ids, image_ids)
        if len(unknown):
            n = int(unknown[0])
            raise DataError(
                f"refers to image {int(image_ids[n])}, which no loaded file lists",
                file=path,
                record=f"annotation {int(ann_ids[n])}",
                field="image_id",
            )
        return rows


class ImageRegistry:
    """Collects the ``images`` of every file and checks that they agree."""

    def __init__(self) -> None:
        self._images: dict[int, tuple[str, int, int]] = {}
        self._sources: dict[int, Path] = {}
        self._by_name: dict[str, int] = {}

    def add(self, coco: CocoFile, path: Path) -> None:
        """Add the images of one file; two images with one file name are an error."""
        for n, img in enumerate(coco.dataset["images"]):
            image_id, file_name, width, height = _image_record(img, path, n)
            known = self._images.get(image_id)
            if known is None:
                other = self._by_name.setdefault(file_name, image_id)
                if other != image_id:
                    raise DataError(
                        f"file name {file_name!r} is also image {other}'s (in "
                        f"{self._sources[other]}): one file cannot be two images",
                        file=path,
                        record=f"image {image_id}",
                        field="file_name",
                    )
                self._images[image_id] = (file_name, width, height)
                self._sources[image_id] = path
            elif known[1:] != (width, height):
                raise DataError(
                    f"size {width}x{height} disagrees with {known[1]}x{known[2]} "
                    f"in {self._sources[image_id]}",
                    file=path,
                    record=f"image {image_id}",
                    field="width",
                )

    def add_columns(self, ids: IntArray, names: list[str], sizes: IntArray, path: Path) -> bool:
        """Add checked images given as columns (``sizes``: widths, then heights).

        Returns False, adding nothing, when :meth:`add` would find fault with them (an id or
        a file name twice, a size or a file name that disagrees with a file read before),
        so that :meth:`add` can name the record.
        """
        id_list: list[int] = ids.tolist()
        rows = list(zip(names, sizes[0].tolist(), sizes[1].tolist(), strict=True))
        new = dict(zip(id_list, rows, strict=True))
        if len(new) < len(id_list) or len(set(names)) < len(names):
            return False
        if not self._images:
            self._images = new
            self._sources = dict.fromkeys(id_list, path)
            self._by_name = dict(zip(names, id_list, strict=True))
            return True
        if new == self._images:  # the usual case: every file of a split lists the same images
            return True
        added = []
        for image_id, row in new.items():
            known = self._images.get(image_id)
            if known is None:
                if self._by_name.get(row[0], image_id) != image_id:
                    return False
                added.append(image_id)
            elif known[1:] != row[1:]:
                return False
        for image_id in added:
            row = new[image_id]
            self._images[image_id] = row
            self._sources[image_id] = path
            self._by_name[row[0]] = image_id
        return True

    def table(self) -> ImageTable:
        """The images as a table sorted by id."""
        ids = sorted(self._images)
        rows = [self._images[i] for i in ids]
        return ImageTable(
            ids=np.array(ids, dtype=np.int64),
            file_names=[r[0] for r in rows],
            widths=np.array([r[1] for r in rows], dtype=np.int64),
            heights=np.array([r[2] for r in rows], dtype=np.int64),
        )


def _is_pixels(value: Any) -> bool:
    """A whole, positive image size (``640`` or ``640.0``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return float(value).is_integer() and 1 <= value < 2**31


def _image_record(img: Any, path: Path, n: int) -> tuple[int, str, int, int]:
    if not isinstance(img, dict):
        raise DataError("image entry is not an object", file=path, record=f"images[{n}]")
    image_id = img.get("id")
    if not isinstance(image_id, int) or isinstance(image_id, bool):
        raise DataError("missing or not an integer", file=path, record=f"images[{n}]", field="id")
    record = f"image {image_id}"
    file_name = img.get("file_name")
    if not isinstance(file_name, str) or not file_name:
        raise DataError("missing or not a string", file=path, record=record, field="file_name")
    sizes = []
    for key in ("width", "height"):
        value = img.get(key)
        if not _is_pixels(value):
            raise DataError(f"must be a whole number of pixels, 1 or more, not {value!r}",
                            file=path, record=record, field=key)  # fmt: skip
        sizes.append(int(value))  # type: ignore[arg-type]  # checked by _is_pixels
    return image_id, file_name, sizes[0], sizes[1]


# --- columns -------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def lookup(sorted_keys: IntArray, values: IntArray) -> tuple[IntArray, IntArray]:
    """Positions of ``values`` in ``sorted_keys``, and the indices of values not found."""
    if len(sorted_keys) == 0:
        return np.zeros(len(values), np.int64), np.arange(len(values))
    position = np.searchsorted(sorted_keys, values).clip(0, len(sorted_keys) - 1)
    return position.astype(np.int64), np.flatnonzero(sorted_keys[position] != values)


def _ids(anns: Annotations, path: Path) -> IntArray:
    """The ``id`` of every annotation (presence checked by :func:`read_coco`)."""
    return _column(anns, "id", np.int64, path, _is_int, "an integer id")


def _check_unique(ids: IntArray, path: Path) -> None:
    """No annotation id appears twice in a file (a sort, then a look at neighbours)."""
    if len(ids) < 2:
        return
    order = np.argsort(ids, kind="stable")
    same = np.flatnonzero(ids[order][1:] == ids[order][:-1])
    if len(same):
        # Of all repeats, name the one whose second appearance comes first in the file.
        firsts, seconds = order[same], order[same + 1]
        pick = int(np.argmin(seconds))
        first, second = int(firsts[pick]), int(seconds[pick])
        raise DataError(f"annotation id {int(ids[second])} appears twice (also annotations"
                        f"[{first}])", file=path, record=f"annotations[{second}]",
                        field="id")  # fmt: skip


def _column(
    anns: Annotations,
    key: str,
    dtype: type[np.generic],
    path: Path,
    check: Callable[[Any], bool],
    expected: str,
) -> npt.NDArray[Any]:
    """One scalar field of every annotation as an array."""
    try:
        return np.fromiter((a[key] for a in anns), dtype=dtype, count=len(anns))
    except (KeyError, TypeError, ValueError):
        _raise_first_bad(anns, key, path, check, expected)
        raise  # _raise_first_bad always finds the record numpy stumbled on


def _matrix(anns: Annotations, key: str, width: int, path: Path, expected: str) -> FloatArray:
    """A list field of fixed length of every annotation, as an ``(N, width)`` array."""

    def check(value: Any) -> bool:
        return (
            isinstance(value, list)
            and len(value) == width
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        )

    try:
        # No dtype: numbers give a numeric array, while a string anywhere gives text,
        # which is caught below instead of being converted silently.
        array = np.array([a[key] for a in anns])
        if not anns:
            return np.zeros((0, width))
        if array.shape == (len(anns), width) and array.dtype.kind in "iuf":
            return array.astype(np.float64, copy=False)
    except (KeyError, TypeError, ValueError):
        pass
    _raise_first_bad(anns, key, path, check, expected)
    raise DataError(f"expected {expected}", file=path, field=key)


def _raise_first_bad(
    anns: Annotations, key: str, path: Path, check: Callable[[Any], bool], expected: str
) -> None:
    for ann in anns:
        record = f"annotation {ann['id']}"
        if key not in ann:
            raise DataError("missing", file=path, record=record, field=key)
        value = ann[key]
        if not check(value):
            shown = f"{len(value)} values" if isinstance(value, list) else repr(value)[:40]
            raise DataError(
                f"expected {expected}, got {shown}", file=path, record=record, field=key
            )


def _crowd_flags(anns: Annotations) -> BoolArray:
    """COCO's ``iscrowd`` of every annotation (absent means 0)."""
    return np.fromiter((a.get("iscrowd", 0) == 1 for a in anns), dtype=bool, count=len(anns))


def _boxes(anns: Annotations, path: Path) -> FloatArray:
    """Every annotation's ``bbox`` as ``(N, 4)`` pixels ``[x, y, w, h]``."""
    xywh = _matrix(anns, "bbox", 4, path, "[x, y, width, height]")
    negative = np.flatnonzero((xywh[:, 2] < 0) | (xywh[:, 3] < 0))
    if len(negative):
        ann = anns[int(negative[0])]
        raise DataError(
            f"negative width or height {ann['bbox']}",
            file=path,
            record=f"annotation {ann['id']}",
            field="bbox",
        )
    return xywh


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


def _offsets(sorted_rows: IntArray, n_images: int) -> IntArray:
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
        offsets=_offsets(rows[order], n_images),
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


# --- people --------------------------------------------------------------------------------


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
    all_ids = _ids(all_anns, path)
    _check_unique(all_ids, path)
    anns = [a for a in all_anns if a["category_id"] == category["id"]]
    note_other_categories(path, len(all_anns) - len(anns), category)
    parts = WHOLEBODY_PARTS if wholebody else (("keypoints", len(layout)),)
    keypoints = np.concatenate(
        [
            _matrix(anns, key, 3 * n, path, f"{3 * n} values ({n} points x 3)").reshape(-1, n, 3)
            for key, n in parts
        ],
        axis=1,
    )
    return RawPeople(
        path=path,
        category=str(category.get("name", "person")),
        layout=layout,
        image_ids=_column(anns, "image_id", np.int64, path, _is_int, "an integer image id"),
        annotation_ids=_ids(anns, path),
        boxes=_boxes(anns, path),
        keypoints=keypoints,
        crowd=_crowd_flags(anns),
        all_annotation_ids=all_ids,
    )


def people_table(
    raw: RawPeople, images: ImageTable, counts: Counts, crowd: CrowdPolicy, min_keypoints: int
) -> tuple[PeopleTable, ObjectTable | None]:
    """The people table, and the crowd regions as objects when ``crowd == "keep"``."""
    rows = images.rows(raw.image_ids, raw.annotation_ids, raw.path)
    boxes = normalised_boxes(raw.boxes, rows, images, counts)
    raw_v = raw.keypoints[..., 2]
    # COCO's 0/1/2; COCO-WholeBody's face and hand points carry scores in (0, 1]: any
    # positive value is labelled, and only a value of 2 (or more) is "visible".
    labelled = raw_v > 0
    visibility = np.where(raw_v >= 1.5, 2, np.where(labelled, 1, 0))
    counts.visibility_changed += int(np.count_nonzero(~np.isin(raw_v, (0, 1, 2))))
    w = images.widths[rows].astype(np.float64)[:, None]
    h = images.heights[rows].astype(np.float64)[:, None]
    keypoints = np.empty(raw.keypoints.shape, dtype=np.int16)
    keypoints[..., 0] = np.where(labelled, quantise(raw.keypoints[..., 0] / w, labelled, counts), 0)
    keypoints[..., 1] = np.where(labelled, quantise(raw.keypoints[..., 1] / h, labelled, counts), 0)
    keypoints[..., 2] = visibility

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
        offsets=_offsets(rows[order], n_images),
        boxes=boxes[order],
        keypoints=keypoints[order],
        annotation_ids=raw.annotation_ids[order],
        layout=raw.layout,
    )
    return table, crowd_objects


# --- objects -------------------------------------------------------------------------------


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
            or not _is_int(cat.get("id"))
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
    all_ids = _ids(all_anns, path)
    _check_unique(all_ids, path)
    keep = ~np.isin(all_ids, skip_ids)
    anns = [a for a, k in zip(all_anns, keep.tolist(), strict=True) if k]
    annotation_ids = _ids(anns, path)
    wanted = _column(anns, "category_id", np.int64, path, _is_int, "an integer")
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
        image_ids=_column(anns, "image_id", np.int64, path, _is_int, "an integer image id"),
        annotation_ids=annotation_ids,
        boxes=_boxes(anns, path),
        categories=order[position].astype(np.int32),
        crowd=_crowd_flags(anns),
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


# --- captions ------------------------------------------------------------------------------


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
    annotation_ids = _ids(anns, path)
    _check_unique(annotation_ids, path)
    return RawCaptions(
        path=path,
        image_ids=_column(anns, "image_id", np.int64, path, _is_int, "an integer image id"),
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
