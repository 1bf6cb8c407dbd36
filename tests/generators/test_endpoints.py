"""Several servers of one model behind the ``openai`` backend: which one each request goes
to, what happens when one dies, and what the run records of them.

The routing is tested on :class:`Endpoints` itself; the rest runs ``kpit`` in a process of
its own against real HTTP servers on 127.0.0.1, which hold their replies until the test has
seen what it waits for (no test depends on the machine's speed)."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from kpit import generate as kpit_generate
from kpit import load_coco
from kpit.cli.options import backend_options
from kpit.errors import ConfigError
from kpit.generators.openai._books import never_connected
from kpit.generators.openai._client import response_class
from kpit.generators.openai.batch import OpenAIBatchGenerator
from kpit.generators.openai.chat import OpenAIGenerator
from kpit.generators.openai.credentials import split_url
from kpit.generators.openai.endpoints import STRIKES, Endpoints
from kpit.generators.openai.ratelimit import AdaptiveConcurrency, RateLimiter

from ..conftest import SAMPLE
from ..helpers.openai_server import FakeOpenAI
from ..helpers.waiting import HANG

KEY = "sk-kpit-SECRET-0123456789abcdef"


def pool(count: int, *, slots: int = 2, clock: Any = None, cooldown: float = 1.0) -> Endpoints:
    """``count`` endpoints at made-up URLs (nothing is sent), ``slots`` calls each."""
    servers = [split_url(f"http://127.0.0.1:{9000 + i}/v1") for i in range(count)]
    extra = {"clock": clock} if clock is not None else {}
    endpoints = Endpoints(servers, make_limiter=RateLimiter, make_slots=AdaptiveConcurrency,
                          cooldown=cooldown, **extra)  # fmt: skip
    endpoints.set_concurrency(slots)
    return endpoints


# --- routing ----------------------------------------------------------------------------


def test_each_attempt_goes_to_the_endpoint_with_the_fewest_in_flight() -> None:
    async def main() -> list[int]:
        endpoints = pool(3)
        order = [(await endpoints.take())[0] for _ in range(3)]  # one each, in turn
        assert [e.index for e in order] == [0, 1, 2]
        endpoints.give_back(order[1])  # endpoint 1 now has none in flight
        second = (await endpoints.take())[0]
        taken = [e.index for e in (second, *[(await endpoints.take())[0] for _ in range(2)])]
        return taken

    first, *rest = asyncio.run(main())
    assert first == 1  # the only one with nothing in flight
    assert sorted(rest) == [0, 2]  # then the others, each at one, before anyone's second


def test_a_full_endpoint_is_skipped_and_a_request_waits_only_when_all_are_full() -> None:
    async def main() -> None:
        endpoints = pool(2, slots=1)
        a, _ = await endpoints.take()
        b, _ = await endpoints.take()
        assert {a.index, b.index} == {0, 1}
        waiting = asyncio.ensure_future(endpoints.take())
        await asyncio.sleep(0)
        assert not waiting.done()  # both full: it waits
        endpoints.give_back(b)
        got, _ = await asyncio.wait_for(waiting, HANG)
        assert got is b  # the slot given back, on the endpoint that had it

    asyncio.run(main())


def test_an_endpoint_that_keeps_failing_is_set_aside_then_tried_again_alone() -> None:
    now = [0.0]

    async def main() -> None:
        endpoints = pool(2, clock=lambda: now[0], cooldown=5.0)
        dead = endpoints.all[1]
        for strike in range(STRIKES):
            assert dead.aside_until is None, f"set aside after {strike} failures"
            assert endpoints.failed(dead, "connection" if strike % 2 else "server_error")
        assert dead.aside_until == 5.0 and dead.set_aside == 1
        assert not endpoints.failed(dead, "timeout")  # a timeout is no sign of a dead server
        for _ in range(4):  # while it is aside, everything goes to the other
            assert (await endpoints.take())[0].index == 0
            endpoints.give_back(endpoints.all[0])
        endpoints.failed(dead, "connection")  # an attempt sent before: no longer aside
        assert dead.aside_until == 5.0
        now[0] = 5.0  # the cool-down is over: one request at a time may go to it
        first, _ = await endpoints.take()
        second, _ = await endpoints.take()
        assert first is dead and second.index == 0
        third, _ = await endpoints.take()
        assert third.index == 0  # not a second one to the endpoint on trial
        endpoints.failed(dead, "connection")  # failed its trial: aside twice as long
        assert dead.aside_until == 15.0 and dead.set_aside == 2
        endpoints.give_back(dead)
        now[0] = 15.0
        trial, taken = await endpoints.take(avoid={0})
        assert trial is dead
        endpoints.answered(dead, taken)  # it is back
        assert dead.aside_until is None and dead.strikes == 0
        endpoints.give_back(dead)
        assert dead.report()["answered"] == 1 and dead.report()["failed"] == STRIKES + 2

    asyncio.run(main())


def test_when_every_endpoint_is_aside_requests_wait_for_the_first_to_come_back() -> None:
    async def main() -> int:
        endpoints = pool(2, cooldown=0.05)  # the real clock: a short cool-down
        for endpoint in endpoints.all:
            for _ in range(STRIKES):
                endpoints.failed(endpoint, "connection")
        assert all(e.aside_until is not None for e in endpoints.all)
        endpoint, _ = await asyncio.wait_for(endpoints.take(), HANG)  # not a failure
        return endpoint.index

    assert asyncio.run(main()) in (0, 1)


def test_one_endpoint_is_never_set_aside() -> None:
    endpoints = pool(1)
    for _ in range(STRIKES * 3):
        endpoints.failed(endpoints.all[0], "connection")
    assert endpoints.all[0].aside_until is None  # nowhere else to go: retries do the waiting


# --- options ----------------------------------------------------------------------------


def test_base_urls_named_twice_or_with_azure_are_refused() -> None:
    with pytest.raises(ConfigError, match="named twice") as info:
        OpenAIGenerator(api_key=KEY, base_url=["http://a:1/v1", "http://b:2/v1", "http://a:1/v1"])
    assert info.value.field == "base_url"
    with pytest.raises(ConfigError, match="one endpoint"):
        OpenAIGenerator(api_key=KEY, base_url=["http://a:1/v1", "http://b:2/v1"],
                        azure_endpoint="https://x.openai.azure.com")  # fmt: skip


def test_settings_show_every_endpoint_without_credentials() -> None:
    backend = OpenAIGenerator(
        api_key=KEY,
        base_url=("http://user:hunter2@127.0.0.1:1/v1", "http://127.0.0.1:2/v1?api-key=s3cret"),
    )
    shown = json.dumps(backend.settings())
    assert "hunter2" not in shown and "s3cret" not in shown
    assert backend.settings()["base_url"] == ["http://***@127.0.0.1:1/v1",
                                              "http://127.0.0.1:2/v1?api-key=***"]  # fmt: skip
    assert "base_url" not in json.dumps(backend.identity())  # the run's identity: no server


# --- whole runs -------------------------------------------------------------------------


@pytest.fixture
def servers() -> Iterator[list[FakeOpenAI]]:
    with ExitStack() as stack:
        yield [stack.enter_context(FakeOpenAI(latency=0.001)) for _ in range(3)]


def kpit(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = os.environ | {"OPENAI_API_KEY": KEY}
    return subprocess.Popen([sys.executable, "-m", "kpit", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def generate(urls: list[str], run: Path, *extra: str) -> subprocess.Popen[str]:
    flags = [flag for url in urls for flag in ("--base-url", url)]
    return kpit("generate", str(SAMPLE), "--generator", "openai", "--model", "gpt-4o",
                *flags, "-O", "learn_limits=false", "-O", "backoff=0.02", "--no-progress",
                "-o", str(run), *extra, cwd=run.parent)  # fmt: skip


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=HANG)
    return proc.returncode, out, err


def samples(run: Path) -> Counter[str]:
    lines = (run / "samples.jsonl").read_text().splitlines()
    return Counter(json.loads(line)["id"] for line in lines)


@pytest.mark.slow
def test_a_run_spreads_over_every_endpoint_and_counts_what_each_answered(
    servers: list[FakeOpenAI], tmp_path: Path
) -> None:
    for server in servers:
        server.behaviour.hold_after = 0  # hold every reply until each has some in flight
    urls = [s.base_url for s in servers]
    urls[0] = urls[0].replace("http://", "http://user:hunter2@")
    proc = generate(urls, tmp_path / "run", "--concurrency", "2")
    for server in servers:
        server.wait_for_requests(2)  # 2 in flight at each: 6 at once, 2 a server at most
    assert max(s.max_in_flight for s in servers) == 2
    for server in servers:
        server.release()
    code, _, err = finish(proc)
    assert code == 0, err
    assert set(samples(tmp_path / "run").values()) == {1} and len(samples(tmp_path / "run")) == 12
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    counts = manifest["last_session"]["endpoints"]
    assert "hunter2" not in json.dumps(manifest)
    shown = [url.replace("user:hunter2@", "***@") for url in urls]
    assert sorted(counts) == sorted(shown)
    assert [counts[url]["answered"] for url in shown] == [len(s.chat_requests) for s in servers]
    assert sum(c["answered"] for c in counts.values()) == 12
    assert manifest["totals"]["endpoints"] == {
        url: {"answered": c["answered"], "failed": 0, "set_aside": 0, "concurrency_lowest": 2}
        for url, c in counts.items()
    }


@pytest.mark.slow
def test_a_server_killed_mid_run_loses_nothing_and_sends_nothing_twice(
    servers: list[FakeOpenAI], tmp_path: Path
) -> None:
    doomed = servers[2]
    doomed.behaviour.hold_after = 0  # its requests stay in flight until it dies
    for server in servers[:2]:
        server.behaviour.hold_after = 0
    run = tmp_path / "run"
    proc = generate([s.base_url for s in servers], run, "--concurrency", "4",
                    "-O", "backoff=30")  # fmt: skip  # set aside for the rest of the run
    doomed.wait_for_requests(STRIKES)
    doomed.kill()  # its requests in flight are dropped, unanswered
    for server in servers[:2]:
        server.release()
    code, _, err = finish(proc)
    assert code == 0, err
    stored = samples(run)
    assert len(stored) == 12 and set(stored.values()) == {1}  # every sample, once
    assert not (run / "failures.jsonl").exists() or not (run / "failures.jsonl").read_text()
    figures = json.loads((run / "manifest.json").read_text())["last_session"]["endpoints"]
    dead = figures[doomed.base_url]
    assert dead["answered"] == 0 and dead["failed"] >= STRIKES and dead["set_aside"] >= 1
    alive = [figures[s.base_url]["answered"] for s in servers[:2]]
    assert sum(alive) == 12 == sum(len(s.chat_requests) for s in servers[:2])


@pytest.mark.slow
def test_a_run_resumes_on_other_endpoints_as_the_same_run(
    servers: list[FakeOpenAI], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    code, _, err = finish(generate([servers[0].base_url], run, "--limit", "2"))
    assert code == 0, err
    code, _, err = finish(generate([s.base_url for s in servers[1:]], run))
    assert code == 0, err  # another set of servers is not another run
    assert len(samples(run)) == 12 and set(samples(run).values()) == {1}
    manifest = json.loads((run / "manifest.json").read_text())
    totals = manifest["totals"]["endpoints"]
    assert totals[servers[0].base_url]["answered"] == 6  # 2 images x 3 tasks
    assert sum(totals[s.base_url]["answered"] for s in servers[1:]) == 6


def _review(messages: Any) -> str:
    return "8 6\nAssistant 1 is more precise about the pose."


@pytest.mark.slow
def test_bench_answer_and_judge_spread_over_several_endpoints(
    servers: list[FakeOpenAI], tmp_path: Path
) -> None:
    code, _, err = finish(kpit("bench", "build", str(SAMPLE), "--num-images", "4", "-o",
                               str(tmp_path / "bench"), cwd=tmp_path))  # fmt: skip
    assert code == 0, err
    two = servers[:2]
    flags = [flag for s in two for flag in ("--base-url", s.base_url)]
    for server in two:
        server.behaviour.hold_after = 0
    answers = tmp_path / "answers.jsonl"
    proc = kpit("bench", "answer", str(tmp_path / "bench"), "--images",
                str(SAMPLE / "val2017"), "--model", "m", *flags, "-O", "learn_limits=false",
                "-o", str(answers), cwd=tmp_path)  # fmt: skip
    for server in two:
        server.wait_for_requests(1)  # each has one in flight before any is answered
        server.release()
    code, _, err = finish(proc)
    assert code == 0, err
    assert len(answers.read_text().splitlines()) == 12
    for server in two:
        server.behaviour.content = _review
        server.behaviour.hold_after = len(server.chat_requests)
    proc = kpit("bench", "judge", str(tmp_path / "bench"), "--answers", str(answers), *flags,
                "-O", "learn_limits=false", "-o", str(tmp_path / "reviews.jsonl"),
                cwd=tmp_path)  # fmt: skip
    for server in two:
        server.wait_for_requests(server.behaviour.hold_after + 1)
        server.release()
    code, out, err = finish(proc)
    assert code == 0, err
    assert "12 reviews, 0 without scores" in out


@pytest.mark.slow
def test_the_docs_command_runs_as_written(servers: list[FakeOpenAI], tmp_path: Path) -> None:
    """docs/openai.md's "Several servers of one model" block, with the GPU hosts on
    loopback and ``coco/`` the bundled sample."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "openai.md").read_text()
    block = page.split("### Several servers of one model", 1)[1].split("```bash\n", 1)[1]
    command = block.split("```", 1)[0].replace("\\\n", " ")
    for n, server in enumerate(servers, 1):
        assert f"http://gpu-{n}:8000/v1" in command
        command = command.replace(f"http://gpu-{n}:8000/v1", server.base_url)
    args = shlex.split(command.replace("coco/", f"{SAMPLE}/"))
    assert args[0] == "kpit"
    code, _, err = finish(kpit(*args[1:], "--no-progress", cwd=tmp_path))
    assert code == 0, err
    run = tmp_path / "runs" / "qwen"
    assert len(samples(run)) == 12
    figures = json.loads((run / "manifest.json").read_text())["totals"]["endpoints"]
    assert sorted(figures) == sorted(s.base_url for s in servers)
    assert sum(f["answered"] for f in figures.values()) == 12


