"""A limit the server announces holds no request longer than a minute (issue 23, item 18).

Before: a server announcing ``x-ratelimit-limit-tokens: 1`` made the run wait about 17
hours a request (each request's estimated tokens at one token a minute). The run goes on
the virtual clock of :mod:`tests.helpers.virtual_time`: the waits are what the client
chose, and take no real time.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import kpit
from kpit.generators.openai.ratelimit import MAX_LEARNED_WAIT, RateLimiter

from ..helpers.openai_server import FakeOpenAI
from ..helpers.virtual_time import VirtualTime


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        VirtualTime().install(monkeypatch, fake)
        yield fake


@pytest.mark.parametrize(("kind", "announced"), [("tokens", 1), ("requests", 0.5)])
def test_an_absurd_announced_limit_is_capped_and_warned_about_once(
    sample_root: Path,
    server: FakeOpenAI,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    announced: float,
) -> None:
    setattr(server.behaviour, "tpm_limit" if kind == "tokens" else "rpm_limit", announced)
    caplog.set_level(logging.WARNING)
    options = {"base_url": server.base_url, "api_key": "sk-learned-waits", "timeout": 60.0}
    run = kpit.generate(kpit.load_coco(sample_root), "all", "openai", "gpt-4o",
                        out=tmp_path / "run", progress=False, reply_retries=0,
                        generator_options=options)  # fmt: skip
    assert isinstance(run, kpit.Run) and len(list(run.samples())) == 12
    times = server.request_times
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= MAX_LEARNED_WAIT + 0.01  # not 17 hours (or two minutes)
    assert max(gaps) >= MAX_LEARNED_WAIT - 0.01  # still paced, as slowly as allowed
    header = f"x-ratelimit-limit-{kind}"
    warnings = [r.getMessage() for r in caplog.records if header in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert f"waiting at most {MAX_LEARNED_WAIT:g} s" in warnings[0]


def test_a_limit_the_user_gives_is_paced_to_as_given() -> None:
    """Only an announced limit is capped: a given ``tpm`` is the user's word."""
    given = RateLimiter(tpm=1.0)
    assert given.interval() == 0.0 and given._token_seconds(100) > 3600
    learned = RateLimiter()
    learned.observe({"x-ratelimit-limit-tokens": "1"})
    assert learned._token_seconds(100) == MAX_LEARNED_WAIT
    assert learned._token_seconds(0) == 0.0
