"""Benchmark judges: the abstract :class:`~kpit.judges.base.Judge`, the built-in ``gpt`` judge,
and the review format they share (:mod:`~kpit.judges.rubric`: LLaVA-Bench's messages, the
rubrics and score parsing). The benchmark's review step that drives them is
:mod:`kpit.bench.judge`.
"""

from kpit.judges.base import Judge

__all__ = ["Judge"]