def test_several_base_urls_from_the_command_line_s_options() -> None:
    options = backend_options(('base_url=["http://a:1/v1", "http://b:2/v1"]',))
    assert OpenAIGenerator(api_key=KEY, **options).base_urls == ["http://a:1/v1", "http://b:2/v1"]
    flags = backend_options((), ("http://a:1/v1", "http://b:2/v1"))  # --base-url twice
    assert OpenAIGenerator(api_key=KEY, **flags).base_urls == ["http://a:1/v1", "http://b:2/v1"]
    assert backend_options((), ("http://a:1/v1",)) == {"base_url": "http://a:1/v1"}
    assert backend_options((), ()) == {}
    with pytest.raises(ConfigError, match="one server") as info:
        OpenAIBatchGenerator(api_key=KEY, **flags)
    assert info.value.field == "base_url"


def test_each_endpoint_learns_its_own_limits_and_keeps_its_own_concurrency(
    servers: list[FakeOpenAI], tmp_path: Path
) -> None:
    announcing, quiet, overloaded = servers
    quiet.behaviour.limit_headers = False  # vLLM announces no limits
    overloaded.behaviour.script.extend(["429"])  # one overload: its own concurrency drops
    overloaded.behaviour.retry_after = 0.01
    result = kpit_generate(load_coco(SAMPLE), "all", "openai", "gpt-4o", out=tmp_path / "run",
                           progress=False, concurrency=4,
                           generator_options={"base_url": [s.base_url for s in servers],
                                              "api_key": KEY, "backoff": 0.02})  # fmt: skip
    assert len(list(result.samples())) == 12
    figures = result.manifest["last_session"]["endpoints"]
    learned = figures[announcing.base_url]["learned_limits"]
    assert learned == {"requests_per_minute": 30_000, "tokens_per_minute": 150_000_000}
    assert figures[quiet.base_url]["learned_limits"] is None
    assert figures[overloaded.base_url]["concurrency_lowest"] == 3  # 4 x 3/4
    assert figures[announcing.base_url]["concurrency_lowest"] == 4
    assert figures[quiet.base_url]["concurrency_lowest"] == 4


