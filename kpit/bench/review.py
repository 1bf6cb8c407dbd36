"""The benchmark's review step: a judge scores answers, with retries, caching and order checks.

Two kinds of review, both in LLaVA's review structure (the context, the question, then two
answers as Assistant 1 and Assistant 2, each scored from 1 to 10):

- ``reference`` (LLaVA-Bench's protocol): the model's answers against the benchmark's
  reference answers;
- ``pairwise`` (the paper's protocol, Tables 4 and 5): one model's answers against another
  model's (``versus``); no reference is needed.

kpit improves on LLaVA's script: answers are joined to questions by ``question_id``; a
review whose scores cannot be read is asked for again, then kept in a failures file beside
the reviews (``reviews.failures.jsonl``), never in the reviews as ``[-1, -1]`` (which
LLaVA's ``summarize_gpt_review.py`` would average in); ``swap`` judges both orders to measure
position bias (the flip rate); ``runs`` repeats everything to measure the spread; reviews
are cached (a rerun pays only for what is missing) and written in question order.

Every review's ``tuple`` is LLaVA's ``[other, model]``: the reference's (or the ``versus``
model's) score first, then the score of ``model_id``'s answer, whichever was Assistant 1
(``assistant1`` names it). Pairwise reviews also name ``versus_id`` and carry ``scores``
by model.

A judge that checks one answer against the context (``single_answer``, such as ``pose``:
see :class:`kpit.judges.base.AnswerJudge`) is not given messages: each answer goes to its
``assess`` with the question and the image's context, and the review file holds its
records (``kind`` ``"pose"`` for the pose judge). Such a judge needs no references and
takes no ``versus``, ``swap`` or ``runs``; it is deterministic and runs in process, so
nothing is cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kpit import plugins
from kpit._sync import run_sync
from kpit.bench.files import Answer, Bench
from kpit.errors import ConfigError, DataError, FatalGeneratorError, GeneratorError
from kpit.jsonl import read_jsonl, write_jsonl
from kpit.judges.base import Judge
from kpit.judges.rubric import judge_messages, parse_scores, rubrics
from kpit.types import Message

__all__ = [
    "ORDERS",
    "PAIRWISE_ORDERS",
    "ajudge_answers",
    "failures_path",
    "judge_answers",
]

ORDERS = ("reference-first", "answer-first")
"""Reference reviews: which answer the judge reads as Assistant 1."""

PAIRWISE_ORDERS = ("versus-first", "answers-first")
"""Pairwise reviews: which model's answer the judge reads as Assistant 1."""

PathLike = str | os.PathLike[str]


def failures_path(reviews: PathLike) -> Path:
    """Where the reviews without readable scores go: ``reviews.failures.jsonl`` beside them."""
    path = Path(reviews)
    stem = path.name.removesuffix(".jsonl")
    return path.with_name(f"{stem}.failures.jsonl")


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class _Job:
    key: str
    question_id: int
    order: str
    run: int
    other: Answer  # the reference, or the versus model's answer
    answer: Answer  # the answer of the model under review (``model_id``)


def _label(answer: Answer, fallback: str) -> str:
    return answer.model_id or fallback


def _jobs(
    bench: Bench,
    answers: Mapping[int, Answer],
    versus: Mapping[int, Answer] | None,
    judge: Judge,
    rubric_hash: str,
    swap: bool,
    runs: int,
) -> list[_Job]:
    orders = PAIRWISE_ORDERS if versus is not None else ORDERS
    jobs = []
    for q in bench.questions:
        answer = answers[q.question_id]
        other = versus[q.question_id] if versus is not None else bench.references[q.question_id]
        for run in range(runs):
            for order in orders if swap else orders[:1]:
                key = _hash(judge.name, str(judge.model), rubric_hash, str(q.question_id),
                            other.model_id, other.text, answer.model_id, answer.text, order,
                            str(run))  # fmt: skip
                jobs.append(_Job(key, q.question_id, order, run, other, answer))
    return jobs


def _check_answers(
    bench: Bench, answers: Mapping[int, Answer], versus: Mapping[int, Answer] | None
) -> None:
    sides = [("answers", answers)] + ([("versus", versus)] if versus is not None else [])
    for name, given in sides:
        missing = [q.question_id for q in bench.questions if q.question_id not in given]
        if missing:
            raise DataError(f"no answer for question {missing[0]} ({len(missing)} missing)",
                            record=f"question {missing[0]}", field=name)  # fmt: skip
    if versus is None:
        missing = [q.question_id for q in bench.questions if q.question_id not in bench.references]
        if missing:
            raise DataError(f"no reference answer for question {missing[0]}; pairwise judging "
                            "(versus=) needs none", record=f"question {missing[0]}",
                            field="references")  # fmt: skip
        return
    ours = {a.model_id for a in answers.values()}
    theirs = {a.model_id for a in versus.values()}
    if len(ours) != 1 or len(theirs) != 1 or ours == theirs or "" in ours | theirs:
        raise ConfigError(
            f"pairwise judging needs one distinct model_id per answer file, not {sorted(ours)} "
            f"against {sorted(theirs)}",
            field="model_id",
        )


