"""Load COCO annotation files into :class:`~kpit.types.ImageContext` objects.

Three files describe a split: captions, object instances and person keypoints. Any of them
may be absent; a context then simply lacks that part. The files are parsed with a fast JSON
parser, indexed by pycocotools, and turned into compact numpy tables (coordinates as integer
thousandths of the image size), from which contexts are built one image at a time.
"""

from __future__ import annotations

import contextlib
import gc
import io
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt
import orjson
from pycocotools.coco import COCO

from kpit.errors import ConfigError, DataError
from kpit.layouts import COCO_17, COCO_WHOLEBODY, WHOLEBODY_PARTS, KeypointLayout
from kpit.layouts import layout_from_category as _layout_from_category
from kpit.types import Box, ImageContext, ObjectBox, Person

__all__ = ["CocoContexts", "CocoFiles", "LoadStats", "coco_files", "load_coco"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
CrowdPolicy = Literal["skip", "keep"]
_SCALE = 1000  # coordinates are kept as integer thousandths: three decimals, exactly
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class CocoFiles:
    """The annotation files and image folder of one split; ``None`` marks an absent part."""

    captions: Path | None = None
    instances: Path | None = None
    keypoints: Path | None = None
    images: Path | None = None


def coco_files(root: PathLike, split: str) -> CocoFiles:
    """Find a split's files in the standard COCO layout under ``root``.

    ``ROOT/annotations/{captions,instances,person_keypoints}_{split}.json`` and images in
    ``ROOT/{split}/``; files that do not exist are left out. Raises :class:`DataError` when
    none of the three annotation files exists.
    """
    root = Path(root)
    annotations = root / "annotations"
    found = {
        kind: path if path.is_file() else None
        for kind, path in (
            ("captions", annotations / f"captions_{split}.json"),
            ("instances", annotations / f"instances_{split}.json"),
            ("keypoints", annotations / f"person_keypoints_{split}.json"),
        )
    }
    if not any(found.values()):
        raise DataError(
            f"no captions_{split}.json, instances_{split}.json or "
            f"person_keypoints_{split}.json here (is the split name right?)",
            file=annotations,
        )
    image_dir = root / split
    return CocoFiles(
        found["captions"],
        found["instances"],
        found["keypoints"],
        image_dir if image_dir.is_dir() else None,
    )


@dataclass(slots=True)
class LoadStats:
    """What loading found and did, so that nothing is dropped or changed silently.

    Attributes:
        images: images in the loaded contexts (after filters).
        people: people in those contexts.
        people_without_keypoints: people among them with no labelled keypoint.
        objects: object boxes in those contexts.
        captions: captions in those contexts.
        crowd_regions: crowd annotations seen in the files.
        crowd_skipped: crowd annotations left out (``crowd="skip"``).
        people_below_min_keypoints: people left out by ``min_keypoints``.
        clamped_values: coordinates outside the image, clamped to ``[0, 1]``.
        images_filtered: images left out by ``min_people``, ``image_ids`` or ``limit``.
    """

    images: int = 0
    people: int = 0
    people_without_keypoints: int = 0
    objects: int = 0
    captions: int = 0
    crowd_regions: int = 0
    crowd_skipped: int = 0
    people_below_min_keypoints: int = 0
    clamped_values: int = 0
    images_filtered: int = 0


@dataclass(slots=True)
class _ImageTable:
    ids: IntArray  # sorted image ids
    file_names: list[str]
    widths: IntArray
    heights: IntArray
    sources: dict[int, Path] = field(default_factory=dict)


@dataclass(slots=True)
class _Grouped:
    """Rows of one annotation kind sorted by image, with per-image offsets."""

    offsets: IntArray  # len(images) + 1

    def span(self, index: int) -> tuple[int, int]:
        return int(self.offsets[index]), int(self.offsets[index + 1])


@dataclass(slots=True)
class _PeopleTable(_Grouped):
    boxes: npt.NDArray[np.int16]  # (P, 4) thousandths
    keypoints: npt.NDArray[np.int16]  # (P, K, 3): x, y thousandths, visibility
    annotation_ids: IntArray
    layout: KeypointLayout = COCO_17


@dataclass(slots=True)
class _ObjectTable(_Grouped):
    boxes: npt.NDArray[np.int16]  # (O, 4) thousandths
    categories: npt.NDArray[np.int32]  # index into names
    crowd: npt.NDArray[np.bool_]
    names: list[str] = field(default_factory=list)


class CocoContexts(Sequence[ImageContext]):
    """The contexts of one loaded split: a sequence of :class:`ImageContext`, built lazily.

    Iterate it, index it, or look an image up with :meth:`get`. :attr:`stats` says what was
    loaded, filtered and clamped; :attr:`files` which files were read.
    """

    def __init__(
        self,
        files: CocoFiles,
        images: _ImageTable,
        selected: IntArray,
        captions: list[tuple[str, ...]],
        people: _PeopleTable | None,
        objects: _ObjectTable | None,
        stats: LoadStats,
    ) -> None:
        self.files = files
        self.stats = stats
        self._images = images
        self._selected = selected
        self._captions = captions
        self._people = people
        self._objects = objects
        self._position = {int(images.ids[i]): n for n, i in enumerate(selected.tolist())}

    @property
    def layout(self) -> KeypointLayout | None:
        """The keypoint layout of the people, or ``None`` without a keypoints file."""
        return self._people.layout if self._people is not None else None

    @property
    def image_ids(self) -> list[int]:
        """The ids of the selected images, in order (ascending id)."""
        ids: list[int] = self._images.ids[self._selected].tolist()
        return ids

    def __len__(self) -> int:
        return len(self._selected)

    @overload
    def __getitem__(self, index: int) -> ImageContext: ...
    @overload
    def __getitem__(self, index: slice) -> list[ImageContext]: ...
    def __getitem__(self, index: int | slice) -> ImageContext | list[ImageContext]:
        if isinstance(index, slice):
            return [self._build(int(i)) for i in self._selected[index]]
        return self._build(int(self._selected[index]))

    def __iter__(self) -> Iterator[ImageContext]:
        for i in self._selected.tolist():
            yield self._build(i)

    def get(self, image_id: int) -> ImageContext:
        """The context of ``image_id``; ``KeyError`` if it is not among the selected images."""
        return self[self._position[image_id]]

    def image_path(self, context: ImageContext) -> Path:
        """Where the image file of ``context`` is (``images`` folder + file name)."""
        if self.files.images is None:
            raise ConfigError("no image folder is known for this split; pass images=...")
        return self.files.images / context.file_name

    def __repr__(self) -> str:
        return f"<CocoContexts {len(self)} images, layout={getattr(self.layout, 'name', None)}>"

    def _build(self, index: int) -> ImageContext:
        images = self._images
        objects: list[ObjectBox] = []
        people: list[Person] = []
        if self._objects is not None:
            table = self._objects
            start, end = table.span(index)
            if end > start:
                boxes = (table.boxes[start:end] / _SCALE).tolist()
                names, crowd = table.names, table.crowd[start:end].tolist()
                for box, cat, is_crowd in zip(
                    boxes, table.categories[start:end].tolist(), crowd, strict=True
                ):
                    objects.append(ObjectBox(names[cat], Box(*box), is_crowd))
        if self._people is not None:
            ptable = self._people
            start, end = ptable.span(index)
            if end > start:
                keypoints = ptable.keypoints[start:end].astype(np.float64)
                keypoints[..., :2] /= _SCALE
                keypoints.setflags(write=False)
                boxes = (ptable.boxes[start:end] / _SCALE).tolist()
                ids = ptable.annotation_ids[start:end].tolist()
                layout = ptable.layout
                for j, (box, ann_id) in enumerate(zip(boxes, ids, strict=True)):
                    people.append(Person(Box(*box), keypoints[j], layout, ann_id))
        return ImageContext(
            image_id=int(images.ids[index]),
            file_name=images.file_names[index],
            width=int(images.widths[index]),
            height=int(images.heights[index]),
            captions=self._captions[index],
            objects=tuple(objects),
            people=tuple(people),
        )


def load_coco(
    root: PathLike | None = None,
    split: str = "val2017",
    *,
    captions: PathLike | None = None,
    instances: PathLike | None = None,
    keypoints: PathLike | None = None,
    images: PathLike | None = None,
    min_people: int = 0,
    min_keypoints: int = 0,
    crowd: CrowdPolicy = "skip",
    image_ids: Iterable[int] | None = None,
    limit: int | None = None,
) -> CocoContexts:
    """Load a COCO split into image contexts.

    Args:
        root: a folder in the standard COCO layout (``annotations/`` and one image folder per
            split). Optional when the files are given explicitly.
        split: the split name used in the file names, e.g. ``train2017`` or ``val2014``.
        captions, instances, keypoints: explicit annotation files; each overrides the one
            found under ``root``. A COCO-WholeBody file works as ``keypoints``.
        images: the image folder (default ``ROOT/SPLIT``).
        min_people: keep only images with at least this many people that have a labelled
            keypoint (crowd regions do not count).
        min_keypoints: leave out people with fewer labelled keypoints than this (the default
            0 keeps people whose points are all unlabelled, with their box).
        crowd: ``"skip"`` leaves crowd regions out; ``"keep"`` keeps them as object boxes
            with ``iscrowd=True``.
        image_ids: keep only these images.
        limit: keep at most this many images (the first, by ascending id, after filters).

    Returns:
        A :class:`CocoContexts` sequence; its ``stats`` counts what was skipped or clamped.

    Raises:
        DataError: a file is missing or invalid; the message names the file, the record and
            the field.
    """
    if crowd not in ("skip", "keep"):
        raise ConfigError(f"crowd must be 'skip' or 'keep', not {crowd!r}", field="crowd")
    for name, value in (("min_people", min_people), ("min_keypoints", min_keypoints)):
        if value < 0:
            raise ConfigError(f"must be 0 or more, not {value}", field=name)
    if limit is not None and limit < 0:
        raise ConfigError(f"must be 0 or more, not {limit}", field="limit")
    files = _resolve_files(root, split, captions, instances, keypoints, images)
    datasets = {
        kind: _read_coco(path, kind)
        for kind, path in (
            ("captions", files.captions),
            ("instances", files.instances),
            ("keypoints", files.keypoints),
        )
        if path is not None
    }
    table = _image_table(datasets)
    stats = LoadStats()
    caption_lists = _captions(datasets["captions"], table) if "captions" in datasets else None
    people = objects = None
    person_ids: IntArray = np.empty(0, np.int64)
    if "keypoints" in datasets:
        people, crowd_people, person_ids = _people(
            datasets["keypoints"], table, stats, crowd, min_keypoints
        )
        objects = crowd_people
    if "instances" in datasets:
        instance_objects = _objects(datasets["instances"], table, stats, crowd, person_ids)
        objects = _merge_objects(objects, instance_objects, len(table.ids))
    selected = _select(table, people, min_people, image_ids, limit)
    stats.images_filtered = len(table.ids) - len(selected)
    caption_tuples = _finish_counts(stats, len(table.ids), selected, caption_lists, people, objects)
    if stats.clamped_values:
        log.warning(
            "%d coordinates lay outside their image and were clamped to [0, 1]",
            stats.clamped_values,
        )
    return CocoContexts(files, table, selected, caption_tuples, people, objects, stats)


def _resolve_files(
    root: PathLike | None,
    split: str,
    captions: PathLike | None,
    instances: PathLike | None,
    keypoints: PathLike | None,
    images: PathLike | None,
) -> CocoFiles:
    explicit = {"captions": captions, "instances": instances, "keypoints": keypoints}
    if root is None and not any(explicit.values()):
        raise ConfigError("give a COCO root folder or at least one annotation file")
    base = coco_files(root, split) if root is not None and not all(explicit.values()) else None
    chosen: dict[str, Path | None] = {}
    for kind, path in explicit.items():
        if path is not None:
            if not Path(path).is_file():
                raise DataError("no such file", file=path, field=kind)
            chosen[kind] = Path(path)
        else:
            chosen[kind] = getattr(base, kind) if base is not None else None
    image_dir = Path(images) if images is not None else None
    if image_dir is None and root is not None:
        image_dir = Path(root) / split
    if image_dir is not None and not image_dir.is_dir():
        if images is not None:
            raise DataError("no such image folder", file=image_dir, field="images")
        image_dir = None
    return CocoFiles(chosen["captions"], chosen["instances"], chosen["keypoints"], image_dir)


def _read_coco(path: Path, kind: str) -> COCO:
    """Parse one annotation file and index it with pycocotools."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror}", file=path) from None
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a large parse allocates millions of objects; collecting them is wasted work
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc}", file=path) from None
    finally:
        if gc_was_enabled:
            gc.enable()
    del raw
    if not isinstance(data, dict):
        raise DataError("expected a JSON object with 'images' and 'annotations'", file=path)
    for key in ("images", "annotations") + (("categories",) if kind != "captions" else ()):
        if not isinstance(data.get(key), list):
            raise DataError(f"missing or not a list (a {kind} file needs it)", file=path, field=key)
    for n, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "id" not in ann:
            raise DataError(
                "annotation is not an object with an 'id'", file=path, record=f"annotations[{n}]"
            )
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco.createIndex()
    coco.kpit_path = path
    return coco


def _path(coco: COCO) -> Path:
    path: Path = coco.kpit_path
    return path


def _image_table(datasets: Mapping[str, COCO]) -> _ImageTable:
    merged: dict[int, tuple[str, int, int]] = {}
    sources: dict[int, Path] = {}
    for coco in datasets.values():
        path = _path(coco)
        for n, img in enumerate(coco.dataset["images"]):
            record = _image_record(img, path, n)
            image_id = record[0]
            known = merged.get(image_id)
            if known is None:
                merged[image_id] = record[1:]
                sources[image_id] = path
            elif known[1:] != record[2:]:
                raise DataError(
                    f"size {record[2]}x{record[3]} disagrees with {known[1]}x{known[2]} "
                    f"in {sources[image_id]}",
                    file=path,
                    record=f"image {image_id}",
                    field="width",
                )
    ids = np.array(sorted(merged), dtype=np.int64)
    rows = [merged[i] for i in ids.tolist()]
    return _ImageTable(
        ids=ids,
        file_names=[r[0] for r in rows],
        widths=np.array([r[1] for r in rows], dtype=np.int64),
        heights=np.array([r[2] for r in rows], dtype=np.int64),
        sources=sources,
    )


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
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise DataError(
                f"must be a positive number, not {value!r}", file=path, record=record, field=key
            )
        sizes.append(int(value))
    return image_id, file_name, sizes[0], sizes[1]


def _image_index(
    ann_image_ids: IntArray, table: _ImageTable, anns: Sequence[Mapping[str, Any]], path: Path
) -> IntArray:
    """Map each annotation's image id to the image's row; fail on an unknown image."""
    index = np.searchsorted(table.ids, ann_image_ids)
    index = np.minimum(index, max(len(table.ids) - 1, 0))
    unknown = np.flatnonzero(
        table.ids[index] != ann_image_ids if len(table.ids) else np.ones(len(anns), bool)
    )
    if len(unknown):
        ann = anns[int(unknown[0])]
        raise DataError(
            f"refers to image {ann['image_id']}, which no loaded file lists",
            file=path,
            record=f"annotation {ann['id']}",
            field="image_id",
        )
    return index.astype(np.int64)


def _column(
    anns: Sequence[Mapping[str, Any]],
    key: str,
    dtype: type[np.generic],
    path: Path,
    check: Callable[[Any], bool],
    expected: str,
) -> npt.NDArray[Any]:
    """One field of every annotation as an array; on bad data, name the first bad record."""
    try:
        return np.fromiter((a[key] for a in anns), dtype=dtype, count=len(anns))
    except (KeyError, TypeError, ValueError):
        _raise_first_bad(anns, key, path, check, expected)
        raise  # unreachable when a bad record is found


def _matrix(
    anns: Sequence[Mapping[str, Any]],
    key: str,
    width: int,
    path: Path,
    expected: str,
) -> npt.NDArray[np.float64]:
    """A list field of fixed length of every annotation, as an ``(N, width)`` array."""

    def check(value: Any) -> bool:
        return (
            isinstance(value, list)
            and len(value) == width
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        )

    try:
        array = np.array([a[key] for a in anns], dtype=np.float64)
        if array.shape == (len(anns), width) or (len(anns) == 0):
            return array.reshape(len(anns), width)
    except (KeyError, TypeError, ValueError):
        pass
    _raise_first_bad(anns, key, path, check, expected)
    raise DataError(f"not a list of {width} numbers", file=path, field=key)


def _raise_first_bad(
    anns: Sequence[Mapping[str, Any]],
    key: str,
    path: Path,
    check: Callable[[Any], bool],
    expected: str,
) -> None:
    for ann in anns:
        if key not in ann:
            raise DataError("missing", file=path, record=f"annotation {ann['id']}", field=key)
        if not check(ann[key]):
            value = ann[key]
            shown = f"{len(value)} values" if isinstance(value, list) else repr(value)[:40]
            raise DataError(
                f"expected {expected}, got {shown}",
                file=path,
                record=f"annotation {ann['id']}",
                field=key,
            )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _crowd_flags(anns: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.bool_]:
    """COCO's ``iscrowd`` of every annotation (absent means 0)."""
    return np.fromiter((a.get("iscrowd", 0) == 1 for a in anns), dtype=bool, count=len(anns))


def _captions(coco: COCO, table: _ImageTable) -> list[list[str]]:
    path = _path(coco)
    anns = coco.dataset["annotations"]
    image_ids = _column(anns, "image_id", np.int64, path, _is_int, "an integer image id")
    index = _image_index(image_ids, table, anns, path)
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
    by_image: list[list[str]] = [[] for _ in range(len(table.ids))]
    for i, text in zip(index.tolist(), texts, strict=True):
        by_image[i].append(text)
    return by_image


def _boxes(
    anns: Sequence[Mapping[str, Any]],
    index: IntArray,
    table: _ImageTable,
    path: Path,
    stats: LoadStats,
) -> npt.NDArray[np.int16]:
    """COCO ``[x, y, w, h]`` pixel boxes to clamped ``[x1, y1, x2, y2]`` thousandths."""
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
    w = table.widths[index].astype(np.float64)
    h = table.heights[index].astype(np.float64)
    corners = np.stack(
        [
            xywh[:, 0] / w,
            xywh[:, 1] / h,
            (xywh[:, 0] + xywh[:, 2]) / w,
            (xywh[:, 1] + xywh[:, 3]) / h,
        ],
        axis=1,
    )
    return _quantise(corners, np.ones(corners.shape, bool), stats)


def _quantise(
    values: npt.NDArray[np.float64], labelled: npt.NDArray[np.bool_], stats: LoadStats
) -> npt.NDArray[np.int16]:
    """Round normalised values to thousandths, clamping (and counting) those outside [0, 1].

    The result equals Python's ``round(value, 3)``, as LLaVA's contexts use: values whose
    scaled form lies within float error of a half are rounded by Python itself.
    """
    scaled = values * _SCALE
    q = np.floor(scaled + 0.5)
    ties = np.flatnonzero(np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6)
    if len(ties):
        flat_values, flat_q = values.reshape(-1), q.reshape(-1)
        flat_q[ties] = [round(round(v, 3) * _SCALE) for v in flat_values[ties].tolist()]
    stats.clamped_values += int(np.count_nonzero(labelled & ((q < 0) | (q > _SCALE))))
    return np.clip(q, 0, _SCALE).astype(np.int16)


def _keypoint_layout(coco: COCO) -> tuple[int, KeypointLayout, bool]:
    """The category id, layout and WholeBody flag of a keypoints file."""
    path = _path(coco)
    with_points = [
        c for c in coco.dataset["categories"] if isinstance(c, dict) and c.get("keypoints")
    ]
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
        raise DataError(
            str(exc), file=path, record=f"category {category.get('id')}", field="keypoints"
        ) from None
    anns = coco.dataset["annotations"]
    wholebody = bool(anns) and all(part in anns[0] for part, _ in WHOLEBODY_PARTS[1:])
    if wholebody:
        if layout.names != COCO_17.names:
            raise DataError(
                "a COCO-WholeBody file must list COCO's 17 body keypoints",
                file=path,
                field="categories",
            )
        layout = COCO_WHOLEBODY
    return int(category["id"]), layout, wholebody


def _people(
    coco: COCO, table: _ImageTable, stats: LoadStats, crowd: CrowdPolicy, min_keypoints: int
) -> tuple[_PeopleTable, _ObjectTable | None, IntArray]:
    """The people of a keypoints file, its crowd regions, and all its annotation ids."""
    path = _path(coco)
    category_id, layout, wholebody = _keypoint_layout(coco)
    all_anns = coco.dataset["annotations"]
    all_ids = np.fromiter((a["id"] for a in all_anns), dtype=np.int64, count=len(all_anns))
    anns = [a for a in all_anns if a.get("category_id") == category_id]
    image_ids = _column(anns, "image_id", np.int64, path, _is_int, "an integer image id")
    index = _image_index(image_ids, table, anns, path)
    is_crowd = _crowd_flags(anns)
    boxes = _boxes(anns, index, table, path, stats)
    parts = WHOLEBODY_PARTS if wholebody else (("keypoints", len(layout)),)
    raw = np.concatenate(
        [
            _matrix(anns, key, 3 * count, path, f"{3 * count} values ({count} points x 3)").reshape(
                len(anns), count, 3
            )
            for key, count in parts
        ],
        axis=1,
    )
    visibility = np.clip(np.rint(raw[..., 2]), 0, 2)
    labelled = visibility > 0
    w = table.widths[index].astype(np.float64)[:, None]
    h = table.heights[index].astype(np.float64)[:, None]
    keypoints = np.empty(raw.shape, dtype=np.int16)
    keypoints[..., 0] = np.where(labelled, _quantise(raw[..., 0] / w, labelled, stats), 0)
    keypoints[..., 1] = np.where(labelled, _quantise(raw[..., 1] / h, labelled, stats), 0)
    keypoints[..., 2] = visibility
    counts = labelled.sum(axis=1)

    stats.crowd_regions += int(is_crowd.sum())
    crowd_rows = np.flatnonzero(is_crowd)
    if crowd == "skip":
        stats.crowd_skipped += len(crowd_rows)
    crowd_objects = None
    if crowd == "keep" and len(crowd_rows):
        crowd_objects = _group_objects(
            index[crowd_rows],
            boxes[crowd_rows],
            np.zeros(len(crowd_rows), np.int32),
            np.ones(len(crowd_rows), bool),
            [str(coco.cats[category_id]["name"])],
            len(table.ids),
        )
    person_mask = ~is_crowd & (counts >= min_keypoints)
    stats.people_below_min_keypoints += int(np.count_nonzero(~is_crowd & (counts < min_keypoints)))
    rows = np.flatnonzero(person_mask)
    order = rows[np.argsort(index[rows], kind="stable")]
    people = _PeopleTable(
        offsets=_offsets(index[order], len(table.ids)),
        boxes=boxes[order],
        keypoints=keypoints[order],
        annotation_ids=np.fromiter((anns[i]["id"] for i in order.tolist()), np.int64, len(order)),
        layout=layout,
    )
    return people, crowd_objects, all_ids


def _objects(
    coco: COCO, table: _ImageTable, stats: LoadStats, crowd: CrowdPolicy, person_ids: IntArray
) -> _ObjectTable:
    """Object boxes of an instances file, without the people a keypoints file already has."""
    path = _path(coco)
    names: list[str] = []
    category_index: dict[int, int] = {}
    for n, cat in enumerate(coco.dataset["categories"]):
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
        category_index[cat["id"]] = len(names)
        names.append(cat["name"])
    all_anns = coco.dataset["annotations"]
    ann_ids = np.fromiter((a["id"] for a in all_anns), dtype=np.int64, count=len(all_anns))
    keep = ~np.isin(ann_ids, person_ids)
    anns = [a for a, k in zip(all_anns, keep.tolist(), strict=True) if k]
    image_ids = _column(anns, "image_id", np.int64, path, _is_int, "an integer image id")
    index = _image_index(image_ids, table, anns, path)
    category_ids = _column(anns, "category_id", np.int64, path, _is_int, "an integer")
    categories = np.empty(len(anns), dtype=np.int32)
    for n, cat_id in enumerate(category_ids.tolist()):
        found = category_index.get(cat_id)
        if found is None:
            raise DataError(
                f"unknown category {cat_id}",
                file=path,
                record=f"annotation {anns[n]['id']}",
                field="category_id",
            )
        categories[n] = found
    is_crowd = _crowd_flags(anns)
    boxes = _boxes(anns, index, table, path, stats)
    stats.crowd_regions += int(is_crowd.sum())
    if crowd == "skip":
        stats.crowd_skipped += int(is_crowd.sum())
        rows = np.flatnonzero(~is_crowd)
    else:
        rows = np.arange(len(anns))
    return _group_objects(
        index[rows], boxes[rows], categories[rows], is_crowd[rows], names, len(table.ids)
    )


def _group_objects(
    index: IntArray,
    boxes: npt.NDArray[np.int16],
    categories: npt.NDArray[np.int32],
    crowd: npt.NDArray[np.bool_],
    names: list[str],
    n_images: int,
) -> _ObjectTable:
    order = np.argsort(index, kind="stable")
    return _ObjectTable(
        offsets=_offsets(index[order], n_images),
        boxes=boxes[order],
        categories=categories[order],
        crowd=crowd[order],
        names=names,
    )


def _merge_objects(first: _ObjectTable | None, second: _ObjectTable, n_images: int) -> _ObjectTable:
    """Objects of two tables in one, image by image (first table's rows first)."""
    if first is None:
        return second
    names = list(second.names)
    remap = np.array([_name_index(names, name) for name in first.names], dtype=np.int32)
    counts = [np.diff(t.offsets) for t in (first, second)]
    index = np.concatenate([np.repeat(np.arange(n_images), c) for c in counts])
    return _group_objects(
        index,
        np.concatenate([first.boxes, second.boxes]),
        np.concatenate([remap[first.categories], second.categories]),
        np.concatenate([first.crowd, second.crowd]),
        names,
        n_images,
    )


def _name_index(names: list[str], name: str) -> int:
    if name not in names:
        names.append(name)
    return names.index(name)


def _offsets(sorted_index: IntArray, n_images: int) -> IntArray:
    return np.searchsorted(sorted_index, np.arange(n_images + 1)).astype(np.int64)


def _select(
    table: _ImageTable,
    people: _PeopleTable | None,
    min_people: int,
    image_ids: Iterable[int] | None,
    limit: int | None,
) -> IntArray:
    keep = np.ones(len(table.ids), dtype=bool)
    if min_people > 0:
        if people is None:
            raise ConfigError("min_people needs a keypoints file", field="min_people")
        annotated = np.count_nonzero(people.keypoints[..., 2], axis=1) > 0
        image_of_row = np.repeat(np.arange(len(table.ids)), np.diff(people.offsets))
        per_image = np.bincount(image_of_row[annotated], minlength=len(table.ids))
        keep &= per_image >= min_people
    if image_ids is not None:
        keep &= np.isin(table.ids, np.fromiter(image_ids, dtype=np.int64))
    selected = np.flatnonzero(keep)
    return selected[:limit] if limit is not None else selected


def _finish_counts(
    stats: LoadStats,
    n_images: int,
    selected: IntArray,
    caption_lists: list[list[str]] | None,
    people: _PeopleTable | None,
    objects: _ObjectTable | None,
) -> list[tuple[str, ...]]:
    """Count what the selected images hold; return every image's captions as tuples."""
    stats.images = len(selected)
    if people is not None:
        counts = np.diff(people.offsets)
        stats.people = int(counts[selected].sum())
        empty = np.count_nonzero(people.keypoints[..., 2], axis=1) == 0
        image_of_row = np.repeat(np.arange(len(counts)), counts)
        stats.people_without_keypoints = int(np.isin(image_of_row[empty], selected).sum())
    if objects is not None:
        stats.objects = int(np.diff(objects.offsets)[selected].sum())
    if caption_lists is None:
        return [()] * n_images
    stats.captions = sum(len(caption_lists[i]) for i in selected.tolist())
    return [tuple(c) for c in caption_lists]
