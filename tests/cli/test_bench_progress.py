"""``kpit bench answer`` and ``judge``: answers named by their model (``--model-id``), a
progress bar while they run, and how many were served from the cache on a rerun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpit.bench import answer_bench, build_bench, default_model_id, load_bench, read_answers
from kpit.cli import cli
from kpit.coco import load_coco

from ..helpers.openai_server import FakeOpenAI

KEY = "sk-progress-0123456789"


@pytest.fixture
def hpaub(sample_root: Path, tmp_path: Path) -> Path:
    build_bench(list(load_coco(sample_root)), tmp_path / "hpaub", num_images=2, seed=0)
    return tmp_path / "hpaub"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("out/full", "full"),
        ("/runs/loop/trained/", "trained"),
        ("llava-hf/llava-1.5-7b-hf", "llava-1.5-7b-hf"),
        ("gpt-4o", "gpt-4o"),
        ("./model", "model"),
        ("C:\\checkpoints\\enhanced", "enhanced"),
    ],
)
def test_the_default_model_id_is_the_last_path_part(model: str, expected: str) -> None:
    assert default_model_id(model) == expected


def _answer(hpaub: Path, server: FakeOpenAI, out: Path, *extra: str) -> tuple[int, str, str]:
    args = ["bench", "answer", str(hpaub), "--images", str(hpaub.parent / "images"),
            "--model", "checkpoints/kp-7b", "--base-url", server.base_url,
            "-O", f"api_key={KEY}", "-O", "backoff=0.01", "-o", str(out), *extra]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.stdout, result.stderr


def test_answers_are_named_shown_in_progress_and_served_from_the_cache(
    hpaub: Path, server: FakeOpenAI, sample_root: Path, tmp_path: Path
) -> None:
    (tmp_path / "images").symlink_to(sample_root / "val2017", target_is_directory=True)
    out = tmp_path / "answers.jsonl"
    code, stdout, stderr = _answer(hpaub, server, out)
    assert code == 0, stderr
    assert stdout == f"{out}: 6 answers, 0 unanswered (model_id 'kp-7b')\n"
    assert "answer: 100%" in stderr and "6/6" in stderr  # the bar, on stderr
    assert {r["model_id"] for r in map(json.loads, out.read_text().splitlines())} == {"kp-7b"}
    sent = server.counts["chat"]

    code, stdout, stderr = _answer(hpaub, server, out, "--model-id", "enhanced", "--no-progress")
    assert code == 0, stderr
    assert (
        stdout == f"{out}: 6 answers, 0 unanswered (model_id 'enhanced'; 6 served from the cache)\n"
    )
    assert server.counts["chat"] == sent and stderr == ""  # nothing asked, no bar
    assert {a.model_id for a in read_answers(out).values()} == {"enhanced"}  # renamed


def test_model_id_in_python(hpaub: Path, server: FakeOpenAI, sample_root: Path, tmp_path: Path
                            ) -> None:  # fmt: skip
    options = {"base_url": server.base_url, "api_key": KEY}
    answers, _ = answer_bench(load_bench(hpaub), tmp_path / "a.jsonl", sample_root / "val2017",
                              model="gpt-4o", model_id="teacher", generator_options=options,
                              progress=False)  # fmt: skip
    assert {a.model_id for a in answers.values()} == {"teacher"}


def test_judge_shows_progress_and_counts_the_cache(
    hpaub: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    bench = load_bench(hpaub)
    out, reviews = tmp_path / "a.jsonl", tmp_path / "r.jsonl"
    out.write_text("".join(json.dumps({"question_id": q.question_id, "text": "A man stands.",
                                       "model_id": "mine", "answer_id": str(q.question_id)}) + "\n"
                           for q in bench.questions))  # fmt: skip
    server.behaviour.content = lambda body: "7 5\nAssistant 1 is more detailed."
    args = ["bench", "judge", str(hpaub), "--answers", str(out), "--base-url", server.base_url,
            "-O", f"api_key={KEY}", "-o", str(reviews)]  # fmt: skip
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert first.stdout == f"{reviews}: 6 reviews, 0 without scores\n"
    assert "judge: 100%" in first.stderr and "6/6" in first.stderr
    sent = server.counts["chat"]
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert again.stdout == f"{reviews}: 6 reviews, 0 without scores (6 served from the cache)\n"
    assert server.counts["chat"] == sent
    pose_args = ["bench", "judge", str(hpaub), "--answers", str(out), "--judge", "pose",
                 "-o", str(tmp_path / "p.jsonl")]  # fmt: skip
    pose = CliRunner().invoke(cli, pose_args)
    assert pose.exit_code == 0, pose.output
    assert "judge: 100%" in pose.stderr
