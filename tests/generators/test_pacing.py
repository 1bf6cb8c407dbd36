"""Pacing a provider accepts, against the real client and the loopback server.

No second over the per-second share of ``--rpm``; a 429 whose headers say a budget is spent
pauses every request, one without delays only its own and lowers the concurrency; limits
learned from the headers. The run is on a virtual clock (:mod:`tests.helpers.virtual_time`):
a round trip takes no time and only the client's own waits move the clock, so the times the
server records are the departures the client scheduled, the same however busy the machine.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kpit
from kpit.generators.openai import chat
from kpit.generators.openai.chat import OpenAIGenerator

from ..helpers.openai_server import FakeOpenAI
from ..helpers.virtual_time import VirtualTime

KEY = "sk-kpit-pacing"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """The loopback server, its requests stamped with the client's virtual departure time."""
    with FakeOpenAI(latency=0.01) as fake:
        VirtualTime().install(monkeypatch, fake)
        yield fake


def run(sample_root: Path, server: FakeOpenAI, out: Path, *, concurrency: int = 4,
        generator: str | OpenAIGenerator = "openai", **options: Any) -> kpit.Run:  # fmt: skip
    settings = {"base_url": server.base_url, "api_key": KEY, "backoff": 0.05, "timeout": 60.0}
    if isinstance(generator, str):
        result = kpit.generate(kpit.load_coco(sample_root), "all", generator, "gpt-4o", out=out,
                               progress=False, concurrency=concurrency, reply_retries=0,
                               generator_options=settings | options)  # fmt: skip
    else:
        result = kpit.generate(kpit.load_coco(sample_root), "all", generator, out=out,
                               progress=False, concurrency=concurrency,
                               reply_retries=0)  # fmt: skip
    assert isinstance(result, kpit.Run)
    return result


def busiest_second(times: list[float]) -> int:
    return max(sum(1 for t in times if s <= t < s + 1) for s in times)


def identity(body: dict[str, Any]) -> str:
    return json.dumps(body["messages"][-1]["content"])


# --- no second over the share ---------------------------------------------------------------


def test_rpm_puts_no_more_than_its_share_in_any_second(sample_root: Path, server: FakeOpenAI,
                                                       tmp_path: Path) -> None:  # fmt: skip
    """--rpm 300 is 5 a second, from the first request: the server, which refuses a sixth
    within a second, refuses nothing."""
    server.behaviour.per_second = 5
    server.behaviour.limit_headers = False
    result = run(sample_root, server, tmp_path / "run", concurrency=8, rpm=300)
    assert len(list(result.samples())) == 12
    times = server.request_times
    assert server.counts["refused"] == 0 and busiest_second(times) <= 5
    assert times[3] - times[0] >= 0.6  # no start-up burst: 4 requests span 3 turns (0.6 s)


def test_turns_end_when_the_request_leaves_even_untraced(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An HTTP core that never reports departures: turns end when the request is handed
    over (the first one when it is answered), and the pace still holds."""
    monkeypatch.setattr(chat, "_DEPARTURES", ())
    server.behaviour.limit_headers = False
    backend = OpenAIGenerator("gpt-4o", base_url=server.base_url, api_key=KEY, rpm=600)
    result = run(sample_root, server, tmp_path / "run", concurrency=8, generator=backend)
    assert len(list(result.samples())) == 12 and backend.endpoints.all[0].traced is False
    assert busiest_second(server.request_times) <= 10


# --- 429s of two kinds ------------------------------------------------------------------------


def test_a_spent_budget_pauses_every_request(sample_root: Path, server: FakeOpenAI,
                                             tmp_path: Path) -> None:  # fmt: skip
    server.behaviour.script = deque(["ok", "429-spent"])
    server.behaviour.reset_after = 1.5
    result = run(sample_root, server, tmp_path / "run", concurrency=4)
    assert len(list(result.samples())) == 12
    refused_at = server.request_times[1]
    times = server.request_times
    # The others were waiting for their turns when the 429 came: none goes until the reset.
    assert min(server.replied_before[2:]) >= 2
    assert not [t for t in times if refused_at < t < refused_at + 1.5]
    retried = [t for t, body in zip(times, server.chat_requests, strict=True)
               if identity(body) == identity(server.chat_requests[1])]  # fmt: skip
    assert len(retried) == 2 and retried[1] - retried[0] >= 1.5
    session = result.manifest["last_session"]
    assert session["throttled"] == 1 and session["budget_pauses"] == 1
    assert session["concurrency_lowest"] == 4  # a spent budget is not an overload


def test_a_429_without_a_spent_budget_delays_only_its_own_request(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    """An overloaded server's 429 (Retry-After: 1, its budgets not spent): the others go on,
    the refused one comes back after a second, and the concurrency drops a step."""
    server.behaviour.script = deque(["ok", "429"])
    server.behaviour.retry_after = 1.0
    server.behaviour.latency = 0.05
    result = run(sample_root, server, tmp_path / "run", concurrency=4)
    assert len(list(result.samples())) == 12
    times, bodies = server.request_times, server.chat_requests
    refused_at = times[1]
    retried = [t for t, body in zip(times, bodies, strict=True)
               if identity(body) == identity(bodies[1])]  # fmt: skip
    assert len(retried) == 2 and retried[1] - retried[0] >= 1.0
    others = [t for t in times if refused_at < t < retried[1]]
    assert len(others) == 10  # nothing else waited for it: all but it were sent meanwhile
    assert others[-1] - refused_at < 0.5  # at their own pace, not held for its Retry-After
    session = result.manifest["last_session"]
    assert session["throttled"] == 1 and session["budget_pauses"] == 0
    assert session["concurrency_lowest"] == 3  # 4 * 3/4


# --- limits learned from the headers --------------------------------------------------------


def test_limits_announced_in_the_headers_are_learned_and_paced_to(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    """No --rpm; the server announces 300 a minute and refuses a sixth request within a
    second. The first request goes alone; the others follow at 5 a second, the spent budget
    the server's headers report pausing them before it refuses one."""
    server.behaviour.per_second = 5
    server.behaviour.latency = 0.05
    result = run(sample_root, server, tmp_path / "run", concurrency=8)
    assert len(list(result.samples())) == 12
    times = server.request_times
    assert server.replied_before[1] == 1  # the second waited for the first reply
    assert busiest_second(times) <= 5 and server.counts["refused"] == 0
    session = result.manifest["last_session"]
    assert session["learned_limits"] == {"requests_per_minute": 300}
    assert result.manifest["totals"]["learned_limits"] == {"requests_per_minute": 300}
    assert result.manifest["generator"]["learn_limits"] is True


def test_without_learning_the_same_server_refuses(sample_root: Path, server: FakeOpenAI,
                                                  tmp_path: Path) -> None:  # fmt: skip
    """The same run with learning off, as kpit did before: 8 requests at once, 3 refused."""
    server.behaviour.per_second = 5
    server.behaviour.latency = 0.05
    result = run(sample_root, server, tmp_path / "run", concurrency=8, learn_limits=False)
    assert len(list(result.samples())) == 12  # refusals are retried, nothing is lost
    assert server.counts["refused"] >= 3
    assert result.manifest["last_session"]["learned_limits"] is None
