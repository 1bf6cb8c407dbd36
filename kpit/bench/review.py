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

Nothing paid for is lost or paid twice: the outputs (the reviews, their failures file and
the cache) are refused before the first request when one is an input of the benchmark under
any name or their folder cannot be written; one process writes them at a time
(``.reviews.jsonl.lock`` beside them); each review is appended to the cache as it arrives
(one flushed line; a line torn by a kill is cut on the next run); Ctrl-C or SIGTERM stops
the reviews cleanly, writes what is done and raises ``KeyboardInterrupt``; and a judge whose
budget is spent (``StopGeneration``) leaves the reviews not yet asked out of every file,
marked ``stopped`` in what :func:`judge_answers` returns.

Every review's ``tuple`` is LLaVA's ``[other, model]``: the reference's (or the ``versus``
model's) score first, then the score of ``model_id``'s answer, whichever was Assistant 1
(``assistant1`` names it). Pairwise reviews also name ``versus_id`` and carry ``scores``
by model.

A judge that checks one answer against the context (``single_answer``, such as ``pose``:
see :class:`kpit.judges.base.AnswerJudge`) is not given messages: each answer goes to its
``assess`` with the question and the image's context, and the review file holds its
records (``kind`` ``"pose"`` for the pose judge; what a plugin judge's must hold:
:mod:`kpit.bench.plugin_reviews`), each naming the judge (its ``settings()``). Such a judge
needs no references and takes no ``versus``, ``swap`` or ``runs``; it is deterministic and
runs in process, so nothing is cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from signal import SIGTERM
from typing import Any

from tqdm import tqdm

from kpit import plugins
from kpit._sync import run_sync
from kpit.bench._output import NOT_ASKED, Appender, claim_outputs
from kpit.bench.files import Answer, Bench
from kpit.bench.plugin_reviews import finish_review
from kpit.errors import (
    ConfigError,
    DataError,
    FatalGeneratorError,
    GeneratorError,
    StopGeneration,
)
from kpit.generators.base import TOKEN_FIELDS
from kpit.jsonl import read_jsonl, write_jsonl
from kpit.judges.base import Judge
from kpit.judges.rubric import judge_messages, parse_scores, rubrics
from kpit.pipeline.run import SignalStop
from kpit.pipeline.store import RunLock
from kpit.types import Message

__all__ = [
    "ORDERS",
    "PAIRWISE_ORDERS",
    "ajudge_answers",
    "failures_path",
    "judge_answers",
    "review_files",
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
            key = f"{job.key}/{attempt}"
            try:
                content = await self.judge.review(messages, key)
            except FatalGeneratorError:
                raise
            except StopGeneration as exc:  # a budget spent: no request sent
                record["stopped"] = exc.message or "stopped"
                break
            except GeneratorError as exc:
                _add_usage(record, self.judge.usage_of(key))
                record["error"] = f"{exc.code}: {exc.message}"
                break
            _add_usage(record, self.judge.usage_of(key))
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


def _add_usage(record: dict[str, Any], usage: Mapping[str, Any] | None) -> None:
    """Add one attempt's tokens to the review record's ``usage`` (every attempt is paid)."""
    if usage is None:
        return
    total = record.setdefault("usage", {})
    for name in TOKEN_FIELDS:
        value = usage.get(name, 0)
        if isinstance(value, int) and not isinstance(value, bool):
            total[name] = total.get(name, 0) + value


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
    progress: bool = True,
) -> list[dict[str, Any]]:
    """:func:`judge_answers` as a coroutine."""
    out_path = Path(out)
    claim_outputs(review_files(out_path), bench.files.values())
    judge_class = type(judge) if isinstance(judge, Judge) else plugins.get_judge(judge)
    if judge_class.single_answer:
        return await _judge_single(bench, answers, out_path, versus=versus, judge=judge,
                                   model=model, swap=swap, runs=runs,
                                   judge_options=judge_options, progress=progress)  # fmt: skip
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
    reviewing = _Reviewing(bench, judge_object, rules, rubric, rubric_hash,
                           "pairwise" if versus is not None else "reference",
                           judge_object.settings(), attempts)  # fmt: skip
    with RunLock.for_file(out_path):
        return await _review_all(reviewing, jobs, out_path, concurrency, progress)


def review_files(reviews: PathLike) -> tuple[Path, Path, Path]:
    """The files a judge writes for ``reviews``: the reviews, their failures file and the
    cache of every review had (``reviews.jsonl.cache.jsonl``)."""
    path = Path(reviews)
    return path, failures_path(path), path.with_name(path.name + ".cache.jsonl")


