"""HPAUB as the paper measures it: pairwise judging, the paper's Tables 4 and 5 rebuilt from
review files made through the judge (a loopback server), and the benchmark/training overlap
guards."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

import kpit
from kpit.bench import Answer, Bench, load_bench
from kpit.bench.files import write_jsonl
from kpit.bench.report import load_reviews, paper_scores
from kpit.bench.review import failures_path, judge_answers
from kpit.cli import cli
from kpit.exclusion import image_id_of, read_image_ids

from ..conftest import LLAVA_BENCH
from ..helpers.openai_server import FakeOpenAI

KEY = "sk-judge-SECRET-0123456789"
CATEGORIES = ("conv", "detail", "complex")

# The paper's Table 4 as sums of 30 integer scores per category (x10/30 gives the table),
# and LLaVA-1.5-7B's sums split over its four pairings (x10/120).
TABLE_4 = {
    "full-data": (131, 201, 200),  # 43.67 67.00 66.67 -> All 59.11
    "conversation-only": (135, 97, 116),  # 45.00 32.33 38.67 -> 38.67
    "detail-only": (181, 185, 194),  # 60.33 61.67 64.67 -> 62.22
    "complex-only": (144, 167, 243),  # 48.00 55.67 81.00 -> 61.56
}
BASELINE_4 = {  # 429 462 865 over 120 reviews: 35.75 38.50 72.08 -> All 48.78
    "full-data": (108, 116, 217),
    "conversation-only": (107, 116, 216),
    "detail-only": (107, 115, 216),
    "complex-only": (107, 115, 216),
}
# Table 5: three models against the enhanced model, which pools its three pairings (x10/90).
TABLE_5 = {
    "v-star": (124, 95, 179),
    "qwen2-vl-7b": (184, 127, 219),
    "qwen2-vl-72b": (181, 141, 222),
}
ENHANCED_5 = {  # 533 522 639 over 90 reviews: 59.22 58.00 71.00 -> All 62.74
    "v-star": (178, 174, 213),
    "qwen2-vl-7b": (178, 174, 213),
    "qwen2-vl-72b": (177, 174, 213),
}


@pytest.fixture(scope="module")
def bench() -> Bench:
    """LLaVA-Bench COCO's 90 questions (30 per category); pairwise judging needs no answers."""
    return load_bench(
        questions=LLAVA_BENCH / "qa90_questions.jsonl",
        context=LLAVA_BENCH / "caps_boxes_coco2014_val_80.jsonl",
        require_references=False,
    )


def _spread(total: int, n: int = 30) -> list[int]:
    """``n`` integer scores from 1 to 10 that add up to ``total``."""
    base, extra = divmod(total, n)
    return [base + 1] * extra + [base] * (n - extra)


def _answers(bench: Bench, model: str) -> dict[int, Answer]:
    answers = {}
    for q in bench.questions:
        text = f"<{model}> answers question {q.question_id}."
        answers[q.question_id] = Answer(q.question_id, text, model, f"{model}-{q.question_id}")
    return answers


