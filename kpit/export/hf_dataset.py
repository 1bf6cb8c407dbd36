"""The Hugging Face dataset that :func:`kpit.export_hf` writes, in the shape users train from.

TRL's vision SFT (``SFTTrainer`` and its ``examples/scripts/sft_vlm.py``, trained there on
``HuggingFaceH4/llava-instruct-mix-vsft``) and the llava-hf processors' chat template read
records of two columns:

- ``messages``: ``{"role": "user"|"assistant"|"system", "content": [part, ...]}`` where a
  part is ``{"type": "image"}`` or ``{"type": "text", "text": ...}``; the image part comes
  first in the first user turn and stands for the image: no ``<image>`` string is written in
  the text, the processor's template puts the model's own placeholder there;
- ``images``: a list of images (a ``datasets`` ``List(Image())`` feature, decoded to PIL
  images), one per image part; or, not embedded, their paths, which the processors open.

In Arrow every part of a list has the same fields, so an image part reads back as
``{"type": "image", "text": None}``: the chat templates look at ``type`` only.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from kpit.errors import ConfigError, KpitError, SampleError
from kpit.llava_format import IMAGE_TOKEN, conversation_text, with_image_token
from kpit.types import Turn

__all__ = ["chat_messages", "dataset_features", "image_value", "write_dataset"]

PathLike = str | os.PathLike[str]


def chat_messages(turns: Sequence[Turn], system: str | None = None) -> list[dict[str, Any]]:
    """``turns`` as chat messages with content parts, the image part first in the first user
    turn; a ``system`` message first when given.

    The markers of LLaVA's training text stay out of the text, as the trainer has them
    (:func:`kpit.llava_format.conversation_text`): a ``<image>`` written in the first question
    is dropped (the image part stands for it), and ``<image>`` in any other turn, or the end
    token ``</s>`` in any turn, is refused, since a processor would read them as another
    image or the end of the answer.

    Raises:
        SampleError: a turn from neither ``human`` nor ``gpt``, or a marker out of its place
            (field ``conversations``; the caller adds the file and the record).
    """
    conversation = [{"from": t.role, "value": with_image_token(t.text) if n == 0 else t.text}
                    for n, t in enumerate(turns)]  # fmt: skip
    conversation_text(conversation)  # the trainer's checks, for the same verdict
    messages: list[dict[str, Any]] = []
    if system is not None:
        messages.append({"role": "system", "content": [_text(system)]})
    for n, turn in enumerate(conversation):
        if turn["from"] == "human":
            text = turn["value"].removeprefix(f"{IMAGE_TOKEN}\n")
            parts = [_image_part(), _text(text)] if n == 0 else [_text(text)]
            messages.append({"role": "user", "content": parts})
        else:
            messages.append({"role": "assistant", "content": [_text(turn["value"])]})
    return messages


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _image_part() -> dict[str, Any]:
    return {"type": "image", "text": None}


def dataset_features(embed_images: bool = True) -> Any:
    """The ``datasets.Features`` of the export.

    ``images`` is a ``List(Image())`` as in ``HuggingFaceH4/llava-instruct-mix-vsft``
    (``sequence: image`` in its card), or with ``embed_images=False`` a list of path strings
    (``save_to_disk`` copies the file of every ``Image`` value into the dataset, so a dataset
    that only points at its images cannot use that feature; processors and TRL open a path
    string themselves). ``id``, ``image_id``, ``file_name`` (the image's name in its COCO
    folder) and ``task`` say where each record comes from. No column is named ``image``: TRL
    reads a column of that name as the record's one image.
    """
    from datasets import Features, Image, List, Value

    part = {"type": Value("string"), "text": Value("string")}
    return Features({
        "id": Value("string"),
        "image_id": Value("int64"),
        "file_name": Value("string"),
        "task": Value("string"),
        "messages": List({"role": Value("string"), "content": List(part)}),
        "images": List(Image() if embed_images else Value("string")),
    })  # fmt: skip


def image_value(path: Path, *, embed: bool, record: str, name: str) -> dict[str, Any] | str:
    """The ``images`` value of one image file: its bytes (``embed``), or its absolute path.

    The file is opened either way, so that a missing, unreadable or non-image file stops the
    export here, naming the record, instead of a training run later.

    Raises:
        SampleError: the file is missing, unreadable or not an image (file: the image,
            record: ``record``, field ``image``).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SampleError(
            "image file not found; give the image folder with image_root (--image-root)",
            file=path,
            record=record,
            field="image",
        ) from None
    except OSError as error:
        raise SampleError(f"cannot read the image: {error.strerror or error}", file=path,
                          record=record, field="image") from None  # fmt: skip
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.size  # noqa: B018 (the header is read here)
    except (UnidentifiedImageError, OSError) as error:
        raise SampleError(f"not an image PIL can read: {error}", file=path, record=record,
                          field="image") from None  # fmt: skip
    return {"bytes": data, "path": name} if embed else str(path.resolve())


def write_dataset(
    rows: Callable[[], Iterator[dict[str, Any]]],
    path: PathLike,
    features: Any,
    *,
    progress: bool = True,
) -> int:
    """Write ``rows()`` as a dataset with ``save_to_disk`` at ``path``; return its length.

    The rows stream to disk (``Dataset.from_generator``, in a scratch folder beside ``path``),
    so an export with embedded images never holds them all in memory. The dataset is written
    under a temporary name and moved into place, so a failure leaves no half dataset and a
    previous export at ``path`` stays until the new one is complete. A symbolic link at
    ``path`` (to an earlier export) is replaced by the new dataset; the folder it points to
    is left as it was.

    Raises:
        ConfigError: ``path`` is a folder that holds something other than a saved dataset.
    """
    import datasets

    out = Path(path)
    _check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with _progress_bars(datasets, progress):
            try:
                dataset = datasets.Dataset.from_generator(
                    rows, features=features, cache_dir=str(scratch / "cache"),
                    fingerprint=uuid.uuid4().hex,
                )  # fmt: skip
            except datasets.exceptions.DatasetGenerationError as error:
                # datasets wraps what the rows raise; kpit's own errors say it better
                if isinstance(error.__cause__, KpitError):
                    raise error.__cause__ from None
                raise
            staged = scratch / "dataset"
            dataset.save_to_disk(os.fspath(staged))
            count = len(dataset)
            del dataset  # its cache files are in scratch, removed below
        if out.is_symlink():
            out.unlink()
        elif out.exists():
            shutil.rmtree(out)
        staged.replace(out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return count


_SAVED = ("dataset_info.json", "state.json")


def _check_target(out: Path) -> None:
    """Refuse to replace a folder that is not a saved dataset (a user's image folder...)."""
    if out.is_dir() and any(out.iterdir()) and not all((out / f).is_file() for f in _SAVED):
        raise ConfigError("is a folder that holds something other than a saved dataset; give "
                          "a new or empty folder", file=out, field="output")  # fmt: skip


@contextmanager
def _progress_bars(datasets: Any, show: bool) -> Iterator[None]:
    """``datasets``' progress bars on or off for the block, as they were after it."""
    was = datasets.is_progress_bar_enabled()
    if show:
        datasets.enable_progress_bars()
    else:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        (datasets.enable_progress_bars if was else datasets.disable_progress_bars)()
