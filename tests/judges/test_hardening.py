"""Judge scores: a score outside 1 to 10 is unreadable, never cut to fit.

Each test here failed before its fix: what a hostile or careless input did then is said in
the test's docstring.
"""

from __future__ import annotations

import pytest

from kpit.judges.rubric import parse_scores


@pytest.mark.parametrize(
    "review",
    ["Assistant 1: 11 / Assistant 2: 15", "Assistant 1: 12/10\nAssistant 2: 8/10",
     "12/10 and 8/10", "Scores: 7 and 10.5", "Assistant 1: 10.5, Assistant 2: 3",
     "Assistant 1: 8/100, Assistant 2: 9/100", "Assistant 1 -3 Assistant 2 -4",
     "**Assistant 1:** 100\n**Assistant 2:** 9"],
)  # fmt: skip
def test_scores_outside_1_to_10_are_unreadable_never_cut(review: str) -> None:
    """Before: "11" read as 1, "12/10" as 1, "10.5" as 10."""
    assert parse_scores(review) is None


def test_lenient_patterns_still_read_whole_scores() -> None:
    assert parse_scores("Assistant 1: 10/10, Assistant 2: 1/10") == (10, 1)
    assert parse_scores("Scores: 9.5/10 vs 7/10\nbecause") == (9.5, 7)
