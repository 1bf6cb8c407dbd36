"""The rate limiter and the price table, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from kpit.generators.base import Price
from kpit.generators.openai.pricing import parse_price, price_for
from kpit.generators.openai.ratelimit import RateLimiter, parse_reset


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_requests_are_spaced_evenly() -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=120, clock=clock, margin=0)
    waits = [limiter.reserve(100) for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0])
    cautious = RateLimiter(rpm=120, clock=Clock())  # 1% under the limit by default
    assert [cautious.reserve(1) for _ in range(3)] == pytest.approx([0, 0.5 / 0.99, 1 / 0.99])


def test_tokens_per_minute_and_the_servers_correction() -> None:
    clock = Clock()
    limiter = RateLimiter(tpm=6000, clock=clock, margin=0)  # 100 tokens a second
    assert limiter.reserve(200) == 0.0
    assert limiter.reserve(100) == pytest.approx(2.0)
    limiter.correct(estimated=100, actual=300)  # the server counted more
    assert limiter.reserve(50) == pytest.approx(5.0)


def test_both_limits_take_the_stricter() -> None:
    limiter = RateLimiter(rpm=60, tpm=60_000, clock=Clock(), margin=0)
    assert [limiter.reserve(10) for _ in range(3)] == pytest.approx([0, 1, 2])  # rpm binds
    limiter = RateLimiter(rpm=600, tpm=600, clock=Clock(), margin=0)
    assert [limiter.reserve(20) for _ in range(3)] == pytest.approx([0, 2, 4])  # tpm binds


def test_a_429_pauses_everyone_and_slows_the_pace() -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=60, clock=clock, sleep=clock.sleep, margin=0)
    limiter.reserve(1)
    limiter.throttle(retry_after=5)
    assert limiter.factor == pytest.approx(0.8)
    assert limiter.reserve(1) == pytest.approx(5.0)
    assert limiter.reserve(1) == pytest.approx(5.0 + 60 / 48)  # the slower pace
    for _ in range(50):
        limiter.succeed()
    assert limiter.factor == 1.0
    asyncio.run(limiter.acquire(1))
    assert clock.now >= 5.0


def test_headers_saying_a_budget_is_spent_pause() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    limiter.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1.5s"})
    assert limiter.reserve(1) == pytest.approx(1.5)
    limiter.observe({"x-ratelimit-remaining-tokens": "12", "x-ratelimit-reset-tokens": "9s"})
    assert limiter.reserve(1) == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1), ("6m0s", 360), ("20ms", 0.02), ("0.5", 0.5), ("1h2m3s", 3723), ("soon", None)],
)
def test_parse_reset(text: str, seconds: float | None) -> None:
    assert parse_reset(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rpm"):
        RateLimiter(rpm=0)


def test_prices() -> None:
    assert price_for("gpt-4o") == Price(2.5, 10.0)
    assert price_for("gpt-4o-2024-08-06") == Price(2.5, 10.0)
    assert price_for("gpt-4o-mini-2024-07-18") == Price(0.15, 0.6)
    assert price_for("llava-next") is None
    assert price_for("mine", {"mine": Price(1, 2)}) == Price(1, 2)
    assert Price(2.5, 10).cost(1_000_000, 100_000) == pytest.approx(3.5)
    assert parse_price("qwen2-vl=0.2,0.6") == ("qwen2-vl", Price(0.2, 0.6))
    with pytest.raises(ValueError, match="MODEL=INPUT,OUTPUT"):
        parse_price("qwen2-vl=0.2")
