"""Building a benchmark from the sample, answering it with a vision backend, end to end."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path

import pytest
from click.testing import CliRunner

import kpit
from kpit.bench import answer_bench, build_bench, judge_answers, load_bench, report_reviews
from kpit.cli import cli

from ..helpers.openai_server import FakeOpenAI

KEY = "sk-bench-flow-0123456789"


@pytest.fixture
def contexts(sample_root: Path) -> kpit.CocoContexts:
    return kpit.load_coco(sample_root)


def test_build_is_seeded_and_reads_back(contexts, tmp_path: Path) -> None:
    bench = build_bench(list(contexts), tmp_path / "a", num_images=3, seed=5)
    again = build_bench(list(contexts), tmp_path / "b", num_images=3, seed=5)
    other = build_bench(list(contexts), tmp_path / "c", num_images=3, seed=6)
    assert [q.to_dict() for q in bench.questions] == [q.to_dict() for q in again.questions]
    assert {q.image for q in bench.questions} != {q.image for q in other.questions}
    loaded = load_bench(tmp_path / "a")
    assert len(loaded.questions) == 9
    assert [q.category for q in loaded.questions[:3]] == ["conv", "detail", "complex"]
    assert [q.question_id for q in loaded.questions] == list(range(9))
    context = loaded.context(loaded.questions[0])
    assert context.people and len(context.people[0]["keypoints"]) == 17
    assert "keypoints: [(" in context.render()
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["seed"] == 5 and len(manifest["image_ids"]) == 3
    detail = loaded.questions[1]
    assert loaded.references[detail.question_id].text  # the template's description
    with pytest.raises(kpit.ConfigError, match="only 4 images"):
        build_bench(list(contexts), tmp_path / "d", num_images=5)


def test_build_takes_the_old_images_keyword(contexts, tmp_path: Path) -> None:
    bench = build_bench(list(contexts), tmp_path / "new", num_images=2, seed=1)
    with pytest.warns(DeprecationWarning, match=r"images=.*use num_images=") as caught:
        old = build_bench(list(contexts), tmp_path / "old", images=2, seed=1)
    assert caught[0].filename == __file__  # points at the caller
    assert [q.to_dict() for q in old.questions] == [q.to_dict() for q in bench.questions]
    with pytest.raises(TypeError, match="num_images= only"):
        build_bench(list(contexts), tmp_path / "both", images=2, num_images=3)
    with pytest.raises(kpit.ConfigError, match="asked for 5") as info:
        build_bench(list(contexts), tmp_path / "many", num_images=5)
    assert info.value.field == "num_images"


def test_answering_sends_each_image_and_caches(
    contexts, server: FakeOpenAI, sample_root: Path, tmp_path: Path
) -> None:
    bench = build_bench(list(contexts), tmp_path / "bench", num_images=2, seed=0)
    options = {"base_url": server.base_url, "api_key": KEY, "backoff": 0.01}
    server.behaviour.script = deque(["500"])  # retried by the backend, not judged as text
    answers, failures = answer_bench(
        bench,
        tmp_path / "answers.jsonl",
        sample_root / "val2017",
        model="gpt-4o",
        generator_options=options,
    )
    assert failures == {} and sorted(answers) == list(range(6))
    sent = server.chat_requests[-1]
    assert sent["temperature"] == 0 and sent["max_tokens"] == 1024
    parts = sent["messages"][0]["content"]
    assert parts[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    records = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert [r["question_id"] for r in records] == list(range(6))
    assert {"question_id", "text", "answer_id", "model_id"} <= set(records[0])
    calls = server.counts["chat"]
    answer_bench(
        bench,
        tmp_path / "answers.jsonl",
        sample_root / "val2017",
        model="gpt-4o",
        generator_options=options,
    )
    assert server.counts["chat"] == calls  # all cached


def test_failed_answers_are_reported_not_judged(
    contexts, server: FakeOpenAI, sample_root: Path, tmp_path: Path
) -> None:
    bench = build_bench(list(contexts), tmp_path / "bench", num_images=1, seed=0)
    server.behaviour.rates = {"500": 1.0}
    options = {"base_url": server.base_url, "api_key": KEY, "backoff": 0.01, "max_retries": 1}
    answers, failures = answer_bench(
        bench,
        tmp_path / "answers.jsonl",
        sample_root / "val2017",
        model="gpt-4o",
        generator_options=options,
    )
    assert answers == {} and sorted(failures) == [0, 1, 2]
    assert "server_error" in failures[0]
    assert (tmp_path / "answers.jsonl").read_text() == ""


def test_template_backend_cannot_answer_images(contexts, sample_root: Path, tmp_path: Path) -> None:
    bench = build_bench(list(contexts), tmp_path / "bench", num_images=1)
    with pytest.raises(kpit.ConfigError, match="cannot read images"):
        answer_bench(bench, tmp_path / "a.jsonl", sample_root / "val2017", generator="template")


def test_build_answer_judge_report_commands(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    def content(body: dict) -> str:
        first = body["messages"][0]["content"]
        if isinstance(first, str) and first.startswith("You are a helpful and precise"):
            return "8 7\nThe reference is a little more precise."
        return "Two people are visible; one stands with bent knees."

    server.behaviour.content = content
    run = CliRunner().invoke
    bench_dir = tmp_path / "hpaub"
    result = run(
        cli,
        [
            "bench",
            "build",
            str(sample_root),
            "--split",
            "val2017",
            "--num-images",
            "4",
            "--seed",
            "0",
            "-o",
            str(bench_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{bench_dir}: 12 questions on 4 images"
    answers = tmp_path / "answers.jsonl"
    common = ["--base-url", server.base_url, "-O", f"api_key={KEY}", "-O", "backoff=0.01"]
    result = run(
        cli,
        [
            "bench",
            "answer",
            str(bench_dir),
            "--images",
            str(sample_root / "val2017"),
            "--model",
            "gpt-4o",
            "-o",
            str(answers),
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    reviews = tmp_path / "reviews.jsonl"
    result = run(
        cli,
        ["bench", "judge", str(bench_dir), "--answers", str(answers), "-o", str(reviews), *common],
    )
    assert result.exit_code == 0, result.output
    result = run(cli, ["bench", "report", str(reviews)])
    assert result.exit_code == 0
    assert "| gpt-4o | 70.00 [70.0, 70.0] |" in result.stdout
    scores = report_reviews(json.loads(line) for line in reviews.read_text().splitlines())
    assert scores["all"].relative == pytest.approx(87.5)
    assert judge_answers  # the same path as the library call
