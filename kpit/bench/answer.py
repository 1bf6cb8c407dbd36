"""Answer a benchmark's questions with the model under test, image included.

Each question goes to a backend that reads images (``accepts_images``): the ``openai``
backend (GPT-4o, or vLLM serving Qwen2-VL or LLaVA) or a local one from a plugin. A backend
failure is retried by the backend, then reported and left unanswered, never written as an
answer to be judged. An image that is missing, does not decode, or is named outside the
image folder (an absolute name, a ``..`` part: :func:`kpit.paths.safe_join`) fails its
question, reported with the file, and is never read or sent; when not one question's image
is there, the folder is wrong and the run stops before any request.

The output is checked before the first request: it must not be one of the inputs (the
benchmark's files, the questions' images) under any name, and its folder must be writable; one
process writes it at a time (``.OUT.lock`` beside it). Each answer is appended to it as it
arrives, one flushed line, so a kill loses at most the requests in flight; at the end (or on
Ctrl-C or SIGTERM, which stop the run cleanly) the file is rewritten in question order.
Answers are cached in the output file by backend, model, question and settings: a rerun asks
only for what is missing. A budget (the backend's ``max_cost``) counts what the output's
answers already cost (their stored usage at the backend's price); once spent, the questions
left are returned as unanswered, their reason starting with :data:`NOT_ASKED`.

``shard="I/N"`` asks only the I-th of N disjoint shares of the questions, chosen by each
request's key (``bench/QUESTION_ID``, :class:`kpit.pipeline.Shard`), the same on every
machine: N machines each answer one share into their own file, and the files together
hold every answer (joined by answering into their concatenation without a shard, which
asks nothing and writes them in question order).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from signal import SIGTERM
from typing import Any

from PIL import Image
from tqdm import tqdm

from kpit import plugins
from kpit._sync import run_sync
from kpit.bench._output import NOT_ASKED, Appender, claim_outputs
from kpit.bench.files import Answer, Bench, Question
from kpit.errors import ConfigError, DataError
from kpit.generators.base import Generator, Usage
from kpit.jsonl import read_jsonl, write_jsonl
from kpit.options import option_names
from kpit.paths import safe_join
from kpit.pipeline.run import SignalStop
from kpit.pipeline.shard import Shard
from kpit.pipeline.store import RunLock
from kpit.types import ChatRequest, Message

__all__ = ["NOT_ASKED", "answer_bench", "default_model_id"]

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
    shard: str | Shard | None = None,
    model_id: str | None = None,
    progress: bool = True,
) -> tuple[dict[int, Answer], dict[int, str]]:
    """:func:`answer_bench` for code that already runs an event loop."""
    share = None if shard is None else Shard.parse(shard)
    out_path = Path(out)
    pictures = [Path(images) / q.image for q in bench.questions]  # the images read, by name
    claim_outputs([out_path], [*bench.files.values(), *pictures])
    backend = _backend(generator, model, generator_options)
    if not backend.accepts_images:
        raise ConfigError(f"the {backend.name!r} backend cannot read images", field="generator")
    label = model_id or default_model_id(str(backend.model or backend.name))
    with RunLock.for_file(out_path):
        return await _answer_all(bench, out_path, Path(images), backend, concurrency, share,
                                 _Labels(label, progress))  # fmt: skip


def default_model_id(model: str) -> str:
    """The ``model_id`` that answers of ``model`` carry unless told otherwise: its last path
    part (``out/full`` and ``out/full/`` give ``full``; ``llava-hf/llava-1.5-7b-hf`` gives
    ``llava-1.5-7b-hf``; ``gpt-4o`` stays ``gpt-4o``)."""
    parts = [part for part in model.replace("\\", "/").split("/") if part not in ("", ".")]
    return parts[-1] if parts else model


class _Labels:
    """How the answers are named and whether a progress bar shows."""

    def __init__(self, model_id: str, progress: bool) -> None:
        self.model_id = model_id
        self.progress = progress


def request_key(question_id: int) -> str:
    """The key of a question's request (``bench/QUESTION_ID``), which ``shard`` goes by."""
    return f"bench/{question_id}"


