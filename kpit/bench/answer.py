"""Answer a benchmark's questions with the model under test, image included.

Each question goes to a backend that reads images (``accepts_images``): the ``openai``
backend (GPT-4o, or vLLM serving Qwen2-VL or LLaVA) or a local one from a plugin. A backend
failure is retried by the backend, then reported and left unanswered, never written as an
answer to be judged. An image that is missing, does not decode, or is named outside the
image folder (an absolute name, a ``..`` part: :func:`kpit.paths.safe_join`) fails its
question, reported with the file, and is never read or sent; when not one question's image
is there, the folder is wrong and the run stops before any request. Answers are cached in
the output file by backend, model, question and settings: a rerun asks only for what is
missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from kpit import plugins
from kpit._sync import run_sync
from kpit.bench.files import Answer, Bench, Question
from kpit.errors import ConfigError, DataError
from kpit.generators.base import Generator, Usage
from kpit.jsonl import read_jsonl, write_jsonl
from kpit.options import option_names
from kpit.paths import safe_join
from kpit.types import ChatRequest, Message

__all__ = ["answer_bench"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

_MISSING = "no such image"


def _answer_id(settings: Mapping[str, Any], question_id: int, text: str) -> str:
    blob = json.dumps(
        {"settings": settings, "question": question_id, "text": text}, sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


async def aanswer_bench(
    bench: Bench,
    out: PathLike,
    images: PathLike,
    *,
    generator: str | Generator = "openai",
    model: str | None = None,
    concurrency: int = 8,
    generator_options: Mapping[str, Any] | None = None,
) -> tuple[dict[int, Answer], dict[int, str]]:
    """:func:`answer_bench` for code that already runs an event loop."""
    backend = _backend(generator, model, generator_options)
    if not backend.accepts_images:
        raise ConfigError(f"the {backend.name!r} backend cannot read images", field="generator")
    settings = backend.identity()
    out_path = Path(out)
    cached = _cached_answers(bench, out_path, settings)
    unchecked = [q for q in bench.questions if q.question_id not in cached]
    requests, failures = _requests(bench, unchecked, Path(images))
    for qid, why in failures.items():
        log.warning("question %s: %s", qid, why)
    question_of = {r.key: int(r.meta["question_id"]) for r in requests}
    answers = dict(cached)
    try:
        async for reply in backend.generate(requests, concurrency=concurrency):
            qid = question_of[reply.key]
            if reply.text is None:
                failures[qid] = f"{reply.error}: {reply.detail}"
                continue
            answers[qid] = _answer(backend, settings, bench.question(qid), reply.text, reply.usage)
    finally:
        await backend.aclose()
        ordered = [
            answers[q.question_id].to_dict() for q in bench.questions if q.question_id in answers
        ]
        write_jsonl(out_path, ordered)
    return answers, failures


def _backend(
    generator: str | Generator, model: str | None, options: Mapping[str, Any] | None
) -> Generator:
    """The backend that answers: ``generator`` itself, or the named one made with ``options``.

    A named backend decodes as LLaVA's evaluation does, greedily and up to 1024 new tokens,
    unless told otherwise (where it has these options).
    """
    if isinstance(generator, Generator):
        return generator
    backend_class = plugins.get_generator(generator)
    known = option_names(backend_class.Options)
    defaults = {k: v for k, v in (("temperature", 0), ("max_tokens", 1024)) if k in known}
    return backend_class(model=model, **defaults | dict(options or {}))


def _cached_answers(bench: Bench, out_path: Path, settings: Mapping[str, Any]) -> dict[int, Answer]:
    """The answers in ``out_path`` given by these settings to the questions as they read now."""
    cached: dict[int, Answer] = {}
    if not out_path.exists():
        return cached
    by_id = {q.question_id: q for q in bench.questions}
    for _, record in read_jsonl(out_path):
        question = by_id.get(record.get("question_id"))  # type: ignore[arg-type]
        if question is None:
            continue
        if record.get("answer_id") == _answer_id(settings, question.question_id, question.text):
            cached[question.question_id] = Answer(
                question.question_id,
                str(record["text"]),
                str(record.get("model_id", "")),
                str(record["answer_id"]),
                record.get("metadata") or {},
            )
    return cached


def _requests(
    bench: Bench, questions: list[Question], image_dir: Path
) -> tuple[list[ChatRequest], dict[int, str]]:
    """A request for each question whose image can be sent, and why each other one fails.

    Raises :class:`DataError` when not one question's image is there: the folder is wrong,
    not the images.
    """
    requests: list[ChatRequest] = []
    failures: dict[int, str] = {}
    for q in questions:
        where = f"question {q.question_id}"
        try:
            path = safe_join(image_dir, q.image, file=bench.files.get("questions"), record=where)
        except DataError as exc:
            failures[q.question_id] = str(exc)
            continue
        problem = _image_problem(path)
        if problem is not None:
            failures[q.question_id] = f"image {q.image!r} ({path}): {problem}"
            continue
        message = Message("user", q.text, (str(path),))
        meta = {"question_id": q.question_id, "category": q.category, "image": q.image}
        requests.append(ChatRequest(f"bench/{q.question_id}", (message,), meta))
    if questions and not requests and all(why.endswith(_MISSING) for why in failures.values()):
        first = questions[0]
        raise DataError(f"{_MISSING} (none of the {len(questions)} questions' images is in "
                        f"{image_dir}: is --images right?)", file=image_dir / first.image,
                        record=f"question {first.question_id}", field="image")  # fmt: skip
    return requests, failures


def _answer(
    backend: Generator,
    settings: Mapping[str, Any],
    question: Question,
    text: str,
    usage: Usage | None,
) -> Answer:
    """The answer that a reply of ``text`` gives to ``question``."""
    return Answer(
        question.question_id,
        text.strip(),
        str(backend.model or backend.name),
        _answer_id(settings, question.question_id, question.text),
        {"generator": settings, "usage": usage.to_dict() if usage else None},
    )


def _image_problem(path: Path) -> str | None:
    """Why the image at ``path`` cannot be sent, or ``None`` when it decodes."""
    if not path.is_file():
        return _MISSING
    try:
        with Image.open(path) as opened:
            opened.load()
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError... for bad files
        return f"cannot read the image: {type(exc).__name__}: {exc}"
    return None


def answer_bench(
    bench: Bench, out: PathLike, images: PathLike, **options: Any
) -> tuple[dict[int, Answer], dict[int, str]]:
    """Answer every question of ``bench`` with its image from ``images``; write ``out``.

    Returns the answers by ``question_id`` and the questions left unanswered with why (a
    backend failure, or an image that is missing, does not decode or is named outside
    ``images``: that question only). Raises :class:`~kpit.errors.DataError` when not one
    image is in ``images``.
    Options: ``generator`` (default ``openai``) and ``model``, ``concurrency``,
    ``generator_options`` (``base_url``, ``temperature``, ``max_tokens``...).
    """
    return run_sync(lambda: aanswer_bench(bench, out, images, **options))