async def _review_all(
    reviewing: _Reviewing, jobs: list[_Job], out_path: Path, concurrency: int, progress: bool
) -> list[dict[str, Any]]:
    """Every job's review: from the cache, or asked for and appended to the cache as it
    comes (the output's lock held); then the reviews and failures files in job order."""
    cache_path = review_files(out_path)[2]
    cached: dict[str, dict[str, Any]] = {}
    paid: list[Mapping[str, Any]] = []  # every review had, failed ones too: all were paid
    for _, record in read_jsonl(cache_path, missing_ok=True, torn_tail_ok=True):
        if isinstance(record.get("usage"), Mapping):
            paid.append(record["usage"])
        if "error" not in record and isinstance(record.get("key"), str):
            cached[record["key"]] = record
    reviewing.judge.resume(paid)
    done: dict[str, dict[str, Any]] = {}
    stops: list[str] = []
    slots = asyncio.Semaphore(concurrency)
    served = sum(1 for job in jobs if job.key in cached)
    bar = tqdm(desc="judge", unit="review", total=len(jobs), initial=served,
               disable=not progress, dynamic_ncols=True)  # fmt: skip
    bar.set_postfix({"cached": served}, refresh=False)

    async def one(job: _Job, cache: Appender) -> None:
        if job.key in cached:
            done[job.key] = cached[job.key]
            return
        record, messages = reviewing.prepare(job)
        async with slots:
            await reviewing.ask(job, record, messages)
        if record.get("stopped"):  # not asked: the budget was spent first
            stops.append(str(record["stopped"]))
            return
        cache.write(record)
        done[job.key] = record
        bar.update(1)

    terminated = SignalStop().install()
    try:
        with Appender(cache_path) as cache:
            tasks = [asyncio.ensure_future(one(job, cache)) for job in jobs]
            try:
                await asyncio.gather(*tasks)
            finally:  # a fatal error or a signal: no review goes on unwatched
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    except asyncio.CancelledError:
        if not terminated.is_set():
            raise
    finally:
        bar.close()
        terminated.restore()
        await reviewing.judge.aclose()
    # Finished, stopped by a budget or by a signal: what is done (a fatal error leaves the
    # files as they were; the cache keeps every review had).
    _write_reviews(out_path, [done[job.key] for job in jobs if job.key in done])
    if terminated.signal is not None:
        raise KeyboardInterrupt("terminated (SIGTERM)" if terminated.signal == SIGTERM else "")
    why = f"{NOT_ASKED}: {stops[0] if stops else 'stopped'}"
    return [done.get(job.key) or _unasked(reviewing, job, why) for job in jobs]


def _unasked(reviewing: _Reviewing, job: _Job, why: str) -> dict[str, Any]:
    """The record of a review left unasked (a budget was spent first): never written."""
    return reviewing.prepare(job)[0] | {"error": why, "stopped": True}


def _write_reviews(out_path: Path, records: list[dict[str, Any]]) -> None:
    """The reviews with scores to ``out_path``, those without to the failures file beside
    it, apart, so that no script averages a placeholder score in."""
    write_jsonl(out_path, (r for r in records if "error" not in r))
    failures = [r for r in records if "error" in r]
    failed = failures_path(out_path)
    if failures or failed.exists():
        write_jsonl(failed, failures)


async def _judge_single(
    bench: Bench,
    answers: Mapping[int, Answer],
    out_path: Path,
    *,
    versus: Mapping[int, Answer] | None,
    judge: str | Judge,
    model: str | None,
    swap: bool,
    runs: int,
    judge_options: Mapping[str, Any] | None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Each answer checked on its own against the context by a single-answer judge."""
    name = judge.name if isinstance(judge, Judge) else judge
    given = ((versus is not None, "versus"), (swap, "swap"), (runs != 1, "runs"),
             (model is not None and not isinstance(judge, Judge), "model"))  # fmt: skip
    for is_given, field in given:
        if is_given:
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
    with RunLock.for_file(out_path):
        try:
            for question in tqdm(bench.questions, desc="judge", unit="answer",
                                 disable=not progress, dynamic_ncols=True):  # fmt: skip
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
                records.append(finish_review(review.to_dict(), judge_object.name,
                                             judge_object.settings()))  # fmt: skip
        finally:
            await judge_object.aclose()
        _write_reviews(out_path, records)
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
            ``judge_options`` (e.g. ``base_url``), ``progress`` (a progress bar on stderr,
            default ``True``).

    Returns:
        Every review in question order, those without scores marked with an ``error``;
        those not asked because the judge's budget was spent also carry ``stopped``.

    Raises:
        ConfigError: ``out`` (or a file beside it) is one of the benchmark's files, or
            another process is writing it; ``model`` given to a single-answer judge.
        KeyboardInterrupt: Ctrl-C or SIGTERM (the reviews finished are saved).
    """
    return run_sync(lambda: ajudge_answers(bench, answers, out, **options))
