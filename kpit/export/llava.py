"""Export a run's samples: LLaVA training JSON, or a Hugging Face dataset.

LLaVA's format (``llava_v1_5_mix665k.json`` and the paper's data) is a JSON list of records
``{"id", "image", "conversations": [{"from": "human"|"gpt", "value"}, ...]}`` with
``<image>\\n`` before the first human turn. The paper counts one record per question/answer
pair (200,328 = 112,980 conversation pairs + 45,174 detailed + 42,174 complex);
``per_pair=True`` writes that, the default writes one record per conversation.

:func:`export_hf` writes the same records as a Hugging Face dataset in the ``messages`` +
``images`` shape of TRL's vision SFT and the llava-hf processors (:mod:`kpit.export.hf_dataset`).

Each takes one run or several: the shares of one run made on several machines
(``kpit generate --shard``) export together as one, without merging them first. Runs of
different identities are refused as :func:`kpit.pipeline.merge_runs` refuses them (runs made
with other settings are exported each on its own), and a sample stored in several runs is
exported once, the first run's (the others are counted in :class:`LeftOut`).
"""

from __future__ import annotations

import functools
import logging
import os
import posixpath
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpit import plugins
from kpit.errors import ConfigError, DataError, SampleError
from kpit.exclusion import ExcludeImages, check_disjoint, read_image_ids, source_paths
from kpit.export.hf_dataset import chat_messages, dataset_features, image_value, write_dataset
from kpit.jsonl import write_json
from kpit.llava_format import check_markers, with_image_token
from kpit.names import parse_names, split_names
from kpit.paths import check_output, safe_join
from kpit.pipeline.merge import check_same_identity
from kpit.pipeline.store import LOCK, RUN_FILES, SPEND, Run
from kpit.types import Sample, Turn

__all__ = ["LeftOut", "export_hf", "export_llava", "llava_records"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
RunsLike = Run | PathLike | Sequence[Run | PathLike]
"""A run, its folder, or several of either (of one identity)."""


def _runs(runs: RunsLike) -> list[Run]:
    """The runs to export: one, or several of one identity (refused otherwise)."""
    if isinstance(runs, (Run, str, os.PathLike)):
        return [runs if isinstance(runs, Run) else Run(runs)]
    out = [run if isinstance(run, Run) else Run(run) for run in runs]
    if not out:
        raise ConfigError("no run to export", field="run")
    if len(out) > 1:
        check_same_identity(out, allow_new_source=True)  # each names its own images
    return out


@dataclass(slots=True)
class LeftOut:
    """The records an export left out, each as ``(record id, why)``.

    Attributes:
        forged: records whose text would forge turns or images in LLaVA's training text
            (:func:`kpit.llava_format.check_markers`, the trainer's own check), or whose
            turns LLaVA's format cannot hold (a role other than ``human`` and ``gpt``):
            always left out, whatever ``include_flagged`` says.
        flagged: records of samples that report-only filters flagged (``meta["flags"]``;
            why: the flags), left out with ``include_flagged=False``.
        duplicates: samples stored in an earlier run of those exported together (why: the
            run whose sample was exported), left out with their records.
    """

    forged: list[tuple[str, str]] = field(default_factory=list)
    flagged: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.forged) + len(self.flagged) + len(self.duplicates)

    def to_text(self) -> str:
        """One line: how many were left out and why, with the first few ids (empty when
        none was)."""
        parts = []
        if self.forged:
            parts.append(f"{len(self.forged)} whose text would forge chat turns "
                         f"({_ids(self.forged)}; {self.forged[0][1]})")  # fmt: skip
        if self.flagged:
            parts.append(f"{len(self.flagged)} flagged by the quality filters "
                         f"({_ids(self.flagged)})")  # fmt: skip
        if self.duplicates:
            first = self.duplicates[0][1]
            parts.append(f"{len(self.duplicates)} duplicate sample(s) of an earlier run "
                         f"({_ids(self.duplicates)}; kept from {first})")  # fmt: skip
        return f"left out {len(self)} record(s): " + ", ".join(parts) if parts else ""


def _ids(items: Sequence[tuple[str, str]], shown: int = 3) -> str:
    """The first few ids of ``items``, and how many more."""
    more = len(items) - shown
    return ", ".join(i for i, _ in items[:shown]) + (f" and {more} more" if more > 0 else "")


