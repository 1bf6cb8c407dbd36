"""Judge scores are read only where a reply says them as scores (issue 23, item 14).

Before: "Assistant 1 gets 8, Assistant 2 gets 9" after a line naming both assistants was read
as (1, 2) (the report then showed 20.00 against 10.00), "Assistant 1: 8 / Assistant 2: 6 ...
Assistant 1 - 2 errors" as (2, 6) and "8,5 9" as (8, 5). The corpus in data/scores.json
holds each shape a judge writes with the scores it must read; the properties below check
that assistant numbers, counts, list numbers and years are never read as scores, and that
scores said in any of the shapes are read exactly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from kpit.bench.files import write_jsonl
from kpit.bench.review import failures_path
from kpit.cli import cli
from kpit.judges.rubric import parse_scores

from ..conftest import LLAVA_BENCH
from ..helpers.openai_server import FakeOpenAI

CORPUS = json.loads((Path(__file__).parent / "data" / "scores.json").read_text())["cases"]


def test_the_corpus_covers_many_shapes() -> None:
    names = [case["name"] for case in CORPUS]
    reviews = ["\n".join(case["review"]) for case in CORPUS]
    assert len(set(names)) == len(names) and len(set(reviews)) == len(reviews) >= 60
    readable = [case for case in CORPUS if case["scores"] != "unreadable"]
    assert 30 <= len(readable) <= len(CORPUS) - 30  # as many ways to fail as to succeed


@pytest.mark.parametrize("case", CORPUS, ids=[case["name"] for case in CORPUS])
def test_each_reply_shape_reads_as_the_corpus_says(case: dict[str, Any]) -> None:
    expected = None if case["scores"] == "unreadable" else tuple(case["scores"])
    assert parse_scores("\n".join(case["review"])) == expected


@pytest.mark.parametrize(
    ("review", "scores"),
    [("Comparing Assistant 1 and 2:\nAssistant 1 gets 8, Assistant 2 gets 9.", (8, 9)),
     ("Assistant 1: 8 / Assistant 2: 6\nAssistant 1 - 2 errors", (8, 6)),
     ("8,5 9\nBoth fine.", None),
     ("Assistant 1 and 2 both describe the 3 people.\nAssistant 1 gets 8", None)],
)  # fmt: skip
def test_the_reported_misreadings(review: str, scores: tuple[float, float] | None) -> None:
    """Before: (1, 2), (2, 6), (8, 5) and (1, 2)."""
    assert parse_scores(review) == scores


# --- properties ------------------------------------------------------------------------------

_WHO = st.sampled_from(["Assistant 1", "Assistant 2", "**Assistant 1**", "Assistant 2's answer",
                        "assistant 1", "Assistant 1 and 2", "Assistants 1 and 2",
                        "Both Assistant 1 and Assistant 2"])  # fmt: skip
_NOUN = st.sampled_from(["people", "errors", "mistakes", "persons", "keypoints", "objects",
                         "skiers", "sentences", "details", "hands", "claims", "steps"])  # fmt: skip
_VERB = st.sampled_from(["mentions", "describes", "lists", "counts", "makes", "misses", "notes",
                         "gets wrong", "names", "finds", "-", ":", "has"])  # fmt: skip
_N = st.integers(0, 12).map(str)
_TEXT = st.sampled_from(["the count is right", "the posture is wrong", "it misses the bat",
                         "the facing is right", "both hands are named"])  # fmt: skip


@st.composite
def _prose(draw: st.DrawFn) -> str:
    """A judge's prose with assistant numbers, counts, list numbers and years, and no score."""
    sentences = []
    for _ in range(draw(st.integers(1, 6))):
        shape = draw(st.integers(0, 10))
        who, n, noun, text = draw(_WHO), draw(_N), draw(_NOUN), draw(_TEXT)
        if shape == 0:
            sentences.append(f"{who} {draw(_VERB)} {n} {noun}.")
        elif shape == 1:  # a numbered list, inline or an item a line
            items = draw(st.integers(2, 4))
            sep = draw(st.sampled_from(["\n", " "]))
            marks = draw(st.sampled_from([".", ")"]))
            listed = sep.join(f"{i}{marks} {draw(_TEXT)}" for i in range(1, items + 1))
            sentences.append(f"{who}:{sep}{listed}")
        elif shape == 2:
            sentences.append(f"In {draw(st.integers(1900, 2030))}, {who} would say {text}.")
        elif shape == 3:
            sentences.append(f"There are {n} {noun}; {who} {draw(_VERB)} {draw(_N)} {noun}.")
        elif shape == 4:
            sentences.append(f"{who} - {n} {noun}, {text}.")
        elif shape == 5:
            sentences.append(f"Step {n} of {who} is right.")
        elif shape == 6:
            sentences.append(f"{who} gets {n} {noun} right and {draw(_N)} of {n} wrong.")
        elif shape == 7:
            sentences.append(f"{who} ({n} {noun}) and {who} with {n}/{draw(_N)} {noun}.")
        elif shape == 8:
            sentences.append(f"{n} {noun} for {who}, {draw(_N)} {noun} to {draw(_WHO)}.")
        elif shape == 9:
            sentences.append(f"{draw(st.integers(1, 9))}. {who}'s {n} {noun}: {text}")
        else:
            sentences.append(f"{who} gives {n} {noun} to {draw(_WHO)}; I give {who} {n} {noun}.")
    return draw(st.sampled_from(["\n", " ", "\n\n"])).join(sentences)


