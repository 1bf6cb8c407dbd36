"""Judge a model's answers against the references, with retries, caching and order checks.

For every question, the judge reads the context, the question and two answers, and scores
both from 1 to 10. kpit improves on LLaVA's script: answers are joined to questions by
``question_id``; a review whose scores cannot be read is asked for again, then excluded
and counted (never scored -1); ``swap`` judges both orders to measure position bias (the
flip rate); ``runs`` repeats everything to measure the spread; reviews are cached (a
rerun pays only for what is missing) and written in question order.
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
from kpit.bench.files import Answer, Bench, read_jsonl, write_jsonl
from kpit.errors import DataError
from kpit.generators.base import FatalGeneratorError, GeneratorError
from kpit.judges.base import Judge
from kpit.judges.rubric import judge_messages, parse_scores, rubrics

__all__ = ["ORDERS", "ajudge_answers", "judge_answers"]

ORDERS = ("reference-first", "answer-first")
"""Which answer the judge reads as Assistant 1."""

PathLike = str | os.PathLike[str]


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class _Job:
    key: str
    question_id: int
    order: str
    run: int


def _jobs(
    bench: Bench,
    answers: Mapping[int, Answer],
    judge: Judge,
    rubric_hash: str,
    swap: bool,
    runs: int,
) -> list[_Job]:
    jobs = []
    for q in bench.questions:
        answer = answers[q.question_id]
        for run in range(runs):
            for order in ORDERS if swap else ORDERS[:1]:
                reference = bench.references[q.question_id].text
                key = _hash(
                    judge.name,
                    str(judge.model),
                    rubric_hash,
                    str(q.question_id),
                    reference,
                    answer.text,
                    order,
                    str(run),
                )
                jobs.append(_Job(key, q.question_id, order, run))
    return jobs


async def ajudge_answers(
    bench: Bench,
    answers: Mapping[int, Answer],
    out: PathLike,
    *,
    judge: str | Judge = "gpt",
    model: str | None = None,
    rubric: str = "hpaub",
    swap: bool = False,
    runs: int = 1,
    attempts: int = 3,
    concurrency: int = 8,
    judge_options: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """:func:`judge_answers` for code that already runs an event loop."""
    missing = [q.question_id for q in bench.questions if q.question_id not in answers]
    if missing:
        raise DataError(
            f"no answer for question {missing[0]} ({len(missing)} missing)", field="question_id"
        )
    judge_object = (
        judge
        if isinstance(judge, Judge)
        else plugins.get_judge(judge)(model=model, **dict(judge_options or {}))
    )
    rules = rubrics(rubric)
    rubric_hash = _hash(json.dumps(rules, sort_keys=True))
    jobs = _jobs(bench, answers, judge_object, rubric_hash, swap, runs)
    out_path = Path(out)
    cache_path = out_path.with_name(out_path.name + ".cache.jsonl")
    cached: dict[str, dict[str, Any]] = {}
    if cache_path.exists():
        for _, record in read_jsonl(cache_path):
            if "error" not in record:
                cached[record["key"]] = record
    settings = judge_object.settings()
    slots = asyncio.Semaphore(concurrency)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cache_file = cache_path.open("a", encoding="utf-8")

    async def one(job: _Job) -> dict[str, Any]:
        if job.key in cached:
            return cached[job.key]
        question = bench.question(job.question_id)
        reference, answer = bench.references[job.question_id], answers[job.question_id]
        first, second = (reference, answer) if job.order == ORDERS[0] else (answer, reference)
        rule = rules[question.category]
        messages = judge_messages(question.text, bench.context(question).render(), first.text,
                                  second.text, rule["prompt"], rule["role"])  # fmt: skip
        record: dict[str, Any] = {
            "key": job.key,
            "question_id": job.question_id,
            "category": question.category,
            "answer1_id": first.answer_id or first.model_id,
            "answer2_id": second.answer_id or second.model_id,
            "model_id": answer.model_id,
            "judge": settings,
            "rubric": rubric,
            "rubric_hash": rubric_hash,
            "order": job.order,
            "run": job.run,
            "content": "",
            # LLaVA's scripts write [-1, -1] for a review without scores; so does kpit, to
            # keep the file readable by them, but its report leaves such reviews out.
            "tuple": [-1, -1],
        }
        async with slots:
            for attempt in range(1, attempts + 1):
                record["attempts"] = attempt
                try:
                    content = await judge_object.review(messages, f"{job.key}/{attempt}")
                except FatalGeneratorError:
                    raise
                except GeneratorError as exc:
                    record["error"] = f"{exc.code}: {exc.message}"
                    break
                record["content"] = content
                scores = parse_scores(content)
                if scores is not None:
                    # Stored as LLaVA does: [reference score, model score].
                    record["tuple"] = list(scores if job.order == ORDERS[0] else scores[::-1])
                    record.pop("error", None)
                    break
                record["error"] = "unparseable scores"
        cache_file.write(json.dumps(record) + "\n")
        cache_file.flush()
        return record

    try:
        reviews = await asyncio.gather(*(one(job) for job in jobs))
    finally:
        cache_file.close()
        await judge_object.aclose()
    write_jsonl(out_path, reviews)  # question order, whatever the completion order
    return list(reviews)


def judge_answers(
    bench: Bench, answers: Mapping[int, Answer], out: PathLike, **options: Any
) -> list[dict[str, Any]]:
    """Judge ``answers`` against ``bench``'s references and write the reviews to ``out``.

    Args:
        bench: the benchmark.
        answers: the model's answers by ``question_id`` (see
            :func:`kpit.bench.read_answers`).
        out: the review file (LLaVA's review fields: ``question_id``, ``category``,
            ``tuple`` = [reference, model], ``content``), in question order; a cache beside
            it (``out.cache.jsonl``) lets a rerun skip every review already had.
        **options: ``judge`` (a registered judge's name or an instance, default ``gpt``),
            ``model``, ``rubric`` (``hpaub`` or ``llava``), ``swap`` (judge both orders),
            ``runs`` (repeat), ``attempts`` (asks per review when the scores cannot be
            read, default 3), ``concurrency``, ``judge_options`` (e.g. ``base_url``).
    """
    return run_sync(lambda: ajudge_answers(bench, answers, out, **options))
