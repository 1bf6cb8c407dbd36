"""Benchmark: the ``openai`` backend against the loopback test server.

Reports, in one run:
- throughput at concurrency 64 with a server latency of 500 ms, against the ideal
  128 requests/s (goal: at least 90%), and the ratio to the paper's sequential loop (one
  request at a time) measured in the same run;
- pacing under ``--rpm 1200`` against a server that refuses more than 20 requests within
  any second: the busiest second, the requests in the first 70 ms, the refusals and the
  achieved rate (goal: no second over 20, within 2% below the limit);
- sporadic 429s: 10% of calls refused with ``Retry-After: 1`` and no rate-limit headers
  (an overloaded server) plus 5% 500s, at concurrency 64 and 500 ms latency: the rate as a
  ratio to a clean run on the same server (goal: at least 0.6), and nothing lost;
- a limit learned from headers: a server that refuses more than 20 requests a second and
  announces ``x-ratelimit-limit-requests: 1200``, no ``--rpm`` given: the rate against its
  20/s and the refusals;
- the time to the first request of ``kpit generate`` (a fresh process on the bundled
  sample): from the start, and from the data being loaded; and ``kpit --help``;
- 10,000 requests with 20% 429/500 and 5% timeouts injected: none lost, none duplicated;
- context tokens (o200k_base) of the ``paper`` and ``compact`` styles, on the bundled
  sample and on a synthetic split.

    python benchmarks/bench_openai.py [--quick] [--only pacing,sporadic,...]

The parts (for ``--only``): throughput, pacing, sporadic, learned, start, faults, tokens.
With ``PYTHONPATH`` pointing at another checkout of kpit (the folder that holds its ``kpit``
package), the same measurements run against that code (the server is always this
checkout's), for a before/after comparison.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import openai

import kpit
from kpit.prompts.tokens import estimate_tokens, tokenizer_name

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
        contexts(1)[0], key="detail/1/0", seed=0, options=kpit.prompts.tasks.PromptOptions()
    )
    messages = [m.to_dict() for m in request.messages]
    client = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    start = time.perf_counter()
    for _ in range(n):
        client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    return n / (time.perf_counter() - start)


class ServerProcess:
    """The test server in a process of its own, so it does not share the client's GIL.

    ``options``: the lean server's command-line options (``--per-second 20``...).
    """

    def __init__(self, latency: float, *options: str) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "helpers" / "openai_server.py"),
                str(latency),
                "--fast",
                *options,
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


def busiest_second(times: list[float]) -> int:
    """The most requests within any one second (a sliding window)."""
    ordered = sorted(times)
    most, first = 0, 0
    for last, t in enumerate(ordered):
        while ordered[first] <= t - 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def pacing(folder: Path, rpm: int, requests: int) -> None:
    """``--rpm`` against a server that refuses more than ``rpm / 60`` within any second."""
    share = rpm // 60
    with ServerProcess(0.05, "--per-second", str(share)) as server:
        run(server, folder / "rpm", requests // 3, rpm=rpm)
        stats = server.stats()
    times = stats["request_times"]
    achieved = (len(times) - 1) / (times[-1] - times[0]) * 60
    early = sum(1 for t in times if t < times[0] + 0.07)
    print(
        f"pacing, rpm {rpm} (the server refuses more than {share} within a second): busiest "
        f"second {busiest_second(times)} requests, {early} in the first 70 ms, "
        f"{stats['counts'].get('refused', 0)} refused; achieved {achieved:,.0f}/min "
        f"({achieved / rpm - 1:+.2%})"
    )


def sporadic(folder: Path, requests: int) -> None:
    """10% 429s without rate-limit headers and 5% 500s, against a clean run.

    The rate over the whole run (its end waits for the few requests refused three or four
    times in a row) and up to the 90th percentile of the answers (the sustained rate).
    """
    options: dict[str, Any] = {"backoff": 1.0, "timeout": 10.0}  # the default backoff
    expected = requests // 3 * 3
    figures = {}
    for name, faults in (("clean", ()), ("sporadic", ("--faults", "429=0.1,500=0.05"))):
        with ServerProcess(0.5, *faults, "--retry-after", "1") as server:
            result, seconds = run(server, folder / name, requests // 3, **options)
            stats = server.stats()
        answers = sorted(stats["answer_times"])
        ninety = answers[int(len(answers) * 0.9)] - stats["request_times"][0]
        figures[name] = (expected / seconds, 0.9 * len(answers) / ninety, stats, result)
    clean, clean_90, _, _ = figures["clean"]
    rate, rate_90, stats, result = figures["sporadic"]
    counts = stats["counts"]
    keys = {s.id for s in result.samples()}
    lowest = result.manifest["last_session"].get("concurrency_lowest")
    print(
        f"sporadic 429s (10% with Retry-After: 1 and no limit headers, 5% 500s), "
        f"concurrency 64, 500 ms, {expected:,} requests: {rate:.1f} requests/s against "
        f"{clean:.1f}/s clean, ratio {rate / clean:.2f} (to the 90th percentile answer: "
        f"{rate_90:.1f} against {clean_90:.1f}/s, ratio {rate_90 / clean_90:.2f})"
    )
    print(
        f"        {counts.get('chat', 0):,} calls ({counts.get('429', 0)} 429s, "
        f"{counts.get('500', 0)} 500s); stored {len(keys):,} of {expected:,}, "
        f"open failures {len(result.open_failures())}; lowest concurrency {lowest}"
    )


def learned(folder: Path, requests: int) -> None:
    """No ``--rpm``, a server that announces 1,200 a minute and refuses over 20 a second."""
    with ServerProcess(0.05, "--per-second", "20", "--limit-headers") as server:
        result, _ = run(server, folder / "learned", requests // 3)
        stats = server.stats()
    times = stats["request_times"]
    refused = stats["counts"].get("refused", 0)
    accepted = len(times) - refused
    rate = (accepted - 1) / (times[-1] - times[0])
    session = result.manifest["last_session"]
    print(
        f"limit announced in headers (1,200/min, 20/s enforced), no --rpm: {rate:.1f} "
        f"requests/s accepted ({rate / 20:.1%} of 20/s), {refused} refused, busiest second "
        f"{busiest_second(times)}; learned {session.get('learned_limits')}"
    )


_CHILD = """
import sys, time
import kpit.cli.generate as g
load = g.load_from_options
def timed(options):
    loaded = load(options)
    print("LOADED", time.monotonic(), file=sys.stderr, flush=True)
    return loaded
