"""Benchmark: the ``hf-llava`` backend answering in batches against one question at a time.

Builds a random LLaVA from a config (nothing downloaded), fits it for a few steps to a few
question-answer pairs about the bundled sample images (so that its answers differ in length
and end on their own, as a real model's do; ``--train-steps 0`` keeps the random weights,
whose answers all run to ``--max-new-tokens``), then answers the same questions with the
same loaded model, in this process:

- baseline: one question per ``generate`` call (``batch_size`` 1, the backend as it was);
- batched: ``batch_size`` questions per call, prompts padded on the left;

and prints questions and new tokens per second (the best of ``--repeat`` runs), the ratio
of each batch size to the baseline, and how many batched answers equal the baseline's word
for word.

    python benchmarks/bench_answer.py                  # CPU: a small model, 32 questions
    python benchmarks/bench_answer.py --quick          # a few seconds
    python benchmarks/bench_answer.py --device cuda --dtype bfloat16 --hidden 4096 \\
        --heads 32 --intermediate 11008 --vocab 32000 --image-size 336 --patch-size 14 \\
        --layers 8 --train-steps 0 --questions 128 --batch-sizes 1,8,16,32 \\
        --max-new-tokens 128   # LLaVA-1.5-7B's shapes, 8 of its 32 layers, on a GPU

The vision tower stays tiny (two layers 32 wide) at any size. With random weights every
answer runs to ``--max-new-tokens``, the case most favourable to batching; the count of equal
answers means something only for a fitted model in float32 (random logits are nearly tied).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "data" / "coco-sample" / "val2017"
sys.path.insert(0, str(ROOT / "tests" / "helpers"))

from tiny_llava import PAIRS, make_tiny_llava, train_tiny_llava  # noqa: E402

import kpit  # noqa: E402
from kpit.generators.hf_llava import HFLlavaGenerator  # noqa: E402
from kpit.testing import TINY_WORDS  # noqa: E402


def questions(n: int) -> list[kpit.ChatRequest]:
    """``n`` requests: the trained pairs' questions with their images, over and over."""
    return [
        kpit.ChatRequest(f"q/{k}", (kpit.Message("user", question, (str(SAMPLE / name),)),))
        for k, (name, question, _) in ((k, PAIRS[k % len(PAIRS)]) for k in range(n))
    ]


def answer(backend: HFLlavaGenerator, requests: list[kpit.ChatRequest]) -> list[kpit.Reply]:
    """Every request answered through the backend's ``generate``, in order."""

    async def run() -> list[kpit.Reply]:
        return [reply async for reply in backend.generate(requests)]

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1...")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--hidden", type=int, default=256, help="the language model's width")
    parser.add_argument("--layers", type=int, default=4, help="the language model's depth")
    parser.add_argument("--heads", type=int, default=4, help="its attention heads (7B: 32)")
    parser.add_argument(
        "--intermediate",
        type=int,
        default=None,
        help="its MLP width (default 2 x hidden; 7B: 11008)",
    )
    parser.add_argument(
        "--vocab",
        type=int,
        default=0,
        help="pad the vocabulary to this many tokens (LLaVA-1.5: 32000)",
    )
    parser.add_argument(
        "--image-size", type=int, default=112, help="the vision tower's input (LLaVA-1.5: 336)"
    )
    parser.add_argument("--patch-size", type=int, default=14)
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument(
        "--batch-sizes",
        default="1,4,8,16",
        help="comma-separated; the first is the baseline (1: one at a time)",
    )
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument(
        "--train-steps",
        type=int,
        default=60,
        help="fit the model to the pairs first (0: random weights)",
    )
    parser.add_argument("--learning-rate", type=float, default=3e-3, help="for the fitting")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per batch size; the best counts"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch's CPU threads (1: steady figures on a shared machine)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a tiny model and few questions: a few seconds on a CPU",
    )
    args = parser.parse_args()  # fmt: skip
    if args.quick:  # other defaults; the flags given still count
        parser.set_defaults(hidden=64, layers=2, heads=2, image_size=30, patch_size=15,
                            questions=16, batch_sizes="1,8", max_new_tokens=24,
                            train_steps=80, repeat=1)  # fmt: skip
        args = parser.parse_args()
    sizes = [int(size) for size in args.batch_sizes.split(",")]

    import torch

    torch.set_num_threads(args.threads)
    words = list(TINY_WORDS) + [f"w{k}" for k in range(max(0, args.vocab - len(TINY_WORDS)))]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        folder = make_tiny_llava(Path(tmp) / "model", args.image_size, args.patch_size,
                                 hidden=args.hidden, layers=args.layers, heads=args.heads,
                                 intermediate=args.intermediate, words=words)  # fmt: skip
        if args.train_steps:
            train_tiny_llava(folder, SAMPLE, steps=args.train_steps, device=args.device,
                             learning_rate=args.learning_rate)  # fmt: skip
            if args.device.startswith("cuda"):
                torch.cuda.empty_cache()
        backend = HFLlavaGenerator(str(folder), device=args.device, dtype=args.dtype,
                                   max_new_tokens=args.max_new_tokens)  # fmt: skip
        model, _ = backend._load()
        built = time.perf_counter() - start
        requests = questions(args.questions)
        backend.batch_size = max(sizes)
        answer(backend, requests[: max(sizes)])  # warm up at the largest shapes
        device = torch.cuda.get_device_name(model.device) if model.device.type == "cuda" else (
            f"cpu, {args.threads} thread{'s' if args.threads > 1 else ''}")  # fmt: skip
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"model: {params:,.1f}M parameters (hidden {args.hidden}, {args.layers} layers, "
              f"{args.dtype}) on {device}; built and fitted for {args.train_steps} steps "
              f"in {built:.1f} s")  # fmt: skip
        results: dict[int, tuple[float, list[kpit.Reply]]] = {}
        for _ in range(args.repeat):  # sizes interleaved, so that a busy spell hits them all
            for size in sizes:
                backend.batch_size = size
                start = time.perf_counter()
                replies = answer(backend, requests)
                seconds = time.perf_counter() - start
                if size not in results or seconds < results[size][0]:
                    results[size] = (seconds, replies)
    base_seconds, base = results[sizes[0]]
    failed = [r.key for _, replies in results.values() for r in replies if not r.ok]
    if failed:
        raise SystemExit(f"unanswered: {failed[:5]}")
    prompt = sum(r.usage.prompt_tokens for r in base if r.usage) / len(base)
    lengths = [r.usage.completion_tokens for r in base if r.usage]
    longest = args.max_new_tokens
    print(f"{len(requests)} questions, prompts of {prompt:.0f} tokens on average, answers "
          f"of {min(lengths)} to {max(lengths)} new tokens (at most {longest})")  # fmt: skip
    for size, (seconds, replies) in results.items():
        tokens = sum(r.usage.completion_tokens for r in replies if r.usage)
        same = sum(a.text == b.text for a, b in zip(replies, base, strict=True))
        print(f"batch_size {size:3d}: {seconds:7.2f} s, {len(replies) / seconds:8.2f} questions/s, "
              f"{tokens / seconds:9.1f} new tokens/s, speed-up x{base_seconds / seconds:.2f} "
              f"against batch_size {sizes[0]}; answers equal: {same}/{len(replies)}")  # fmt: skip


if __name__ == "__main__":
    main()