def _report(runs: Sequence[Run], found: LeftOut, given: LeftOut | None) -> None:
    """Hand what was left out to the caller's :class:`LeftOut`, or else log it."""
    if given is not None:
        given.forged += found.forged
        given.flagged += found.flagged
        given.duplicates += found.duplicates
    elif found:
        log.warning("%s: %s", ", ".join(str(run.folder) for run in runs), found.to_text())


def _check_output(runs: Sequence[Run], path: PathLike, inputs: Sequence[PathLike], *,
                  folder: bool = False) -> Path:  # fmt: skip
    """The output path, its folder made; refused where it would overwrite the run's own files
    or another input (under any name: :func:`kpit.paths.check_output`), or is a folder
    (a file) where a file (a folder) is written, or cannot be written.

    Raises:
        ConfigError: naming the output (field ``output``) or the option it would overwrite.
    """
    out = Path(path)
    for run in runs:
        if out.resolve() == run.folder.resolve() or _overwrites(out, run):
            raise ConfigError("would overwrite the run's own files; write the export elsewhere",
                              file=out, field="output")  # fmt: skip
    check_output(out, inputs)
    if not folder and out.is_dir():
        raise ConfigError("is a folder; give a file name", file=out, field="output")
    if folder and out.exists() and not out.is_dir():
        raise ConfigError("is a file; give a folder", file=out, field="output")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"cannot write here: a file is in the way of its folder {out.parent}",
                          file=out, field="output") from None  # fmt: skip
    except OSError as error:
        raise _cannot_write(out, error) from None
    return out


def _overwrites(out: Path, run: Run) -> bool:
    """Whether ``out`` is one of the run's files under any name (a link, a hard link)."""
    try:
        check_output(out, [run.folder / name for name in (*RUN_FILES, LOCK, SPEND)])
    except ConfigError:
        return True
    return False


@contextmanager
def _writing(out: Path) -> Iterator[None]:
    """Turn an :class:`OSError` of the block into one line naming the output."""
    try:
        yield
    except OSError as error:
        raise _cannot_write(out, error) from None


def _cannot_write(out: Path, error: OSError) -> ConfigError:
    where = f" ({error.filename})" if error.filename not in (None, os.fspath(out)) else ""
    return ConfigError(f"cannot write here: {error.strerror or error}{where}", file=out,
                       field="output")  # fmt: skip


def _selected(run: Run, tasks: Sequence[str] | None) -> Iterator[Sample]:
    for sample in run.samples():
        if tasks is None or sample.task in tasks:
            yield sample


def _unique(
    runs: Sequence[Run], tasks: Sequence[str] | None, left_out: LeftOut
) -> Iterator[tuple[Run, Sample]]:
    """The selected samples of every run with the run they come from; a sample whose id an
    earlier run holds goes to ``left_out`` instead."""
    seen: dict[str, Path] = {}
    for run in runs:
        for sample in _selected(run, tasks):
            if sample.id in seen:
                left_out.duplicates.append((sample.id, str(seen[sample.id])))
                continue
            seen[sample.id] = run.folder
            yield run, sample


def _task_names(runs: Sequence[Run], tasks: str | Sequence[str] | None) -> list[str] | None:
    """The tasks to export, checked against the run's tasks: a typo is an error, not an
    empty export.

    Raises:
        ConfigError: a name that is not one of the run's tasks (the error lists them).
    """
    if tasks is None:
        return None
    names = split_names(tasks, what="task", field="tasks")
    if names == ["all"]:
        return None
    # The run's own tasks (the manifest keeps every session's); a run too old to list them
    # is checked against the installed tasks. A task named twice is exported once.
    named = (run.manifest.get("tasks") or plugins.tasks() for run in runs)
    known = list(dict.fromkeys(task for tasks_of_run in named for task in tasks_of_run))
    return parse_names(names, known=known, scope="this run", file=runs[0].folder, unique=False,
                       cutoff=0.4)  # fmt: skip


def _pairs(turns: Sequence[Turn]) -> list[Sequence[Turn]]:
    return [turns[i : i + 2] for i in range(0, len(turns) - 1, 2)]


