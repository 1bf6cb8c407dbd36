"""The ``hf-llava`` backend with a tiny random LLaVA built offline, answering real images."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import kpit
from kpit.bench import answer_bench, build_bench
from kpit.generators.hf_llava import HFLlavaGenerator
from kpit.llava_format import CLIP_MEAN, llava_prompt, pad_to_square

pytest.importorskip("transformers", reason="the [test] extra installs transformers")

from ..conftest import REPO, SAMPLE
from ..helpers.tiny_llava import PAIRS, make_tiny_llava, train_tiny_llava

MAX_NEW = 24  # longer than every trained answer: each ends with its own end token


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


@pytest.fixture(scope="module")
def trained_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LLaVA fitted to :data:`PAIRS` for 80 steps (about 2 s): clear greedy choices."""
    folder = make_tiny_llava(tmp_path_factory.mktemp("trained-llava"), hidden=64)
    return train_tiny_llava(folder, SAMPLE / "val2017", steps=80)


def pair_requests(images: Path = SAMPLE / "val2017") -> list[kpit.ChatRequest]:
    """One request per trained pair: questions of 2 to 13 words, so prompts differ in length."""
    return [kpit.ChatRequest(f"q/{n}", (kpit.Message("user", question, (str(images / name),)),))
            for n, (name, question, _) in enumerate(PAIRS)]  # fmt: skip


@pytest.fixture(scope="module")
def alone(trained_llava: Path) -> list[dict[str, Any]]:
    """Each pair's question asked alone, straight through transformers as the backend did
    before it batched: the answer, its token counts, and the smallest gap between the
    top two logits at any step of it."""
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration.from_pretrained(trained_llava).eval()
    processor = AutoProcessor.from_pretrained(trained_llava)
    out = []
    for request in pair_requests():
        message = request.messages[0]
        with Image.open(message.images[0]) as opened:
            image = pad_to_square(opened.convert("RGB"))
        inputs = processor(images=image, text=llava_prompt(message.content), return_tensors="pt")
        with torch.inference_mode():
            result = model.generate(**inputs, max_new_tokens=MAX_NEW, do_sample=False,
                                    output_scores=True, return_dict_in_generate=True)  # fmt: skip
        new = result.sequences[0, inputs["input_ids"].shape[1] :]
        top2 = [step[0].topk(2).values for step in result.scores]
        out.append({
            "text": processor.decode(new, skip_special_tokens=True).strip(),
            "prompt_tokens": inputs["input_ids"].shape[1],
            "completion_tokens": len(new),
            "margin": min(float(v[0] - v[1]) for v in top2),
        })  # fmt: skip
    return out


def collect(backend: HFLlavaGenerator, requests: Sequence[kpit.ChatRequest],
            **options: Any) -> list[kpit.Reply]:  # fmt: skip
    async def run() -> list[kpit.Reply]:
        return [reply async for reply in backend.generate(requests, **options)]

    return asyncio.run(run())


@pytest.mark.slow  # trains the tiny LLaVA first (trained_llava)
def test_the_trained_model_decides_clearly(alone: list[dict[str, Any]]) -> None:
    """What makes the comparison below meaningful: at every step of every answer the
    greedy choice leads the runner-up by far more than the rounding that padding and
    batching bring (about 1e-5 in float32), and the answers differ, ending on their own."""
    assert min(a["margin"] for a in alone) > 0.5
    assert len({a["text"] for a in alone}) >= 6
    assert all(a["completion_tokens"] < MAX_NEW for a in alone)
    assert len({a["prompt_tokens"] for a in alone}) >= 4  # left padding is exercised


@pytest.mark.slow  # trains the tiny LLaVA first (trained_llava)
@pytest.mark.parametrize("batch_size", [1, 3, len(PAIRS)])
def test_batched_answers_equal_the_one_at_a_time_answers(
    trained_llava: Path, alone: list[dict[str, Any]], batch_size: int
) -> None:
    backend = HFLlavaGenerator(str(trained_llava), device="cpu", max_new_tokens=MAX_NEW,
                               batch_size=batch_size)  # fmt: skip
    requests = pair_requests()
    replies = collect(backend, requests)
    assert [r.key for r in replies] == [r.key for r in requests]  # in the order asked
    assert [r.text for r in replies] == [a["text"] for a in alone]
    assert [r.usage.to_dict() for r in replies if r.usage] == [
        {
            "prompt_tokens": a["prompt_tokens"],
            "completion_tokens": a["completion_tokens"],
            "cached_tokens": 0,
        }
        for a in alone
    ]
    assert {r.finish_reason for r in replies} == {"stop"}