@dataclass(frozen=True, slots=True)
class _Reviewing:
    """What the reviews of one :func:`ajudge_answers` call share: the judge, its rubric, and
    the kind of review (``reference`` or ``pairwise``)."""

    bench: Bench
    judge: Judge
    rules: Mapping[str, Mapping[str, str]]
    rubric: str
    rubric_hash: str
    kind: str
    settings: dict[str, Any]
    attempts: int

    def prepare(self, job: _Job) -> tuple[dict[str, Any], list[Message]]:
        """The review's record, not yet scored, and the messages that ask the judge for it."""
        question = self.bench.question(job.question_id)
        other_first = _other_first(job)
        first, second = (job.other, job.answer) if other_first else (job.answer, job.other)
        rule = self.rules[question.category]
        context = self.bench.context(question).render()
        messages = judge_messages(question.text, context, first.text, second.text,
                                  rule["prompt"], rule["role"])  # fmt: skip
        model_id = _label(job.answer, "model")
        other_id = _label(job.other, "reference" if self.kind == "reference" else "versus")
        record: dict[str, Any] = {
            "key": job.key,
            "kind": self.kind,
            "question_id": job.question_id,
            "category": question.category,
            "answer1_id": first.answer_id or first.model_id,
            "answer2_id": second.answer_id or second.model_id,
            "model_id": model_id,
            "assistant1": other_id if other_first else model_id,
            "judge": self.settings,
            "rubric": self.rubric,
            "rubric_hash": self.rubric_hash,
            "order": job.order,
            "run": job.run,
            "content": "",
        }
        if self.kind == "pairwise":
            record["versus_id"] = other_id
        return record, messages

    async def ask(self, job: _Job, record: dict[str, Any], messages: list[Message]) -> None:
        """Ask the judge until its scores read, at most ``attempts`` times; fill ``record``."""
        for attempt in range(1, self.attempts + 1):
            record["attempts"] = attempt
            try:
                content = await self.judge.review(messages, f"{job.key}/{attempt}")
            except FatalGeneratorError:
                raise
            except GeneratorError as exc:
                record["error"] = f"{exc.code}: {exc.message}"
                break
            record["content"] = content
            scores = parse_scores(content)
            if scores is not None:
                # Stored as LLaVA does: [other, model], whichever was Assistant 1.
                other, mine = scores if _other_first(job) else scores[::-1]
                record["tuple"] = [other, mine]
                if self.kind == "pairwise":
                    record["scores"] = {record["versus_id"]: other, record["model_id"]: mine}
                record.pop("error", None)
                break
            record["error"] = "unparseable scores"


def _other_first(job: _Job) -> bool:
    """Whether the judge reads the reference (or the ``versus`` answer) as Assistant 1."""
    return job.order in (ORDERS[0], PAIRWISE_ORDERS[0])


