"""Export a run's samples: LLaVA training JSON, or a Hugging Face dataset.

LLaVA's format (``llava_v1_5_mix665k.json`` and the paper's data) is a JSON list of records
``{"id", "image", "conversations": [{"from": "human"|"gpt", "value"}, ...]}`` with
``<image>\\n`` before the first human turn. The paper counts one record per question/answer
pair (200,328 = 112,980 conversation pairs + 45,174 detailed + 42,174 complex);
``per_pair=True`` writes that, the default writes one record per conversation.

:func:`export_hf` writes the same records as a Hugging Face dataset in the ``messages`` +
``images`` shape of TRL's vision SFT and the llava-hf processors (:mod:`kpit.export.hf_dataset`).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from kpit import plugins
from kpit.errors import ConfigError, SampleError
from kpit.exclusion import ExcludeImages, check_disjoint, read_image_ids
from kpit.export.hf_dataset import chat_messages, dataset_features, image_value, write_dataset
from kpit.jsonl import write_json
from kpit.llava_format import with_image_token
from kpit.names import parse_names, split_names
from kpit.paths import safe_join
from kpit.pipeline.store import LOCK, RUN_FILES, Run
from kpit.types import Sample, Turn

__all__ = ["export_hf", "export_llava", "llava_records"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def _run(run: Run | PathLike) -> Run:
    return run if isinstance(run, Run) else Run(run)


def _check_output(run: Run, path: PathLike, folder: bool = False) -> Path:
    """The output path, refused where it would overwrite the run's own files or a folder."""
    out = Path(path)
    own = {(run.folder / name).resolve() for name in (*RUN_FILES, LOCK)}
    if out.resolve() in own or out.resolve() == run.folder.resolve():
        raise ConfigError("would overwrite the run's own files; write the export elsewhere",
                          file=out, field="output")  # fmt: skip
    if not folder and out.is_dir():
        raise ConfigError("is a folder; give a file name", file=out, field="output")
    if folder and out.exists() and not out.is_dir():
        raise ConfigError("is a file; give a folder", file=out, field="output")
    return out


def _selected(run: Run, tasks: Sequence[str] | None) -> Iterator[Sample]:
    for sample in run.samples():
        if tasks is None or sample.task in tasks:
            yield sample


def _task_names(run: Run, tasks: str | Sequence[str] | None) -> list[str] | None:
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
    known = list(run.manifest.get("tasks") or plugins.tasks())
    return parse_names(names, known=known, scope="this run", file=run.folder, unique=False,
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
    run: Run | PathLike,
    *,
    image_prefix: str = "",
    per_pair: bool = False,
    tasks: Sequence[str] | None = None,
    exclude_images: ExcludeImages = None,
) -> Iterator[dict[str, Any]]:
    """LLaVA records of a run's samples, one per sample (or per question/answer pair).

    Args:
        run: a :class:`~kpit.pipeline.store.Run` or its folder.
        image_prefix: put before each image file name (e.g. ``coco/train2017/``).
        per_pair: one record per question/answer pair, as the paper counts samples.
        tasks: only these tasks (names, or ``"a,b"``); a name that is not one of the run's
            tasks is a :class:`~kpit.errors.ConfigError` listing them.
        exclude_images: benchmark images that must not be in training data (a benchmark
            folder, a run folder, an id list; see :func:`kpit.exclusion.read_image_ids`).

    Raises:
        ConfigError: a sample uses an excluded image (the error names how many and which),
            or a task is not one of the run's.
    """
    run = _run(run)
    selected = _selection(run, tasks, exclude_images)
    for record_id, sample, turns in _records(run, per_pair, selected):
        yield {"id": record_id, "image": f"{image_prefix}{sample.image}",
               "conversations": _conversation(turns), "task": sample.task}  # fmt: skip


def _selection(
    run: Run, tasks: str | Sequence[str] | None, exclude_images: ExcludeImages
) -> list[str] | None:
    """The tasks to export (:func:`_task_names`), once no sample of theirs is found to use an
    excluded image (a :class:`~kpit.errors.ConfigError` naming them otherwise)."""
    selected = _task_names(run, tasks)
    excluded = read_image_ids(exclude_images)
    if excluded:
        check_disjoint(_image_ids(run, selected), excluded, file=run.folder / "samples.jsonl")
    return selected


