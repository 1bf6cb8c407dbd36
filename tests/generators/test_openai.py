"""The ``openai`` backend against a real HTTP server on 127.0.0.1, with the real client."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kpit
from kpit.generators.base import FatalGeneratorError
from kpit.generators.openai.chat import OpenAIGenerator, redact
from kpit.types import ChatRequest, Message

from ..helpers.openai_server import FakeOpenAI, default_content
from ..helpers.slow_run import SCRIPT as SLOW_RUN
from ..helpers.virtual_time import VirtualTime
from ..helpers.waiting import HANG, count_lines, wait_for_lines

HERE = Path(__file__).resolve().parents[1]
KEY = "sk-kpit-SECRET-0123456789abcdef"


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(latency=0.005) as fake:
        yield fake


@pytest.fixture
def contexts(sample_root: Path) -> kpit.CocoContexts:
    return kpit.load_coco(sample_root)


PIPELINE_OPTIONS = ("limit", "retry_failed")


def run(contexts: Any, server: FakeOpenAI, out: Path, *, tasks: str = "all",
        concurrency: int = 4, reply_retries: int = 1, model: str = "gpt-4o",
        **options: Any) -> kpit.Run:  # fmt: skip
    """Generate with the openai backend; ``options`` go to the backend, but for a few."""
    # The timeout only catches a hang: a busy machine's slow answer is no fault to retry.
    settings = {"base_url": server.base_url, "api_key": KEY, "backoff": 0.02, "timeout": 60.0}
    pipeline = {k: options.pop(k) for k in PIPELINE_OPTIONS if k in options}
    result = kpit.generate(contexts, tasks, "openai", model, out=out, progress=False,
                           concurrency=concurrency, reply_retries=reply_retries,
                           generator_options=settings | options, **pipeline)  # fmt: skip
    assert isinstance(result, kpit.Run)
    return result


def test_a_clean_run(contexts, server: FakeOpenAI, tmp_path: Path) -> None:
    result = run(contexts, server, tmp_path / "run", temperature=0.2, seed=7,
                 extra_body={"top_k": 20})  # fmt: skip
    samples = list(result.samples())
    assert len(samples) == 12 and not list(result.failures())
    assert all(s.meta["usage"]["prompt_tokens"] > 1000 for s in samples)
    assert all(s.meta["model"] == "gpt-4o" for s in samples)
    body = server.chat_requests[0]
    assert body["model"] == "gpt-4o" and body["temperature"] == 0.2 and body["seed"] == 7
    assert body["top_k"] == 20
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert server.api_keys == {KEY}
    manifest = result.manifest
    assert manifest["generator"]["base_url"] == server.base_url
    assert manifest["generator"]["price_per_million"] == {"input": 2.5, "output": 10.0,
                                                          "cached_input": 1.25}  # fmt: skip
    session = manifest["last_session"]
    assert session["requests_sent"] == 12 and session["cost_usd"] > 0
    usages = [s.meta["usage"] for s in samples]
    expected = sum(2.5 * u["prompt_tokens"] + 10 * u["completion_tokens"] for u in usages) / 1e6
    assert session["cost_usd"] == pytest.approx(expected, abs=1e-6)


def test_every_fault_is_survived(contexts, server: FakeOpenAI, tmp_path: Path) -> None:
    server.behaviour.script = deque(["429", "500", "malformed", "drop", "slow", "truncated"])
    server.behaviour.slow_seconds = None  # the slow reply never comes: the client gives up
    result = run(contexts, server, tmp_path / "run", timeout=5.0)
    assert len(list(result.samples())) == 12, list(result.failures())
    for fault in ("429", "500", "malformed", "drop", "slow", "truncated"):
        assert server.counts[fault] == 1
    assert server.counts["chat"] == 12 + 6  # each fault cost one extra call
    assert result.manifest["last_session"]["throttled"] == 1


def test_retry_after_is_honoured(contexts, server: FakeOpenAI, tmp_path: Path) -> None:
    server.behaviour.script = deque(["429"])
    server.behaviour.retry_after = 0.6
    run(contexts, server, tmp_path / "run", tasks="detail", concurrency=1, limit=1)
    first, second = server.request_times[:2]
    assert second - first >= 0.6


def test_a_backoff_holds_no_slot(contexts, server: FakeOpenAI, tmp_path: Path) -> None:
    server.behaviour.script = deque(["500"])
    run(contexts, server, tmp_path / "run", tasks="detail", concurrency=1, backoff=0.3)
    sent = [json.dumps(r["messages"][-1]) for r in server.chat_requests]
    assert len(sent) == 5
    assert sent[1] != sent[0]  # while the first waited out its backoff, another went out
    assert sent[0] in sent[2:]


@pytest.mark.parametrize("status", ["401", "400"])
def test_hopeless_errors_stop_the_run_at_once(contexts, server: FakeOpenAI, tmp_path: Path,
                                              status: str) -> None:  # fmt: skip
    server.behaviour.script = deque(["ok", status])
    server.behaviour.error_echoes_key = True
    with pytest.raises(FatalGeneratorError, match=status) as info:
        run(contexts, server, tmp_path / "run", concurrency=1)
    assert KEY not in str(info.value)
    assert server.counts["chat"] == 2  # no burning through the dataset
    assert len(list(kpit.Run(tmp_path / "run").samples())) == 1


def test_giving_up_is_a_recorded_failure(contexts, server: FakeOpenAI, tmp_path: Path) -> None:
    server.behaviour.rates = {"500": 1.0}
    result = run(contexts, server, tmp_path / "run", tasks="detail", limit=2, max_retries=2)
    failures = result.open_failures()
    assert [f["reason"] for f in failures] == ["server_error", "server_error"]
    assert "gave up after 3 attempts" in failures[0]["detail"]
    assert server.counts["chat"] == 6
    server.behaviour.rates = {}
    result = run(contexts, server, tmp_path / "run", tasks="detail", limit=2, retry_failed=True)
    assert result.open_failures() == [] and len(list(result.samples())) == 2


def test_cut_off_and_rejected_replies_are_asked_again(contexts, server: FakeOpenAI,
                                                      tmp_path: Path) -> None:  # fmt: skip
    server.behaviour.script = deque(["truncated"])
    result = run(contexts, server, tmp_path / "a", tasks="detail", limit=1, concurrency=1)
    assert len(list(result.samples())) == 1 and server.counts["chat"] == 2
    server.behaviour.script = deque(["truncated"])
    result = run(contexts, server, tmp_path / "b", tasks="detail", limit=1, reply_retries=0)
    assert [f["reason"] for f in result.failures()] == ["length"]

    replies = iter(["I'm sorry, I cannot see images.", "nonsense"])

    def content(body: dict[str, Any]) -> str:
        return next(replies, None) or default_content(body)

    server.behaviour.content = content
    result = run(contexts, server, tmp_path / "c", tasks="conversation", limit=1, concurrency=1,
                 reply_retries=2)  # fmt: skip
    assert len(list(result.samples())) == 1  # refusal, then unparseable, then good


def test_requests_per_minute_are_paced(contexts, server: FakeOpenAI, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """On a virtual clock that only the client's waits move (a round trip takes no time):
    the server's times are the departures the client scheduled, whatever the machine."""
    clock = VirtualTime()
    clock.install(monkeypatch, server)
    start = clock()
    run(contexts, server, tmp_path / "run", concurrency=8, rpm=300)  # 5 a second
    elapsed = clock() - start
    times = server.request_times
    assert elapsed >= 11 / 5 * 0.95
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    assert gaps[len(gaps) // 2] == pytest.approx(0.2, abs=0.03)  # evenly spaced
    # never more than the limit in any second, never a burst
    assert max(sum(1 for t in times if s <= t < s + 1) for s in times) <= 5


def test_the_budget_stops_the_run_cleanly(contexts, server: FakeOpenAI, tmp_path: Path) -> None:
    # dollars per million: about $2 a request, at most about $6.5 (its bytes and max_tokens)
    prices = {"gpt-4o": [1000.0, 1000.0]}
    options: dict[str, Any] = {"concurrency": 1, "prices": prices, "max_tokens": 100}
    result = run(contexts, server, tmp_path / "run", max_cost=10.0, **options)
    session = result.manifest["last_session"]
    assert session["stopped"].startswith("the budget of $10.00 is spent ($")
    assert 0 < session["cost_usd"] <= 10.0  # never past it
    stored = len(list(result.samples()))
    assert stored == server.counts["chat"] < 12
    # The budget counts per run, not per session: the same budget again sends nothing.
    result = run(contexts, server, tmp_path / "run", max_cost=10.0, **options)
    assert server.counts["chat"] == stored and len(list(result.samples())) == stored
    assert "in earlier sessions of this run" in result.manifest["last_session"]["stopped"]
    result = run(contexts, server, tmp_path / "run", max_cost=1e9, **options)
    assert len(list(result.samples())) == 12  # resumed with a bigger budget
    totals, sessions = result.manifest["totals"], result.manifest["sessions"]
    assert len(sessions) == 3 and totals["requests_sent"] == 12  # every session's spend
    assert totals["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in sessions), abs=1e-5)


def test_a_budget_without_a_known_price_stops_before_sending(
    contexts, server: FakeOpenAI, tmp_path: Path
) -> None:
    with pytest.raises(kpit.ConfigError, match="needs the price of 'my-finetune'") as info:
        run(contexts, server, tmp_path / "run", model="my-finetune", max_cost=5.0)
    assert info.value.field == "max_cost" and server.counts["chat"] == 0
    result = run(contexts, server, tmp_path / "run", model="my-finetune", max_cost=5.0,
                 prices={"my-finetune": [1.0, 2.0]})  # fmt: skip
    assert len(list(result.samples())) == 12


def test_images_are_sent_as_data_urls(server: FakeOpenAI, sample_root: Path) -> None:
    image = sample_root / "val2017" / "000000000785.jpg"
    request = ChatRequest("q/785/0", (Message("user", "What is she doing?", (str(image),)),))
    backend = OpenAIGenerator("gpt-4o", base_url=server.base_url, api_key=KEY)

    async def ask() -> kpit.Reply:
        try:
            return await backend.complete(request)
        finally:
            await backend.aclose()

    reply = asyncio.run(ask())
    assert reply.ok
    parts = server.chat_requests[0]["messages"][0]["content"]
    assert parts[0]["type"] == "image_url"
    assert parts[0]["image_url"]["url"].startswith("data:image/jpeg;base64,/9j/")
    assert parts[1] == {"type": "text", "text": "What is she doing?"}


def test_no_key_is_a_clear_error(contexts, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(kpit.ConfigError, match="no API key: set OPENAI_API_KEY"):
        kpit.generate(contexts, "detail", "openai", out=tmp_path / "run", progress=False)


def test_the_key_never_leaks(contexts, server: FakeOpenAI, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    server.behaviour.script = deque(["429", "500", "ok", "401"])
    server.behaviour.error_echoes_key = True
    with pytest.raises(FatalGeneratorError) as info:
        run(contexts, server, tmp_path / "run", concurrency=1)
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert KEY not in caplog.text and "SECRET" not in caplog.text
    for path in (tmp_path / "run").rglob("*"):
        assert KEY not in path.read_text(), path
    assert redact(f"Incorrect API key provided: {KEY}.") == "Incorrect API key provided: ***."


def test_dry_run_estimates_the_cost(contexts, tmp_path: Path) -> None:
    plan = kpit.generate(contexts, "all", "openai", "gpt-4o-mini", out=tmp_path / "run",
                         dry_run=True, generator_options={"api_key": KEY})  # fmt: skip
    assert isinstance(plan, kpit.DryRun)
    assert plan.price == kpit.generators.openai.pricing.Price(0.15, 0.6, 0.075)
    expected = (plan.total_prompt_tokens * 0.15 + plan.total_completion_tokens * 0.6) / 1e6
    assert plan.cost() == pytest.approx(expected)
    assert plan.tokenizer.startswith("o200k_base")


def test_a_killed_openai_run_resumes(server: FakeOpenAI, tmp_path: Path) -> None:
    server.behaviour.hold_after = 20  # the replies after the 20th wait: the kill lands mid-run
    out = tmp_path / "run"
    command = [sys.executable, str(SLOW_RUN), str(out), "--base-url", server.base_url]
    env = os.environ | {"PYTHONPATH": str(HERE.parent), "OPENAI_API_KEY": KEY}
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    wait_for_lines(out / "samples.jsonl", 20, process=process)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=HANG)
    stored = count_lines(out / "samples.jsonl")
    assert 20 <= stored < 120
    sent_before = server.counts["chat"]
    server.release()
    done = subprocess.run(command, env=env, capture_output=True, timeout=HANG, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    keys = [json.loads(line)["id"] for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 120
    # a finished request is never paid for twice: only the unfinished ones were sent again
    assert server.counts["chat"] - sent_before == 120 - stored


# --- the Batch API ---------------------------------------------------------------------------


def batch_run(contexts: Any, server: FakeOpenAI, out: Path, **options: Any) -> kpit.Run:
    settings = {"base_url": server.base_url, "api_key": KEY, "poll_interval": 0.01,
                "backoff": 0.01}  # fmt: skip
    result = kpit.generate(contexts, "all", "openai-batch", "gpt-4o", out=out, progress=False,
                           generator_options=settings | options)  # fmt: skip
    assert isinstance(result, kpit.Run)
    return result


def test_batch_mode_end_to_end(contexts, server: FakeOpenAI, tmp_path: Path) -> None:
    result = batch_run(contexts, server, tmp_path / "run")
    samples = list(result.samples())
    assert len(samples) == 12 and not list(result.failures())
    assert server.counts["upload"] == server.counts["batch"] == 1
    assert server.counts["chat"] == 0  # nothing went through the chat endpoint
    lines = (tmp_path / "run" / "openai-batch" / "input-0000.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert first["custom_id"] in {s.id for s in samples}
    assert first["url"] == "/v1/chat/completions" and first["body"]["model"] == "gpt-4o"
    session = result.manifest["last_session"]
    assert session["cost_usd"] == pytest.approx(
        sum(
            1.25 * s.meta["usage"]["prompt_tokens"] + 5 * s.meta["usage"]["completion_tokens"]
            for s in samples
        )
        / 1e6,
        abs=1e-6,
    )  # half the list price
    state = json.loads((tmp_path / "run" / "openai-batch" / "state.json").read_text())
    assert [b["status"] for b in state["batches"]] == ["consumed"]
    assert KEY not in (tmp_path / "run" / "openai-batch" / "state.json").read_text()


def test_failed_and_expired_lines_are_resubmitted(contexts, server: FakeOpenAI,
                                                  tmp_path: Path) -> None:  # fmt: skip
    server.behaviour.batch_failed_lines = 3
    result = batch_run(contexts, server, tmp_path / "failed")
    assert len(list(result.samples())) == 12 and server.counts["batch"] == 2
    state = json.loads((tmp_path / "failed" / "openai-batch" / "state.json").read_text())
    assert [len(b["keys"]) for b in state["batches"]] == [12, 3]
    server.behaviour.batch_expire_once = True
    result = batch_run(contexts, server, tmp_path / "expired")
    assert len(list(result.samples())) == 12
    state = json.loads((tmp_path / "expired" / "openai-batch" / "state.json").read_text())
    assert [b["ended"] for b in state["batches"]] == ["expired", "completed"]


def test_submit_now_collect_later(contexts, server: FakeOpenAI, tmp_path: Path) -> None:
    """The process may end after submitting; a rerun collects without submitting again."""
    server.behaviour.batch_polls = 3
    first = batch_run(contexts, server, tmp_path / "run", wait=False)
    assert list(first.samples()) == [] and server.counts["batch"] == 1
    assert first.manifest["last_session"]["stopped"].startswith("batches submitted")
    second = batch_run(contexts, server, tmp_path / "run")
    assert len(list(second.samples())) == 12
    assert server.counts["batch"] == 1 and server.counts["upload"] == 1  # nothing paid twice


def test_a_died_upload_is_finished_on_resume(contexts, server: FakeOpenAI, tmp_path: Path) -> None:
    """State written, upload never made (the process died): the rerun uploads and submits."""
    plan_dir = tmp_path / "run" / "openai-batch"
    first = batch_run(contexts, server, tmp_path / "run", wait=False)
    state = json.loads((plan_dir / "state.json").read_text())
    entry = state["batches"][0]
    entry["status"] = "written"
    del entry["id"], entry["input_file_id"]
    (plan_dir / "state.json").write_text(json.dumps(state))
    del first
    result = batch_run(contexts, server, tmp_path / "run")
    assert len(list(result.samples())) == 12
    assert server.counts["upload"] == 2 and server.counts["batch"] == 2
