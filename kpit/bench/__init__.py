"""HPAUB and LLaVA-Bench: benchmark files, judging, and scores.

The benchmark's files use LLaVA-Bench's fields (:mod:`kpit.bench.files`); the judge's
messages and score parsing follow LLaVA-Bench (:mod:`kpit.bench.review`); the report
computes LLaVA's scores with bootstrap intervals and without counting failed reviews as
-1 (:mod:`kpit.bench.report`).
"""

from kpit.bench.answer import answer_bench
from kpit.bench.build import bench_context, build_bench
from kpit.bench.files import Answer, Bench, BenchContext, Question, load_bench, read_answers
from kpit.bench.judging import grade, rubrics
from kpit.bench.report import Score, flip_rate, markdown_table, run_spread, summarize
from kpit.bench.review import judge_messages, parse_scores

__all__ = [
    "Answer",
    "Bench",
    "BenchContext",
    "Question",
    "Score",
    "answer_bench",
    "bench_context",
    "build_bench",
    "flip_rate",
    "grade",
    "judge_messages",
    "load_bench",
    "markdown_table",
    "parse_scores",
    "read_answers",
    "rubrics",
    "run_spread",
    "summarize",
]
