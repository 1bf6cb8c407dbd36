"""The pose judge reads absurdly long numbers as no count, never a crash (issue 23, item 16).

Before: an answer holding a number of over 4,300 digits ("There are 999...9 people")
raised Python's int-conversion ``ValueError`` deep inside the claim readers, and ``kpit bench
judge --judge pose`` died with a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import kpit
from kpit.bench import Answer, Question, bench_context, build_bench, load_bench
from kpit.bench.files import write_jsonl
from kpit.cli import cli
from kpit.judges.pose.claims import extract_claims
from kpit.judges.pose.judge import PoseJudge

from ..conftest import REPO

HUGE = "9" * 5000
# every shape in which the pose judge reads a count or a number of people
SHAPES = (
    "There are {n} people in the picture.",
    "The image shows {n} people.",
    "I can see {n} people.",
    "{n} people are visible.",
    "The {n} men are standing.",
    "There are {n} other people on the left.",
)


@pytest.fixture(scope="module")
def sample() -> kpit.CocoContexts:
    return kpit.load_coco(REPO / "examples" / "data" / "coco-sample", split="val2017")


@pytest.fixture(scope="module")
def hpaub(sample: kpit.CocoContexts, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hpaub")
    build_bench(list(sample), folder, num_images=4, seed=0)
    return folder


def test_bench_judge_pose_reads_a_5000_digit_number_as_no_count(
    hpaub: Path, tmp_path: Path
) -> None:
    """Before: ``ValueError: Exceeds the limit (4300 digits) for integer string conversion``."""
    bench = load_bench(hpaub, require_references=False)
    text = f"There are {HUGE} people. The {HUGE} men are standing."
    answers = tmp_path / "answers.jsonl"
    write_jsonl(answers, (Answer(q.question_id, text, "m", f"m-{q.question_id}").to_dict()
                          for q in bench.questions))  # fmt: skip
    reviews = tmp_path / "pose.jsonl"
    result = CliRunner().invoke(cli, ["bench", "judge", str(hpaub), "--answers", str(answers),
                                      "--judge", "pose", "-o", str(reviews)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.exception is None
    written = [json.loads(line) for line in reviews.read_text().splitlines()]
    assert len(written) == len(bench.questions)
    for record in written:
        assert record["count_correct"] is None  # the answer states no count
        assert [c["kind"] for c in record["claims"]] == ["posture"]  # "are standing", still read


def test_the_judge_assesses_every_count_shape_with_a_huge_number(
    sample: kpit.CocoContexts,
) -> None:
    context = bench_context(sample.get(196141))
    question = Question(1, sample.get(196141).file_name, "How many people?", "conv")
    for shape in SHAPES:
        review = PoseJudge().assess(question, context, Answer(1, shape.format(n=HUGE), "m"))
        assert "count" not in [c.claim.kind for c in review.claims], shape


@settings(max_examples=60, deadline=None)
@given(
    digits=st.text("0123456789", min_size=1, max_size=6000),
    shape=st.sampled_from(SHAPES),
)
def test_digits_of_any_length_are_a_count_or_nothing(digits: str, shape: str) -> None:
    """Up to MAX_COUNT_DIGITS digits are a count; longer digits are none, never an error."""
    from kpit.judges.pose.vocabulary import MAX_COUNT_DIGITS

    counts = [c for c in extract_claims(shape.format(n=digits)) if c.kind == "count"]
    if len(digits) > MAX_COUNT_DIGITS:
        assert counts == []
        return
    for claim in counts:
        assert claim.number is not None and claim.number >= int(digits)  # "other": one more


def test_the_count_limit_is_generous() -> None:
    from kpit.judges.pose.vocabulary import MAX_COUNT_DIGITS

    assert [c.number for c in extract_claims("There are 120 people.")] == [120]
    assert [c.number for c in extract_claims(f"There are {'9' * MAX_COUNT_DIGITS} people.")] == [
        int("9" * MAX_COUNT_DIGITS)
    ]