@pytest.mark.slow
def test_a_server_that_answers_500_is_set_aside_and_the_others_do_the_work(
    servers: list[FakeOpenAI], tmp_path: Path
) -> None:
    broken = servers[1]
    broken.behaviour.rates = {"500": 1.0}  # every request: 500
    run = tmp_path / "run"
    code, _, err = finish(generate([s.base_url for s in servers], run, "--concurrency", "2",
                                   "-O", "backoff=30"))  # fmt: skip  # aside for the run
    assert code == 0, err
    stored = samples(run)
    assert len(stored) == 12 and set(stored.values()) == {1}
    figures = json.loads((run / "manifest.json").read_text())["last_session"]["endpoints"]
    assert figures[broken.base_url]["answered"] == 0
    assert figures[broken.base_url]["failed"] == len(broken.chat_requests) >= STRIKES
    assert figures[broken.base_url]["set_aside"] == 1  # and never tried again within 30 s
    assert sum(figures[s.base_url]["answered"] for s in (servers[0], servers[2])) == 12


# --- found in review ----------------------------------------------------------------------


def test_a_connect_timeout_counts_against_the_endpoint() -> None:
    """A host that drops the packets times out connecting: the ``openai`` client calls it
    a timeout, but nothing reached the server, so it is a failure to connect."""
    import importlib

    import openai

    httpx: Any = importlib.import_module(response_class().__module__.split(".")[0])
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    try:
        try:
            raise httpx.ConnectTimeout("timed out", request=request)
        except httpx.ConnectTimeout as inner:
            raise openai.APITimeoutError(request=request) from inner
    except openai.APITimeoutError as exc:
        assert never_connected(exc)
    try:
        try:
            raise httpx.ReadTimeout("timed out", request=request)
        except httpx.ReadTimeout as inner:
            raise openai.APITimeoutError(request=request) from inner
    except openai.APITimeoutError as exc:
        assert not never_connected(exc)  # it was sent: the server is slow, not down


