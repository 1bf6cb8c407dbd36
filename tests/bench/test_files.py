"""Benchmark files, the judge's messages and scores, and the report's arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import kpit
from kpit.bench import (
    Answer,
    judge_messages,
    load_bench,
    markdown_table,
    parse_scores,
    read_answers,
    report_reviews,
)
from kpit.bench.files import write_jsonl

from ..conftest import LLAVA_BENCH


@pytest.fixture(scope="module")
def llava_bench() -> kpit.bench.Bench:
    """The real LLaVA-Bench COCO files, read unchanged."""
    return load_bench(
        questions=LLAVA_BENCH / "qa90_questions.jsonl",
        context=LLAVA_BENCH / "caps_boxes_coco2014_val_80.jsonl",
        references=LLAVA_BENCH / "qa90_gpt4_answer.jsonl",
    )


def test_llava_bench_coco_loads_unchanged(llava_bench) -> None:
    assert len(llava_bench.questions) == 90
    assert {q.category for q in llava_bench.questions} == {"conv", "detail", "complex"}
    assert len({q.image for q in llava_bench.questions}) == 30
    first = llava_bench.questions[0]
    assert first.text == "What is the color of the two suitcases in the image?"
    assert llava_bench.references[0].text.startswith("The colors of the two suitcases")
    assert llava_bench.context(first).captions[0]


def test_bench_round_trips_through_a_folder(llava_bench, tmp_path: Path) -> None:
    llava_bench.write(tmp_path / "bench")
    again = load_bench(tmp_path / "bench")
    assert again.questions == llava_bench.questions
    assert {k: v.text for k, v in again.references.items()} == {
        k: v.text for k, v in llava_bench.references.items()
    }
    assert again.contexts.keys() >= {q.image for q in llava_bench.questions}


def test_judge_messages_follow_llava_bench(llava_bench) -> None:
    rules = json.loads((LLAVA_BENCH / "rule.json").read_text())
    question = llava_bench.questions[1]
    context = llava_bench.context(question)
    reference = llava_bench.references[question.question_id]
    answer = Answer(question.question_id, "Two brown suitcases.", "my-model")
    system, user = judge_messages(
        question.text,
        context.render(),
        reference.text,
        answer.text,
        rules["detail"]["prompt"],
        rules["detail"]["role"],
    )
    assert (
        system.content
        == "You are a helpful and precise assistant for checking the quality of the answer."
    )
    text = user.content
    assert text.startswith("[Context]\n" + context.captions[0])
    box = context.instances[0]
    assert f"\n{box['category']}: {box['bbox']}\n" in text
    assert (
        f"[Question]\n{question.text}\n\n[Assistant 1]\n{reference.text}\n\n[End of Assistant 1]"
        in text
    )
    assert "[Assistant 2]\nTwo brown suitcases.\n\n[End of Assistant 2]\n\n[System]\n" in text
    assert text.endswith(rules["detail"]["prompt"] + "\n\n")


def test_people_are_rendered_with_their_keypoints() -> None:
    context = kpit.bench.BenchContext(
        "a.jpg",
        ("A man.",),
        ({"category": "bat", "bbox": [0.1, 0.2, 0.3, 0.4]},),
        ({"bbox": [0.0, 0.1, 0.5, 0.9], "keypoints": [[0.2, 0.15, 2], [0.0, 0.0, 0]]},),
    )
    assert context.render() == (
        "A man.\n\nbat: [0.1, 0.2, 0.3, 0.4]\nperson: [0.0, 0.1, 0.5, 0.9]\n"
        "keypoints: [(0.2, 0.15, 2), (0.0, 0.0, 0)]"
    )


@pytest.mark.parametrize(
    ("review", "scores"),
    [
        ("8 9\nAssistant 2 is more detailed.", (8, 9)),
        ("7, 8\nBoth are fine.", (7, 8)),
        ("7.5 6\n...", (7.5, 6)),
        ("Assistant 1: 7, Assistant 2: 8\nThe second is better.", (7, 8)),
        ("**Assistant 1:** 6/10\n**Assistant 2:** 9/10\nReasons...", (6, 9)),
        ("Scores:\nAssistant 1 score: 4\nAssistant 2 score - 10", (4, 10)),
        ("Assistant 1 receives 8/10 and Assistant 2 receives 7/10.", (8, 7)),
        ("My ratings: 8/10 and 6/10\nbecause...", (8, 6)),
        ("The answers are both good.", None),
        ("11 3\n", None),
        ("", None),
        ("0 5", None),
    ],
)
def test_parse_scores_strictly_then_leniently(review: str, scores: tuple | None) -> None:
    assert parse_scores(review) == scores


def _review(qid: int, category: str, ref: float, model: float) -> dict:
    return {"question_id": qid, "category": category, "tuple": [ref, model], "content": ""}


def test_score_arithmetic_by_hand() -> None:
    reviews = [
        _review(0, "conv", 8, 6),
        _review(1, "conv", 10, 9),
        _review(2, "detail", 7, 7),
        _review(3, "detail", 9, 6),
        _review(4, "complex", 8, 8),
        {"question_id": 5, "category": "complex", "tuple": [-1, -1], "content": "garbage"},
    ]
    scores = report_reviews(reviews, resamples=500)
    conv = scores["conv"]
    assert (conv.n, conv.model, conv.reference) == (2, 75.0, 90.0)
    assert conv.relative == pytest.approx(100 * 7.5 / 9)
    assert scores["detail"].model == 65.0 and scores["detail"].relative == pytest.approx(81.25)
    complex_ = scores["complex"]
    assert (complex_.n, complex_.excluded, complex_.model) == (1, 1, 80.0)
    total = scores["all"]
    assert (total.n, total.excluded) == (5, 1)
    assert total.model == pytest.approx(72.0) and total.reference == pytest.approx(84.0)
    assert total.relative == pytest.approx(100 * 36 / 42)
    low, high = total.model_ci
    assert low <= total.model <= high and high - low > 0
    assert report_reviews(reviews, resamples=500) == scores  # seeded: reproducible


def test_failed_reviews_are_excluded_not_scored_minus_one() -> None:
    """LLaVA's tools score a failed review as -1 on both sides; kpit leaves it out."""
    reviews = [_review(0, "conv", 8, 4)] + [
        {"question_id": i, "category": "conv", "tuple": [-1, -1]} for i in range(1, 4)
    ]
    conv = report_reviews(reviews)["conv"]
    assert (conv.n, conv.excluded, conv.relative) == (1, 3, 50.0)


