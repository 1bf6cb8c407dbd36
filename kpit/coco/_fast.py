"""Typed decoding of well-formed COCO files: the fast path of :func:`kpit.load_coco`.

Each kind of file is decoded with :mod:`msgspec` into small structs that hold only the fields
kpit reads, so the outlines (``segmentation``) and every other unused field are skipped
without becoming Python objects, and the checks run on whole columns. The result is the same
``Raw*`` table and the same registered images as the record-by-record path of
:mod:`kpit.coco._people`, :mod:`kpit.coco._objects` and :mod:`kpit.coco._captions` produce.

This path never reports an error itself. On anything it does not accept as it is (a value of
the wrong type, a missing field, a repeated id, COCO-WholeBody's extra fields, ...) it raises
:class:`Fallback` before changing anything, and the loader reads the file again with the
record-by-record path, which either reads it (the few valid files this path leaves to it) or
raises the error naming the file, the record and the field. Errors and results are therefore
the record-by-record path's, whichever path reads a file.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import numpy as np
import numpy.typing as npt

from kpit.coco._captions import RawCaptions, strip_texts
from kpit.coco._columns import BoolArray, FloatArray, IntArray, lookup
from kpit.coco._images import ImageRegistry
from kpit.coco._objects import RawObjects, category_names
from kpit.coco._people import RawPeople, keypoint_category, note_other_categories
from kpit.coco._read import check_ids
from kpit.errors import DataError

__all__ = ["Fallback", "read_captions", "read_objects", "read_people"]


class Fallback(Exception):
    """The file is not one the fast path reads as it is; read it record by record."""


# --- what is decoded -----------------------------------------------------------------------


class _Image(msgspec.Struct, gc=False):
    id: int
    file_name: str
    width: int | float
    height: int | float


class _Caption(msgspec.Struct, gc=False):
    id: int
    image_id: int
    caption: str | None = None
    iscrowd: int = 0


# Numbers as ints or floats, as written: small ints are shared objects, floats are not.
_Numbers = list[int | float]


class _Instance(msgspec.Struct, gc=False):
    id: int
    image_id: int
    category_id: int
    bbox: _Numbers | None = None
    iscrowd: int = 0


_UNSET: Any = msgspec.UNSET


class _Person(msgspec.Struct, gc=False):
    id: int
    image_id: int
    category_id: int
    bbox: _Numbers | None = None
    keypoints: _Numbers | None = None
    iscrowd: int = 0
    # COCO-WholeBody's people have feet (and face and hands): the slow path reads them.
    foot_kpts: msgspec.Raw | msgspec.UnsetType = _UNSET


class _CaptionFile(msgspec.Struct, gc=False):
    images: list[_Image]
    annotations: list[_Caption]
    categories: list[dict[str, Any]] | None = None


class _InstanceFile(msgspec.Struct, gc=False):
    images: list[_Image]
    annotations: list[_Instance]
    categories: list[dict[str, Any]]


class _PersonFile(msgspec.Struct, gc=False):
    images: list[_Image]
    annotations: list[_Person]
    categories: list[dict[str, Any]]


_File = TypeVar("_File", _CaptionFile, _InstanceFile, _PersonFile)

_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def _decode(path: Path, schema: type[_File]) -> _File:
    decoder = _DECODERS.get(schema)
    if decoder is None:
        decoder = _DECODERS[schema] = msgspec.json.Decoder(schema)
    try:
        raw = path.read_bytes()
    except OSError:
        raise Fallback from None
    try:
        decoded: _File = decoder.decode(raw)
    except msgspec.DecodeError:  # ValidationError included
        raise Fallback from None
    return decoded


# --- columns -------------------------------------------------------------------------------


def _ints(values: list[Any]) -> IntArray:
    """A column of ints as int64; one outside int64 sends the file to the slow path."""
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        raise Fallback from None


def _numbers(rows: list[Any], width: int) -> FloatArray:
    """Lists of ``width`` numbers as an ``(N, width)`` float array.

    Numbers of 2**63 or more are left to the slow path, which reads huge ints its own way.
    """
    if None in rows or set(map(len, rows)) - {width}:
        raise Fallback
    array = _floats(rows).reshape(len(rows), width)
    if not (np.abs(array) < 2**63).all():  # NaN and infinity fail too
        raise Fallback
    return array


def _floats(values: list[Any]) -> FloatArray:
    try:
        return np.array(values, dtype=np.float64)
    except OverflowError:  # an int too large for a float
        raise Fallback from None


def _column(records: list[Any], name: str) -> list[Any]:
    return list(map(attrgetter(name), records))


def _check_categories(categories: list[dict[str, Any]] | None, path: Path) -> None:
    try:
        check_ids(categories or [], path, "categories", "category")
    except DataError:
        raise Fallback from None


def _boxes(records: list[Any]) -> FloatArray:
    """``bbox`` of every record as ``(N, 4)`` pixels; a negative size goes to the slow path."""
    xywh = _numbers(_column(records, "bbox"), 4)
    if ((xywh[:, 2] < 0) | (xywh[:, 3] < 0)).any():
        raise Fallback
    return xywh


@dataclass(frozen=True, slots=True)
class _Columns:
    """What every annotation of a file has, checked as the slow path checks it."""

    ids: IntArray
    image_ids: IntArray
    category_ids: IntArray | None
    crowd: BoolArray


def _columns(anns: list[Any], with_category: bool) -> _Columns:
    """Integer ids in int64, no annotation id twice, ``iscrowd`` 0 or 1; else :class:`Fallback`."""
    ids = _ints(_column(anns, "id"))
    ordered = np.sort(ids)
    if (ordered[1:] == ordered[:-1]).any():
        raise Fallback
    crowd = _column(anns, "iscrowd")
    if not set(crowd) <= {0, 1}:
        raise Fallback
    return _Columns(
        ids=ids,
        image_ids=_ints(_column(anns, "image_id")),
        category_ids=_ints(_column(anns, "category_id")) if with_category else None,
        crowd=np.array(crowd, dtype=bool).reshape(len(anns)),
    )


def _selected(records: list[Any], keep: npt.NDArray[np.bool_]) -> list[Any]:
    return list(itertools.compress(records, keep.tolist()))


def _register(decoded: _CaptionFile | _InstanceFile | _PersonFile,
              registry: ImageRegistry, path: Path) -> None:  # fmt: skip
    """Add the file's images to ``registry``: the last step, once all else is accepted."""
    images = decoded.images
    ids = _column(images, "id")
    names = _column(images, "file_name")
    sizes = _floats([_column(images, "width"), _column(images, "height")]).reshape(2, -1)
    whole = (sizes >= 1) & (sizes < 2**31) & (np.floor(sizes) == sizes)
    if not whole.all() or "" in names:
        raise Fallback
    if not registry.add_columns(_ints(ids), names, sizes.astype(np.int64), path):
        raise Fallback