@pytest.mark.slow  # trains the tiny LLaVA first (trained_llava)
def test_a_bad_image_fails_its_question_only(
    trained_llava: Path, alone: list[dict[str, Any]], tmp_path: Path
) -> None:
    images = tmp_path / "images"
    shutil.copytree(SAMPLE / "val2017", images)
    (images / "000000040083.jpg").write_bytes(b"not a jpeg")  # pairs 2 and 3
    requests = pair_requests(images)
    requests.insert(5, kpit.ChatRequest("no-image", (kpit.Message("user", "who ?"),)))
    backend = HFLlavaGenerator(str(trained_llava), device="cpu", max_new_tokens=MAX_NEW,
                               batch_size=len(requests))  # fmt: skip
    replies = {r.key: r for r in collect(backend, requests)}
    assert not replies["q/2"].ok and "cannot open the image" in replies["q/2"].detail
    assert not replies["q/3"].ok and replies["q/3"].error == "error"
    assert not replies["no-image"].ok and "has no image" in replies["no-image"].detail
    for n, expected in enumerate(alone):
        if n not in (2, 3):
            assert replies[f"q/{n}"].text == expected["text"]


class Flaky(HFLlavaGenerator):
    """``generate`` fails for any batch of more than one, and for the question ``who ?``."""

    def __init__(self, model: str, **options: Any) -> None:
        super().__init__(model, **options)
        self.calls: list[int] = []

    def _run(self, batch: Sequence[Any]) -> list[kpit.Reply]:
        self.calls.append(len(batch))
        if len(batch) > 1 or batch[0].prompt.endswith("who ? ASSISTANT:"):
            raise RuntimeError("out of memory")
        return super()._run(batch)


@pytest.mark.slow  # trains the tiny LLaVA first (trained_llava)
def test_a_failed_batch_is_answered_one_at_a_time(
    trained_llava: Path, alone: list[dict[str, Any]]
) -> None:
    backend = Flaky(str(trained_llava), device="cpu", max_new_tokens=MAX_NEW, batch_size=4)
    replies = collect(backend, pair_requests())
    assert backend.calls == [4, 1, 1, 1, 1, 4, 1, 1, 1, 1]
    assert [r.key for r in replies] == [f"q/{n}" for n in range(len(PAIRS))]
    assert replies[3].error == "error" and "out of memory" in replies[3].detail  # "who ?"
    assert [r.text for n, r in enumerate(replies) if n != 3] == [
        a["text"] for n, a in enumerate(alone) if n != 3
    ]


@pytest.mark.slow  # trains the tiny LLaVA first (trained_llava)
def test_refused_replies_are_asked_again_in_a_later_batch(trained_llava: Path) -> None:
    backend = HFLlavaGenerator(str(trained_llava), device="cpu", max_new_tokens=MAX_NEW,
                               batch_size=3)  # fmt: skip
    seen: list[str] = []

    def validate(request: kpit.ChatRequest, reply: kpit.Reply) -> str | None:
        seen.append(request.key)
        return "too short" if len((reply.text or "").split()) < 4 else None

    replies = collect(backend, pair_requests(), validate=validate, reply_retries=1)
    short = [f"q/{n}" for n, (_, _, answer) in enumerate(PAIRS) if len(answer.split()) < 4]
    assert short == ["q/3", "q/7"]
    assert all(seen.count(key) == 1 for key in short)  # the last try is not validated
    # Batches of 3: [0 1 2], [3 4 5] (3 refused), [3 6 7] (7 refused), [7].
    assert [r.key for r in replies] == [f"q/{n}" for n in (0, 1, 2, 4, 5, 3, 6, 7)]
    assert [r.text for r in replies if r.key in short] == ["a man .", "three ."]


def test_batch_size_is_an_option_that_spares_the_cache(tiny_llava: Path) -> None:
    with pytest.raises(kpit.ConfigError) as caught:
        HFLlavaGenerator(str(tiny_llava), batch_size=0)
    assert caught.value.field == "batch_size"
    one = HFLlavaGenerator(str(tiny_llava), batch_size="1")
    many = HFLlavaGenerator(str(tiny_llava))
    assert one.batch_size == 1 and many.batch_size == 8
    assert one.settings()["options"]["batch_size"] == 1  # recorded in the manifest
    assert one.identity() == many.identity()  # but not what a cached answer must match
    assert "batch_size" not in one.identity()["options"]