def test_an_endpoint_on_trial_is_not_ready_for_a_second_request() -> None:
    now = [0.0]

    async def main() -> None:
        endpoints = pool(2, clock=lambda: now[0], cooldown=5.0)
        dead = endpoints.all[0]
        for _ in range(STRIKES):
            endpoints.failed(dead, "connection", taken_at=now[0])
        now[0] = 5.0
        trial, _ = await endpoints.take(avoid={1})  # type: ignore[misc]
        assert trial is dead
        assert not endpoints.ready_besides({1})  # its trial is in flight: not ready
        assert endpoints.ready_besides({0})

    asyncio.run(main())


def test_failures_of_attempts_sent_before_a_set_aside_do_not_lengthen_it() -> None:
    now = [0.0]
    endpoints = pool(2, clock=lambda: now[0], cooldown=5.0)
    dead = endpoints.all[0]
    for _ in range(STRIKES):
        endpoints.failed(dead, "connection", taken_at=0.0)
    assert (dead.aside_until, dead.set_aside) == (5.0, 1)
    now[0] = 6.0  # the cool-down is over, and a long request sent at 0.0 fails only now
    assert endpoints.failed(dead, "connection", taken_at=0.0)
    assert (dead.aside_until, dead.set_aside, dead.failed) == (5.0, 1, STRIKES + 1)
    endpoints.failed(dead, "connection", taken_at=6.0)  # its trial, sent after: aside again
    assert (dead.aside_until, dead.set_aside) == (16.0, 2)


