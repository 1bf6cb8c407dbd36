"""HPAUB and LLaVA-Bench: build, answer, judge and report.

One module per step of ``kpit bench``: ``build`` (questions and references), ``answer``
(the model under test), ``judge`` (the review step: jobs, retries, cache, order checks) and
``report`` (scores with bootstrap intervals, failed reviews never counted as -1), over the
files of ``files`` (LLaVA-Bench's fields); this package exports what users call. The judge
backends and the review format they share live in :mod:`kpit.judges`: the ``gpt`` judge
scores pairs of answers, the ``pose`` judge checks each answer's claims against the
keypoints (its reviews have their own table, :func:`pose_table`). ``page`` writes it all
as one HTML page (:func:`write_page`).
"""

from kpit.bench.answer import NOT_ASKED, aanswer_bench, answer_bench, default_model_id
from kpit.bench.build import abuild_bench, bench_context, build_bench
from kpit.bench.files import Answer, Bench, BenchContext, Question, load_bench, read_answers
from kpit.bench.page import write_page
from kpit.bench.pose_report import PoseScore, pose_scores, pose_table
from kpit.bench.report import (
    PaperScore,
    ReviewFile,
    Score,
    flip_rate,
    load_reviews,
    markdown_table,
    paper_scores,
    paper_table,
    report_reviews,
    run_spread,
)
from kpit.bench.review import ajudge_answers, judge_answers
from kpit.judges.rubric import judge_messages, parse_scores, rubrics

__all__ = [
    "NOT_ASKED",
    "Answer",
    "Bench",
    "BenchContext",
    "PaperScore",
    "PoseScore",
    "Question",
    "ReviewFile",
    "Score",
    "aanswer_bench",
    "abuild_bench",
    "ajudge_answers",
    "answer_bench",
    "bench_context",
    "build_bench",
    "default_model_id",
    "flip_rate",
    "judge_answers",
    "judge_messages",
    "load_bench",
    "load_reviews",
    "markdown_table",
    "paper_scores",
    "paper_table",
    "parse_scores",
    "pose_scores",
    "pose_table",
    "read_answers",
    "report_reviews",
    "rubrics",
    "run_spread",
    "write_page",
]
