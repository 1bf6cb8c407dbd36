"""Judging answers with the ``gpt`` judge against the loopback server, and the report CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from kpit.bench import Answer, load_bench, read_answers, report_reviews
from kpit.bench.files import write_jsonl
from kpit.bench.review import failures_path, judge_answers, rubrics
from kpit.cli import cli

from ..conftest import LLAVA_BENCH
from ..helpers.openai_server import FakeOpenAI

KEY = "sk-judge-SECRET-0123456789"


@pytest.fixture(scope="module")
def bench() -> Any:
    return load_bench(
        questions=LLAVA_BENCH / "qa90_questions.jsonl",
        context=LLAVA_BENCH / "caps_boxes_coco2014_val_80.jsonl",
        references=LLAVA_BENCH / "qa90_gpt4_answer.jsonl",
    )


def answers(bench: Any, model: str = "my-model") -> dict[int, Answer]:
    return {
        q.question_id: Answer(
            q.question_id, f"My answer to question {q.question_id}.", model, f"a{q.question_id}"
        )
        for q in bench.questions
    }


def scripted(replies: dict[int, list[str]]) -> Any:
    """A judge that answers per question id (read from the Assistant 2 text), in turn."""

    def content(body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        match = re.search(r"question (\d+)\.", text)
        qid = int(match.group(1)) if match else -1
        # the answer under test mentions its question; where it sits gives the order
        first = match is not None and text.index("[Assistant 2]") < match.start()
        queue = replies.get(qid)
        if queue:
            return queue.pop(0)
        return "8 6\nThe reference is better." if first else "6 8\nThe reference is better."

    return content


def judge_options(server: FakeOpenAI) -> dict[str, Any]:
    return {"base_url": server.base_url, "api_key": KEY, "backoff": 0.01}


def test_judging_the_real_llava_bench(bench, server: FakeOpenAI, tmp_path: Path) -> None:
    server.behaviour.content = scripted(
        {
            0: ["Assistant 1: 7, Assistant 2: 9\nBetter."],
            1: ["**Assistant 1:** 8/10\n**Assistant 2:** 5/10"],
            2: ["garbage", "still garbage", "no scores at all"],
            3: ["hmm", "9 9\nfine"],
        }
    )
    out = tmp_path / "reviews.jsonl"
    reviews = judge_answers(bench, answers(bench), out, judge_options=judge_options(server))
    assert [r["question_id"] for r in reviews] == list(range(90))  # question order
    by_id = {r["question_id"]: r for r in reviews}
    assert by_id[0]["tuple"] == [7, 9] and by_id[1]["tuple"] == [8, 5]
    assert "tuple" not in by_id[2] and by_id[2]["attempts"] == 3  # no [-1, -1] placeholder
    assert report_reviews(reviews)["all"].excluded == 1  # and left out of the scores
    assert by_id[2]["error"] == "unparseable scores"
    assert by_id[3]["tuple"] == [9, 9] and by_id[3]["attempts"] == 2
    assert by_id[9]["tuple"] == [8, 6] and by_id[9]["category"] == "conv"
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["question_id"] for r in written] == [q for q in range(90) if q != 2]
    failed = [json.loads(line) for line in failures_path(out).read_text().splitlines()]
    assert [(r["question_id"], r["error"]) for r in failed] == [(2, "unparseable scores")]
    assert {"question_id", "category", "tuple", "content"} <= set(written[0])
    sent = server.chat_requests[0]
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 1024
    assert sent["messages"][1]["content"].startswith("[Context]\n")
    assert rubrics("hpaub")["conv"]["prompt"] in sent["messages"][1]["content"]
    assert KEY not in out.read_text()


def test_reviews_are_cached(bench, server: FakeOpenAI, tmp_path: Path) -> None:
    out = tmp_path / "reviews.jsonl"
    server.behaviour.content = scripted({5: ["nonsense"] * 3})
    judge_answers(bench, answers(bench), out, judge_options=judge_options(server))
    calls = server.counts["chat"]
    assert calls == 89 + 3
    judge_answers(bench, answers(bench), out, judge_options=judge_options(server))
    assert server.counts["chat"] == calls + 1  # only the review without scores is asked again
    changed = answers(bench)
    changed[7] = Answer(7, "A different answer to question 7.", "my-model")
    judge_answers(bench, changed, out, judge_options=judge_options(server))
    assert server.counts["chat"] == calls + 2  # and the one whose answer changed


def test_swap_measures_position_bias(bench, server: FakeOpenAI, tmp_path: Path) -> None:
    # A judge that always prefers Assistant 1: every preference flips with the order.
    server.behaviour.content = lambda body: "9 5\nAssistant 1 is better."
    out = tmp_path / "swap.jsonl"
    reviews = judge_answers(
        bench, answers(bench), out, swap=True, runs=2, judge_options=judge_options(server)
    )
    assert len(reviews) == 90 * 2 * 2
    first = next(r for r in reviews if r["order"] == "reference-first")
    second = next(r for r in reviews if r["order"] == "answer-first")
    assert first["tuple"] == [9, 5] and second["tuple"] == [5, 9]
    result = CliRunner().invoke(cli, ["bench", "report", str(out)])
    assert result.exit_code == 0, result.output
    assert "flip rate when the order is swapped 100.0%" in result.stdout
    assert "across runs 70.00 ± 0.00" in result.stdout


def test_missing_answers_are_an_error(bench, tmp_path: Path) -> None:
    partial = answers(bench)
    del partial[42]
    with pytest.raises(Exception, match="no answer for question 42"):
        judge_answers(bench, partial, tmp_path / "r.jsonl", judge_options={"api_key": KEY})


def test_judge_and_report_commands(bench, server: FakeOpenAI, tmp_path: Path) -> None:
    server.behaviour.content = scripted({})
    answer_file = tmp_path / "answers.jsonl"
    write_jsonl(answer_file, [a.to_dict() for a in answers(bench, "kpit-7b").values()])
    assert len(read_answers(answer_file)) == 90
    reviews = tmp_path / "reviews.jsonl"
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            "judge",
            "--questions",
            str(LLAVA_BENCH / "qa90_questions.jsonl"),
            "--context",
            str(LLAVA_BENCH / "caps_boxes_coco2014_val_80.jsonl"),
            "--references",
            str(LLAVA_BENCH / "qa90_gpt4_answer.jsonl"),
            "--answers",
            str(answer_file),
            "--base-url",
            server.base_url,
            "-O",
            f"api_key={KEY}",
            "--rubric",
            "llava",
            "-o",
            str(reviews),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{reviews}: 90 reviews, 0 without scores"
    assert rubrics("llava")["detail"]["prompt"] in server.chat_requests[1]["messages"][1]["content"]
    report_md, plot = tmp_path / "report.md", tmp_path / "report.png"
    result = CliRunner().invoke(
        cli, ["bench", "report", str(reviews), "-o", str(report_md), "--plot", str(plot)]
    )
    assert result.exit_code == 0, result.output
    table = report_md.read_text().splitlines()
    assert table[0].startswith("| model | conv | detail | complex | all |")
    assert table[2].startswith("| kpit-7b | 60.00 [60.0, 60.0] |")  # 6 of 10, everywhere
    assert "75.0 [75.0, 75.0] | 80.00 | 0 |" in table[2]  # relative 100 x 6 / 8
    picture = Image.open(plot)
    assert picture.size[0] > 500