g.load_from_options = timed
from kpit.cli import main
sys.argv = ["kpit", *sys.argv[1:]]
main()
"""


def first_request(folder: Path, runs: int) -> None:
    """A fresh ``kpit generate`` process: the time to its first request."""
    env = os.environ | {"OPENAI_API_KEY": KEY}
    since_start, since_loaded = [], []
    with ServerProcess(0.05) as server:
        for n in range(runs):
            before = len(server.stats()["request_times"])
            command = [sys.executable, "-c", _CHILD, "generate", str(SAMPLE), "--generator",
                       "openai", "--model", "gpt-4o", "-o", str(folder / f"first{n}"),
                       "-O", f"base_url={server.base_url}", "--limit", "1"]  # fmt: skip
            started = time.monotonic()
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, check=True, cwd=folder
            )  # not this checkout: PYTHONPATH's kpit
            first = server.stats()["request_times"][before]
            loaded = float(done.stderr.split("LOADED ")[1].split()[0])
            since_start.append(first - started)
            since_loaded.append(first - loaded)
    helps = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "kpit", "--help"], capture_output=True, check=True,
                       cwd=folder)  # fmt: skip
        helps.append(time.monotonic() - started)
    templates = []
    for n in range(runs):
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "kpit", "generate", str(SAMPLE), "-o",
                        str(folder / f"template{n}")], capture_output=True, check=True,
                       cwd=folder)  # fmt: skip
        templates.append(time.monotonic() - started)
    probe = ("import sys\nfrom click.testing import CliRunner\nfrom kpit.cli import cli\n"
             f"CliRunner().invoke(cli, ['generate', {str(SAMPLE)!r}, '-o', "
             f"{str(folder / 'template')!r}, '--limit', '1'])\n"
             "print('openai' in sys.modules)")  # fmt: skip
    template = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              cwd=folder)  # fmt: skip
    print(
        f"time to the first request (kpit generate, bundled sample, median of {runs}): "
        f"{sorted(since_start)[runs // 2]:.2f} s from the start, "
        f"{sorted(since_loaded)[runs // 2]:.2f} s from the data being loaded"
    )
    print(
        f"        kpit --help {sorted(helps)[runs // 2]:.2f} s; kpit generate with the template "
        f"backend (12 requests) {sorted(templates)[runs // 2]:.2f} s, imports openai: "
        f"{template.stdout.strip()}"
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
    keys = [s.id for s in result.samples()]
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

    write_split(folder / "split", 640)  # about 1% of COCO train2017
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


PARTS = ("throughput", "pacing", "sporadic", "learned", "start", "faults", "tokens")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    quick = args.quick
    print(f"kpit from {Path(kpit.__file__).parent}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "throughput" in parts:
            throughput(folder, 768 if quick else 3072)
        if "pacing" in parts:
            pacing(folder, 1200, 150 if quick else 600)
        if "sporadic" in parts:
            sporadic(folder, 768 if quick else 1536)
        if "learned" in parts:
            learned(folder, 150 if quick else 600)
        if "start" in parts:
            first_request(folder, 3 if quick else 5)
        if "faults" in parts:
            faults(folder, 1500 if quick else 10_000)
        if "tokens" in parts:
            token_counts(folder)


if __name__ == "__main__":
    main()