async def ajudge_answers(
    bench: Bench,
    answers: Mapping[int, Answer],
    out: PathLike,
    *,
    versus: Mapping[int, Answer] | None = None,
    judge: str | Judge = "gpt",
    model: str | None = None,
    rubric: str = "hpaub",
    swap: bool = False,
    runs: int = 1,
    attempts: int = 3,
    concurrency: int = 8,
    judge_options: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """:func:`judge_answers` as a coroutine."""
    judge_class = type(judge) if isinstance(judge, Judge) else plugins.get_judge(judge)
    if judge_class.single_answer:
        return await _judge_single(bench, answers, out, versus=versus, judge=judge, model=model,
                             swap=swap, runs=runs, judge_options=judge_options)  # fmt: skip
    _check_answers(bench, answers, versus)
    if runs < 1 or attempts < 1 or concurrency < 1:
        raise ConfigError("runs, attempts and concurrency must be at least 1", field="runs")
    judge_object = (
        judge
        if isinstance(judge, Judge)
        else plugins.get_judge(judge)(model=model, **dict(judge_options or {}))
    )
    rules = rubrics(rubric)
    rubric_hash = _hash(json.dumps(rules, sort_keys=True))
    jobs = _jobs(bench, answers, versus, judge_object, rubric_hash, swap, runs)
    out_path = Path(out)
    cache_path = out_path.with_name(out_path.name + ".cache.jsonl")
    cached: dict[str, dict[str, Any]] = {}
    if cache_path.exists():
        for _, record in read_jsonl(cache_path):
            if "error" not in record:
                cached[record["key"]] = record
    reviewing = _Reviewing(bench, judge_object, rules, rubric, rubric_hash,
                           "pairwise" if versus is not None else "reference",
                           judge_object.settings(), attempts)  # fmt: skip
    slots = asyncio.Semaphore(concurrency)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cache_file = cache_path.open("a", encoding="utf-8")

    async def one(job: _Job) -> dict[str, Any]:
        if job.key in cached:
            return cached[job.key]
        record, messages = reviewing.prepare(job)
        async with slots:
            await reviewing.ask(job, record, messages)
        cache_file.write(json.dumps(record) + "\n")
        cache_file.flush()
        return record

    try:
        records = await asyncio.gather(*(one(job) for job in jobs))
    finally:
        cache_file.close()
        await judge_object.aclose()
    # Question order, whatever the completion order; unreadable reviews apart, so that no
    # script averages a placeholder score in.
    write_jsonl(out_path, (r for r in records if "error" not in r))
    failures = [r for r in records if "error" in r]
    failed = failures_path(out_path)
    if failures or failed.exists():
        write_jsonl(failed, failures)
    return list(records)


async def _judge_single(
    bench: Bench,
    answers: Mapping[int, Answer],
    out: PathLike,
    *,
    versus: Mapping[int, Answer] | None,
    judge: str | Judge,
    model: str | None,
    swap: bool,
    runs: int,
    judge_options: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    """Each answer checked on its own against the context by a single-answer judge."""
    name = judge.name if isinstance(judge, Judge) else judge
    for given, field in ((versus is not None, "versus"), (swap, "swap"), (runs != 1, "runs")):
        if given:
            raise ConfigError(f"judge {name!r} checks each answer on its own against the "
                              f"context; {field} does not apply", field=field)  # fmt: skip
    missing = [q.question_id for q in bench.questions if q.question_id not in answers]
    if missing:
        raise DataError(f"no answer for question {missing[0]} ({len(missing)} missing)",
                        record=f"question {missing[0]}", field="answers")  # fmt: skip
    judge_object = (
        judge
        if isinstance(judge, Judge)
        else plugins.get_judge(judge)(model=model, **dict(judge_options or {}))
    )
    context_file = bench.files.get("context")
    records: list[dict[str, Any]] = []
    try:
        for question in bench.questions:
            answer = answers[question.question_id]
            try:
                review = judge_object.assess(question, bench.context(question), answer)
            except FatalGeneratorError:
                raise
            except GeneratorError as exc:
                records.append({"kind": "error", "question_id": question.question_id,
                                "category": question.category, "model_id": answer.model_id,
                                "error": f"{exc.code}: {exc.message}"})  # fmt: skip
                continue
            except DataError as exc:
                if exc.file is not None or context_file is None:
                    raise
                raise DataError(exc.message, file=context_file, record=exc.record,
                                field=exc.field) from None  # fmt: skip
            records.append(review.to_dict())
    finally:
        await judge_object.aclose()
    out_path = Path(out)
    write_jsonl(out_path, (r for r in records if "error" not in r))
    failures = [r for r in records if "error" in r]
    failed = failures_path(out_path)
    if failures or failed.exists():
        write_jsonl(failed, failures)
    return records


def judge_answers(
    bench: Bench, answers: Mapping[int, Answer], out: PathLike, **options: Any
) -> list[dict[str, Any]]:
    """Judge ``answers`` against ``bench``'s references, or against another model's answers.

    Args:
        bench: the benchmark (its references are needed only without ``versus``).
        answers: the model's answers by ``question_id`` (see :func:`kpit.bench.read_answers`).
        out: the review file (LLaVA's review fields: ``question_id``, ``category``,
            ``tuple`` = [other, model], ``content``), in question order; reviews without
            readable scores go to ``failures_path(out)`` beside it; a cache
            (``out.cache.jsonl``) lets a rerun skip every review already had.
        **options: ``versus`` (another model's answers by ``question_id``: judge model
            against model, as the paper does; each answer file must name one distinct
            ``model_id``), ``judge`` (a registered judge's name or an instance, default
            ``gpt``; ``pose`` checks each answer against the keypoints, needs no
            references and writes pose reviews), ``model``, ``rubric`` (``hpaub`` or
            ``llava``), ``swap`` (judge both orders), ``runs`` (repeat), ``attempts`` (asks
            per review when the scores cannot be read, default 3), ``concurrency``,
            ``judge_options`` (e.g. ``base_url``).

    Returns:
        Every review in question order, those without scores marked with an ``error``.
    """
    return run_sync(lambda: ajudge_answers(bench, answers, out, **options))
