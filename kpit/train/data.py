"""Training data for LLaVA: LLaVA JSON records to model inputs with exact label masks.

A record (kpit's export or LLaVA's own ``llava_v1_5_mix665k.json``) becomes LLaVA-1.5's
conversation text: its system line, then ``USER: ... ASSISTANT: ...</s>`` per turn pair,
the image first in the first human turn. Labels train exactly the assistant answers and
their end-of-sequence tokens; the system line, the questions, the image tokens and the
padding are masked. The mask comes from character spans and the tokenizer's offsets, not
from token arithmetic, so it cannot drift (LLaVA's own script silently masks a whole
sample when its counts mismatch); the ids are checked against the processor's own. A
sample with no trainable token, a missing image or an over-long text is an error or a
counted skip, never a silent zero loss. So is a record whose image name leads outside the
image folder (absolute, or with ``..``; never opened) or whose text carries the image token
or the end token outside their places (it would forge turns in the training text).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from kpit.errors import ConfigError, DataError, SampleError
from kpit.llava_format import IMAGE_TOKEN, conversation_text, pad_to_square
from kpit.paths import safe_join

__all__ = [
    "IGNORE_INDEX",
    "DataReport",
    "LlavaDataset",
    "SampleError",
    "collate",
    "conversation_text",
]

IGNORE_INDEX = -100
"""The label of a token that is not trained."""

PathLike = str | os.PathLike[str]


@dataclass(slots=True)
class DataReport:
    """What a training set holds: samples, tokens, skips and the share of trained tokens."""

    samples: int = 0
    tokens: int = 0
    trained_tokens: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def trained_share(self) -> float:
        """Trained tokens as a share of all tokens."""
        return self.trained_tokens / self.tokens if self.tokens else 0.0

    def to_text(self) -> str:
        """One paragraph for the log."""
        skips = ", ".join(f"{reason} {n}" for reason, n in self.skipped.items()) or "none"
        return (
            f"{self.samples} samples, {self.tokens:,} tokens, {self.trained_tokens:,} "
            f"trained ({self.trained_share:.1%}); skipped: {skips}"
        )


class LlavaDataset:
    """LLaVA JSON records with their images, encoded for ``LlavaForConditionalGeneration``.

    Args:
        path: a LLaVA JSON file (a list of ``{"id", "image", "conversations"}`` records).
        images: the folder the records' ``image`` paths are relative to.
        processor: the model's processor (tokenizer and image processor).
        max_length: the longest sample in tokens (default 2048, as LLaVA-1.5 trained:
            ``--model_max_length 2048`` in its ``scripts/v1_5/finetune.sh``; the paper gives
            no length).
        tasks: keep only records of these tasks (kpit's export has a ``task`` field).
        on_error: ``"skip"`` (count and leave out) or ``"raise"``.
        pad: pad images to a square with CLIP's mean colour, as LLaVA-1.5 does.
    """

    def __init__(
        self,
        path: PathLike,
        images: PathLike,
        processor: Any,
        *,
        max_length: int = 2048,
        tasks: Sequence[str] | None = None,
        on_error: str = "skip",
        pad: bool = True,
    ) -> None:
        if on_error not in ("skip", "raise"):
            raise ConfigError("must be 'skip' or 'raise'", field="on_error")
        self.path, self.images, self.processor = Path(path), Path(images), processor
        self.max_length, self.on_error, self.pad = max_length, on_error, pad
        try:
            records = json.loads(self.path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise DataError(f"cannot read: {exc.strerror}", file=self.path) from None
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON: {exc.msg}", file=self.path) from None
        if not isinstance(records, list):
            raise DataError("expected a JSON list of records", file=self.path)
        self.report = DataReport()
        self.lengths: list[int] | None = None
        """Each usable record's length in tokens, from :meth:`scan`; ``None`` before it."""
        self.records = []
        for n, record in enumerate(records):
            if tasks is not None and record.get("task") not in tasks:
                continue
            if not isinstance(record, dict) or not isinstance(record.get("conversations"), list):
                raise DataError(
                    "a record needs 'conversations'",
                    file=self.path,
                    record=f"record {n}",
                    field="conversations",
                )
            self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def _text(self, record: Mapping[str, Any]) -> tuple[str, list[tuple[int, int]]]:
        """:func:`conversation_text` of a record; its errors name this file and the record."""
        try:
            eos = self.processor.tokenizer.eos_token
            return conversation_text(record["conversations"], eos=eos)
        except SampleError as exc:
            raise SampleError(exc.message, file=self.path, record=f"id {record.get('id')}",
                              field=exc.field) from None  # fmt: skip

    def _image_path(self, record: Mapping[str, Any]) -> Path:
        """The record's image under :attr:`images`; a name outside it is a SampleError."""
        if not record.get("image"):  # a text-only record (LLaVA's mix665k has them)
            raise SampleError("missing image: the record names none", field="image",
                              file=self.path, record=f"id {record.get('id')}")  # fmt: skip
        try:
            return safe_join(self.images, record.get("image"), file=self.path,
                             record=f"id {record.get('id')}")  # fmt: skip
        except DataError as exc:
            raise SampleError(exc.message, file=self.path, record=exc.record,
                              field="image") from None  # fmt: skip

    def encode(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """One record as ``input_ids``, ``attention_mask``, ``pixel_values`` and ``labels``."""
        where = f"id {record.get('id')}"
        tokenizer = self.processor.tokenizer
        text, spans = self._text(record)
        image_path = self._image_path(record)
        try:
            with Image.open(image_path) as opened:
                image = opened.convert("RGB")
        except OSError:
            raise SampleError(
                "missing or unreadable image", field="image", file=self.path, record=where
            ) from None
        if self.pad:
            image = pad_to_square(image)
        encoded = self.processor(images=image, text=text, return_tensors="pt")
        ids = encoded["input_ids"][0]
        image_token = tokenizer.convert_tokens_to_ids(self.processor.image_token)
        copies = int((ids == image_token).sum())
        expanded = text.replace(IMAGE_TOKEN, IMAGE_TOKEN * copies, 1)
        # The image comes before every answer: the answers' spans move by the expansion.
        shift = (copies - 1) * len(IMAGE_TOKEN)
        spans = [(start + shift, end + shift) for start, end in spans]
        offsets = tokenizer(expanded, return_offsets_mapping=True)
        if list(offsets["input_ids"]) != ids.tolist():
            raise SampleError(
                "the tokenizer and the processor disagree on the ids",
                field="conversations",
                file=self.path,
                record=where,
            )
        labels = ids.clone().fill_(IGNORE_INDEX)
        for i, (start, end) in enumerate(offsets["offset_mapping"]):
            if end > start and any(s <= start and end <= e for s, e in spans):
                labels[i] = ids[i]
        trained = int((labels != IGNORE_INDEX).sum())
        if trained == 0:
            raise SampleError(
                "no token to train", field="conversations", file=self.path, record=where
            )
        if len(ids) > self.max_length:
            raise SampleError(
                f"{len(ids)} tokens > max_length {self.max_length}",
                field="conversations",
                file=self.path,
                record=where,
            )
        return {
            "input_ids": ids,
            "attention_mask": encoded["attention_mask"][0],
            "pixel_values": encoded["pixel_values"][0],
            "labels": labels,
        }

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.encode(self.records[index])

    def scan(self) -> DataReport:
        """Check every record cheaply (image present, text length, something to train) and
        keep the usable ones; skips are counted (or raised, with ``on_error="raise"``).

        Run before training: it gives the training-data report without loading images,
        and :attr:`lengths`, which the paper recipe's length-grouped sampler uses.
        """
        tokenizer = self.processor.tokenizer
        image_tokens = 0
        usable = []
        lengths = []
        report = DataReport()
        for record in self.records:
            where = f"id {record.get('id')}"
            try:
                text, spans = self._text(record)
                if not self._image_path(record).is_file():
                    raise SampleError("missing image", field="image", file=self.path, record=where)
                if not spans:
                    raise SampleError(
                        "no token to train", field="conversations", file=self.path, record=where
                    )
                if not image_tokens:  # the same for every image: learn it from the first
                    image_id = tokenizer.convert_tokens_to_ids(self.processor.image_token)
                    image_tokens = int((self.encode(record)["input_ids"] == image_id).sum())
                length = len(tokenizer(text)["input_ids"]) + image_tokens - 1
                if length > self.max_length:
                    raise SampleError(
                        f"too long: {length} tokens > {self.max_length}",
                        field="conversations",
                        file=self.path,
                        record=where,
                    )
            except SampleError as exc:
                if self.on_error == "raise":
                    raise
                report.skipped[_reason(exc)] += 1
                continue
            usable.append(record)
            lengths.append(length)
            report.samples += 1
            report.tokens += length
            report.trained_tokens += sum(
                len(tokenizer(text[s:e], add_special_tokens=False)["input_ids"]) for s, e in spans
            )
        self.records = usable
        self.lengths = lengths
        self.report = report
        return report

    def samples(self) -> list[dict[str, Any]]:
        """Every usable record encoded; unusable ones are counted in ``report`` (or raised)."""
        out = []
        for record in self.records:
            try:
                sample = self.encode(record)
            except SampleError as exc:
                if self.on_error == "raise":
                    raise
                self.report.skipped[_reason(exc)] += 1
                continue
            self.report.samples += 1
            self.report.tokens += int(sample["input_ids"].numel())
            self.report.trained_tokens += int((sample["labels"] != IGNORE_INDEX).sum())
            out.append(sample)
        return out


def _reason(error: SampleError) -> str:
    """A skip's reason for the report: the message without the details of the record."""
    if error.field == "image" and error.message.startswith("missing"):
        return "missing image"
    return error.message.split(":")[0]  # "too long: 80 tokens > 64" -> "too long"


def collate(batch: Sequence[Mapping[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """Pad a batch on the right: ids with ``pad_token_id``, labels with ``IGNORE_INDEX``."""
    import torch

    length = max(int(sample["input_ids"].numel()) for sample in batch)

    def padded(key: str, value: int) -> Any:
        rows = [
            torch.nn.functional.pad(s[key], (0, length - s[key].numel()), value=value)
            for s in batch
        ]
        return torch.stack(rows)

    return {
        "input_ids": padded("input_ids", pad_token_id),
        "attention_mask": padded("attention_mask", 0),
        "labels": padded("labels", IGNORE_INDEX),
        "pixel_values": torch.stack([s["pixel_values"] for s in batch]),
    }