@settings(max_examples=300, deadline=None)
@given(_prose())
def test_assistant_numbers_counts_list_numbers_and_years_are_never_scores(prose: str) -> None:
    assert parse_scores(prose) is None, prose


_SCORE = st.one_of(st.integers(1, 10), st.integers(2, 19).map(lambda n: n / 2))
_SAID = [
    "{a} {b}\n{prose}",
    "{a}, {b}\n{prose}",
    "Scores: {a}/10 and {b}/10\n{prose}",
    "{prose}\nAssistant 1: {a}\nAssistant 2: {b}",
    "{prose}\n**Assistant 1**: {a}/10\n**Assistant 2**: {b}/10",
    "{prose}\nAssistant 1 gets {a}, Assistant 2 gets {b}.",
    "{prose}\nAssistant 2 receives a score of {b}, while Assistant 1 receives a score of {a}.",
    "{prose}\nI would rate Assistant 1 a {a} and Assistant 2 a {b}.",
    "{prose}\nAssistant 1 scores {a} out of 10 and Assistant 2 scores {b} out of 10.",
    "{prose}\n| Assistant 1 | {a} |\n| Assistant 2 | {b} |",
    '{{"assistant_1": {a}, "assistant_2": {b}}}\n{prose}',
    "{prose}\nI give {a} to Assistant 1 and {b} to Assistant 2.",
    "{prose}\nAssistant 1 and Assistant 2 receive {a} and {b}, respectively.",
    "{prose}\nThe scores are ({a}, {b}) for Assistant 1 and Assistant 2, respectively.",
    "{prose}\n\n{a} {b}",
    "### Assistant 1\nIt misses 2 people.\nScore: {a}\n### Assistant 2\nFine.\nScore: {b}",
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_SAID), _SCORE, _SCORE, _prose())
def test_scores_said_for_named_assistants_are_read_exactly(
    shape: str, a: float, b: float, prose: str
) -> None:
    review = shape.format(a=_written(a), b=_written(b), prose=prose)
    assert parse_scores(review) == (a, b), review


def _written(score: float) -> str:
    return str(int(score)) if score == int(score) else str(score)


# --- through the command line, against a loopback judge ---------------------------------------

