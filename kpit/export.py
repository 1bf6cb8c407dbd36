"""Export a run's samples: LLaVA training JSON, or a Hugging Face dataset.

LLaVA's format (``llava_v1_5_mix665k.json`` and the paper's data) is a JSON list of records
``{"id", "image", "conversations": [{"from": "human"|"gpt", "value"}, ...]}`` with
``<image>\\n`` before the first human turn. The paper counts one record per question/answer
pair (200,328 = 112,980 conversation pairs + 45,174 detailed + 42,174 complex);
``per_pair=True`` writes that, the default writes one record per conversation.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from kpit import plugins
from kpit.errors import ConfigError
from kpit.llava_format import IMAGE_TOKEN, with_image_token
from kpit.overlap import ExcludeImages, check_disjoint, read_image_ids
from kpit.store import LOCK, RUN_FILES, Run
from kpit.types import Sample, Turn

__all__ = ["export_hf", "export_llava", "llava_records"]

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
    if isinstance(tasks, str):
        tasks = tasks.split(",")
    elif not isinstance(tasks, Sequence) or not all(isinstance(t, str) for t in tasks):
        raise ConfigError(f"expected task names (a list of strings or 'a,b'), not {tasks!r}",
                          field="tasks")  # fmt: skip
    names = [t.strip() for t in tasks if t.strip()]
    if not names:
        raise ConfigError("no task given", field="tasks")
    if names == ["all"]:
        return None
    # The run's own tasks (the manifest keeps every session's); a run too old to list them
    # is checked against the installed tasks.
    known = list(run.manifest.get("tasks") or plugins.tasks())
    for name in names:
        if name not in known:
            near = difflib.get_close_matches(name, known, n=1, cutoff=0.4)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ConfigError(f"no task {name!r} in this run{hint} (its tasks: "
                              f"{', '.join(sorted(known))})", file=run.folder,
                              field="tasks")  # fmt: skip
    return names


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
        run: a :class:`~kpit.store.Run` or its folder.
        image_prefix: put before each image file name (e.g. ``coco/train2017/``).
        per_pair: one record per question/answer pair, as the paper counts samples.
        tasks: only these tasks (names, or ``"a,b"``); a name that is not one of the run's
            tasks is a :class:`~kpit.errors.ConfigError` listing them.
        exclude_images: benchmark images that must not be in training data (a benchmark
            folder, a run folder, an id list; see :func:`kpit.overlap.read_image_ids`).

    Raises:
        ConfigError: a sample uses an excluded image (the error names how many and which),
            or a task is not one of the run's.
    """
    run = _run(run)
    tasks = _task_names(run, tasks)
    excluded = read_image_ids(exclude_images)
    if excluded:
        samples = ((s.id, s.meta.get("image_id", s.image)) for s in _selected(run, tasks))
        check_disjoint(samples, excluded, file=run.folder / "samples.jsonl")
    for sample in _selected(run, tasks):
        image = f"{image_prefix}{sample.image}"
        base_id = sample.id.replace("/", "_")
        groups = _pairs(sample.turns) if per_pair else [sample.turns]
        for n, turns in enumerate(groups):
            record_id = f"{base_id}_{n}" if per_pair else base_id
            yield {"id": record_id, "image": image, "conversations": _conversation(turns),
                   "task": sample.task}  # fmt: skip


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
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(records, f, ensure_ascii=False, indent=1)
    tmp.replace(out)
    return len(records)


def export_hf(
    run: Run | PathLike,
    path: PathLike,
    *,
    image_root: PathLike | None = None,
    per_pair: bool = False,
    tasks: Sequence[str] | None = None,
    exclude_images: ExcludeImages = None,
) -> int:
    """Write a run as a Hugging Face ``datasets`` dataset (``save_to_disk``); return its rows.

    Columns as TRL's vision-language trainers read them: ``messages`` (``user`` and
    ``assistant`` turns whose ``content`` is a list of ``{"type": "image"}`` and
    ``{"type": "text", "text": ...}`` parts, the image part in the first user turn) and
    ``images`` (a list with the image's path, under ``image_root`` when given), plus
    ``id`` and ``task``.

    Raises:
        ConfigError: the ``datasets`` package is not installed (``pip install 'kpit[hf]'``).
    """
    run = _run(run)
    _check_output(run, path, folder=True)
    try:
        import datasets
    except ImportError:
        raise ConfigError(
            "export_hf needs the 'datasets' package: pip install 'kpit[hf]'", field="datasets"
        ) from None
    rows: dict[str, list[Any]] = {"id": [], "task": [], "images": [], "messages": []}
    root = Path(image_root) if image_root is not None else None
    for record in llava_records(run, per_pair=per_pair, tasks=tasks, exclude_images=exclude_images):
        messages = []
        for n, turn in enumerate(record["conversations"]):
            text = turn["value"].removeprefix(f"{IMAGE_TOKEN}\n") if n == 0 else turn["value"]
            content: list[dict[str, Any]] = [{"type": "text", "text": text}]
            if n == 0:
                content.insert(0, {"type": "image", "text": None})
            messages.append({"role": "user" if turn["from"] == "human" else "assistant",
                             "content": content})  # fmt: skip
        image = str(root / record["image"]) if root is not None else record["image"]
        rows["id"].append(record["id"])
        rows["task"].append(record["task"])
        rows["images"].append([image])
        rows["messages"].append(messages)
    dataset = datasets.Dataset.from_dict(rows)
    dataset.save_to_disk(os.fspath(path))
    return len(dataset)
