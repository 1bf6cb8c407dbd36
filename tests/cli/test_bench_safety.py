"""``kpit bench report``, ``build`` and the pose judge: inputs never written over, outputs
written whole, one clear line for an unusable option, every review counted once (issue 23,
items 7, 15, 16 and 17).

Before: ``bench report rev.jsonl -o rev.jsonl`` wrote the report over the reviews; a review
without a ``category`` was counted twice in "all" (12 reviews: n = 13, all 57.69 instead of
54.17); ``-o`` under a file was a traceback and ``-o`` a symbolic link wrote through it;
``--judge pose --model X`` was silently ignored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import kpit
from kpit.bench.report import report_reviews
from kpit.cli import cli

from ..conftest import SAMPLE
from ..helpers.cli_results import one_clear_line
from ..helpers.openai_server import FakeOpenAI

VICTIM_TEXT = "precious data that no kpit command may touch\n"
CATEGORIES = ["conv", "detail", "complex"]


def _reviews(*, last_category: str | None) -> list[dict[str, object]]:
    """12 reference reviews: 11 scored [8, 5] in the three categories, the last [8, 10]."""
    reviews: list[dict[str, object]] = []
    for qid in range(12):
        review: dict[str, object] = {"question_id": qid, "kind": "reference",
                                     "model_id": "model-a", "tuple": [8, 5]}  # fmt: skip
        if qid < 11:
            review["category"] = CATEGORIES[qid % 3]
        else:
            review["tuple"] = [8, 10]
            if last_category is not None:
                review["category"] = last_category
        reviews.append(review)
    return reviews


def _write(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_text(VICTIM_TEXT)
    return path


# --- item 15: a review without a category ---------------------------------------------------


def test_a_review_without_a_category_is_an_error_naming_its_file_and_line(tmp_path: Path) -> None:
    reviews = _write(tmp_path / "rev.jsonl", _reviews(last_category=None))
    result = CliRunner().invoke(cli, ["bench", "report", str(reviews)])
    one_clear_line(result, f"{reviews}: line 12: field 'category'", "without a category")
    with pytest.raises(kpit.DataError, match=r"review 12: field 'category'"):
        report_reviews(_reviews(last_category=None))


def test_each_review_counts_once_in_all(tmp_path: Path) -> None:
    reviews = _write(tmp_path / "rev.jsonl", _reviews(last_category="complex"))
    scores = report_reviews(_reviews(last_category="complex"))
    assert scores["all"].n == 12 == sum(scores[c].n for c in CATEGORIES)
    assert round(scores["all"].model, 2) == 54.17  # 65 / 12 x 10, not 75 / 13 x 10 = 57.69
    result = CliRunner().invoke(cli, ["bench", "report", str(reviews)])
    assert result.exit_code == 0, result.output
    assert "| all | 54.17 |" in result.stdout and "| 12 | 0 |" in result.stdout


def test_a_review_in_category_all_is_refused(tmp_path: Path) -> None:
    reviews = _write(tmp_path / "rev.jsonl", _reviews(last_category="all"))
    result = CliRunner().invoke(cli, ["bench", "report", str(reviews)])
    one_clear_line(result, "line 12: field 'category'", "pool of every category")


# --- items 7 and 16: the report's outputs ---------------------------------------------------


@pytest.mark.parametrize("target", ["rev.jsonl", "rev.failures.jsonl", "link", "hardlink"])
def test_report_never_writes_over_its_reviews(target: str, tmp_path: Path) -> None:
    reviews = _write(tmp_path / "rev.jsonl", _reviews(last_category="conv"))
    failed = {"question_id": 99, "category": "conv", "error": "unparseable scores"}
    failures = _write(tmp_path / "rev.failures.jsonl", [failed])
    before = reviews.read_bytes(), failures.read_bytes()
    out = tmp_path / target
    if target == "link":
        out.symlink_to(reviews)
    elif target == "hardlink":
        os.link(reviews, out)
    for option in ("-o", "--plot"):
        result = CliRunner().invoke(cli, ["bench", "report", str(reviews), option, str(out)])
        one_clear_line(result, f"{option} {out} would write over an input")
    assert (reviews.read_bytes(), failures.read_bytes()) == before


def test_report_and_plot_are_not_one_file(tmp_path: Path) -> None:
    reviews = _write(tmp_path / "rev.jsonl", _reviews(last_category="conv"))
    out = tmp_path / "report.png"
    result = CliRunner().invoke(cli, ["bench", "report", str(reviews), "-o", str(out), "--plot",
                                      str(out)])  # fmt: skip
    one_clear_line(result, "--plot", "would write over an input")


@pytest.mark.parametrize("option", ["-o", "--plot"])
def test_an_unwritable_report_output_is_one_line(option: str, tmp_path: Path) -> None:
    reviews = _write(tmp_path / "rev.jsonl", _reviews(last_category="conv"))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    out = blocker / "report.png"
    result = CliRunner().invoke(cli, ["bench", "report", str(reviews), option, str(out)])
    one_clear_line(result, str(out), "cannot write")


@pytest.mark.parametrize("option", ["-o", "--plot"])
def test_report_outputs_replace_a_link_never_write_through_it(
    option: str, tmp_path: Path, victim: Path
) -> None:
    reviews = _write(tmp_path / "rev.jsonl", _reviews(last_category="conv"))
    out = tmp_path / "report.png"
    out.symlink_to(victim)
    result = CliRunner().invoke(cli, ["bench", "report", str(reviews), option, str(out)])
    assert result.exit_code == 0, result.output
    assert victim.read_text() == VICTIM_TEXT
    assert not out.is_symlink() and out.stat().st_size > 0
    assert not (tmp_path / "report.png.tmp").exists()


# --- items 7 and 16: bench build ------------------------------------------------------------


def test_an_unwritable_build_output_is_one_line_before_any_request(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    out = blocker / "hpaub"
    result = CliRunner().invoke(cli, ["bench", "build", str(SAMPLE), "--num-images", "1",
                                      "--generator", "openai", "--model", "gpt-4o",
                                      "--base-url", server.base_url, "-O", "api_key=sk-x",
                                      "-o", str(out)])  # fmt: skip
    one_clear_line(result, str(out), "cannot write")
    assert server.counts["chat"] == 0


def test_build_never_writes_over_a_run_it_draws_apart_from(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = CliRunner().invoke(cli, ["generate", str(SAMPLE), "--limit", "1", "--tasks",
                                      "detail", "-o", str(run), "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    before = (run / "manifest.json").read_bytes()
    result = CliRunner().invoke(cli, ["bench", "build", str(SAMPLE), "--num-images", "1",
                                      "--disjoint-from", str(run), "-o", str(run)])  # fmt: skip
    one_clear_line(result, "would write over an input")
    assert (run / "manifest.json").read_bytes() == before


# --- item 17: options the pose judge cannot use ---------------------------------------------


@pytest.fixture(scope="module")
def hpaub(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A benchmark of the bundled sample's 4 images, and an answer to each question."""
    folder = tmp_path_factory.mktemp("bench") / "hpaub"
    result = CliRunner().invoke(cli, ["bench", "build", str(SAMPLE), "--num-images", "4",
                                      "-o", str(folder)])  # fmt: skip
    assert result.exit_code == 0, result.output
    answers = folder.parent / "answers.jsonl"
    records = [json.loads(line) for line in (folder / "references.jsonl").read_text().splitlines()]
    answers.write_text("".join(json.dumps(r | {"model_id": "model-a"}) + "\n" for r in records))
    return folder, answers