def _conversation(turns: Sequence[Turn]) -> list[dict[str, str]]:
    out = []
    for n, turn in enumerate(turns):
        value = with_image_token(turn.text) if n == 0 else turn.text
        out.append({"from": "human" if turn.role == "human" else "gpt", "value": value})
    return out


def llava_records(
    run: RunsLike,
    *,
    image_prefix: str = "",
    per_pair: bool = False,
    tasks: Sequence[str] | None = None,
    exclude_images: ExcludeImages = None,
    include_flagged: bool = True,
    left_out: LeftOut | None = None,
) -> Iterator[dict[str, Any]]:
    """LLaVA records of a run's samples, one per sample (or per question/answer pair).

    A record whose text would forge turns or images in LLaVA's training text (a teacher's
    reply with ``</s>`` or a second ``<image>``; :func:`kpit.llava_format.check_markers`, the
    check ``kpit train`` makes) is always left out; so, with ``include_flagged=False``, is a
    record of a sample that report-only filters flagged.

    Args:
        run: a :class:`~kpit.pipeline.store.Run` or its folder, or several of one identity
            (a sample in more than one is exported once, the first run's).
        image_prefix: the folder the image names are joined to as a POSIX path
            (``coco/train2017`` and ``coco/train2017/`` both give
            ``coco/train2017/000000000785.jpg``); none by default.
        per_pair: one record per question/answer pair, the shape of the paper's released data
            (kpit takes the paper's 200,328 samples to count pairs; the paper does not say).
        tasks: only these tasks (names, or ``"a,b"``); a name that is not one of the run's
            tasks is a :class:`~kpit.errors.ConfigError` listing them.
        exclude_images: benchmark images that must not be in training data (a benchmark
            folder, a run folder, an id list; see :func:`kpit.exclusion.read_image_ids`).
        include_flagged: keep the records of samples flagged by report-only filters
            (``meta["flags"]``, the ``paper`` recipe's policy), as by default; ``False``
            leaves them out. It never brings back a record that would forge turns.
        left_out: a :class:`LeftOut` that receives the records left out; without it they are
            logged as one warning.

    Raises:
        ConfigError: a sample uses an excluded image (the error names how many and which),
            a task is not one of the run's, or several runs differ in identity.
        DataError: a sample's image name is absolute or has a ``..`` part (a run made before
            :func:`kpit.load_coco` refused such names).
    """
    runs = _runs(run)
    selected = _selection(runs, tasks, exclude_images)
    found = LeftOut()
    for source, record_id, sample, turns in _records(runs, per_pair, selected, found):
        conversation = _conversation(turns)
        if _kept(record_id, sample, conversation, include_flagged, found):
            image = _image_name(source, sample, image_prefix)
            yield {"id": record_id, "image": image, "conversations": conversation,
                   "task": sample.task}  # fmt: skip
    _report(runs, found, left_out)


def _kept(record_id: str, sample: Sample, conversation: list[dict[str, str]],
          include_flagged: bool, left_out: LeftOut) -> bool:  # fmt: skip
    """Whether a record is exported; one that is not goes to ``left_out``, with why."""
    try:
        check_markers(conversation)
    except SampleError as error:
        left_out.forged.append((record_id, error.message))
        return False
    flags = sample.meta.get("flags")
    if not include_flagged and flags:
        left_out.flagged.append((record_id, ", ".join(map(str, flags))))
        return False
    return True


def _image_name(run: Run, sample: Sample, prefix: str) -> str:
    """The record's ``image``: the sample's image name (checked as
    :func:`kpit.paths.safe_join` checks it) joined to ``prefix`` as a POSIX path."""
    safe_join(prefix or "the image folder", sample.image, file=run.folder / "samples.jsonl",
              record=sample.id)  # fmt: skip
    return posixpath.join(prefix, sample.image) if prefix else sample.image


def _selection(
    runs: Sequence[Run], tasks: str | Sequence[str] | None, exclude_images: ExcludeImages
) -> list[str] | None:
    """The tasks to export (:func:`_task_names`), once no sample of theirs is found to use an
    excluded image (a :class:`~kpit.errors.ConfigError` naming them otherwise)."""
    selected = _task_names(runs, tasks)
    excluded = read_image_ids(exclude_images)
    if excluded:
        for run in runs:
            check_disjoint(_image_ids(run, selected), excluded, file=run.folder / "samples.jsonl")
    return selected