class Counting(HFLlavaGenerator):
    """Counts the questions of each batch it answers."""

    def __init__(self, model: str, **options: Any) -> None:
        super().__init__(model, **options)
        self.rows: list[int] = []

    def answer_batch(self, requests: Sequence[kpit.ChatRequest]) -> list[kpit.Reply]:
        self.rows.append(len(requests))
        return super().answer_batch(requests)


@pytest.mark.slow  # trains the tiny LLaVA first (trained_llava)
def test_resumed_answers_need_not_keep_the_batch_size(
    trained_llava: Path, sample_root: Path, tmp_path: Path
) -> None:
    bench = build_bench(list(kpit.load_coco(sample_root)), tmp_path / "bench", num_images=3,
                        seed=0)  # fmt: skip
    out, images = tmp_path / "answers.jsonl", sample_root / "val2017"
    first, failures = answer_bench(
        bench, out, images, generator="hf-llava", model=str(trained_llava),
        generator_options={"device": "cpu", "max_new_tokens": 6, "batch_size": 4},
    )  # fmt: skip
    assert failures == {} and len(first) == 9
    written = out.read_text().splitlines()
    # The same settings as answer_bench gives a backend it makes (greedy, max_tokens 1024).
    options = {"device": "cpu", "max_new_tokens": 6, "temperature": 0, "max_tokens": 1024}

    untouched = Counting(str(trained_llava), **options, batch_size=1)
    again, _ = answer_bench(bench, out, images, generator=untouched)
    assert untouched.rows == [] and untouched._loaded is None  # all from the file
    assert again == first and out.read_text().splitlines() == written

    kept = [line for line in written if json.loads(line)["question_id"] not in (1, 5)]
    out.write_text("\n".join(kept) + "\n")
    backend = Counting(str(trained_llava), **options, batch_size=2)
    resumed, _ = answer_bench(bench, out, images, generator=backend)
    assert backend.rows == [2]  # only the two missing questions, in one batch
    assert sorted(resumed) == sorted(first)
    assert all(resumed[q] == first[q] for q in first if q not in (1, 5))


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


def test_the_vllm_template_asks_what_hf_llava_asks(tiny_llava: Path) -> None:
    """``examples/vllm/llava_v1.jinja`` (docs/bench.md) is kpit's LLaVA-1.5 chat template with
    the system line in front: rendered by transformers as vLLM renders it, from the parts
    that an image and a question become, it gives the prompt that hf-llava asks."""
    from transformers import AutoProcessor

    from kpit.llava_format import LLAVA_CHAT_TEMPLATE, SYSTEM

    text = (REPO / "examples" / "vllm" / "llava_v1.jinja").read_text(encoding="utf-8")
    assert text.endswith("{% if messages[0]['role'] != 'system' %}" + SYSTEM + " {% endif %}"
                         + LLAVA_CHAT_TEMPLATE)  # fmt: skip
    processor = AutoProcessor.from_pretrained(tiny_llava)
    question = "What is the man on the left doing with his arms?"
    user = {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}
    rendered = processor.apply_chat_template([user], chat_template=text, tokenize=False,
                                             add_generation_prompt=True)  # fmt: skip
    assert rendered == llava_prompt(question)
    system = {"role": "system", "content": "Be brief."}
    rendered = processor.apply_chat_template([system, user], chat_template=text, tokenize=False,
                                             add_generation_prompt=True)  # fmt: skip
    assert rendered == llava_prompt(question, system="Be brief.")


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
    assert first.model_id == tiny_llava.name  # the folder's name, not its whole path
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

    from ..helpers.openai_server import FakeOpenAI

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
    assert f"| {tiny_llava.name} | 20.00 [20.0, 20.0] |" in result.stdout
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
                       other.name])  # fmt: skip
    assert result.exit_code == 0, result.output
    # Each model is read first in half the reviews: (7 + 4) / 2 = 5.5 for both, +0.00%.
    assert f"| {tiny_llava.name} | 55.00 | 55.00 | 55.00 | 55.00 | +0.00% |" in result.stdout
    assert "flip rate when the order is swapped 100.0%" in result.stdout