def test_an_endpoint_pausing_for_a_spent_budget_is_chosen_last() -> None:
    async def main() -> int:
        endpoints = pool(2, slots=4)
        endpoints.all[0].limiter.pause(30.0)  # a 429 said its budget is spent
        first, _ = await endpoints.take()
        second, _ = await endpoints.take()
        assert first.index == second.index == 1  # busier, but not paused
        return first.index

    assert asyncio.run(main()) == 1


def test_a_stopping_run_wakes_the_requests_waiting_for_an_endpoint() -> None:
    async def main() -> object:
        endpoints = pool(2, cooldown=3600.0)  # aside for an hour
        for endpoint in endpoints.all:
            for _ in range(STRIKES):
                endpoints.failed(endpoint, "connection")
        stop = [False]
        waiting = asyncio.ensure_future(endpoints.take(stopped=lambda: stop[0]))
        await asyncio.sleep(0)
        assert not waiting.done()
        stop[0] = True
        endpoints.wake()
        return await asyncio.wait_for(waiting, HANG)

    assert asyncio.run(main()) is None


def test_servers_shown_alike_are_told_apart_and_azure_is_named() -> None:
    backend = OpenAIGenerator(api_key=KEY, base_url=[
        "http://a:pw1@127.0.0.1:1/v1", "http://b:pw2@127.0.0.1:1/v1"])  # fmt: skip
    assert sorted(backend.totals()["endpoints"]) == ["http://***@127.0.0.1:1/v1 #1",
                                                     "http://***@127.0.0.1:1/v1 #2"]  # fmt: skip
    azure = OpenAIGenerator("deployment", api_key=KEY,
                            azure_endpoint="https://name.openai.azure.com")  # fmt: skip
    assert list(azure.totals()["endpoints"]) == ["https://name.openai.azure.com"]
    with pytest.raises(ConfigError, match="named twice"):
        OpenAIGenerator(api_key=KEY, base_url=["http://a:1/v1", "http://a:1/v1/"])


@pytest.mark.slow
def test_every_endpoint_is_kept_busy_however_many_there_are(tmp_path: Path) -> None:
    """Five servers at one call each: five in flight at once (the workers scale with the
    servers; four per call in flight overall held it to four)."""
    with ExitStack() as stack:
        five = [stack.enter_context(FakeOpenAI(latency=0.001)) for _ in range(5)]
        for server in five:
            server.behaviour.hold_after = 0
        proc = generate([s.base_url for s in five], tmp_path / "run", "--concurrency", "1")
        for server in five:
            server.wait_for_requests(1)  # each has one in flight, none answered yet
        for server in five:
            server.release()
        code, _, err = finish(proc)
    assert code == 0, err
    assert len(samples(tmp_path / "run")) == 12