def _records(
    runs: Sequence[Run], per_pair: bool, tasks: Sequence[str] | None, left_out: LeftOut
) -> Iterator[tuple[Run, str, Sample, Sequence[Turn]]]:
    """Each record's run, id, sample and turns: one per sample, or one per pair (a sample
    an earlier run holds too goes to ``left_out``)."""
    for run, sample in _unique(runs, tasks, left_out):
        base_id = sample.id.replace("/", "_")
        groups = _pairs(sample.turns) if per_pair else [sample.turns]
        for n, turns in enumerate(groups):
            yield run, (f"{base_id}_{n}" if per_pair else base_id), sample, turns


def export_llava(
    run: RunsLike,
    path: PathLike,
    *,
    image_prefix: str = "",
    per_pair: bool = False,
    tasks: Sequence[str] | None = None,
    exclude_images: ExcludeImages = None,
    include_flagged: bool = True,
    left_out: LeftOut | None = None,
) -> int:
    """Write a run's samples as LLaVA training JSON; return the number of records.

    See :func:`llava_records` for the options and the records left out (logged as one
    warning, or handed to ``left_out``). ``path``'s folder is made if missing. The file is
    written to a temporary name and renamed, so a crash never leaves half a file.

    Raises:
        ConfigError: ``path`` is one of the run's files or another input (the
            ``exclude_images`` files), a folder, or cannot be written; and as
            :func:`llava_records`.
    """
    runs = _runs(run)
    excluded = source_paths(exclude_images)
    out = _check_output(runs, path, excluded)
    records = list(llava_records(runs, image_prefix=image_prefix, per_pair=per_pair, tasks=tasks,
                                 exclude_images=excluded, include_flagged=include_flagged,
                                 left_out=left_out))  # fmt: skip
    with _writing(out):
        write_json(out, records, ensure_ascii=False, indent=1)
    return len(records)


def export_hf(
    run: RunsLike,
    path: PathLike,
    *,
    image_root: PathLike | None = None,
    embed_images: bool = True,
    per_pair: bool = False,
    tasks: Sequence[str] | None = None,
    exclude_images: ExcludeImages = None,
    system: str | None = None,
    progress: bool = True,
    include_flagged: bool = True,
    left_out: LeftOut | None = None,
) -> int:
    """Write a run as a Hugging Face dataset (``save_to_disk``); return its number of records.

    ``datasets.load_from_disk(path)`` gives records in the shape TRL's vision SFT and the
    llava-hf processors read (:mod:`kpit.export.hf_dataset`)::

        {"id": "conversation_785_0", "image_id": 785, "file_name": "000000000785.jpg",
         "task": "conversation",
         "messages": [{"role": "user", "content": [{"type": "image", "text": None},
                                                   {"type": "text", "text": "What ...?"}]},
                      {"role": "assistant", "content": [{"type": "text", "text": "..."}]}],
         "images": [<PIL.JpegImagePlugin.JpegImageFile ...>]}

    Args:
        run: a :class:`~kpit.pipeline.store.Run` or its folder, or several of one identity
            (as for :func:`llava_records`).
        path: the dataset folder (new, empty, or an earlier export, which is replaced; a
            symbolic link there is replaced, never the folder it points to); its parent
            folder is made if missing.
        image_root: the image folder; by default the one each run was made from (its
            manifest's ``source.images``).
        embed_images: store each image's bytes in the dataset (an ``Image`` feature), so
            that it loads anywhere, the image folder gone or moved (the default; the dataset
            is as large as its images, once per record); ``False`` stores their absolute paths
            as strings instead, which the processors and TRL open when they batch (a small
            dataset, quick to write, that needs the images where they were at export).
        per_pair: as for :func:`llava_records`.
        tasks: as for :func:`llava_records`.
        exclude_images: as for :func:`llava_records`.
        system: a system message put first in every record; LLaVA-1.5 was fine-tuned with
            :data:`kpit.llava_format.SYSTEM`, which llava-hf's chat template renders in its
            place. None (the default) writes none, as ``llava-instruct-mix-vsft`` has none.
        progress: show ``datasets``' progress bars.
        include_flagged: as for :func:`llava_records`.
        left_out: as for :func:`llava_records`.

    The records left out are those of :func:`llava_records`: a record whose turns carry
    LLaVA's chat markers (``<image>`` after the first question, or ``</s>``) always, as the
    trainer leaves it out (a processor would read them as another image or the end of the
    answer), and a flagged one with ``include_flagged=False``.

    Raises:
        ConfigError: the ``datasets`` package is not installed (``pip install 'kpit[hf]'``),
            the image folder is unknown, ``path`` is a folder holding something else, one of
            the run's files or another input, or cannot be written.
        DataError: no record is left to export (a dataset needs one).
        SampleError: an image file is missing, unreadable or not an image (the error names
            the file and the record).
    """
    runs = _runs(run)
    excluded = source_paths(exclude_images)
    # The image folder is no input here: a folder of images is refused as the output as a
    # folder that holds something other than a saved dataset, and a dataset inside it
    # overwrites no image.
    out = _check_output(runs, path, excluded, folder=True)
    _require_datasets()
    roots = {run.folder: _image_folder(run, image_root) for run in runs}
    selected = _selection(runs, tasks, exclude_images=excluded)
    found = LeftOut()
    rows = functools.partial(_hf_rows, runs, per_pair, selected, roots, system, embed_images,
                             include_flagged, found)  # fmt: skip
    features = dataset_features(embed_images)
    with _writing(out):
        count = write_dataset(rows, out, features, progress=progress)
    _report(runs, found, left_out)
    return count


