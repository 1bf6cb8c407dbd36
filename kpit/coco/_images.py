"""The images of a split: the registry that collects and checks every file's ``images``,
and the table sorted by id that the annotations are joined to."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kpit.coco._columns import IntArray, lookup
from kpit.coco._read import CocoFile
from kpit.errors import DataError
from kpit.paths import safe_join

_FOLDER = "the image folder"
"""What the messages of a refused file name call the folder it is relative to (loading does
not need the folder, and a name is refused whichever folder it would be joined to)."""

_SUSPECT = re.compile(r"[^ -~]|\.\.|^[\\/]|^.:|^ *$", re.DOTALL)
"""What a plain file name lacks: characters outside printable ASCII, ``..``, the starts of an
absolute name (``/``, ``\\``, a drive), and nothing but spaces. A name without them is safe;
one with them is checked in full by :func:`check_file_name`."""

_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Unicode categories a file name may not hold: control characters (newline, tab, escape),
format characters (the bidirectional overrides such as U+202E, zero-width characters),
lone surrogates and line or paragraph separators. They make a name print as another one,
or break the lines of a log or a JSON-lines file."""


def check_file_name(name: str, *, file: Path, record: str) -> None:
    """Refuse a ``file_name`` that is not a plain name inside the image folder.

    The rule of :func:`kpit.paths.safe_join` (no absolute name, no ``..`` part, no NUL),
    which every command applies again where it opens the image, and no control or invisible
    format character (see :data:`_HIDDEN`).

    Raises:
        DataError: naming ``file``, ``record`` and the field ``file_name``.
    """
    if not _SUSPECT.search(name):
        return
    safe_join(_FOLDER, name, file=file, record=record, field="file_name")
    hidden = next((c for c in name if unicodedata.category(c) in _HIDDEN), None)
    if hidden is not None:
        what = unicodedata.name(hidden, "a control character")
        raise DataError(f"refused: {name!r} holds U+{ord(hidden):04X} ({what}); a file name "
                        "is printable text", file=file, record=record,
                        field="file_name")  # fmt: skip


def plain_names(names: list[str]) -> bool:
    """True when every name passes :func:`check_file_name` (which names the first that does
    not): the fast path's check of a whole column, quick where every name is plain."""
    flat = "".join(names)
    if flat.isascii() and flat.isprintable() and not any(s in flat for s in ("..", ":", " ")):
        starts = "\n" + "\n".join(names)
        if "\n/" not in starts and "\n\\" not in starts and all(names):
            return True
    try:
        for name in filter(_SUSPECT.search, names):
            check_file_name(name, file=Path(), record="")
    except DataError:
        return False
    return True


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
        a file name twice, a file name outside the image folder or with a control character,
        a size or a file name that disagrees with a file read before),
        so that :meth:`add` can name the record.
        """
        id_list: list[int] = ids.tolist()
        if not plain_names(names):
            return False
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
    check_file_name(file_name, file=path, record=record)
    sizes = []
    for key in ("width", "height"):
        value = img.get(key)
        if not _is_pixels(value):
            raise DataError(f"must be a whole number of pixels, 1 or more, not {value!r}",
                            file=path, record=record, field=key)  # fmt: skip
        sizes.append(int(value))  # type: ignore[arg-type]  # checked by _is_pixels
    return image_id, file_name, sizes[0], sizes[1]
