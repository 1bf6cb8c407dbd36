"""Benchmark: one run over several servers of one model, and one of them killed mid-run.

A team serving an open-weight teacher runs several replicas (vLLM, TGI), each of which
works on a few requests at once and queues the rest. Here each replica is the loopback
OpenAI server in a process of its own, with a fixed latency and a fixed capacity (requests
worked on at once), so one server's throughput is capacity / latency whatever the client
does. ``kpit generate --generator openai`` runs the same job:

1. against one server (the baseline, in the same process);
2. against three (``--base-url`` three times): throughput ratio three / one (goal: close
   to 3);
3. against three, one of them killed with SIGKILL once it has received a share of the
   requests: every sample stored once, no request lost (no failure), exit 0.

    python benchmarks/bench_endpoints.py [--quick] [--images 100] [--latency 0.5]
        [--capacity 4]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "tests" / "helpers" / "openai_server.py"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_kill_resume import count_samples, count_samples_of, make_split  # noqa: E402

HANG = 600.0
"""Seconds after which a wait is a hang, not a slow machine."""


@contextmanager
def replica(latency: float, capacity: int) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A server of ``capacity`` requests at once, ``latency`` seconds each, in its own
    process: its URL and the process."""
    proc = subprocess.Popen([sys.executable, str(SERVER), str(latency), "--fast", "--capacity",
                             str(capacity)], stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip(), proc
    finally:
        proc.kill()
        proc.wait(timeout=HANG)


def stats(url: str) -> dict[str, Any]:
    """What a server counted: requests received, arrival and answer times (``_stats``)."""
    with urllib.request.urlopen(f"{url}/_stats", timeout=HANG) as reply:
        figures: dict[str, Any] = json.loads(reply.read())
        return figures


def received(url: str) -> int:
    """The chat requests a server has received."""
    return int(stats(url)["counts"].get("chat", 0))


def generate(split: Path, run: Path, urls: list[str], capacity: int) -> subprocess.Popen[str]:
    flags = [flag for url in urls for flag in ("--base-url", url)]
    args = [sys.executable, "-m", "kpit", "generate", str(split), "--generator", "openai",
            "--model", "gpt-4o", *flags, "--concurrency", str(capacity),
            "-O", "learn_limits=false", "-O", "backoff=0.05", "--no-progress",
            "-o", str(run)]  # fmt: skip
    env = os.environ | {"OPENAI_API_KEY": "sk-bench-endpoints"}
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def timed(split: Path, run: Path, urls: list[str], capacity: int) -> float:
    """Seconds the servers were serving one whole run (it must succeed): from the first
    request's arrival to the last answer's departure, by the servers' clocks (the system's
    monotonic clock), so that starting Python and reading COCO are not counted."""
    proc = generate(split, run, urls, capacity)
    _, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 0, err[-2000:]
    figures = [stats(url) for url in urls]
    first = min(t for f in figures for t in f["request_times"])
    return max(t for f in figures for t in f["answer_times"]) - first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="36 images (CI)")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--capacity", type=int, default=4)
    args = parser.parse_args()
    images = 36 if args.quick else args.images
    requests = images * 3
    per_second = args.capacity / args.latency
    print(f"job: {images} images x 3 tasks = {requests} requests; each server works on "
          f"{args.capacity} at once, {args.latency:g} s each: "
          f"{per_second:.0f} requests/s")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        split = make_split(folder, images)
        with replica(args.latency, args.capacity) as (url, _):
            one = timed(split, folder / "one", [url], args.capacity)
        with replica(args.latency, args.capacity) as (a, _), \
                replica(args.latency, args.capacity) as (b, _), \
                replica(args.latency, args.capacity) as (c, _):  # fmt: skip
            three = timed(split, folder / "three", [a, b, c], args.capacity)
        print(f"one server:    {requests / one:6.1f} requests/s ({one:.2f} s serving)")
        print(f"three servers: {requests / three:6.1f} requests/s ({three:.2f} s serving)")
        print(f"throughput ratio three / one: {one / three:.2f} (goal: close to 3)")

        run = folder / "killed"
        with replica(args.latency, args.capacity) as (a, _), \
                replica(args.latency, args.capacity) as (b, _), \
                replica(args.latency, args.capacity) as (c, doomed):  # fmt: skip
            proc = generate(split, run, [a, b, c], args.capacity)
            deadline = time.monotonic() + HANG
            while received(c) < requests // 6 and proc.poll() is None:
                assert time.monotonic() < deadline, "the third server got no share"
                time.sleep(0.01)  # polling another process's count; not a test
            doomed.send_signal(signal.SIGKILL)
            killed_at = received(a) + received(b)
            _, err = proc.communicate(timeout=HANG)
            answered = received(a) + received(b)
        ids = count_samples(run)
        twice = sum(1 for n in ids.values() if n > 1)
        failed = sum(count_samples_of(run / "failures.jsonl").values())
        manifest = json.loads((run / "manifest.json").read_text())
        dead = manifest["last_session"]["endpoints"][c]
        print(f"one of three killed (SIGKILL) after it received {requests // 6} requests "
              f"(the others {killed_at}): exit {proc.returncode}")  # fmt: skip
        print(f"samples: {len(ids)} of {requests} stored, {twice} stored twice, {failed} "
              f"failed (goal: {requests}, 0, 0); the survivors answered {answered}")  # fmt: skip
        print(f"the killed server: {dead['answered']} answered, {dead['failed']} failed, set "
              f"aside {dead['set_aside']} times")  # fmt: skip
        if proc.returncode != 0:
            print(err[-2000:], file=sys.stderr)
            raise SystemExit(1)


if __name__ == "__main__":
    main()
