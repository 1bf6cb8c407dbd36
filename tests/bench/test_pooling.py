"""What the paper protocol's report may pool: a model's pairings over one set of questions
(each pairing weighs by its questions), and every review file once, whatever its name."""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import kpit
from kpit.bench.files import write_jsonl
from kpit.bench.report import load_reviews, paper_scores, paper_table
from kpit.cli import cli

from ..conftest import LLAVA_BENCH
from ..helpers.cli_results import one_clear_line
from .test_protocol import BASELINE_4, CATEGORIES, TABLE_4, _row, _spread

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = [json.loads(line) for line in (LLAVA_BENCH / "qa90_questions.jsonl").open()]
CONV = [q["question_id"] for q in QUESTIONS if q["category"] == "conv"]


def _pairing(model: str, opponent: str = "llava-1.5-7b") -> list[dict[str, Any]]:
    """Table 4's reviews of ``model`` against LLaVA-1.5-7B, written as the judge writes them."""
    reviews = []
    for category, mine, theirs in zip(CATEGORIES, TABLE_4[model], BASELINE_4[model], strict=True):
        ids = [q["question_id"] for q in QUESTIONS if q["category"] == category]
        for qid, a, b in zip(ids, _spread(mine, len(ids)), _spread(theirs, len(ids)), strict=True):
            reviews.append({"question_id": qid, "category": category, "kind": "pairwise",
                            "model_id": model, "versus_id": opponent, "tuple": [b, a]})  # fmt: skip
    return reviews


def _table_4(
    folder: Path, drop: Callable[[str, dict[str, Any]], bool] = lambda m, r: False
) -> list[Path]:
    """Table 4's four review files, without the reviews ``drop`` picks."""
    folder.mkdir(exist_ok=True)
    paths = []
    for model in TABLE_4:
        path = folder / f"reviews-{model}.jsonl"
        write_jsonl(path, [r for r in _pairing(model) if not drop(model, r)])
        paths.append(path)
    return paths


def _without_10_conv(model: str, review: dict[str, Any]) -> bool:
    return model == "conversation-only" and review["question_id"] in CONV[:10]


def _scores(paths: Iterable[Path], **options: Any) -> dict[str, kpit.bench.PaperScore]:
    return paper_scores((load_reviews(p) for p in paths), **options)


def test_the_paper_table_shows_the_questions_of_each_pairing(tmp_path: Path) -> None:
    """The issue's measurement: 10 questions fewer in one pairing move another model's change
    of All (+21.18% to +21.51%) with its own pairing unchanged; the table shows why."""
    whole = _scores(_table_4(tmp_path / "whole"))
    assert f"{whole['full-data'].change(whole['llava-1.5-7b']):+.2%}" == "+21.18%"
    table = paper_table(whole, "llava-1.5-7b")
    assert "| judged against (questions) |" in table.splitlines()[0]
    assert _row(table, "full-data")[7] == "llava-1.5-7b (90)"
    assert _row(table, "llava-1.5-7b")[7] == ("complex-only (90), conversation-only (90), "
                                              "detail-only (90), full-data (90)")  # fmt: skip
    cut = _scores(_table_4(tmp_path / "cut", _without_10_conv))
    table = paper_table(cut, "llava-1.5-7b")
    assert _row(table, "full-data")[1:8] == ["43.67", "67.00", "66.67", "59.11", "+21.51%",
                                             "30/30/30", "llava-1.5-7b (90)"]  # fmt: skip
    assert _row(table, "llava-1.5-7b")[4:8] == [
        "48.65", "-", "110/120/120",
        "complex-only (90), conversation-only (80), detail-only (90), full-data (90)",
    ]  # fmt: skip
    assert cut["llava-1.5-7b"].questions == {"complex-only": 90, "conversation-only": 80,
                                             "detail-only": 90, "full-data": 90}  # fmt: skip


def test_pairings_over_different_questions_warn_or_with_strict_fail(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    paths = _table_4(tmp_path, _without_10_conv)
    with caplog.at_level(logging.WARNING, logger="kpit"):
        _scores(paths)
    (warning,) = [r.getMessage() for r in caplog.records]
    assert warning.startswith("llava-1.5-7b is pooled over pairings with different question sets")
    assert "vs conversation-only: 80 questions, vs detail-only: 90 questions" in warning
    assert "10 questions are not in every pairing" in warning
    with pytest.raises(kpit.ConfigError, match="10 questions are not in every pairing"):
        _scores(paths, strict=True)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="kpit"):
        _scores(_table_4(tmp_path / "whole"), strict=True)  # the same questions everywhere
    assert not caplog.records


