"""Benchmark: the ``openai`` backend against the loopback test server.

Reports, in one run:
- throughput at concurrency 64 with a server latency of 500 ms, against the ideal
  128 requests/s (goal: at least 90%), and the ratio to the paper's sequential loop (one
  request at a time) measured in the same run;
- the achieved rate under an RPM limit (goal: within 2% below it, never above);
- 10,000 requests with 20% 429/500 and 5% timeouts injected: none lost, none duplicated;
- context tokens (o200k_base) of the ``paper`` and ``compact`` styles, on the bundled
  sample and on a synthetic split.

    python benchmarks/bench_openai.py [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import openai

import kpit
from kpit.tokens import estimate_tokens, tokenizer_name

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from openai_server import FakeOpenAI  # noqa: E402

KEY = "sk-bench"
SAMPLE = ROOT / "examples" / "data" / "coco-sample"


def contexts(n_images: int) -> list[kpit.ImageContext]:
    base = list(kpit.load_coco(SAMPLE))
    return [dataclasses.replace(base[i % 4], image_id=1_000_000 + i) for i in range(n_images)]


def run(
    server: Any, out: Path, n_images: int, tasks: str = "all", **options: object
) -> tuple[kpit.Run, float]:
    settings = {"base_url": server.base_url, "api_key": KEY, "backoff": 0.05, "timeout": 5.0}
    concurrency = int(options.pop("concurrency", 64))  # type: ignore[call-overload]
    start = time.perf_counter()
    result = kpit.generate(
        contexts(n_images),
        tasks,
        "openai",
        "gpt-4o",
        out=out,
        progress=False,
        concurrency=concurrency,
        reply_retries=0,
        quality=kpit.QualityConfig(reject_duplicates=False),
        generator_options=settings | options,
    )
    assert isinstance(result, kpit.Run)
    return result, time.perf_counter() - start


def sequential(server: Any, n: int) -> float:
    """The paper's loop: one request after another with the client. Requests per second."""
    request = kpit.plugins.get_task("detail")().build(
        contexts(1)[0], key="detail/1/0", seed=0, options=kpit.tasks.PromptOptions()
    )
    messages = [m.to_dict() for m in request.messages]
    client = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    start = time.perf_counter()
    for _ in range(n):
        client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    return n / (time.perf_counter() - start)


class ServerProcess:
    """The test server in a process of its own, so it does not share the client's GIL."""

    def __init__(self, latency: float) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "helpers" / "openai_server.py"),
                str(latency),
                "--fast",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.base_url + "/_stats") as response:
            stats: dict[str, Any] = json.load(response)
        return stats

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait()


def throughput(folder: Path, requests: int) -> None:
    with ServerProcess(latency=0.5) as server:
        seq = sequential(server, 8)
        result, seconds = run(server, folder / "throughput", requests // 3)
        done = len(list(result.samples()))
        times = server.stats()["request_times"]
    rate = done / seconds
    sending = (len(times) - 9) / (times[-1] - times[8])  # after the sequential loop's 8
    print(
        f"throughput at concurrency 64, 500 ms latency: {rate:6.1f} requests/s "
        f"= {rate / 128:.1%} of the ideal 128/s ({done} requests in {seconds:.1f} s, "
        f"the pipeline's start included; {sending:.1f}/s while sending)"
    )
    print(
        f"baseline, the sequential loop: {seq:.2f} requests/s; kpit / sequential {rate / seq:.0f}x"
    )


def rpm_limit(folder: Path, rpm: int, requests: int) -> None:
    with ServerProcess(latency=0.05) as server:
        run(server, folder / "rpm", requests // 3, rpm=rpm)
        times = server.stats()["request_times"]
    achieved = (len(times) - 1) / (times[-1] - times[0]) * 60
    busiest = max(sum(1 for t in times if s <= t < s + 1) for s in times)
    print(
        f"rpm limit {rpm}: achieved {achieved:,.0f}/min ({achieved / rpm - 1:+.2%}); "
        f"busiest second {busiest} requests (limit {rpm / 60:.0f}/s)"
    )


def faults(folder: Path, requests: int) -> None:
    with FakeOpenAI(latency=0.01) as server:
        server.behaviour.rates = {"429": 0.1, "500": 0.1, "slow": 0.05}
        server.behaviour.retry_after = 0.005
        server.behaviour.slow_seconds = 1.0
        result, seconds = run(
            server, folder / "faults", requests // 3 + 1, timeout=0.5, max_retries=10
        )
        counts = dict(server.counts)
    keys = [s["key"] for s in result.samples()]
    failures = result.open_failures()
    expected = (requests // 3 + 1) * 3
    print(
        f"faults: {expected:,} requests, {counts.get('chat', 0):,} calls "
        f"({counts.get('429', 0):,} 429s, {counts.get('500', 0):,} 500s, "
        f"{counts.get('slow', 0):,} timeouts) in {seconds:.0f} s"
    )
    print(
        f"        stored {len(keys):,}, unique {len(set(keys)):,}, open failures {len(failures)}, "
        f"lost {expected - len(set(keys)) - len(failures)}"
    )


def token_counts(folder: Path) -> None:
    from bench_coco import write_split

    write_split(folder / "split", 0.01)
    for name, loaded in (
        ("sample", kpit.load_coco(SAMPLE)),
        ("synthetic split", kpit.load_coco(folder / "split", "train2017")),
    ):
        paper = sum(estimate_tokens(kpit.render_context(c, "paper")) for c in loaded)
        compact = sum(estimate_tokens(kpit.render_context(c, "compact")) for c in loaded)
        print(
            f"context tokens, {name} ({len(loaded):,} images): paper {paper:,}, "
            f"compact {compact:,}, compact / paper {compact / paper:.2f}"
        )
    print(f"(counted with {tokenizer_name()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        throughput(folder, 768 if args.quick else 3072)
        rpm_limit(folder, 1200, 150 if args.quick else 400)
        faults(folder, 1500 if args.quick else 10_000)
        token_counts(folder)


if __name__ == "__main__":
    main()
