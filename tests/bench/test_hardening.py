"""The bench against hostile or careless input: no image read outside its folder, a bad
image fails its question alone, a review counts once.

Each test here failed before its fix: what a hostile or careless input did then is said in
the test's docstring.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

import kpit
from kpit.bench import Answer, Bench, answer_bench
from kpit.bench.files import BenchContext, Question, write_jsonl
from kpit.bench.report import load_reviews
from kpit.cli import cli

from ..helpers.openai_server import FakeOpenAI

KEY = "sk-harden-SECRET-0123456789abcdef"


def _options(server: FakeOpenAI, **more: Any) -> dict[str, Any]:
    return {"base_url": server.base_url, "api_key": KEY, "backoff": 0.01} | more


def _bench(images: dict[int, str]) -> Bench:
    questions = [Question(qid, image, "What is the person doing?", "conv")
                 for qid, image in images.items()]  # fmt: skip
    contexts = {image: BenchContext(image, ("a person",)) for image in images.values()}
    return Bench(questions, contexts, {})


def test_bench_answer_never_reads_or_uploads_a_file_outside_the_image_folder(
    server: FakeOpenAI, sample_root: Path, tmp_path: Path
) -> None:
    """Before: ``../secret.png`` and absolute names were read and sent as base64."""
    images = tmp_path / "images"
    shutil.copytree(sample_root / "val2017", images)
    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(secret)
    good = sorted(p.name for p in images.iterdir())[0]
    bench = _bench({0: good, 1: "../secret.png", 2: str(secret)})
    answers, failures = answer_bench(bench, tmp_path / "answers.jsonl", images, model="gpt-4o",
                                     generator_options=_options(server))  # fmt: skip
    assert sorted(answers) == [0] and sorted(failures) == [1, 2]
    assert "question 1" in failures[1] and "'..'" in failures[1]
    assert "question 2" in failures[2] and "absolute" in failures[2]
    uploaded = json.dumps(server.chat_requests)
    assert base64.b64encode(secret.read_bytes()).decode() not in uploaded
    assert server.counts["chat"] == 1


def test_a_bad_image_fails_its_question_not_the_run(
    server: FakeOpenAI, sample_root: Path, tmp_path: Path
) -> None:
    """Before: a missing image stopped the whole run; a corrupt one was uploaded and the
    server's 400 stopped everything."""
    images = tmp_path / "images"
    shutil.copytree(sample_root / "val2017", images)
    names = sorted(p.name for p in images.iterdir())
    (images / names[1]).write_bytes(b"\xff\xd8\xff not a jpeg")
    bench = _bench({0: names[0], 1: names[1], 2: "gone.jpg"})
    answers, failures = answer_bench(bench, tmp_path / "answers.jsonl", images, model="gpt-4o",
                                     generator_options=_options(server))  # fmt: skip
    assert sorted(answers) == [0] and sorted(failures) == [1, 2]
    assert names[1] in failures[1] and "cannot read the image" in failures[1]
    assert "gone.jpg" in failures[2] and "no such image" in failures[2]
    assert server.counts["chat"] == 1
    # Every image missing: the folder is wrong, an error before any request.
    with pytest.raises(kpit.DataError, match=r"no such image.*is --images right"):
        answer_bench(_bench({0: "x.jpg", 1: "y.jpg"}), tmp_path / "b.jsonl", images,
                     model="gpt-4o", generator_options=_options(server))  # fmt: skip


def test_answers_of_the_bench_are_unchanged_for_good_input(
    server: FakeOpenAI, sample_root: Path, tmp_path: Path
) -> None:
    names = sorted(p.name for p in (sample_root / "val2017").iterdir())[:2]
    answers, failures = answer_bench(_bench(dict(enumerate(names))), tmp_path / "a.jsonl",
                                     sample_root / "val2017", model="gpt-4o",
                                     generator_options=_options(server))  # fmt: skip
    assert failures == {} and all(isinstance(a, Answer) for a in answers.values())


def _review(qid: int, ref: float, model: float, **more: Any) -> dict[str, Any]:
    return {"question_id": qid, "category": "conv", "tuple": [ref, model]} | more


def test_a_repeated_review_counts_once_and_is_reported(tmp_path: Path) -> None:
    """Before: a file appended to twice counted each review twice."""
    path = tmp_path / "reviews.jsonl"
    write_jsonl(path, [_review(0, 8, 4), _review(1, 8, 8), _review(0, 8, 4), _review(0, 8, 4)])
    loaded = load_reviews(path)
    assert len(loaded.reviews) == 2 and loaded.repeated == [3, 4]
    result = CliRunner().invoke(cli, ["bench", "report", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 repeated reviews" in result.output and "lines 3, 4" in result.output
    assert "| 60.00 [" in result.output  # (4 + 8) / 2 x 10, not (4 + 8 + 4 + 4) / 4


def test_swapped_and_repeated_runs_all_count(tmp_path: Path) -> None:
    path = tmp_path / "reviews.jsonl"
    orders = ("reference-first", "answer-first")
    write_jsonl(path, [_review(0, 8, 4, order=o, run=r) for r in (0, 1) for o in orders])
    loaded = load_reviews(path)
    assert len(loaded.reviews) == 4 and loaded.repeated == []


def test_two_files_of_one_model_keep_two_rows_under_the_llava_protocol(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "reviews.jsonl", tmp_path / "b" / "rerun.jsonl"
    write_jsonl(first, [_review(0, 8, 4, model_id="kpit-7b")])
    write_jsonl(second, [_review(0, 8, 6, model_id="kpit-7b")])
    result = CliRunner().invoke(cli, ["bench", "report", str(first), str(second)])
    assert result.exit_code == 0, result.output
    assert "| kpit-7b (reviews.jsonl) | 40.00" in result.output
    assert "| kpit-7b (rerun.jsonl) | 60.00" in result.output


def test_one_review_file_named_twice_is_refused(tmp_path: Path) -> None:
    """Before: its reviews counted twice."""
    path = tmp_path / "reviews.jsonl"
    write_jsonl(path, [_review(0, 8, 4, model_id="kpit-7b")])
    twice = CliRunner().invoke(cli, ["bench", "report", str(path), str(tmp_path / "." / path.name)])
    assert twice.exit_code == 1 and "named twice" in twice.output
