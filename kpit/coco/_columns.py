"""Fields of every annotation as numpy columns, checked as a whole.

Each column is built in one go; when numpy stumbles (a missing field, a string among
numbers, a list of the wrong length), a slow pass finds the first bad record so the
:class:`~kpit.errors.DataError` can name the file, the record and the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kpit.errors import DataError

IntArray = npt.NDArray[np.int64]
QuantArray = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Annotations = Sequence[Mapping[str, Any]]


def is_int(value: Any) -> bool:
    """An integer, and not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def lookup(sorted_keys: IntArray, values: IntArray) -> tuple[IntArray, IntArray]:
    """Positions of ``values`` in ``sorted_keys``, and the indices of values not found."""
    if len(sorted_keys) == 0:
        return np.zeros(len(values), np.int64), np.arange(len(values))
    position = np.searchsorted(sorted_keys, values).clip(0, len(sorted_keys) - 1)
    return position.astype(np.int64), np.flatnonzero(sorted_keys[position] != values)


def id_column(anns: Annotations, path: Path) -> IntArray:
    """The ``id`` of every annotation (presence checked by :func:`read_coco`)."""
    return column(anns, "id", np.int64, path, is_int, "an integer id")


def check_unique_ids(ids: IntArray, path: Path) -> None:
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


def column(
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


def matrix(anns: Annotations, key: str, width: int, path: Path, expected: str) -> FloatArray:
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


def crowd_column(anns: Annotations) -> BoolArray:
    """COCO's ``iscrowd`` of every annotation (absent means 0)."""
    return np.fromiter((a.get("iscrowd", 0) == 1 for a in anns), dtype=bool, count=len(anns))


def bbox_column(anns: Annotations, path: Path) -> FloatArray:
    """Every annotation's ``bbox`` as ``(N, 4)`` pixels ``[x, y, w, h]``."""
    xywh = matrix(anns, "bbox", 4, path, "[x, y, width, height]")
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
