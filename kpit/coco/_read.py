"""Parse a COCO annotation file and check the fields every record needs.

The record-by-record path of :func:`kpit.load_coco` starts here: an unreadable file, invalid
JSON, a missing list or an annotation without an integer id fails with a
:class:`~kpit.errors.DataError` that names the file, the record and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from kpit.errors import DataError


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
