"""Keep benchmark images out of training data.

COCO 2014 and 2017 are the same images under the same ids (train2017 holds most of
val2014), so a benchmark drawn from val2014 overlaps a training set made from train2017
unless someone checks. :func:`read_image_ids` collects the ids to keep apart from any of:

- a benchmark folder (``kpit bench build``'s ``manifest.json`` or its ``questions.jsonl``),
- a run folder (its samples' images),
- a COCO annotation file (its ``images``; for ``kpit bench build --disjoint-from``),
- a LLaVA JSON file or a JSONL file with ``image`` fields,
- a text file with one image id or file name per line (``#`` starts a comment).

Ids are matched whatever the file naming: ``COCO_val2014_000000000785.jpg``,
``000000000785.jpg`` and ``785`` are the same image (:func:`image_id_of`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kpit.errors import ConfigError, DataError
from kpit.jsonl import read_jsonl

__all__ = ["ExcludeImages", "check_disjoint", "image_id_of", "read_image_ids", "source_paths"]

PathLike = str | os.PathLike[str]
ExcludeImages = PathLike | Iterable[PathLike] | None
"""What ``exclude_images=`` takes: a source, several, or ``None``."""

_DIGITS = re.compile(r"(\d+)$")


def image_id_of(name: str | int) -> int | None:
    """The COCO image id in an id or a file name (its stem's trailing digits), else ``None``."""
    if isinstance(name, int) and not isinstance(name, bool):
        return name
    match = _DIGITS.search(Path(str(name).strip()).stem)
    return int(match.group(1)) if match else None


def _ids_of_names(names: Iterable[Any], source: Path, field: str) -> set[int]:
    ids = set()
    for name in names:
        image_id = image_id_of(name) if isinstance(name, (str, int)) else None
        if image_id is None:
            raise DataError(f"no image id in {str(name)[:60]!r}", file=source, field=field)
        ids.add(image_id)
    return ids


def _jsonl_images(path: Path) -> set[int]:
    names = []
    for _, record in read_jsonl(path):
        meta = record["meta"] if isinstance(record.get("meta"), dict) else {}
        value = record.get("image_id", meta.get("image_id", record.get("image")))
        if value is not None:
            names.append(value)
    return _ids_of_names(names, path, "image")


def _json_images(path: Path) -> set[int]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg}", file=path) from None
    if isinstance(data, dict) and isinstance(data.get("image_ids"), list):  # a bench manifest
        return _ids_of_names(data["image_ids"], path, "image_ids")
    if isinstance(data, dict) and isinstance(data.get("images"), list):  # COCO annotations
        return _ids_of_names((i.get("id") for i in data["images"] if isinstance(i, dict)), path,
                             "images")  # fmt: skip
    if isinstance(data, list):  # LLaVA training JSON
        return _ids_of_names((r.get("image") for r in data if isinstance(r, dict)), path, "image")
    raise DataError("not a benchmark manifest, COCO annotation file or LLaVA JSON", file=path)


def _folder_images(folder: Path) -> set[int]:
    for name in ("manifest.json", "questions.jsonl", "samples.jsonl", "context.jsonl"):
        path = folder / name
        if not path.is_file():
            continue
        if name == "manifest.json":
            manifest = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(manifest, dict) and isinstance(manifest.get("image_ids"), list):
                return _ids_of_names(manifest["image_ids"], path, "image_ids")
            continue  # a run's manifest: its samples name the images
        return _jsonl_images(path)
    raise DataError("not a benchmark or run folder (no questions.jsonl or samples.jsonl)",
                    file=folder)  # fmt: skip


def _text_images(path: Path) -> set[int]:
    ids = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        image_id = image_id_of(entry)
        if image_id is None:
            raise DataError(f"no image id in {entry[:60]!r}", file=path, record=f"line {n}")
        ids.add(image_id)
    return ids


def source_paths(sources: ExcludeImages) -> list[str]:
    """``sources`` (none, one or several) as a list of paths, for manifests."""
    if sources is None:
        return []
    if isinstance(sources, (str, os.PathLike)):
        return [os.fspath(sources)]
    return [os.fspath(s) for s in sources]


def read_image_ids(sources: ExcludeImages) -> set[int]:
    """The image ids of one or several sources (see the module's docstring)."""
    ids: set[int] = set()
    for source in source_paths(sources):
        path = Path(source)
        if path.is_dir():
            ids |= _folder_images(path)
        elif not path.is_file():
            raise DataError("no such file or folder", file=path, field="exclude_images")
        elif path.suffix == ".jsonl":
            ids |= _jsonl_images(path)
        elif path.suffix == ".json":
            ids |= _json_images(path)
        else:
            ids |= _text_images(path)
    return ids


def check_disjoint(
    images: Iterable[tuple[str, str | int]], excluded: set[int], *, file: PathLike | None = None
) -> None:
    """Refuse records whose image is excluded.

    Args:
        images: ``(record, image)`` pairs: a record's name and its image id or file name.
        excluded: the ids that must not appear.
        file: the file the records come from, for the error.

    Raises:
        ConfigError: naming how many records overlap and the first image ids.
    """
    if not excluded:
        return
    overlapping = [
        (record, image_id)
        for record, image in images
        if (image_id := image_id_of(image)) is not None and image_id in excluded
    ]
    if overlapping:
        first = sorted({image_id for _, image_id in overlapping})[:5]
        count = "1 record uses" if len(overlapping) == 1 else f"{len(overlapping)} records use"
        raise ConfigError(
            f"{count} excluded images (benchmark images must stay out "
            f"of training data); first image ids: {', '.join(map(str, first))}; first record: "
            f"{overlapping[0][0]}",
            file=file,
            field="exclude_images",
        )
