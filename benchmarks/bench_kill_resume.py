"""Benchmark: the hostile pass of a budgeted run, killed with SIGKILL again and again.

A new user's paid run, against the loopback OpenAI server (a real HTTP server that bills
each reply it produces, as a provider does, whether or not the client is still there to
read it): ``kpit generate --generator openai --max-cost B`` on a split of many images,
killed with ``kill -9`` at random points (after a random number of requests reached the
server, so some are always in flight), then resumed until it stops by itself. Reports:

- what the server billed against the budget (goal: within one request's cost of it, never
  more), and what kpit's manifest says was spent;
- the samples stored, each once (goal: no sample twice, none missing from what was paid
  and answered).

    python benchmarks/bench_kill_resume.py [--quick] [--kills 10] [--images 100] [--seed 0]

With ``PYTHONPATH`` pointing at another checkout of kpit, the same pass runs against that
code (the server is always this checkout's), for a before/after comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "data" / "coco-sample"
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
from openai_server import FakeOpenAI  # noqa: E402

PRICE = (2.50, 10.00)
"""Dollars per million input and output tokens (GPT-4o's list price), given with --price."""

HANG = 600.0
"""Seconds after which a wait is a hang, not a slow machine."""


class BillingServer(FakeOpenAI):
    """The loopback server, keeping the bill: the usage of every reply it produced."""

    def __init__(self, latency: float) -> None:
        super().__init__(latency=latency)
        self.behaviour.o200k = True  # tokens counted as OpenAI counts GPT-4o's
        self.billed: list[tuple[int, int]] = []

    def completion(self, body: dict[str, Any], content: str, finish: str = "stop") -> dict:
        reply = super().completion(body, content, finish)
        usage = reply["usage"]
        with self.lock:
            self.billed.append((usage["prompt_tokens"], usage["completion_tokens"]))
        return reply

    def bill(self) -> float:
        """Dollars for every reply produced so far."""
        with self.lock:
            return sum(p * PRICE[0] + c * PRICE[1] for p, c in self.billed) / 1e6


def make_split(folder: Path, images: int) -> Path:
    """A COCO split of ``images`` images: the sample's four, again and again under new ids
    (their files linked), with their real annotations (each caption marked with its copy,
    so that no two requests, and no two answers, are the same)."""
    annotations = SAMPLE / "annotations"
    out = folder / "split"
    (out / "annotations").mkdir(parents=True)
    (out / "val2017").mkdir()
    for name in ("captions_val2017.json", "instances_val2017.json",
                 "person_keypoints_val2017.json"):  # fmt: skip
        data = json.loads((annotations / name).read_text())
        base_images, base_annotations = data["images"], data["annotations"]
        data["images"], data["annotations"] = [], []
        for n in range(images):
            image = dict(base_images[n % len(base_images)])
            old_id, new_id = image["id"], 1_000_000 + n
            image["id"], image["file_name"] = new_id, f"{new_id:012d}.jpg"
            data["images"].append(image)
            for k, ann in enumerate(a for a in base_annotations if a["image_id"] == old_id):
                ann = ann | {"image_id": new_id, "id": new_id * 100 + k}
                if "caption" in ann:  # each copy's context differs: no answer repeats
                    ann["caption"] = f"{ann['caption'].rstrip('.')} (copy {n})."
                data["annotations"].append(ann)
            link = out / "val2017" / image["file_name"]
            if not link.exists():
                link.symlink_to(SAMPLE / "val2017" / base_images[n % len(base_images)]["file_name"])
        (out / "annotations" / name).write_text(json.dumps(data))
    return out


def command(split: Path, run: Path, base_url: str, max_cost: float) -> list[str]:
    return [sys.executable, "-m", "kpit", "generate", str(split), "--generator", "openai",
            "--model", "gpt-4o", "--base-url", base_url, "--price",
            f"gpt-4o={PRICE[0]},{PRICE[1]}", "--max-cost", f"{max_cost:.6f}",
            "--concurrency", "8", "-o", str(run), "--no-progress"]  # fmt: skip


def session(args: list[str], server: BillingServer, kill_after: int | None) -> int | None:
    """Run one session; with ``kill_after``, SIGKILL it once that many more requests reached
    the server (or let it end by itself first). Its exit code, ``None`` when killed."""
    env = os.environ | {"OPENAI_API_KEY": "sk-hostile-pass"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_after is None:
        proc.communicate(timeout=HANG)
        return proc.returncode
    target = server.counts["chat"] + kill_after
    with server.received:
        while server.counts["chat"] < target and proc.poll() is None:
            server.received.wait(0.05)  # also checks, now and then, whether it ended
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=HANG)
    return None


def count_samples(run: Path) -> Counter[str]:
    """How often each sample id is stored in the run."""
    return count_samples_of(run / "samples.jsonl", "id")


def count_samples_of(path: Path, key: str = "key") -> Counter[str]:
    """How often each record's ``key`` occurs in a JSONL file (a torn last line skipped)."""
    ids: Counter[str] = Counter()
    if path.exists():
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError, KeyError):  # a torn last line
                ids[json.loads(line)[key]] += 1
    return ids