def _require_datasets() -> None:
    """Raise a :class:`ConfigError` that says what to install when ``datasets`` is missing."""
    try:
        import datasets  # noqa: F401 (here, to say what to install)
    except ImportError:
        raise ConfigError(
            "export_hf needs the 'datasets' package: pip install 'kpit[hf]'", field="datasets"
        ) from None


def _hf_rows(
    runs: Sequence[Run],
    per_pair: bool,
    selected: Sequence[str] | None,
    roots: dict[Path, Path],
    system: str | None,
    embed_images: bool,
    include_flagged: bool,
    left_out: LeftOut,
) -> Iterator[dict[str, Any]]:
    """The dataset's rows of :func:`export_hf`; the records left out go to ``left_out``.

    Raises:
        DataError: no row at all (``datasets`` cannot write an empty generator's dataset).
    """
    rows = 0
    for run, record_id, sample, turns in _records(runs, per_pair, selected, left_out):
        if not _kept(record_id, sample, _conversation(turns), include_flagged, left_out):
            continue
        try:
            messages = chat_messages(turns, system)
        except SampleError as error:  # a turn from neither human nor gpt
            left_out.forged.append((record_id, error.message))
            continue
        file = safe_join(roots[run.folder], sample.image, file=run.folder / "samples.jsonl",
                         record=sample.id)  # fmt: skip
        image = image_value(file, embed=embed_images, record=record_id, name=sample.image)
        rows += 1
        yield {"id": record_id, "image_id": _image_id(sample), "file_name": sample.image,
               "task": sample.task, "messages": messages, "images": [image]}  # fmt: skip
    if not rows:
        why = f"; {left_out.to_text()}" if left_out else ""
        raise DataError(f"no record to export, and a dataset needs one{why}",
                        file=runs[0].folder / "samples.jsonl")  # fmt: skip


def _image_folder(run: Run, image_root: PathLike | None) -> Path:
    """The folder the run's image names are relative to: given, or the run's own."""
    if image_root is not None:
        return Path(image_root)
    images = (run.manifest.get("source") or {}).get("images")
    if not images:
        raise ConfigError("the run does not record its image folder; give it with image_root "
                          "(--image-root)", file=run.folder, field="image_root")  # fmt: skip
    return Path(images)


def _image_id(sample: Sample) -> int | None:
    try:
        return int(sample.meta["image_id"])
    except (KeyError, TypeError, ValueError):
        return None


def _image_ids(run: Run, tasks: Sequence[str] | None) -> Iterator[tuple[str, Any]]:
    for sample in _selected(run, tasks):
        yield sample.id, sample.meta.get("image_id", sample.image)