def test_markdown_table_side_by_side() -> None:
    results = {
        "llava-1.5-7b": report_reviews([_review(0, "conv", 8, 4), _review(1, "detail", 8, 6)]),
        "kpit-7b": report_reviews([_review(0, "conv", 8, 6), _review(1, "detail", 8, 7)]),
    }
    table = markdown_table(results).splitlines()
    assert table[0] == (
        "| model | conv | detail | all | relative (all) | reference (all) | excluded |"
    )
    assert table[2].startswith("| llava-1.5-7b | 40.00 [40.0, 40.0] | 60.00 [60.0, 60.0] | 50.00")
    assert table[3].startswith("| kpit-7b | 60.00")


def test_bad_files_are_clear_errors(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "q.jsonl",
        [{"question_id": 1, "image": "a.jpg", "text": "Why?", "category": "poses"}],
    )
    write_jsonl(tmp_path / "c.jsonl", [{"image": "a.jpg", "captions": ["x"], "instances": []}])
    write_jsonl(tmp_path / "r.jsonl", [{"question_id": 1, "text": "Because."}])
    with pytest.raises(kpit.DataError, match="unknown category 'poses'") as info:
        load_bench(
            questions=tmp_path / "q.jsonl",
            context=tmp_path / "c.jsonl",
            references=tmp_path / "r.jsonl",
        )
    assert (info.value.record, info.value.field) == ("question 1", "category")
    write_jsonl(
        tmp_path / "a.jsonl", [{"question_id": 1, "text": "x"}, {"question_id": 1, "text": "y"}]
    )
    with pytest.raises(kpit.DataError, match="answered twice") as info:
        read_answers(tmp_path / "a.jsonl")
    assert info.value.record == "line 2"
    (tmp_path / "bad.jsonl").write_text('{"question_id": 1, "text": "a"}\nnot json\n')
    with pytest.raises(kpit.DataError, match="invalid JSON"):
        read_answers(tmp_path / "bad.jsonl")
    with pytest.raises(kpit.DataError, match="no such file"):
        load_bench(tmp_path / "missing")
