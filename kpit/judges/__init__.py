"""Benchmark judges: the abstract :class:`~kpit.judges.base.Judge` (a pair of answers, LLaVA's
review) and :class:`~kpit.judges.base.AnswerJudge` (one answer against the context), the
built-in ``gpt`` judge and its review format (:mod:`~kpit.judges.rubric`: LLaVA-Bench's
messages, the rubrics and score parsing), and the ``pose`` judge (:mod:`~kpit.judges.pose`:
claims about people checked against the keypoints). The benchmark's review step that drives
them is ``kpit.bench.review`` (:func:`kpit.bench.judge_answers`).
"""

from kpit.judges.base import AnswerJudge, AnswerReview, Judge

__all__ = ["AnswerJudge", "AnswerReview", "Judge"]