def _records(
    run: Run, per_pair: bool, tasks: Sequence[str] | None
) -> Iterator[tuple[str, Sample, Sequence[Turn]]]:
    """Each record's id, its sample and its turns: one per sample, or one per pair."""
    for sample in _selected(run, tasks):
        base_id = sample.id.replace("/", "_")
        groups = _pairs(sample.turns) if per_pair else [sample.turns]
        for n, turns in enumerate(groups):
            yield (f"{base_id}_{n}" if per_pair else base_id), sample, turns


def export_llava(
    run: Run | PathLike,
    path: PathLike,
    *,
    image_prefix: str = "",
    per_pair: bool = False,
    tasks: Sequence[str] | None = None,
    exclude_images: ExcludeImages = None,
) -> int:
    """Write a run's samples as LLaVA training JSON; return the number of records.

    See :func:`llava_records` for the options. The file is written to a temporary name
    and renamed, so a crash never leaves half a file.
    """
    run = _run(run)
    out = _check_output(run, path)
    records = list(llava_records(run, image_prefix=image_prefix, per_pair=per_pair, tasks=tasks,
                                 exclude_images=exclude_images))  # fmt: skip
    write_json(out, records, ensure_ascii=False, indent=1)
    return len(records)


def export_hf(
    run: Run | PathLike,
    path: PathLike,
    *,
    image_root: PathLike | None = None,
    embed_images: bool = True,
    per_pair: bool = False,
    tasks: Sequence[str] | None = None,
    exclude_images: ExcludeImages = None,
    system: str | None = None,
    progress: bool = True,
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
        run: a :class:`~kpit.pipeline.store.Run` or its folder.
        path: the dataset folder (new, empty, or an earlier export, which is replaced).
        image_root: the image folder; by default the one the run was made from (its
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

    Records whose turns carry LLaVA's chat markers (``<image>`` after the first question, or
    ``</s>``) are left out with a warning, as the trainer leaves them out: a processor would
    read them as another image or the end of the answer.

    Raises:
        ConfigError: the ``datasets`` package is not installed (``pip install 'kpit[hf]'``),
            the image folder is unknown, or ``path`` is a folder holding something else.
        SampleError: an image file is missing, unreadable or not an image (the error names
            the file and the record).
    """
    run = _run(run)
    out = _check_output(run, path, folder=True)
    _require_datasets()
    root = _image_folder(run, image_root)
    selected = _selection(run, tasks, exclude_images)
    skipped: list[str] = []
    rows = functools.partial(_hf_rows, run, per_pair, selected, root, system, embed_images, skipped)
    features = dataset_features(embed_images)
    count = write_dataset(rows, out, features, progress=progress)
    if skipped:
        log.warning("%s: left out %d record(s) with chat markers in their text: %s",
                    run.folder, len(skipped), "; ".join(skipped[:5]) +
                    (" ..." if len(skipped) > 5 else ""))  # fmt: skip
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
    run: Run,
    per_pair: bool,
    selected: Sequence[str] | None,
    root: Path,
    system: str | None,
    embed_images: bool,
    skipped: list[str],
) -> Iterator[dict[str, Any]]:
    """The dataset's rows of :func:`export_hf`; the records left out go to ``skipped``."""
    for record_id, sample, turns in _records(run, per_pair, selected):
        try:
            messages = chat_messages(turns, system)
        except SampleError as error:
            skipped.append(f"{record_id} ({error.message})")
            continue
        file = safe_join(root, sample.image, file=run.folder / "samples.jsonl",
                         record=sample.id)  # fmt: skip
        image = image_value(file, embed=embed_images, record=record_id, name=sample.image)
        yield {"id": record_id, "image_id": _image_id(sample), "file_name": sample.image,
               "task": sample.task, "messages": messages, "images": [image]}  # fmt: skip


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
