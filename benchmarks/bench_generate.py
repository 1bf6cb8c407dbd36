"""Benchmark: the generation pipeline's own costs, without a model in the way.

Reports, in one process:
- pipeline overhead per request (build the request and render its context, parse the
  reply, filter it, store it) with an instant in-process backend (goal: under 1 ms), and
  the baseline of the same backend's calls with no pipeline around them;
- the start of a resumed run over 200k stored samples (goal: under 2 s), against a bare
  ``orjson`` read of the same file;
- the template backend's speed in images per second, all three tasks (goal: 1,000/s).

    python benchmarks/bench_generate.py [--requests 6000] [--stored 200000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
import time
from pathlib import Path

import orjson

import kpit
from kpit.generators.template import TemplateGenerator
from kpit.pipeline.store import RunStore
from kpit.prompts.tasks import PromptOptions, request_key

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "data" / "coco-sample"
REPLY = ("Question:\nWhat is the person in {key} doing?\nAnswer:\nThey are standing on the "
         "snow with their knees slightly bent, ready to push off.\n===\nQuestion:\nWhere are "
         "they facing?\nAnswer:\nThey face the camera, looking straight ahead.")  # fmt: skip


class Instant(kpit.Generator):
    """Answers at once with a valid, unique conversation."""

    name = "instant"

    async def complete(self, request: kpit.ChatRequest) -> kpit.Reply:
        return kpit.Reply(request.key, text=REPLY.format(key=request.key), model="instant")


def contexts(n: int) -> list[kpit.ImageContext]:
    """``n`` contexts: the sample's four images under new ids."""
    base = list(kpit.load_coco(SAMPLE))
    return [dataclasses.replace(base[i % 4], image_id=1_000_000 + i) for i in range(n)]


def pipeline_overhead(n: int, folder: Path) -> tuple[float, float]:
    """Seconds per request through the pipeline, and for the bare backend calls."""
    ctxs = contexts(n)
    start = time.perf_counter()
    kpit.generate(ctxs, "conversation", Instant(), out=folder / "overhead", concurrency=16,
                  progress=False)  # fmt: skip
    pipeline = (time.perf_counter() - start) / n
    task = kpit.plugins.get_task("conversation")()
    requests = [task.build(c, key=request_key("conversation", c.image_id), seed=0,
                           options=PromptOptions()) for c in ctxs[:200]]  # fmt: skip

    async def bare() -> None:
        backend = Instant()
        for _ in range(n // len(requests)):
            for request in requests:
                await backend.complete(request)

    start = time.perf_counter()
    asyncio.run(bare())
    baseline = (time.perf_counter() - start) / (n // len(requests) * len(requests))
    return pipeline, baseline


def resume_start(stored: int, folder: Path) -> tuple[float, float]:
    """Seconds to start a resumed run over ``stored`` samples, and to just read them."""
    ctxs = contexts(8)
    out = folder / "resume"
    kpit.generate(ctxs, "conversation", Instant(), out=out, progress=False)
    store = RunStore(out)
    with store:
        for i in range(stored):
            store.add_sample(kpit.Sample(
                f"conversation/{i}/0", f"{i:012d}.jpg", "conversation",
                (kpit.Turn("human", f"Question {i}?"),
                 kpit.Turn("gpt", f"Answer number {i}, in words.")),
                {"image_id": i, "model": "instant", "finish_reason": None, "usage": None},
            ))  # fmt: skip
    start = time.perf_counter()
    kpit.generate(ctxs, "conversation", Instant(), out=out, progress=False)  # all done already
    resumed = time.perf_counter() - start
    start = time.perf_counter()
    with (out / "samples.jsonl").open("rb") as f:
        for line in f:
            orjson.loads(line)
    bare = time.perf_counter() - start
    return resumed, bare


def template_rate(images: int) -> float:
    """Images per second written by the template backend (three tasks each)."""
    ctxs = contexts(images)
    generator = TemplateGenerator()
    tasks = [kpit.plugins.get_task(name)() for name in ("conversation", "detail", "complex")]
    options = PromptOptions(fewshot=False)
    requests = [t.build(c, key=request_key(t.name, c.image_id), seed=0, options=options)
                for c in ctxs for t in tasks]  # fmt: skip

    async def run() -> int:
        return sum([reply.ok async for reply in generator.generate(requests)])

    start = time.perf_counter()
    written = asyncio.run(run())
    assert written == len(requests), f"{len(requests) - written} requests failed"
    return images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6_000)
    parser.add_argument("--stored", type=int, default=200_000)
    parser.add_argument("--images", type=int, default=2_000)
    parser.add_argument("--quick", action="store_true", help="smaller runs: CI's run")
    args = parser.parse_args()
    if args.quick:  # other defaults; the flags given still count
        parser.set_defaults(requests=300, stored=5_000, images=100)
        args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        per_request, bare = pipeline_overhead(args.requests, folder)
        print(f"pipeline, per request      : {per_request * 1e3:7.3f} ms (goal < 1 ms)")
        print(f"baseline, bare backend call: {bare * 1e3:7.3f} ms; "
              f"pipeline / bare {per_request / bare:.0f}x")  # fmt: skip
        resumed, read = resume_start(args.stored, folder)
        print(f"resume over {args.stored:,} stored samples: {resumed:6.2f} s (goal < 2 s)")
        print(
            f"baseline, orjson read of the same file : {read:6.2f} s; ratio {resumed / read:.1f}x"
        )
    rate = template_rate(args.images)
    print(f"template backend: {rate:,.0f} images/s, three tasks each (goal 1,000/s)")


if __name__ == "__main__":
    main()