# --- the three kinds -----------------------------------------------------------------------


def read_people(path: Path, registry: ImageRegistry) -> RawPeople:
    """The people of a keypoints file, as :func:`kpit.coco._people.extract_people` reads them.

    Raises:
        Fallback: the file is for the record-by-record path (WholeBody, or anything amiss).
    """
    decoded = _decode(path, _PersonFile)
    _check_categories(decoded.categories, path)
    anns = decoded.annotations
    if _column(anns, "foot_kpts").count(_UNSET) < len(anns):
        raise Fallback
    columns = _columns(anns, with_category=True)
    assert columns.category_ids is not None
    try:
        category, layout = keypoint_category(decoded.categories, path)
    except DataError:
        raise Fallback from None
    is_person = columns.category_ids == category["id"]
    people = _selected(anns, is_person)
    count = len(layout)
    raw = RawPeople(
        path=path,
        category=str(category.get("name", "person")),
        layout=layout,
        image_ids=columns.image_ids[is_person],
        annotation_ids=columns.ids[is_person],
        boxes=_boxes(people),
        keypoints=_numbers(_column(people, "keypoints"), 3 * count).reshape(-1, count, 3),
        crowd=columns.crowd[is_person],
        all_annotation_ids=columns.ids,
    )
    _register(decoded, registry, path)
    note_other_categories(path, len(anns) - len(people), category)
    return raw


def read_objects(path: Path, registry: ImageRegistry, skip_ids: IntArray) -> RawObjects:
    """The objects of an instances file, as :func:`kpit.coco._objects.extract_objects` reads them.

    Raises:
        Fallback: the file is for the record-by-record path.
    """
    decoded = _decode(path, _InstanceFile)
    _check_categories(decoded.categories, path)
    anns = decoded.annotations
    columns = _columns(anns, with_category=True)
    assert columns.category_ids is not None
    try:
        names, category_ids = category_names(decoded.categories, path)
    except DataError:
        raise Fallback from None
    keep = ~np.isin(columns.ids, skip_ids)
    known = np.array(category_ids, dtype=np.int64)
    order = np.argsort(known, kind="stable")
    position, unknown = lookup(known[order], columns.category_ids[keep])
    if len(unknown):
        raise Fallback
    raw = RawObjects(
        path=path,
        names=names,
        image_ids=columns.image_ids[keep],
        annotation_ids=columns.ids[keep],
        boxes=_boxes(_selected(anns, keep)),
        categories=order[position].astype(np.int32),
        crowd=columns.crowd[keep],
    )
    _register(decoded, registry, path)
    return raw


def read_captions(path: Path, registry: ImageRegistry) -> RawCaptions:
    """The captions of a captions file, as :func:`kpit.coco._captions.extract_captions` reads them.

    Raises:
        Fallback: the file is for the record-by-record path.
    """
    decoded = _decode(path, _CaptionFile)
    _check_categories(decoded.categories, path)
    anns = decoded.annotations
    columns = _columns(anns, with_category=False)
    texts = _column(anns, "caption")
    if None in texts:
        raise Fallback
    stripped, untrimmed = strip_texts(texts)
    raw = RawCaptions(
        path=path,
        image_ids=columns.image_ids,
        annotation_ids=columns.ids,
        texts=stripped,
        untrimmed=untrimmed,
    )
    _register(decoded, registry, path)
    return raw
