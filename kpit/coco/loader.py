"""Load COCO annotation files into :class:`~kpit.types.ImageContext` objects.

Three files describe a split: captions, object instances and person keypoints. Any of them
may be absent; a context then simply lacks that part. The files are parsed with a fast JSON
parser one at a time, checked, and reduced to compact numpy tables (``kpit.coco._tables``,
which joins them itself rather than through pycocotools' per-record index). Well-formed files
are decoded into typed records that skip the fields kpit does not read
(``kpit.coco._fast``); a file with anything amiss is read again record by record, which
names the file, the record and the field. Contexts are built from the tables when asked for,
a run of images at a time (``kpit.coco._build``).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np

from kpit._checks import check_count, check_image_ids, check_path, check_type
from kpit.coco import _fast as fast
from kpit.coco import _read as reader
from kpit.coco._build import ContextBuilder
from kpit.coco._captions import RawCaptions, caption_lists, extract_captions, file_caption_lists
from kpit.coco._columns import BoolArray, IntArray
from kpit.coco._images import ImageRegistry, ImageTable
from kpit.coco._objects import RawObjects, extract_objects, object_table
from kpit.coco._people import RawPeople, extract_people, people_table
from kpit.coco._tables import Counts, CrowdPolicy, ObjectTable, PeopleTable, merge_objects
from kpit.errors import ConfigError, DataError
from kpit.layouts import KeypointLayout
from kpit.paths import safe_join
from kpit.types import ImageContext

__all__ = ["CocoContexts", "CocoFiles", "LoadStats", "coco_files", "load_coco"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

_RUN = 128
"""Contexts are built this many images at a time when iterating."""


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
    ``ROOT/{split}/`` (2014 and 2017 splits alike); files that do not exist are left out.
    Raises :class:`DataError` when none of the three annotation files exists.
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
        visibility_changed: keypoint visibilities outside COCO's 0/1/2 (such as
            COCO-WholeBody's scores), read as 1 when positive and below 1.5, 2 from 1.5 on,
            0 otherwise.
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
    visibility_changed: int = 0
    images_filtered: int = 0


class CocoContexts(Sequence[ImageContext]):
    """The contexts of one loaded split: a sequence of :class:`ImageContext`, built lazily.

    Iterate it, index it, or look an image up with :meth:`get`. ``stats`` says what was
    loaded, filtered and clamped; ``files`` which files were read. Only compact numpy
    tables are held; each context is built when it is asked for (iterating builds them a run
    of images at a time), and a new one each time.
    """

    def __init__(
        self,
        files: CocoFiles,
        images: ImageTable,
        selected: IntArray,
        captions: list[tuple[str, ...]] | None,
        people: PeopleTable | None,
        objects: ObjectTable | None,
        stats: LoadStats,
        raw_captions: dict[int, tuple[str, ...]] | None = None,
    ) -> None:
        self.files = files
        self.stats = stats
        self._images = images
        self._selected = selected
        self._people = people
        self._builder = ContextBuilder(images, captions, people, objects, raw_captions)
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
            return list(self._runs(self._selected[index]))
        return self._build(int(self._selected[index]))

    def __iter__(self) -> Iterator[ImageContext]:
        return self._runs(self._selected)

    def _runs(self, index: IntArray) -> Iterator[ImageContext]:
        """The contexts of the images at ``index``, built a run of images at a time."""
        for start in range(0, len(index), _RUN):
            with _gc_paused():  # thousands of new objects, none of them in a cycle
                run = self._builder.build(index[start : start + _RUN])
            yield from run

    def listed(self, image_id: int) -> bool:
        """Whether the annotation files list ``image_id``, selected or left out by a filter."""
        ids = self._images.ids
        position = int(np.searchsorted(ids, image_id))
        return position < len(ids) and int(ids[position]) == image_id

    def get(self, image_id: int) -> ImageContext:
        """The context of ``image_id``; ``KeyError`` if it is not among the selected images."""
        return self[self._position[image_id]]

    def image_path(self, context: ImageContext) -> Path:
        """Where the image file of ``context`` is (``images`` folder + file name).

        Raises:
            ConfigError: no image folder is known.
            DataError: the file name is absolute or leads out of the image folder
                (:func:`kpit.paths.safe_join`).
        """
        if self.files.images is None:
            raise ConfigError("no image folder is known for this split; pass images=...")
        source = self.files.keypoints or self.files.instances or self.files.captions
        return safe_join(self.files.images, context.file_name, file=source,
                         record=f"image {context.image_id}", field="file_name")  # fmt: skip

    def __repr__(self) -> str:
        layout = self.layout.name if self.layout is not None else None
        return f"<CocoContexts {len(self)} images, layout={layout}>"

    def _build(self, index: int) -> ImageContext:
        return self._builder.build(np.array([index]))[0]


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
        captions: an explicit captions file; overrides the one found under ``root``.
        instances: an explicit instances (object boxes) file; overrides the one found under
            ``root``.
        keypoints: an explicit person keypoints file; overrides the one found under ``root``.
            A COCO-WholeBody file works too.
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
        ConfigError: an argument has an unusable value or type (``load_coco(123)``,
            ``image_ids="785"``, ``limit=-1``), naming the argument.
    """
    check_path(root, "root", optional=True, what="a folder path")
    check_type(split, "split", (str,), "a split name such as 'val2017'")
    for name, path in (("captions", captions), ("instances", instances),
                       ("keypoints", keypoints), ("images", images)):  # fmt: skip
        check_path(path, name, optional=True)
    if crowd not in ("skip", "keep"):
        raise ConfigError(f"crowd must be 'skip' or 'keep', not {crowd!r}", field="crowd")
    check_count(min_people, "min_people")
    check_count(min_keypoints, "min_keypoints")
    check_count(limit, "limit", optional=True)
    image_ids = check_image_ids(image_ids)
    files = _resolve_files(root, split, captions, instances, keypoints, images)
    with _gc_paused():
        loaded = _load(files, min_people, min_keypoints, crowd, image_ids, limit)
    if loaded.stats.clamped_values:
        log.warning(
            "%d coordinates lay outside their image and were clamped to [0, 1]",
            loaded.stats.clamped_values,
        )
    return loaded


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector.

    Parsing a split allocates millions of objects, none of them in reference cycles; with
    the collector running, it traverses them again and again for nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load(
    files: CocoFiles,
    min_people: int,
    min_keypoints: int,
    crowd: CrowdPolicy,
    image_ids: Iterable[int] | None,
    limit: int | None,
) -> CocoContexts:
    # One file at a time: parse, register its images, reduce it to arrays, let it go.
    # Keypoints come first: their annotation ids are the people to leave out of instances.
    registry = ImageRegistry()
    raw_people = raw_objects = raw_captions = None
    if files.keypoints is not None:
        raw_people = _read_people(files.keypoints, registry)
    if files.instances is not None:
        skip = raw_people.all_annotation_ids if raw_people else np.empty(0, np.int64)
        raw_objects = _read_objects(files.instances, registry, skip)
    if files.captions is not None:
        raw_captions = _read_captions(files.captions, registry)

    images = registry.table()
    counts = Counts()
    people = objects = None
    if raw_people is not None:
        people, objects = people_table(raw_people, images, counts, crowd, min_keypoints)
    if raw_objects is not None:
        objects = merge_objects(objects, object_table(raw_objects, images, counts, crowd))
    captions = caption_lists(raw_captions, images) if raw_captions is not None else None
    as_in_file = file_caption_lists(raw_captions, images) if raw_captions is not None else None
    selected = _select(images, people, min_people, image_ids, limit)
    stats = _stats(counts, len(images.ids), selected, captions, people, objects)
    return CocoContexts(files, images, selected, captions, people, objects, stats, as_in_file)