class ScoreBook:
    """The judge's scores per (model, opponent, question), and a reply that gives them."""

    def __init__(self) -> None:
        self.scores: dict[tuple[str, str, int], float] = {}
        self.bias = 0.0  # added to Assistant 1's score: a judge with a position bias

    def set(self, bench: Bench, model: str, opponent: str, sums: tuple[int, ...]) -> None:
        for category, total in zip(CATEGORIES, sums, strict=True):
            ids = [q.question_id for q in bench.questions if q.category == category]
            for qid, score in zip(ids, _spread(total, len(ids)), strict=True):
                self.scores[(model, opponent, qid)] = score

    def content(self, body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        first, second = re.findall(r"\[Assistant [12]\]\n<([\w.-]+)> answers question (\d+)", text)
        qid = int(first[1])
        one = self.scores[(first[0], second[0], qid)] + self.bias
        two = self.scores[(second[0], first[0], qid)]
        return f"{one:g} {two:g}\nAssistant 1 was judged {one:g}, Assistant 2 {two:g}."


def _pairwise(bench: Bench, server: FakeOpenAI, out: Path, ours: str, theirs: str,
              swap: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    options = {"base_url": server.base_url, "api_key": KEY, "backoff": 0.01}
    return judge_answers(bench, _answers(bench, ours), out, versus=_answers(bench, theirs),
                         judge_options=options, concurrency=16, swap=swap)  # fmt: skip


def _report(*args: str) -> str:
    result = CliRunner().invoke(cli, ["bench", "report", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _row(report: str, model: str) -> list[str]:
    line = next(line for line in report.splitlines() if line.startswith(f"| {model} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_table_4_from_reviews_made_through_the_judge(
    bench: Bench, server: FakeOpenAI, tmp_path: Path
) -> None:
    book = ScoreBook()
    server.behaviour.content = book.content
    files = []
    for model, sums in TABLE_4.items():
        book.set(bench, model, "llava-1.5-7b", sums)
        book.set(bench, "llava-1.5-7b", model, BASELINE_4[model])
        out = tmp_path / f"{model}.jsonl"
        reviews = _pairwise(bench, server, out, model, "llava-1.5-7b")
        assert len(reviews) == 90 and not failures_path(out).exists()
        first = reviews[0]
        assert first["kind"] == "pairwise" and first["versus_id"] == "llava-1.5-7b"
        assert first["model_id"] == model and first["assistant1"] == "llava-1.5-7b"
        assert first["scores"] == {model: first["tuple"][1], "llava-1.5-7b": first["tuple"][0]}
        files.append(str(out))
    report = _report(*files, "--protocol", "paper", "--baseline", "llava-1.5-7b",
                     "--plot", str(tmp_path / "table4.png"))  # fmt: skip
    assert _row(report, "full-data")[1:6] == ["43.67", "67.00", "66.67", "59.11", "+21.18%"]
    assert _row(report, "conversation-only")[1:5] == ["45.00", "32.33", "38.67", "38.67"]
    assert _row(report, "detail-only")[1:5] == ["60.33", "61.67", "64.67", "62.22"]
    assert _row(report, "complex-only")[1:5] == ["48.00", "55.67", "81.00", "61.56"]
    baseline = _row(report, "llava-1.5-7b")
    assert baseline[1:6] == ["35.75", "38.50", "72.08", "48.78", "-"]
    assert baseline[6] == "120/120/120"  # pooled over its four pairings
    assert "All is the mean of the three category scores" in report
    assert f"Judge: gpt/gpt-4o at {server.base_url}; files:" in report  # not OpenAI's server
    with Image.open(tmp_path / "table4.png") as chart:  # it says what it draws, no more
        said = chart.text["Description"]
    assert "pooled over every pairing" in said
    assert "interval" not in said and "grey" not in said and "reference" not in said


def test_table_5_pools_the_enhanced_model_over_its_three_pairings(
    bench: Bench, server: FakeOpenAI, tmp_path: Path
) -> None:
    book = ScoreBook()
    server.behaviour.content = book.content
    files = []
    for model, sums in TABLE_5.items():
        book.set(bench, model, "enhanced", sums)
        book.set(bench, "enhanced", model, ENHANCED_5[model])
        out = tmp_path / f"enhanced-vs-{model}.jsonl"
        _pairwise(bench, server, out, "enhanced", model)  # --answers enhanced --versus MODEL
        files.append(out)
    scores = paper_scores(load_reviews(f) for f in files)
    assert scores["enhanced"].counts == {"conv": 90, "detail": 90, "complex": 90}
    report = _report(*map(str, files), "--protocol", "paper")
    assert _row(report, "enhanced")[1:5] == ["59.22", "58.00", "71.00", "62.74"]
    assert _row(report, "v-star")[1:5] == ["41.33", "31.67", "59.67", "44.22"]
    assert _row(report, "qwen2-vl-7b")[1:5] == ["61.33", "42.33", "73.00", "58.89"]
    assert _row(report, "qwen2-vl-72b")[1:5] == ["60.33", "47.00", "74.00", "60.44"]


def test_swap_averages_both_orders_per_question(
    bench: Bench, server: FakeOpenAI, tmp_path: Path
) -> None:
    book = ScoreBook()
    book.set(bench, "ours", "theirs", (180, 180, 180))  # 6 everywhere
    book.set(bench, "theirs", "ours", (150, 150, 150))  # 5 everywhere
    book.bias = 2  # the judge favours whoever it reads first, enough to flip its preference
    server.behaviour.content = book.content
    out = tmp_path / "swapped.jsonl"
    reviews = _pairwise(bench, server, out, "ours", "theirs", swap=True)
    assert len(reviews) == 180
    orders = {(r["question_id"], r["order"]): r for r in reviews}
    assert orders[(0, "versus-first")]["assistant1"] == "theirs"
    assert orders[(0, "versus-first")]["tuple"] == [7, 6]  # [theirs, ours]
    assert orders[(0, "answers-first")]["tuple"] == [5, 8]
    report = _report(str(out), "--protocol", "paper")
    assert _row(report, "ours")[1:5] == ["70.00"] * 4  # (6 + 8) / 2, the bias cancels out
    assert _row(report, "theirs")[1:5] == ["60.00"] * 4
    assert "flip rate when the order is swapped 100.0%" in report
    assert "both orders of a question averaged first" in report


def test_unreadable_reviews_go_to_the_failures_file_and_are_counted(
    bench: Bench, server: FakeOpenAI, tmp_path: Path
) -> None:
    book = ScoreBook()
    book.set(bench, "ours", "theirs", (180, 180, 180))
    book.set(bench, "theirs", "ours", (150, 150, 150))

    def content(body: dict[str, Any]) -> str:
        if "answers question 4." in body["messages"][-1]["content"]:
            return "I cannot decide."
        return book.content(body)

    server.behaviour.content = content
    out = tmp_path / "reviews.jsonl"
    _pairwise(bench, server, out, "ours", "theirs")
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(written) == 89 and all(r["tuple"] != [-1, -1] for r in written)
    failed = [json.loads(line) for line in failures_path(out).read_text().splitlines()]
    assert [r["question_id"] for r in failed] == [4] and failed[0]["attempts"] == 3
    report = _report(str(out), "--protocol", "paper")
    assert _row(report, "ours")[-1] == "1"  # the unreadable column
    assert sorted(_row(report, "ours")[5].split("/")) == ["29", "30", "30"]  # pooled scores


def test_old_review_files_with_llava_placeholders_still_load(tmp_path: Path) -> None:
    old = tmp_path / "llava-review.jsonl"
    write_jsonl(old, [
        {"question_id": 0, "category": "conv", "tuple": [8, 6], "content": "8 6"},
        {"question_id": 1, "category": "conv", "tuple": [-1, -1], "content": "?"},
    ])  # fmt: skip
    loaded = load_reviews(old)
    assert loaded.kind == "reference" and len(loaded.reviews) == 1 and loaded.unreadable == 1
    report = _report(str(old))
    assert "Protocol: llava" in report and "| 60.00" in report
    write_jsonl(old, [{"question_id": 0, "category": "conv", "tuple": [11, 3]}])
    result = CliRunner().invoke(cli, ["bench", "report", str(old)])
    assert result.exit_code == 1 and "line 1" in result.output and "tuple" in result.output


def test_the_report_refuses_to_mix_protocols(tmp_path: Path) -> None:
    reference = tmp_path / "reference.jsonl"
    pairwise = tmp_path / "pairwise.jsonl"
    write_jsonl(reference, [{"question_id": 0, "category": "conv", "tuple": [8, 6]}])
    write_jsonl(pairwise, [{"question_id": 0, "category": "conv", "tuple": [8, 6],
                            "model_id": "a", "versus_id": "b", "kind": "pairwise"}])  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(cli, ["bench", "report", str(reference), "--protocol", "paper"])
    assert result.exit_code == 1 and "pairwise" in result.output
    result = runner.invoke(cli, ["bench", "report", str(pairwise)])
    assert result.exit_code == 1 and "--protocol paper" in result.output
    result = runner.invoke(cli, ["bench", "report", str(pairwise), "--protocol", "paper",
                                 "--baseline", "nobody"])  # fmt: skip
    assert result.exit_code == 1 and "no model 'nobody'" in result.output


def test_pairwise_judging_needs_two_named_models(bench: Bench, tmp_path: Path) -> None:
    same = _answers(bench, "m")
    with pytest.raises(kpit.ConfigError, match="distinct model_id"):
        judge_answers(
            bench, same, tmp_path / "r.jsonl", versus=same, judge_options={"api_key": KEY}
        )
    with pytest.raises(kpit.DataError, match="no reference answer"):
        judge_answers(bench, same, tmp_path / "r.jsonl", judge_options={"api_key": KEY})


# --- the overlap guards ---------------------------------------------------------------------


def test_image_ids_match_whatever_the_file_naming(tmp_path: Path) -> None:
    assert image_id_of("COCO_val2014_000000000785.jpg") == 785
    assert image_id_of("000000000785.jpg") == image_id_of("785") == image_id_of(785) == 785
    assert image_id_of("train2017/000000040083.jpg") == 40083
    listed = tmp_path / "ids.txt"
    listed.write_text("# benchmark images\nCOCO_val2014_000000000785.jpg\n40083  # the skiers\n")
    assert read_image_ids(listed) == {785, 40083}
    listed.write_text("no id here\n")
    with pytest.raises(kpit.DataError, match="line 1"):
        read_image_ids(listed)


def test_generate_never_sends_excluded_images(sample_root: Path, tmp_path: Path) -> None:
    contexts = kpit.load_coco(sample_root)
    bench = tmp_path / "hpaub"
    kpit.bench.build_bench(list(contexts), bench, num_images=2, seed=0)
    held_out = set(json.loads((bench / "manifest.json").read_text())["image_ids"])
    assert read_image_ids(bench) == held_out and len(held_out) == 2
    result = CliRunner().invoke(cli, ["generate", str(sample_root), "-o", str(tmp_path / "run"),
                                      "--exclude-images", str(bench), "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    run = kpit.Run(tmp_path / "run")
    used = {s.meta["image_id"] for s in run.samples()}
    assert used and not used & held_out and len(used) == 2
    exclusion = run.manifest["exclude_images"]
    assert (exclusion["sources"], exclusion["images"]) == ([str(bench)], 2)  # and their ids


def test_export_and_train_refuse_overlapping_records(sample_root: Path, tmp_path: Path) -> None:
    run = kpit.generate(kpit.load_coco(sample_root), out=tmp_path / "run", progress=False)
    assert isinstance(run, kpit.Run)
    held_out = tmp_path / "hpaub-ids.txt"
    held_out.write_text("COCO_val2014_000000000785.jpg\nCOCO_val2014_000000197388.jpg\n")
    result = CliRunner().invoke(cli, ["export", str(run.folder), "-o", str(tmp_path / "l.json"),
                                      "--exclude-images", str(held_out)])  # fmt: skip
    assert result.exit_code == 1
    assert "6 records use excluded images" in result.output and "785, 197388" in result.output
    assert not (tmp_path / "l.json").exists()
    kpit.export_llava(run, tmp_path / "all.json")  # without the guard, everything
    pytest.importorskip("transformers")
    from kpit.train import TrainConfig, train

    config = TrainConfig(output_dir=str(tmp_path / "out"), data=str(tmp_path / "all.json"),
                         images=str(sample_root / "val2017"), exclude_images=str(held_out),
                         model=str(tmp_path / "no-model-needed"))  # fmt: skip
    with pytest.raises(kpit.ConfigError, match="6 records use excluded images"):
        train(config)  # stops before loading any model


def test_bench_build_draws_only_images_absent_from_training(
    sample_root: Path, tmp_path: Path
) -> None:
    training = tmp_path / "person_keypoints_train.json"
    training.write_text(json.dumps({"images": [{"id": 785}, {"id": 196141}], "annotations": []}))
    contexts = list(kpit.load_coco(sample_root))
    result = CliRunner().invoke(cli, ["bench", "build", str(sample_root), "--num-images", "2",
                                      "--disjoint-from", str(training), "-o",
                                      str(tmp_path / "hpaub")])  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "hpaub" / "manifest.json").read_text())
    assert sorted(manifest["image_ids"]) == [40083, 197388]
    assert manifest["disjoint_from"] == [str(training)]
    with pytest.raises(kpit.ConfigError, match="absent from the training images"):
        kpit.bench.build_bench(contexts, tmp_path / "x", num_images=3, disjoint_from=training)