@pytest.mark.parametrize(
    "given",
    [["--model", "gpt-4o"], ["--rubric", "llava"], ["--concurrency", "2"], ["--swap"],
     ["--runs", "2"], ["--base-url", "http://127.0.0.1:9/v1"], ["--versus", "ANSWERS"]],
    ids=lambda given: given[0],
)  # fmt: skip
def test_the_pose_judge_refuses_options_it_cannot_use(
    given: list[str], hpaub: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, answers = hpaub
    out = tmp_path / "pose.jsonl"
    given = [str(answers) if word == "ANSWERS" else word for word in given]
    result = CliRunner().invoke(cli, ["bench", "judge", str(folder), "--answers", str(answers),
                                      "--judge", "pose", *given, "-o", str(out)])  # fmt: skip
    one_clear_line(result, f"{given[0]} does not apply", "--judge pose")
    assert not out.exists()


def test_the_pose_judge_runs_with_its_own_options(hpaub: tuple[Path, Path], tmp_path: Path) -> None:
    folder, answers = hpaub
    out = tmp_path / "pose.jsonl"
    result = CliRunner().invoke(cli, ["bench", "judge", str(folder), "--answers", str(answers),
                                      "--judge", "pose", "-O", "min_confidence=0.5", "-o",
                                      str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sum(1 for _ in out.open()) == 12


def test_the_library_refuses_a_model_for_the_pose_judge(hpaub: tuple[Path, Path],
                                                        tmp_path: Path) -> None:  # fmt: skip
    folder, answers = hpaub
    bench = kpit.bench.load_bench(folder)
    with pytest.raises(kpit.ConfigError, match="model does not apply"):
        kpit.bench.judge_answers(bench, kpit.bench.read_answers(answers), tmp_path / "p.jsonl",
                                 judge="pose", model="gpt-4o")  # fmt: skip


def test_a_glob_that_takes_a_judge_s_own_files_counts_each_review_once(tmp_path: Path) -> None:
    """``kpit bench report reviews-*.jsonl`` also matches each review file's cache
    (``reviews-a.jsonl.cache.jsonl``) and failures file: they are left out, said so."""
    first = _write(tmp_path / "reviews-a.jsonl", _reviews(last_category="conv"))
    second = _reviews(last_category="detail")
    for review in second:
        review["model_id"] = "model-b"
    second_path = _write(tmp_path / "reviews-b.jsonl", second)
    cache = _write(tmp_path / "reviews-a.jsonl.cache.jsonl", _reviews(last_category="conv"))
    failures = _write(tmp_path / "reviews-a.failures.jsonl", [])
    alone = CliRunner().invoke(cli, ["bench", "report", str(first), str(second_path)])
    globbed = CliRunner().invoke(cli, ["bench", "report", *map(str, sorted(tmp_path.glob(
        "reviews-*.jsonl")))])  # fmt: skip
    assert alone.exit_code == 0 and globbed.exit_code == 0, globbed.output
    assert globbed.stdout == alone.stdout
    assert f"left out {cache}: the cache of {first}" in globbed.stderr
    assert f"left out {failures}: the failures file of {first}" in globbed.stderr
    copied = CliRunner().invoke(cli, ["bench", "report", str(cache), str(second_path)])
    assert copied.exit_code == 0  # the cache alone is read: its review file is not given