# Each file is decoded by the fast path; a file it does not read as it is (one with an error
# in it, or a COCO-WholeBody file) is read again record by record, which names the error.


def _read_people(path: Path, registry: ImageRegistry) -> RawPeople:
    try:
        return fast.read_people(path, registry)
    except fast.Fallback:
        coco = reader.read_coco(path, "keypoints")
        registry.add(coco, path)
        return extract_people(coco, path)


def _read_objects(path: Path, registry: ImageRegistry, skip: IntArray) -> RawObjects:
    try:
        return fast.read_objects(path, registry, skip)
    except fast.Fallback:
        coco = reader.read_coco(path, "instances")
        registry.add(coco, path)
        return extract_objects(coco, path, skip)


def _read_captions(path: Path, registry: ImageRegistry) -> RawCaptions:
    try:
        return fast.read_captions(path, registry)
    except fast.Fallback:
        coco = reader.read_coco(path, "captions")
        registry.add(coco, path)
        return extract_captions(coco, path)


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
    base = None
    if root is not None and not all(explicit.values()):
        try:
            base = coco_files(root, split)
        except DataError:
            if not any(explicit.values()):
                raise  # nothing to load at all; with explicit files, root may hold only images
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


def _annotated_people(people: PeopleTable) -> BoolArray:
    """True for each person row with at least one labelled keypoint."""
    annotated: BoolArray = np.count_nonzero(people.keypoints[..., 2], axis=1) > 0
    return annotated


def _select(
    images: ImageTable,
    people: PeopleTable | None,
    min_people: int,
    image_ids: Iterable[int] | None,
    limit: int | None,
) -> IntArray:
    keep = np.ones(len(images.ids), dtype=bool)
    if min_people > 0:
        if people is None:
            raise ConfigError("min_people needs a keypoints file", field="min_people")
        rows = people.image_of_row()[_annotated_people(people)]
        keep &= np.bincount(rows, minlength=len(images.ids)) >= min_people
    if image_ids is not None:
        keep &= np.isin(images.ids, np.fromiter(image_ids, dtype=np.int64))
    selected = np.flatnonzero(keep)
    return selected[:limit] if limit is not None else selected


def _stats(
    counts: Counts,
    n_images: int,
    selected: IntArray,
    captions: list[tuple[str, ...]] | None,
    people: PeopleTable | None,
    objects: ObjectTable | None,
) -> LoadStats:
    """Count what the selected images hold, with what the tables dropped or changed."""
    stats = LoadStats(
        images=len(selected),
        images_filtered=n_images - len(selected),
        crowd_regions=counts.crowd_regions,
        crowd_skipped=counts.crowd_skipped,
        people_below_min_keypoints=counts.people_below_min_keypoints,
        clamped_values=counts.clamped_values,
        visibility_changed=counts.visibility_changed,
    )
    chosen = np.zeros(n_images, dtype=bool)
    chosen[selected] = True
    if people is not None:
        in_selection = chosen[people.image_of_row()]
        stats.people = int(np.count_nonzero(in_selection))
        stats.people_without_keypoints = int(
            np.count_nonzero(in_selection & ~_annotated_people(people))
        )
    if objects is not None:
        stats.objects = int(np.count_nonzero(chosen[objects.image_of_row()]))
    if captions is not None:
        stats.captions = sum(len(captions[i]) for i in selected.tolist())
    return stats
