"""Quality filters: each rule rejects what it should, with a reason, and passes the rest."""

from __future__ import annotations

import pytest

from kpit.pipeline.quality import QualityConfig, QualityFilter
from kpit.types import Turn

GOOD = "The batter stands with his knees bent and swings the bat towards the pitch."


def turns(answer: str, question: str = "What is the batter doing?") -> list[Turn]:
    return [Turn("human", question), Turn("gpt", answer)]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("Based on the keypoints, the batter is swinging the bat with bent knees.", "leak"),
        ("His key points show a bent left elbow and a raised right arm as he swings.", "leak"),
        ("The bounding box of the batter covers most of the left half of the picture.", "leak"),
        ("As the captions say, a young player swings the bat at the incoming pitch.", "leak"),
        ("According to the description provided, the boy is batting in a youth game.", "leak"),
        ("From the provided information, the batter is in the middle of his swing.", "leak"),
        (
            "The batter's wrist is at (0.42, 0.36), raised above his shoulder as he swings.",
            "coordinates",
        ),
        (
            "The batter stands at about 0.45 of the image width, swinging at the pitch hard.",
            "coordinates",
        ),
        (
            "I'm sorry, but I cannot determine what the people are doing from this picture.",
            "refusal",
        ),
        (
            "As an AI language model, I cannot see images, but the batter may be swinging.",
            "refusal",
        ),
        ("Yes.", "too_short"),
        ("   ", "empty"),
    ],
)
def test_each_rule(answer: str, reason: str) -> None:
    rejection = QualityFilter().check("conversation", turns(answer))
    assert rejection is not None and rejection.reason == reason
    assert rejection.detail


def test_leaks_in_questions_count_too() -> None:
    rejection = QualityFilter().check("complex", turns(GOOD * 2, "Given the keypoints, why?"))
    assert rejection is not None and rejection.reason == "leak"


def test_good_answers_pass_and_numbers_in_words_are_fine() -> None:
    check = QualityFilter()
    assert check.check("conversation", turns(GOOD)) is None
    assert (
        check.check("conversation", turns("There are 2 players and 3 onlookers in view.")) is None
    )
    assert (
        check.check("conversation", turns("The scoreboard shows 10 runs in the 9th inning."))
        is None
    )
    assert (
        check.check("conversation", turns("He wears number 8 on a red jersey, mid-swing.")) is None
    )


def test_duplicates_are_caught_across_samples_and_a_resume() -> None:
    check = QualityFilter()
    assert check.check("detail", turns(GOOD * 3)) is None
    again = check.check("detail", turns("  " + (GOOD * 3).upper() + " "))
    assert again is not None and again.reason == "duplicate"
    from kpit.pipeline.quality import answer_fingerprint

    resumed = QualityFilter(seen=[answer_fingerprint(turns(GOOD * 3))])
    rejection = resumed.check("detail", turns(GOOD * 3))
    assert rejection is not None and rejection.reason == "duplicate"


def test_thresholds_are_configurable() -> None:
    config = QualityConfig(
        min_answer_chars={"detail": 500},
        reject_leaks=False,
        reject_duplicates=False,
        extra_leak_patterns=(r"\bpixels?\b",),
    )
    check = QualityFilter(config, task_minimums={"detail": 150, "complex": 100})
    short = check.check("detail", turns(GOOD * 3))
    assert short is not None and short.reason == "too_short" and "< 500" in short.detail
    assert check.check("complex", turns(GOOD * 2)) is None
    assert check.check("complex", turns(GOOD * 2)) is None  # duplicates allowed now
    assert check.check("conversation", turns("The keypoints say he swings the bat hard.")) is None
    with_pixels = QualityFilter(QualityConfig(extra_leak_patterns=(r"\bpixels?\b",)))
    rejection = with_pixels.check("conversation", turns("He is 200 pixels tall, swinging."))
    assert rejection is not None and rejection.reason == "leak"
    long = QualityFilter(QualityConfig(max_answer_chars=20)).check("conversation", turns(GOOD))
    assert long is not None and long.reason == "too_long"
