"""The ``hf-llava`` backend with a tiny random LLaVA built offline, answering real images."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

import kpit
from kpit.bench import answer_bench, build_bench
from kpit.generators.hf_llava import HFLlavaGenerator
from kpit.llava_format import CLIP_MEAN, llava_prompt, pad_to_square

pytest.importorskip("transformers", reason="the [test] extra installs transformers")

from .helpers.tiny_llava import make_tiny_llava


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


def test_pad_to_square_with_clip_mean() -> None:
    wide = Image.new("RGB", (40, 20), (255, 0, 0))
    square = pad_to_square(wide)
    assert square.size == (40, 40)
    assert square.getpixel((20, 2)) == tuple(round(c * 255) for c in CLIP_MEAN)
    assert square.getpixel((20, 20)) == (255, 0, 0)
    assert pad_to_square(square) is not None and pad_to_square(Image.new("RGB", (9, 9))).size == (
        9,
        9,
    )


def test_prompt_in_llava_15_format() -> None:
    prompt = llava_prompt("What is she doing?")
    assert prompt.startswith(  # LLaVA's conv_vicuna_v1, as LLaVA-1.5 trains and answers
        "A chat between a curious user and an artificial intelligence assistant. The "
        "assistant gives helpful, detailed, and polite answers to the user's questions. USER: "
    )
    assert prompt.endswith(" USER: <image>\nWhat is she doing? ASSISTANT:")


def test_a_tiny_llava_answers_the_sample(
    tiny_llava: Path, sample_root: Path, tmp_path: Path
) -> None:
    contexts = kpit.load_coco(sample_root)
    bench = build_bench(list(contexts), tmp_path / "bench", num_images=2, seed=0)
    answers, failures = answer_bench(
        bench,
        tmp_path / "answers.jsonl",
        sample_root / "val2017",
        generator="hf-llava",
        model=str(tiny_llava),
        generator_options={"max_new_tokens": 6, "device": "cpu"},
    )
    assert failures == {} and sorted(answers) == list(range(6))
    first = answers[0]
    assert first.model_id == str(tiny_llava)
    usage = first.metadata["usage"]
    assert usage["completion_tokens"] <= 6 and usage["prompt_tokens"] > 10
    words = set(" ".join(a.text for a in answers.values()).split())
    assert words  # random weights, real words from the tiny vocabulary


def test_missing_model_and_image_are_clear(tmp_path: Path, tiny_llava: Path) -> None:
    with pytest.raises(kpit.ConfigError, match="give the model"):
        HFLlavaGenerator()
    backend = HFLlavaGenerator(str(tiny_llava), device="cpu", max_new_tokens=2)
    request = kpit.ChatRequest("q/1", (kpit.Message("user", "What?", (str(tmp_path / "x.jpg"),)),))
    with pytest.raises(kpit.DataError, match="cannot open the image"):
        backend._answer(request)


def test_end_to_end_on_the_sample_offline(
    tiny_llava: Path, sample_root: Path, tmp_path: Path
) -> None:
    """build (template) -> answer (tiny local LLaVA) -> judge (loopback) -> report."""
    from click.testing import CliRunner

    from kpit.cli import cli

    from .helpers.openai_server import FakeOpenAI

    run = CliRunner().invoke
    bench_dir, answers, reviews = tmp_path / "hpaub", tmp_path / "a.jsonl", tmp_path / "r.jsonl"
    result = run(
        cli, ["bench", "build", str(sample_root), "--num-images", "4", "-o", str(bench_dir)]
    )
    assert result.exit_code == 0, result.output
    result = run(
        cli,
        [
            "bench",
            "answer",
            str(bench_dir),
            "--images",
            str(sample_root / "val2017"),
            "--generator",
            "hf-llava",
            "--model",
            str(tiny_llava),
            "-O",
            "max_new_tokens=4",
            "-O",
            "device=cpu",
            "-o",
            str(answers),
        ],
    )
    assert result.exit_code == 0, result.output
    with FakeOpenAI() as judge:
        judge.behaviour.content = lambda body: "9 2\nAssistant 2 makes no sense."
        result = run(
            cli,
            [
                "bench",
                "judge",
                str(bench_dir),
                "--answers",
                str(answers),
                "--base-url",
                judge.base_url,
                "-O",
                "api_key=sk-local",
                "-o",
                str(reviews),
            ],
        )
    assert result.exit_code == 0, result.output
    result = run(cli, ["bench", "report", str(reviews), "--plot", str(tmp_path / "r.png")])
    assert result.exit_code == 0
    assert f"| {tiny_llava} | 20.00 [20.0, 20.0] |" in result.stdout
    assert "| all | 20.00 | [20.0, 20.0] | 90.00 | 22.2 |" in result.stdout

    # The paper's protocol on the sample, as docs/bench.md gives it: a second model (the
    # same tiny weights under another name) answers, the judge compares the two.
    other = tmp_path / "tiny-b"
    shutil.copytree(tiny_llava, other)
    b_answers, pairwise = tmp_path / "b.jsonl", tmp_path / "pairwise.jsonl"
    result = run(cli, ["bench", "answer", str(bench_dir), "--images", str(sample_root / "val2017"),
                       "--generator", "hf-llava", "--model", str(other), "-O", "max_new_tokens=4",
                       "-O", "device=cpu", "-o", str(b_answers)])  # fmt: skip
    assert result.exit_code == 0, result.output
    with FakeOpenAI() as judge:
        judge.behaviour.content = lambda body: "7 4\nAssistant 1 is clearer."  # favours first
        result = run(cli, ["bench", "judge", str(bench_dir), "--answers", str(answers),
                           "--versus", str(b_answers), "--swap", "--base-url", judge.base_url,
                           "-O", "api_key=sk-local", "-o", str(pairwise)])  # fmt: skip
    assert result.exit_code == 0, result.output
    result = run(cli, ["bench", "report", str(pairwise), "--protocol", "paper", "--baseline",
                       str(other)])  # fmt: skip
    assert result.exit_code == 0, result.output
    # Each model is read first in half the reviews: (7 + 4) / 2 = 5.5 for both, +0.00%.
    assert f"| {tiny_llava} | 55.00 | 55.00 | 55.00 | 55.00 | +0.00% |" in result.stdout
    assert "flip rate when the order is swapped 100.0%" in result.stdout
