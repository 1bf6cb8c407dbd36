"""The openai backend against careless input and hostile servers: no secret in a log, no
good reply thrown away, no endless wait. Against the loopback server with the real client.

Each test here failed before its fix: what a hostile or careless input did then is said in
the test's docstring.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
from collections import deque
from pathlib import Path
from typing import Any

import pytest

import kpit
from kpit.generators.openai.chat import OpenAIGenerator, read_usage
from kpit.generators.openai.credentials import clean_key, split_url
from kpit.generators.openai.ratelimit import parse_reset
from kpit.types import ChatRequest, Message

from ..helpers.openai_server import FakeOpenAI

KEY = "sk-harden-SECRET-0123456789abcdef"
NOISY = ("httpx", "httpx2", "httpcore", "openai", "kpit")
"""Loggers that would log a request's URL or headers at DEBUG."""


def _options(server: FakeOpenAI, **more: Any) -> dict[str, Any]:
    return {"base_url": server.base_url, "api_key": KEY, "backoff": 0.01} | more


def _complete(backend: OpenAIGenerator) -> kpit.Reply:
    async def one() -> kpit.Reply:
        try:
            request = ChatRequest("k/1", (Message("user", "Describe the person."),))
            return await backend.complete(request)
        finally:
            await backend.aclose()

    return asyncio.run(one())


def test_a_key_with_a_line_break_around_it_is_stripped(server: FakeOpenAI) -> None:
    """Before: a key read from a CRLF file kept its ``\\r``, failed as a connection error
    and showed in debug logs."""
    reply = _complete(OpenAIGenerator("gpt-4o", **_options(server, api_key=f"  {KEY}\r\n")))
    assert reply.ok and server.api_keys == {KEY}
    assert clean_key(" \t\r\n") is None
    with pytest.raises(kpit.ConfigError, match="control character") as info:
        clean_key("sk-abc\r\ndef")
    assert "sk-abc" not in str(info.value) and info.value.field == "api_key"


def test_a_numeric_api_key_option_is_sent_as_a_string(server: FakeOpenAI) -> None:
    from kpit.cli.options import backend_options

    options = backend_options(("api_key=1234567890",), server.base_url)
    assert options["api_key"] == 1234567890  # JSON reads it as a number...
    reply = _complete(OpenAIGenerator("gpt-4o", **options))
    assert reply.ok and server.api_keys == {"1234567890"}


def test_credentials_in_the_server_url_never_reach_a_log(
    server: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: the HTTP client logged ``http://user:password@host/...`` at INFO, and a query
    ``?api-key=`` broke every request."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    loggers = [root, *(logging.getLogger(name) for name in NOISY)]
    old_levels = [logger.level for logger in loggers]  # put back: later tests share them
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    password, query_key = "pw-SECRET-9f8e7d", "QKEY-SECRET-1a2b3c"
    host = server.base_url.removeprefix("http://")
    url = f"http://proxy-user:{password}@{host}?api-key={query_key}&api-version=1"
    server.behaviour.script = deque(["500", "ok"])
    try:
        reply = _complete(OpenAIGenerator("gpt-4o", base_url=url, api_key=f"{KEY}\r",
                                          backoff=0.01))  # fmt: skip
    finally:
        root.removeHandler(handler)
        for logger, level in zip(loggers, old_levels, strict=True):
            logger.setLevel(level)
    assert reply.ok
    logged = stream.getvalue() + caplog.text
    assert "HTTP Request" in logged or "Sending HTTP Request" in logged  # the logs did run
    for secret in (password, query_key, KEY, f"proxy-user:{password}"):
        assert secret not in logged
    # The credentials still went where they stood: basic authentication, the query.
    assert server.api_keys == {"Basic " + base64.b64encode(f"proxy-user:{password}".encode())
                               .decode()}  # fmt: skip
    assert all(f"api-key={query_key}" in path for path in server.paths)
    assert all("api-version=1" in path for path in server.paths)
    parts = split_url(url)
    assert parts.url == server.base_url and password not in repr(parts.url)


BAD_USAGE = ["n/a", {"prompt_tokens": "many", "completion_tokens": 3},
             {"prompt_tokens": -5, "completion_tokens": 3}, [1, 2]]  # fmt: skip


@pytest.mark.parametrize("usage", BAD_USAGE)
def test_a_malformed_usage_keeps_the_good_reply(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path, usage: Any
) -> None:
    """Before: the reply was thrown away (and paid for) as an ``error`` failure."""
    server.behaviour.usage = usage
    contexts = kpit.load_coco(sample_root, limit=1)
    run = kpit.generate(contexts, "detail", "openai", "gpt-4o", out=tmp_path / "run",
                        progress=False, generator_options=_options(server))  # fmt: skip
    assert isinstance(run, kpit.Run)
    (sample,) = run.samples()
    assert not list(run.failures()) and server.counts["chat"] == 1
    assert sample.meta["usage"]["estimated"] is True  # counted here, and charged
    assert "not" in sample.meta["extra"]["usage_unknown"]
    assert sample.meta["usage"]["prompt_tokens"] > 100
    session = run.manifest["last_session"]
    assert session["usage_unknown"] == 1 and session["cost_usd"] > 0  # estimated, said so
    assert read_usage({"prompt_tokens": 3.0, "completion_tokens": 4})[0] == kpit.Usage(3, 4)
    assert read_usage(None)[0] is None  # unknown, never free (issue 23, item 3)
    assert read_usage({"prompt_tokens": True})[0] is None


def test_a_malformed_usage_in_a_batch_keeps_its_replies(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    """Before: one bad ``usage`` line raised while reading the batch's results."""
    server.behaviour.usage = {"prompt_tokens": "many"}
    contexts = kpit.load_coco(sample_root, limit=2)
    options = _options(server, poll_interval=0.01)
    run = kpit.generate(contexts, "detail", "openai-batch", "gpt-4o", out=tmp_path / "run",
                        progress=False, generator_options=options)  # fmt: skip
    assert isinstance(run, kpit.Run)
    samples = list(run.samples())
    assert len(samples) == 2 and all(s.meta["usage"]["estimated"] for s in samples)
    assert all(s.meta["usage"]["prompt_tokens"] > 100 for s in samples)
    assert run.manifest["last_session"]["usage_unknown"] == 2


def test_a_huge_retry_after_is_capped(
    sample_root: Path,
    server: FakeOpenAI,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: ``Retry-After: 1e9`` paused every request for 31 years."""
    server.behaviour.script = deque(["429"])
    server.behaviour.retry_after = 1e9
    contexts = kpit.load_coco(sample_root, limit=1)
    waits: list[float] = []  # every pause asked for, whatever the machine's speed
    sleep = asyncio.sleep

    async def recorded_sleep(seconds: float, *args: Any, **kwargs: Any) -> Any:
        waits.append(seconds)
        return await sleep(seconds, *args, **kwargs)

    monkeypatch.setattr(asyncio, "sleep", recorded_sleep)
    with caplog.at_level(logging.WARNING, logger="kpit"):
        options = _options(server, backoff_max=0.3)
        run = kpit.generate(contexts, "detail", "openai", "gpt-4o", out=tmp_path / "run",
                            progress=False, generator_options=options)  # fmt: skip
    assert server.counts["chat"] == 2  # the refusal, then the retry after the capped wait
    assert waits and max(waits) <= 0.3 * 1.1  # backoff_max, and at most 10 % of jitter
    assert isinstance(run, kpit.Run) and len(list(run.samples())) == 1
    assert "asked to wait 1e+09 s" in caplog.text
    assert parse_reset("inf") is None and parse_reset("nan") is None