def calibrate(split: Path, folder: Path, server: BillingServer) -> float:
    """The server's bill for one request, on average (one image, three tasks)."""
    run = folder / "calibration"
    args = [*command(split, run, server.base_url, 1000.0), "--limit", "1"]
    code = session(args, server, None)
    assert code == 0, f"the calibration run failed ({code})"
    cost = server.bill() / len(server.billed)
    server.billed.clear()
    server.counts.clear()
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 kills, 30 images (CI)")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    kills, images = (3, 30) if args.quick else (args.kills, args.images)
    rng = random.Random(args.seed)
    import kpit

    print(f"kpit {kpit.__version__} from {Path(kpit.__file__).parent}")
    with tempfile.TemporaryDirectory() as tmp, BillingServer(latency=0.05) as server:
        folder = Path(tmp)
        split = make_split(folder, images)
        per_request = calibrate(split, folder, server)
        requests = images * 3
        budget = round(per_request * requests * 0.6, 6)  # the job costs more than the budget
        print(f"job: {images} images x 3 tasks = {requests} requests of about "
              f"${per_request:.5f}; budget ${budget:.4f} (60%)")  # fmt: skip
        run = folder / "run"
        args_ = command(split, run, server.base_url, budget)
        killed = 0
        for _ in range(kills):
            code = session(args_, server, kill_after=rng.randint(2, max(3, requests // 20)))
            if code is not None:
                print(f"a session ended by itself before its kill (exit {code})")
                break
            killed += 1
        code = session(args_, server, None)
        final = session(args_, server, None)  # once more: a spent budget sends nothing
        bill = server.bill()
        ids = count_samples(run)
        twice = sum(1 for n in ids.values() if n > 1)
        manifest = json.loads((run / "manifest.json").read_text())
        recorded = (manifest.get("totals") or {}).get("cost_usd") or 0.0
        over = bill - budget
        print(f"kills: {killed} (SIGKILL mid-run), then resumed: exit {code}, once more: "
              f"exit {final}")  # fmt: skip
        print(f"requests the server answered: {len(server.billed)} of {requests}")
        print(f"billed ${bill:.4f} against a budget of ${budget:.4f}: ratio billed / budget "
              f"{bill / budget:.3f}; over by {over / per_request:+.2f} requests' cost "
              f"(goal: at most +1.00)")  # fmt: skip
        sessions = len(manifest.get("sessions", []))
        print(f"kpit's manifest: ${recorded:.4f} spent in {sessions} sessions; ratio "
              f"recorded / billed {recorded / bill if bill else 0:.3f}")  # fmt: skip
        failed = count_samples_of(run / "failures.jsonl")
        print(f"samples: {len(ids)} stored, {twice} stored twice (goal: 0); "
              f"failures recorded: {sum(failed.values())}")  # fmt: skip


if __name__ == "__main__":
    main()
