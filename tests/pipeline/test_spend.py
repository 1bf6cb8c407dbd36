"""A run's spending survives whatever ends a session: a ``kill -9`` with requests in flight, a
full disk when the manifest is written, an older kpit's manifest that lost its sessions; a
budget never goes past its sum, whatever the concurrency, and never counts unknown as free.

Against a real HTTP server on 127.0.0.1, through the command line; what the server served is
priced from what it received (its usage counts four characters a token).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import kpit
from kpit.cli import cli
from kpit.pipeline.store import SAMPLES
from kpit.types import Message

from ..helpers.openai_server import TOKEN_CHARS, FakeOpenAI, default_content
from ..helpers.waiting import count_lines, wait_for_exit, wait_for_lines

KEY = "sk-kpit-spend-0123456789abcdef"
ROOT = Path(kpit.__file__).resolve().parents[1]  # the kpit under test, for a child process
PRICE = 1000.0  # dollars per million tokens, input and output: about $2 a request


def prompt_tokens(body: dict[str, Any]) -> int:
    """The prompt tokens the server counts for a request."""
    return len("".join(json.dumps(m.get("content", "")) for m in body["messages"])) // TOKEN_CHARS


def served(server: FakeOpenAI) -> list[float]:
    """What each chat request the server received cost, at :data:`PRICE`: its prompt and the
    reply it wrote (every request that arrived is answered, whoever is left to read it)."""
    return [(prompt_tokens(body) + len(default_content(body)) // TOKEN_CHARS) * PRICE / 1e6
            for body in server.chat_requests]  # fmt: skip


def command(sample_root: Path, server: FakeOpenAI, out: Path, *options: str) -> list[str]:
    return ["generate", str(sample_root), "--generator", "openai", "--model", "gpt-4o",
            "--base-url", server.base_url, "-O", "backoff=0.01", "-O", "max_tokens=100",
            "--price", f"gpt-4o={PRICE:g},{PRICE:g}", "--reply-retries", "0",
            "--no-progress", "-o", str(out), *options]  # fmt: skip


def start(args: list[str]) -> subprocess.Popen[bytes]:
    env = os.environ | {"PYTHONPATH": str(ROOT), "OPENAI_API_KEY": KEY}
    return subprocess.Popen([sys.executable, "-m", "kpit", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def finish(args: list[str]) -> tuple[int, str]:
    process = start(args)
    stderr = wait_for_exit(process)
    return process.returncode, stderr.decode(errors="replace")


def sample_ids(out: Path) -> list[str]:
    return [json.loads(line)["id"] for line in (out / SAMPLES).read_text().splitlines()]


def test_a_kill_in_the_second_session_loses_no_spending(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    """Session 1 ends well; session 2 is killed (-9) with four requests in flight, paid but
    never answered to the client; session 3's budget counts both, so it does not overspend;
    session 4 finishes the run with every sample once."""
    out = tmp_path / "run"
    code, err = finish(command(sample_root, server, out, "--limit", "1"))
    assert code == 0, err
    first = server.counts["chat"]
    assert first == 3
    # Session 2: two more answered, then four held in flight (concurrency 4) and a kill.
    server.behaviour.hold_after = first + 2
    process = start(command(sample_root, server, out, "--concurrency", "4", "--max-cost", "1e3"))
    server.wait_for_requests(first + 6)
    wait_for_lines(out / SAMPLES, first + 2, process=process)
    process.send_signal(signal.SIGKILL)
    wait_for_exit(process)
    server.release()
    assert server.counts["chat"] == first + 6
    # Session 3, with a budget below what the run has served: nothing more is sent.
    budget = 20.0
    assert sum(served(server)) < budget
    code, err = finish(command(sample_root, server, out, "--max-cost", f"{budget:g}"))
    assert sum(served(server)) <= budget + max(served(server))  # never past it by a request
    assert code == 4, err
    assert "in earlier sessions of this run" in err
    manifest = json.loads((out / "manifest.json").read_text())
    sessions = manifest["sessions"]
    assert [s["status"] for s in sessions] == ["done", "recovered", "stopped"]
    killed = sessions[1]
    assert killed["recovered_from"] == "spend ledger" and killed["requests_sent"] == 6
    assert killed["samples"] == 2 and killed["reserve_charged"] == 4  # in flight: at most
    assert killed["cost_usd"] > sum(served(server)[first : first + 6])  # never less than paid
    totals = manifest["totals"]
    assert totals["requests_sent"] == server.counts["chat"]
    assert sum(served(server)) <= totals["cost_usd"] <= budget  # the killed one: at most
    assert not (out / "spend.jsonl").exists()
    # Session 4 finishes: every sample once, every session's spending kept.
    code, err = finish(command(sample_root, server, out, "--max-cost", "1e6"))
    assert code == 0, err
    ids = sample_ids(out)
    assert len(ids) == len(set(ids)) == 12
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["sessions"]) == 4
    assert manifest["totals"]["requests_sent"] == server.counts["chat"] == 12 + 4
    assert manifest["totals"]["cost_usd"] >= sum(served(server))


def test_a_full_disk_at_the_end_of_a_session_loses_no_spending(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    runner = CliRunner(env={"OPENAI_API_KEY": KEY})
    result = runner.invoke(cli, command(sample_root, server, out, "--limit", "1"))
    assert result.exit_code == 0, result.output
    first = json.loads((out / "manifest.json").read_text())["totals"]
    # Session 2 pays for the other nine, and the disk is full when it writes its record.
    from kpit.pipeline import store

    writes: list[Path] = []
    real = store.write_json

    def full_at_the_end(path: Any, value: Any, **dumps: Any) -> None:
        writes.append(path)
        if len(writes) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path, value, **dumps)

    monkeypatch.setattr(store, "write_json", full_at_the_end)
    result = runner.invoke(cli, command(sample_root, server, out))
    assert result.exit_code == 1 and "cannot write the manifest" in result.output
    assert result.output.count("\n") == 1  # one line, no traceback
    monkeypatch.undo()
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["totals"] == first  # the earlier session's spending is still there
    assert [s["status"] for s in on_disk["sessions"]] == ["done", "running"]
    # Session 3 knows what both spent: a budget of what session 1 alone spent sends nothing.
    assert server.counts["chat"] == 12
    result = runner.invoke(cli, command(sample_root, server, out, "--max-cost",
                                        f"{first['cost_usd'] * 2:g}"))  # fmt: skip
    assert result.exit_code == 4 and "in earlier sessions of this run" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["status"] for s in manifest["sessions"]] == ["done", "recovered", "stopped"]
    assert manifest["sessions"][1]["samples"] == 9
    assert manifest["totals"]["cost_usd"] == pytest.approx(sum(served(server)), abs=1e-4)
    assert manifest["totals"]["requests_sent"] == 12


def test_concurrency_cannot_take_a_run_past_its_budget(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    """Eight requests in flight at once: each is sent only if the most it can cost fits
    beside what is spent and what the others in flight may cost."""
    server.behaviour.latency = 0.05  # the requests in flight overlap
    budget = 15.0
    runner = CliRunner(env={"OPENAI_API_KEY": KEY})
    args = command(sample_root, server, tmp_path / "run", "--concurrency", "8", "--max-cost",
                   f"{budget:g}")  # fmt: skip
    result = runner.invoke(cli, args)
    assert result.exit_code == 4 and "the budget of $15.00 is spent" in result.output
    assert 0 < sum(served(server)) <= budget
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["totals"]["cost_usd"] == pytest.approx(sum(served(server)), abs=1e-4)


def test_retries_are_paid_and_an_unknown_cost_is_never_free(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    """A reply cut off and asked for again (both paid), a 200 whose body is unreadable (its
    cost unknown: charged at the most the replies so far cost), a 500 (refused: not billed); and a
    server that cannot be reached, paid nothing."""
    server.behaviour.script = deque(["truncated", "malformed", "500"])
    runner = CliRunner(env={"OPENAI_API_KEY": KEY})
    args = command(sample_root, server, tmp_path / "run", "--concurrency", "1", "--limit", "1")
    args[args.index("--reply-retries") + 1] = "1"
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    session = json.loads((tmp_path / "run" / "manifest.json").read_text())["last_session"]
    assert session["requests_sent"] == server.counts["chat"] == 6  # 3, 1 again, 2 retried
    bodies = server.chat_requests
    cut = default_content(bodies[0])
    first = (prompt_tokens(bodies[0]) + len(cut[: len(cut) // 3]) // TOKEN_CHARS) * PRICE / 1e6
    answered = first + sum(served(server)[3:])
    assert session["reserve_charged"] == 1
    from kpit.generators.openai.pricing import most_tokens

    unreadable = [Message(m["role"], m["content"]) for m in bodies[1]["messages"]]
    most = sum(most_tokens(unreadable, 100)) * PRICE / 1e6
    # charged what the replies so far cost at most (after the first reply), within the reserve
    assert 0 < session["cost_estimated_usd"] <= most
    assert session["cost_usd"] == pytest.approx(answered + session["cost_estimated_usd"],
                                                abs=1e-6)  # fmt: skip
    # A server that cannot be reached is paid nothing.
    url = server.base_url
    server.stop()
    gone = ["generate", str(sample_root), "--generator", "openai", "--model", "gpt-4o",
            "--base-url", url, "-O", "backoff=0.01", "-O", "max_retries=1", "--price",
            "gpt-4o=1000,1000", "--max-cost", "100", "--no-progress",
            "-o", str(tmp_path / "gone"), "--limit", "1"]  # fmt: skip
    result = runner.invoke(cli, gone)
    assert result.exit_code == 3, result.output
    session = json.loads((tmp_path / "gone" / "manifest.json").read_text())["last_session"]
    assert session["requests_sent"] == 6 and session["cost_usd"] == 0
    assert session["reserve_charged"] == 0


def unpriced_run(sample_root: Path, server: FakeOpenAI, out: Path) -> tuple[CliRunner, list[str]]:
    """A first session with a model kpit has no price for: its tokens are counted, unpriced."""
    runner = CliRunner(env={"OPENAI_API_KEY": KEY})
    args = command(sample_root, server, out)
    args[args.index("gpt-4o")] = "my-finetune"
    args[args.index("--price") + 1] = f"my-finetune={PRICE:g},{PRICE:g}"
    at = args.index("--price")
    first = args[:at] + args[at + 2 :]
    result = runner.invoke(cli, [*first, "--limit", "1"])
    assert result.exit_code == 0, result.output
    return runner, args


def test_tokens_used_without_a_price_are_charged_once_one_is_given(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    runner, priced = unpriced_run(sample_root, server, out)
    totals = json.loads((out / "manifest.json").read_text())["totals"]
    assert totals["unpriced_prompt_tokens"] == totals["prompt_tokens"] > 0
    earlier = sum(served(server))
    assert earlier > 3.0
    result = runner.invoke(cli, [*priced, "--max-cost", "3"])
    assert result.exit_code == 4 and "in earlier sessions of this run" in result.output
    assert server.counts["chat"] == 3  # nothing more sent
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["last_session"]["earlier_priced_usd"] == pytest.approx(earlier, abs=1e-4)
    assert manifest["totals"]["cost_usd"] == pytest.approx(earlier, abs=1e-4)
    assert manifest["totals"]["unpriced_prompt_tokens"] == 0  # priced now, and kept so


def test_an_older_manifest_whose_tokens_have_no_cost_is_priced(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    """Totals and sessions written before kpit kept the unpriced tokens apart."""
    out = tmp_path / "run"
    runner, priced = unpriced_run(sample_root, server, out)
    manifest = json.loads((out / "manifest.json").read_text())
    for record in (manifest["totals"], manifest["last_session"], *manifest["sessions"]):
        for key in [k for k in record if k.startswith("unpriced_") or k == "cost_usd"]:
            del record[key]
    (out / "manifest.json").write_text(json.dumps(manifest))
    result = runner.invoke(cli, [*priced, "--max-cost", "3"])
    assert result.exit_code == 4 and server.counts["chat"] == 3


def test_a_manifest_behind_its_samples_is_charged_by_their_usage(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    """An older kpit killed in its second session left a manifest without sessions or totals
    beside samples that were paid for: their stored usage is charged before anything is sent."""
    out = tmp_path / "run"
    runner = CliRunner(env={"OPENAI_API_KEY": KEY})
    result = runner.invoke(cli, command(sample_root, server, out, "--limit", "1"))
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("sessions", "totals", "last_session"):
        del manifest[key]
    (out / "manifest.json").write_text(json.dumps(manifest))
    result = runner.invoke(cli, command(sample_root, server, out, "--max-cost", "3"))
    assert result.exit_code == 4 and server.counts["chat"] == 3
    manifest = json.loads((out / "manifest.json").read_text())
    rebuilt = manifest["sessions"][0]
    assert rebuilt["recovered_from"] == "stored records" and rebuilt["samples"] == 3
    assert manifest["totals"]["cost_usd"] == pytest.approx(sum(served(server)), abs=1e-4)
    assert count_lines(out / SAMPLES) == 3


def test_a_ledger_the_manifest_does_not_know_is_counted(sample_root: Path,
                                                         tmp_path: Path) -> None:  # fmt: skip
    """A ledger left by a session whose record never reached the manifest is charged, the
    requests it sent and never settled at the most its replies cost; a run whose backend pays
    nothing (the template backend) leaves no ledger."""
    contexts = kpit.load_coco(sample_root, limit=1)
    run = kpit.generate(contexts, "detail", out=tmp_path / "run", progress=False)
    assert isinstance(run, kpit.Run) and not (tmp_path / "run" / "spend.jsonl").exists()
    assert [s["status"] for s in run.manifest["sessions"]] == ["done"]
    lines = [{"session": "lost", "started": "then", "price": {"input": 1.0, "output": 2.0}},
             {"send": 1, "key": "a", "prompt_tokens": 10, "completion_tokens": 5, "usd": 2.5},
             {"paid": 1, "prompt_tokens": 4, "completion_tokens": 2, "cached_tokens": 0,
              "usd": 1.25},
             {"send": 2, "key": "b", "prompt_tokens": 10, "completion_tokens": 5,
              "usd": 2.5}]  # fmt: skip
    text = "".join(json.dumps(line) + "\n" for line in lines) + '{"paid": 2, "usd'  # torn
    (tmp_path / "run" / "spend.jsonl").write_text(text)
    run = kpit.generate(contexts, "detail", out=tmp_path / "run", progress=False)
    assert isinstance(run, kpit.Run)
    lost = run.manifest["sessions"][1]
    assert lost["id"] == "lost" and lost["recovered_from"] == "spend ledger"
    # The request never settled costs what the settled one did: its prompt at their ratio
    # of billed to counted tokens (4 of 10), the longest completion (2), at the ledger's price.
    likely = kpit.Price(1.0, 2.0).cost(4, 2)
    assert lost["cost_usd"] == pytest.approx(1.25 + likely)
    assert lost["cost_estimated_usd"] == pytest.approx(likely)
    assert lost["requests_sent"] == 2 and lost["reserve_charged"] == 1
    assert lost["prompt_tokens"] == 4
    assert lost["cost_bound"] == {"prompt_ratio": 0.4, "completion_tokens": 2, "replies": 1}
    assert run.manifest["totals"]["cost_usd"] == pytest.approx(1.25 + likely)
    assert not (tmp_path / "run" / "spend.jsonl").exists()


def test_a_spend_ledger_that_cannot_be_written_stops_the_run_before_it_pays(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kpit.pipeline.store import SpendLedger

    def full(self: SpendLedger, record: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(SpendLedger, "_put", full)
    result = CliRunner(env={"OPENAI_API_KEY": KEY}).invoke(
        cli, command(sample_root, server, tmp_path / "run", "--max-cost", "100")
    )
    assert result.exit_code == 1 and "cannot record the spending" in result.output
    assert "spend.jsonl" in result.output and "Traceback" not in result.output
    assert server.counts["chat"] == 0