async def _answer_all(
    bench: Bench,
    out_path: Path,
    image_dir: Path,
    backend: Generator,
    concurrency: int,
    shard: Shard | None,
    labels: _Labels,
) -> tuple[dict[int, Answer], dict[int, str]]:
    """Answer what ``out_path`` lacks (of ``shard``'s questions), appending each answer as it
    comes (the lock held)."""
    settings = backend.identity()
    cached = _cached_answers(bench, out_path, settings, labels.model_id)
    if cached:
        log.info("%s: %d answers served from the cache", out_path, len(cached))
    unchecked = [q for q in bench.questions if q.question_id not in cached
                 and (shard is None or shard.holds(request_key(q.question_id)))]  # fmt: skip
    requests, failures = _requests(bench, unchecked, image_dir)
    for qid, why in failures.items():
        log.warning("question %s: %s", qid, why)
    question_of = {r.key: int(r.meta["question_id"]) for r in requests}
    answers = dict(cached)
    _write_in_order(bench, out_path, answers)  # only this backend's answers, no torn line
    backend.resume({"cost_usd": _spent(backend, cached.values())})
    mine = sum(1 for q in bench.questions if shard is None
               or shard.holds(request_key(q.question_id)))  # fmt: skip
    done = sum(1 for qid in cached if shard is None or shard.holds(request_key(qid)))
    bar = tqdm(desc="answer", unit="q", total=mine, initial=done + len(failures),
               disable=not labels.progress, dynamic_ncols=True)  # fmt: skip
    bar.set_postfix({"cached": len(cached)}, refresh=False)
    terminated = SignalStop().install()
    try:
        with Appender(out_path) as appended:
            async for reply in backend.generate(requests, concurrency=concurrency):
                qid = question_of.pop(reply.key)
                bar.update(1)
                if reply.text is None:
                    failures[qid] = f"{reply.error}: {reply.detail}"
                    continue
                answers[qid] = _answer(backend, settings, bench.question(qid), reply.text,
                                       reply.usage, labels.model_id)  # fmt: skip
                appended.write(answers[qid].to_dict())
                figures: dict[str, object] = {"cached": len(cached), "failed": len(failures)}
                bar.set_postfix(figures | backend.progress(), refresh=False)
    except asyncio.CancelledError:
        if not terminated.is_set():
            raise
    finally:
        bar.close()
        terminated.restore()
        await backend.aclose()
        _write_in_order(bench, out_path, answers)
    if terminated.signal is not None:
        raise KeyboardInterrupt("terminated (SIGTERM)" if terminated.signal == SIGTERM else "")
    if backend.stop_reason is not None:
        for qid in question_of.values():
            failures[qid] = f"{NOT_ASKED}: {backend.stop_reason}"
    return answers, failures


def _write_in_order(bench: Bench, out_path: Path, answers: Mapping[int, Answer]) -> None:
    """Write ``answers`` to ``out_path`` in question order, as LLaVA's scripts read them."""
    if not answers and not out_path.exists():
        return
    try:
        write_jsonl(out_path, (answers[q.question_id].to_dict() for q in bench.questions
                               if q.question_id in answers))  # fmt: skip
    except OSError as exc:  # a full disk: the answers appended so far are still there
        raise DataError(f"cannot write: {exc.strerror}", file=out_path) from None


def _spent(backend: Generator, answers: Iterable[Answer]) -> float:
    """What ``answers`` cost at the backend's price (their stored usage): what earlier
    sessions spent on this output, counted against the budget."""
    price = backend.price()
    if price is None:
        return 0.0
    usages = (answer.metadata.get("usage") for answer in answers)
    return price.cost_of_stored(usage for usage in usages if isinstance(usage, Mapping))


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


def _cached_answers(
    bench: Bench, out_path: Path, settings: Mapping[str, Any], model_id: str
) -> dict[int, Answer]:
    """The answers in ``out_path`` given by these settings to the questions as they read now,
    named ``model_id`` (the name is no setting: a rerun under another name renames them).

    Raises:
        ConfigError: ``out_path`` holds an answer given otherwise (another model or setting,
            or a question that reads differently now): rewriting the file would lose it.
    """
    cached: dict[int, Answer] = {}
    if not out_path.exists():
        return cached
    by_id = {q.question_id: q for q in bench.questions}
    for n, record in read_jsonl(out_path, torn_tail_ok=True):
        question = by_id.get(record.get("question_id"))  # type: ignore[arg-type]
        if question is None or record.get("answer_id") != _answer_id(
            settings, question.question_id, question.text
        ):
            raise ConfigError(
                f"holds an answer of {record.get('model_id')!r} given with other settings or "
                "to another question (a paid answer that rewriting would lose); answer into "
                "another file",
                file=out_path,
                record=f"line {n}",
                field="answer_id",
            )
        cached[question.question_id] = Answer(
            question.question_id,
            str(record["text"]),
            model_id,
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
        requests.append(ChatRequest(request_key(q.question_id), (message,), meta))
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
    model_id: str,
) -> Answer:
    """The answer that a reply of ``text`` gives to ``question``."""
    return Answer(
        question.question_id,
        text.strip(),
        model_id,
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
    backend failure, an image that is missing, does not decode or is named outside
    ``images``: that question only; or a spent budget: :data:`NOT_ASKED`). Raises
    :class:`~kpit.errors.DataError` when not one image is in ``images``,
    :class:`~kpit.errors.ConfigError` when ``out`` is one of the inputs or is being written
    by another process, and ``KeyboardInterrupt`` after Ctrl-C or SIGTERM (the answers
    finished are saved).
    Options: ``generator`` (default ``openai``) and ``model``, ``model_id`` (the name the
    answers carry, which reports and ``--baseline`` use; by default the model's last path
    part, :func:`default_model_id`), ``concurrency``, ``generator_options`` (``base_url``,
    ``temperature``, ``max_tokens``...), ``shard`` (``"I/N"``: only the I-th of N shares of
    the questions, by their request key; answers of other shares already in ``out`` are
    kept and returned), ``progress`` (a progress bar on stderr, default ``True``).
    """
    return run_sync(lambda: aanswer_bench(bench, out, images, **options))
