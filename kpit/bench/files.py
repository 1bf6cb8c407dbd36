"""Benchmark files in LLaVA-Bench's format: questions, contexts, reference answers, answers.

A benchmark folder holds ``questions.jsonl`` (``question_id``, ``image``, ``text``,
``category``), ``context.jsonl`` (``image``, ``captions``, ``instances`` and, for HPAUB,
``people`` with their keypoints) and ``references.jsonl`` (``question_id``, ``text``,
``category``). LLaVA's own files (``qa90_questions.jsonl``,
``caps_boxes_coco2014_val_80.jsonl``, ``qa90_gpt4_answer.jsonl``) read unchanged. Answers
and reviews use LLaVA's fields too, so LLaVA's scripts read kpit's files and the other way
round. Records are joined by ``question_id``, never by their order in a file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpit.errors import DataError
from kpit.jsonl import read_jsonl, write_jsonl
from kpit.judges.records import Answer, BenchContext, Question

__all__ = [
    "CATEGORIES",
    "Answer",
    "Bench",
    "BenchContext",
    "Question",
    "load_bench",
    "read_answers",
    "read_jsonl",
    "write_jsonl",
]

CATEGORIES = ("conv", "detail", "complex")
"""LLaVA-Bench's question categories: conversation, detailed description, complex reasoning."""

PathLike = str | os.PathLike[str]


def _field(
    record: Mapping[str, Any], name: str, kind: type | tuple[type, ...], path: PathLike, line: int
) -> Any:
    value = record.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DataError(
            f"missing or not a {getattr(kind, '__name__', 'valid value')}",
            file=path,
            record=f"line {line}",
            field=name,
        )
    return value


@dataclass(slots=True)
class Bench:
    """A benchmark: questions, the context of each image, and a reference answer per question."""

    questions: list[Question]
    contexts: dict[str, BenchContext]
    references: dict[int, Answer]
    files: dict[str, Path] = field(default_factory=dict)

    def context(self, question: Question) -> BenchContext:
        """The context of a question's image."""
        return self.contexts[question.image]

    def question(self, question_id: int) -> Question:
        """The question with that id; ``KeyError`` if there is none."""
        for q in self.questions:
            if q.question_id == question_id:
                return q
        raise KeyError(question_id)

    def write(self, folder: PathLike) -> None:
        """Write ``questions.jsonl``, ``context.jsonl`` and ``references.jsonl`` to ``folder``."""
        out = Path(folder)
        write_jsonl(out / "questions.jsonl", (q.to_dict() for q in self.questions))
        write_jsonl(out / "context.jsonl", (c.to_dict() for c in self.contexts.values()))
        write_jsonl(
            out / "references.jsonl",
            (
                {
                    "question_id": a.question_id,
                    "text": a.text,
                    "category": self.question(qid).category,
                }
                for qid, a in self.references.items()
            ),
        )


def _questions(path: PathLike) -> list[Question]:
    questions, seen = [], set()
    for n, record in read_jsonl(path):
        qid = _field(record, "question_id", int, path, n)
        if qid in seen:
            raise DataError(
                f"question {qid} appears twice", file=path, record=f"line {n}", field="question_id"
            )
        seen.add(qid)
        category = _field(record, "category", str, path, n)
        questions.append(
            Question(
                qid,
                _field(record, "image", str, path, n),
                _field(record, "text", str, path, n),
                category,
            )
        )
    return questions


def _contexts(path: PathLike) -> dict[str, BenchContext]:
    contexts = {}
    for n, record in read_jsonl(path):
        image = _field(record, "image", str, path, n)
        captions = record.get("captions", [])
        instances = record.get("instances", [])
        people = record.get("people", [])
        for name, value in (("captions", captions), ("instances", instances), ("people", people)):
            if not isinstance(value, list):
                raise DataError("not a list", file=path, record=f"line {n}", field=name)
        for instance in instances:
            if (
                not isinstance(instance, dict)
                or "category" not in instance
                or "bbox" not in instance
            ):
                raise DataError(
                    "each instance needs a 'category' and a 'bbox'",
                    file=path,
                    record=f"line {n}",
                    field="instances",
                )
        size = [record.get(name) for name in ("width", "height")]
        for name, value in zip(("width", "height"), size, strict=True):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < 1):  # fmt: skip
                raise DataError("not a size in pixels", file=path, record=f"line {n}", field=name)
        width, height = size if None not in size else (None, None)
        contexts[image] = BenchContext(
            image, tuple(map(str, captions)), tuple(instances), tuple(people), width, height
        )
    return contexts


def read_answers(path: PathLike, *, default_model: str = "") -> dict[int, Answer]:
    """Answers (or reference answers) by ``question_id``; a repeated id is an error."""
    answers: dict[int, Answer] = {}
    for n, record in read_jsonl(path):
        qid = _field(record, "question_id", int, path, n)
        if qid in answers:
            raise DataError(
                f"question {qid} is answered twice",
                file=path,
                record=f"line {n}",
                field="question_id",
            )
        answers[qid] = Answer(
            qid,
            _field(record, "text", str, path, n),
            str(record.get("model_id") or default_model),
            str(record.get("answer_id", "")),
            record.get("metadata") or {},
        )
    return answers


def load_bench(
    folder: PathLike | None = None,
    *,
    questions: PathLike | None = None,
    context: PathLike | None = None,
    references: PathLike | None = None,
    require_references: bool = True,
) -> Bench:
    """Load a benchmark folder, or LLaVA-Bench files given one by one.

    Every question must have a known category, a context for its image, and (unless
    ``require_references`` is false, as for model-against-model judging) a reference
    answer; anything missing is a :class:`DataError` naming the file and the question.
    """
    base = Path(folder) if folder is not None else None
    paths = {
        "questions": questions or (base / "questions.jsonl" if base else None),
        "context": context or (base / "context.jsonl" if base else None),
        "references": references or (base / "references.jsonl" if base else None),
    }
    for name, path in paths.items():
        optional = name == "references" and not require_references
        if path is None:
            if optional:
                continue
            raise DataError(f"no {name} file given", field=name)
        if not Path(path).is_file():
            if optional and references is None:
                continue
            raise DataError("no such file", file=path, field=name)
    resolved = {k: Path(v) for k, v in paths.items() if v is not None and Path(v).is_file()}
    refs = resolved.get("references")
    bench = Bench(
        _questions(resolved["questions"]),
        _contexts(resolved["context"]),
        read_answers(refs, default_model="reference") if refs is not None else {},
        resolved,
    )
    questions_file = resolved["questions"]
    for q in bench.questions:
        record = f"question {q.question_id}"
        if q.category not in CATEGORIES:
            raise DataError(f"unknown category {q.category!r}; use {', '.join(CATEGORIES)}",
                            file=questions_file, record=record, field="category")  # fmt: skip
        if q.image not in bench.contexts:
            raise DataError(f"no context for image {q.image} in {resolved['context']}",
                            file=questions_file, record=record, field="image")  # fmt: skip
        if require_references and q.question_id not in bench.references:
            raise DataError(f"no reference answer in {resolved['references']}",
                            file=questions_file, record=record, field="question_id")  # fmt: skip
    return bench