def test_the_same_number_of_different_questions_is_uneven_too(tmp_path: Path) -> None:
    """Two pairings of 30 questions each, 29 of them shared: 2 questions differ."""
    first = [r for r in _pairing("full-data") if r["question_id"] != CONV[0]]
    second = [r for r in _pairing("detail-only") if r["question_id"] != CONV[1]]
    write_jsonl(tmp_path / "a.jsonl", first)
    write_jsonl(tmp_path / "b.jsonl", second)
    with pytest.raises(kpit.ConfigError) as info:
        _scores([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], strict=True)
    assert ("(vs detail-only: 89 questions, vs full-data: 89 questions); 2 questions are not "
            "in every pairing") in str(info.value)  # fmt: skip


def test_one_pairing_split_over_files_is_one_question_set(tmp_path: Path) -> None:
    """Both orders of a swap in two files, or a pairing judged in two halves, pool as one."""
    reviews = _pairing("full-data")
    write_jsonl(tmp_path / "half-1.jsonl", reviews[:45])
    write_jsonl(tmp_path / "half-2.jsonl", reviews[45:])
    write_jsonl(tmp_path / "other.jsonl", _pairing("detail-only"))
    paths = [tmp_path / name for name in ("half-1.jsonl", "half-2.jsonl", "other.jsonl")]
    scores = _scores(paths, strict=True)
    assert scores["llava-1.5-7b"].questions == {"detail-only": 90, "full-data": 90}


def test_the_command_warns_in_one_line_on_stderr_and_strict_makes_it_an_error(
    tmp_path: Path,
) -> None:
    paths = list(map(str, _table_4(tmp_path, _without_10_conv)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    done = subprocess.run([sys.executable, "-m", "kpit", "bench", "report", *paths, "--protocol",
                           "paper", "--baseline", "llava-1.5-7b"], capture_output=True,
                          text=True, env=env, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (line,) = done.stderr.splitlines()
    assert "llava-1.5-7b is pooled over pairings with different question sets" in line
    assert "vs conversation-only: 80 questions" in line and "10 questions are not" in line
    assert "| full-data | 43.67 | 67.00 | 66.67 | 59.11 | +21.51% |" in done.stdout
    runner = CliRunner()
    strict = runner.invoke(cli, ["bench", "report", *paths, "--protocol", "paper", "--strict"])
    one_clear_line(strict, "llava-1.5-7b", "vs conversation-only: 80 questions", "10 questions")
    llava = runner.invoke(cli, ["bench", "report", *paths, "--strict"])
    assert llava.exit_code == 2 and "--strict belongs to --protocol paper" in llava.output


def test_a_copy_of_a_review_file_is_refused_like_one_named_twice(tmp_path: Path) -> None:
    """Before: the copy's reviews counted again (a second row under the llava protocol)."""
    original = tmp_path / "reviews.jsonl"
    reviews = [{"question_id": q, "category": "conv", "tuple": [8, 4 + q], "model_id": "kpit-7b"}
               for q in range(3)]  # fmt: skip
    write_jsonl(original, reviews)
    copy = tmp_path / "elsewhere" / "reviews-copy.jsonl"
    copy.parent.mkdir()
    copy.write_bytes(original.read_bytes())
    runner = CliRunner()
    twice = runner.invoke(cli, ["bench", "report", str(original), str(copy)])
    one_clear_line(twice, "named twice", str(original), str(copy), "count twice")
    # the same reviews in another order and layout are the same reviews
    copy.write_text("\n".join(json.dumps(r, indent=None, separators=(", ", ": "))
                              for r in reversed(reviews)) + "\n")  # fmt: skip
    one_clear_line(runner.invoke(cli, ["bench", "report", str(original), str(copy)]),
                   "named twice")  # fmt: skip
    pairwise = [_table_4(tmp_path / "t4")[0], copy]
    copy.write_bytes(pairwise[0].read_bytes())
    one_clear_line(runner.invoke(cli, ["bench", "report", *map(str, pairwise), "--protocol",
                                       "paper"]), "named twice")  # fmt: skip
    reviews[0]["tuple"] = [8, 5]  # one score apart: another file, both count
    write_jsonl(copy, reviews)
    result = runner.invoke(cli, ["bench", "report", str(original), str(copy)])
    assert result.exit_code == 0, result.output


def test_the_doc_s_example_runs_as_written(tmp_path: Path) -> None:
    """docs/bench.md's command on Table 4's reviews less 10 questions prints what it shows."""
    text = (ROOT / "docs" / "bench.md").read_text(encoding="utf-8")
    section = text.split("### Pairings over different questions", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```(\w*)\n(.*?)^```$", section, flags=re.S | re.M)
    assert [language for language, _ in blocks] == ["bash", "text", "text"]
    (_, command), (_, table), (_, warning) = blocks
    _table_4(tmp_path, _without_10_conv)  # reviews-full-data.jsonl, ...
    assert command.startswith("kpit ")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    done = subprocess.run(["bash", "-c", f"{shlex.quote(sys.executable)} -m {command}"],
                          cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(table)
    assert done.stderr == warning