REPLIES = {
    # the misreadings, each now read as said (or asked again)
    0: ["Comparing Assistant 1 and 2:\nAssistant 1 gets 8, Assistant 2 gets 9."],
    1: ["Assistant 1 - 2 errors; Assistant 2 - 1 error.",  # no score: asked again
        "Assistant 1: 8 / Assistant 2: 6\nAssistant 2 misses the bat.\nAssistant 1 - 2 errors"],
    2: ["8,5 9\nBoth fine."] * 3,  # ambiguous each time: unreadable after three asks
}  # fmt: skip


def _judge(body: dict[str, Any]) -> str:
    text = body["messages"][-1]["content"]
    match = re.search(r"answer to question (\d+)\.", text)
    assert match is not None
    return REPLIES[int(match.group(1))].pop(0)


def test_bench_judge_reads_prose_scores_and_asks_again(server: FakeOpenAI, tmp_path: Path) -> None:
    """Before: question 0 was stored as [1, 2] and question 1 as [2, 6] at the first ask,
    question 2 as [8, 5]; the report showed the model far above the reference."""
    lines = (LLAVA_BENCH / "qa90_questions.jsonl").read_text().splitlines()[:3]
    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(lines) + "\n")
    answers = tmp_path / "answers.jsonl"
    write_jsonl(answers, [{"question_id": q, "text": f"My answer to question {q}.",
                           "model_id": "m", "answer_id": f"a{q}"} for q in range(3)])  # fmt: skip
    server.behaviour.content = _judge
    reviews = tmp_path / "reviews.jsonl"
    result = CliRunner().invoke(cli, [
        "bench", "judge", "--questions", str(questions),
        "--context", str(LLAVA_BENCH / "caps_boxes_coco2014_val_80.jsonl"),
        "--references", str(LLAVA_BENCH / "qa90_gpt4_answer.jsonl"), "--answers", str(answers),
        "--base-url", server.base_url, "-O", "api_key=sk-local", "-O", "backoff=0.01",
        "-o", str(reviews)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert server.counts["chat"] == 1 + 2 + 3
    written = {r["question_id"]: r for r in map(json.loads, reviews.read_text().splitlines())}
    assert set(written) == {0, 1}  # question 2 is in the failures file, unread
    assert (written[0]["tuple"], written[0]["attempts"]) == ([8, 9], 1)
    assert (written[1]["tuple"], written[1]["attempts"]) == ([8, 6], 2)
    failed = [json.loads(line) for line in failures_path(reviews).read_text().splitlines()]
    assert [(r["question_id"], r["error"]) for r in failed] == [(2, "unparseable scores")]
    report = CliRunner().invoke(cli, ["bench", "report", str(reviews)])
    assert report.exit_code == 0, report.output
    assert "| m | 90.00 [90.0, 90.0] | 60.00 [60.0, 60.0] | - | 75.00 [60.0, 90.0] | 93.8 " \
        "[75.0, 112.5] | 80.00 | 1 |" in report.output  # fmt: skip


def test_long_runs_of_spaces_and_numbers_read_quickly() -> None:
    """No pattern backtracks over a long run of spaces (a hang would fail on the timeout)."""
    spaces = " " * 5000
    assert parse_scores(f"8{spaces}9{spaces}x") is None
    assert parse_scores(f"Assistant 1:{spaces}8\nAssistant 2:{spaces}9") == (8, 9)
    assert parse_scores("9" * 5000 + " 8") is None
    assert parse_scores("Assistant 1: 1. x 2. y " * 2000) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["Assistant 1", "Assistant 2", "assistant", " ", "\n", ":",
                                 "-", "/", "10", "8", "9.5", "0", "11", ",", ".", "and", "for",
                                 "gets", "score", "Scores:", "(", ")", "|", "**", "#", "1."]),
                max_size=40).map("".join))  # fmt: skip
def test_any_mix_of_labels_and_numbers_reads_as_a_valid_pair_or_nothing(review: str) -> None:
    scores = parse_scores(review)
    assert scores is None or all(1 <= s <= 10 for s in scores)
