"""The rate limiter, the adaptive concurrency and the price table, on a fake clock."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random

import pytest

from kpit.generators.base import Price
from kpit.generators.openai.pricing import parse_price, price_for
from kpit.generators.openai.ratelimit import (
    AdaptiveConcurrency,
    RateLimiter,
    parse_reset,
    retry_after,
)


class Clock:
    """A clock that sleeping moves on, ``late`` seconds more than asked (a busy loop)."""

    def __init__(self, late: float = 0.0, seed: int = 0) -> None:
        self.now = 0.0
        self.late = late
        self.random = random.Random(seed)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.now += seconds + self.random.uniform(0, self.late)


def limiter(clock: Clock, rpm: float | None = None, tpm: float | None = None,
            **options: object) -> RateLimiter:  # fmt: skip
    return RateLimiter(rpm, tpm, clock=clock, sleep=clock.sleep, **options)  # type: ignore[arg-type]


def starts(limiter: RateLimiter, n: int, tokens: int = 0, transit: float = 0.0,
           clock: Clock | None = None) -> list[float]:  # fmt: skip
    """When ``n`` requests leave, one after another, each ``transit`` seconds (at most) after
    its turn (the clock's random source)."""

    async def go() -> list[float]:
        out = []
        for _ in range(n):
            await limiter.acquire(tokens)
            if clock is not None and transit:
                clock.now += clock.random.uniform(0, transit)
            out.append(limiter._clock())
            limiter.sent()
        return out

    return asyncio.run(go())


def busiest_second(times: list[float]) -> int:
    return max(sum(1 for t in times if s <= t < s + 1) for s in times)


# --- pacing ----------------------------------------------------------------------------------


def test_requests_are_spaced_evenly_from_the_first() -> None:
    assert starts(limiter(Clock(), rpm=120, margin=0), 5) == pytest.approx([0, 0.5, 1, 1.5, 2])
    cautious = limiter(Clock(), rpm=120)  # 1% under the limit by default
    assert starts(cautious, 3) == pytest.approx([0, 0.5 / 0.99, 1 / 0.99])


@pytest.mark.parametrize(("late", "transit"), [(0.002, 0.002), (0.02, 0.02), (0.04, 0.03)])
@pytest.mark.parametrize("seed", range(3))
def test_no_second_holds_more_than_the_share_whatever_the_timing(
    late: float, transit: float, seed: int
) -> None:
    """Late wakes (a busy loop) and slow departures never make a burst."""
    clock = Clock(late=late, seed=seed)
    paced = limiter(clock, rpm=1200)  # 20 a second
    times = starts(paced, 200, transit=transit, clock=clock)
    assert busiest_second(times) <= 20
    assert min(b - a for a, b in itertools.pairwise(times)) > 0.02  # never two at once
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert rate > 20 * 0.99 * (0.98 if late < 0.01 else 0.8)  # the rate is (mostly) kept


def test_a_late_departure_does_not_bunch_the_next_request() -> None:
    """The first request took 200 ms to leave (lazy imports, a busy loop): the next one
    still keeps half an interval, and the second's turn counts from the departure."""
    clock = Clock()
    paced = limiter(clock, rpm=600, margin=0)  # 10 a second

    async def go() -> list[float]:
        out = []
        for transit in (0.2, 0.0, 0.0, 0.0):
            await paced.acquire(0)
            clock.now += transit
            out.append(clock.now)
            paced.sent()
        return out

    times = asyncio.run(go())
    assert times[1] - times[0] >= 0.05 - 1e-9
    assert busiest_second(times) <= 10


def test_tokens_per_minute_and_the_servers_correction() -> None:
    clock = Clock()
    paced = limiter(clock, tpm=6000, margin=0)  # 100 tokens a second
    assert starts(paced, 2, tokens=200) == pytest.approx([0.0, 2.0])  # 200 tokens: 2 s
    paced.correct(estimated=200, actual=400)  # the server counted more
    assert starts(paced, 1, tokens=50) == pytest.approx([6.0])


def test_both_limits_take_the_stricter() -> None:
    assert starts(limiter(Clock(), 60, 60_000, margin=0), 3, 10) == pytest.approx([0, 1, 2])
    assert starts(limiter(Clock(), 600, 600, margin=0), 3, 20) == pytest.approx([0, 2, 4])


def test_no_limit_no_wait() -> None:
    paced = limiter(Clock(), learn=False)
    assert not paced.active and starts(paced, 3) == [0, 0, 0]


# --- what the server says --------------------------------------------------------------------


def test_a_spent_budget_pauses_every_request_until_the_reset() -> None:
    clock = Clock()
    paced = limiter(clock, learn=False)
    assert paced.observe({"x-ratelimit-remaining-requests": "0",
                          "x-ratelimit-reset-requests": "1.5s"})  # fmt: skip
    assert starts(paced, 1) == pytest.approx([1.5])
    assert not paced.observe({"x-ratelimit-remaining-tokens": "12",
                              "x-ratelimit-reset-tokens": "9s"})  # fmt: skip
    assert paced.pauses == 1 and paced.paused_for() == 0


def test_a_refusal_with_a_spent_budget_and_no_reset_waits_its_retry_after() -> None:
    clock = Clock()
    paced = limiter(clock, learn=False)
    assert not paced.observe({"x-ratelimit-remaining-requests": "0"})  # a success: no reset
    assert paced.observe({"x-ratelimit-remaining-tokens": "0", "retry-after": "3"},
                         refused=True)  # fmt: skip
    assert paced.paused_for() == pytest.approx(3)
    assert paced.observe({"x-ratelimit-remaining-requests": "0"}, refused=True)
    assert paced.paused_for() == pytest.approx(3)  # a second, within the longer pause


def test_a_spent_budget_slows_the_pace_once_per_round_trip() -> None:
    clock = Clock()
    paced = limiter(clock, rpm=60, margin=0)
    clock.now = 10.0
    paced.throttle(spent=True, sent_at=9.5)
    assert paced.factor == pytest.approx(0.8)
    paced.throttle(spent=True, sent_at=9.8)  # sent before the slow-down: nothing new
    assert paced.factor == pytest.approx(0.8)
    paced.throttle(spent=False, sent_at=11)  # an overloaded server's 429: not the pace's
    assert paced.factor == pytest.approx(0.8) and paced.throttled == 3
    clock.now = 12.0
    paced.throttle(spent=True, sent_at=11)
    assert paced.factor == pytest.approx(0.64)
    assert starts(paced, 2) == pytest.approx([12, 12 + 60 / (60 * 0.64)])
    for _ in range(50):
        paced.succeed()
    assert paced.factor == 1.0


def test_limits_are_learned_from_the_headers() -> None:
    clock = Clock()
    paced = limiter(clock)
    paced.observe({"x-ratelimit-limit-requests": "600", "x-ratelimit-limit-tokens": "x"})
    assert paced.learned == {"requests": 600} and paced.requests_per_minute == 600
    assert paced.share() == 10
    assert starts(paced, 3) == pytest.approx([0, 0.1 / 0.99, 0.2 / 0.99])
    given = limiter(Clock(), rpm=300)
    given.observe({"x-ratelimit-limit-requests": "600", "x-ratelimit-limit-tokens": "90000"})
    assert given.requests_per_minute == 300 and given.tokens_per_minute == 90000  # the lower
    deaf = limiter(Clock(), rpm=300, learn=False)
    deaf.observe({"x-ratelimit-limit-requests": "60"})
    assert deaf.requests_per_minute == 300 and deaf.learned == {}


def test_before_the_first_reply_one_request_goes_alone() -> None:
    """Without a given limit, the first reply says whether the server announces any."""
    order: list[str] = []

    async def go() -> None:
        paced = RateLimiter()

        async def request(name: str, answer: float) -> None:
            await paced.acquire()
            order.append(f"{name} sent")
            paced.sent()
            await asyncio.sleep(answer)
            order.append(f"{name} answered")
            paced.settle()

        await asyncio.gather(request("first", 0.05), request("second", 0.0))

    asyncio.run(go())
    assert order == ["first sent", "first answered", "second sent", "second answered"]


def test_given_limits_need_no_first_reply() -> None:
    paced = limiter(Clock(), rpm=6000)
    assert starts(paced, 2) == pytest.approx([0, 0.01 / 0.99])  # no settle() needed


def test_a_limiter_serves_one_event_loop_after_another() -> None:
    """Its lock and its event are made again for each loop (asyncio binds them to one)."""
    paced = RateLimiter(rpm=60_000)

    async def two_at_once() -> None:
        async def request() -> None:
            await paced.acquire()
            await asyncio.sleep(0.002)
            paced.sent()

        await asyncio.gather(request(), request())

    asyncio.run(two_at_once())
    asyncio.run(two_at_once())


def test_a_huge_wait_is_capped(caplog: pytest.LogCaptureFixture) -> None:
    paced = limiter(Clock(), max_pause=60)
    with caplog.at_level(logging.WARNING):
        assert paced.cap(1e9) == 60 and paced.cap(5) == 5 and paced.cap(float("nan")) == 60
    assert "asked to wait 1e+09 s" in caplog.text and paced.capped == 2


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1), ("6m0s", 360), ("20ms", 0.02), ("0.5", 0.5), ("1h2m3s", 3723), ("soon", None)],
)
def test_parse_reset(text: str, seconds: float | None) -> None:
    assert parse_reset(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_retry_after() -> None:
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == pytest.approx(0.25)
    assert retry_after({"retry-after": "2"}) == 2
    assert retry_after({"x-ratelimit-reset-requests": "6ms"}) is None  # not a wait
    assert retry_after(None) is None


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rpm"):
        RateLimiter(rpm=0)


# --- the concurrency ------------------------------------------------------------------------


def test_overload_lowers_the_concurrency_and_successes_raise_it() -> None:
    clock = Clock()

    async def go() -> None:
        slots = AdaptiveConcurrency(4, clock=clock)
        taken = [await slots.acquire() for _ in range(4)]
        waiting = asyncio.ensure_future(slots.acquire())
        await asyncio.sleep(0)
        assert not waiting.done()
        clock.now = 1.0
        assert slots.overloaded(taken[0])  # 4 -> 3
        assert slots.slots == 3 and slots.lowest == 3
        slots.release()  # 3 in flight: still no room under 3
        await asyncio.sleep(0)
        assert not waiting.done()
        slots.release()
        await asyncio.sleep(0)
        assert waiting.done() and slots.in_flight == 3
        slots.succeed()
        assert slots.slots == 4

    asyncio.run(go())


def test_overload_lowers_the_concurrency_once_per_round_trip() -> None:
    clock = Clock()
    slots = AdaptiveConcurrency(64, clock=clock)
    slots.succeed(taken_at=-0.5)  # a success takes half a second
    clock.now = 10.0
    assert slots.overloaded(taken_at=9.0)
    assert slots.slots == 48
    assert not slots.overloaded(taken_at=9.9)  # taken before the decrease
    clock.now = 10.2
    assert not slots.overloaded(taken_at=10.1)  # sooner than a round trip after it
    clock.now = 10.6
    assert slots.overloaded(taken_at=10.1) and slots.slots == 36
    for _ in range(100):
        slots.overloaded(taken_at=clock.now)
        clock.now += 1
    assert slots.slots == 1 and slots.lowest == 1  # never under one
    for _ in range(100):
        slots.succeed()
    assert slots.slots == 64 and slots.decreases > 2


def test_a_cancelled_waiter_gives_its_slot_back() -> None:
    async def go() -> None:
        slots = AdaptiveConcurrency(1)
        await slots.acquire()
        waiting = asyncio.ensure_future(slots.acquire())
        await asyncio.sleep(0)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        slots.release()
        assert slots.in_flight == 0
        await asyncio.wait_for(slots.acquire(), 1)

    asyncio.run(go())


# --- prices ---------------------------------------------------------------------------------


def test_prices() -> None:
    assert price_for("gpt-4o") == Price(2.5, 10.0, 1.25)
    assert price_for("gpt-4o-2024-08-06") == Price(2.5, 10.0, 1.25)
    assert price_for("gpt-4o-mini-2024-07-18") == Price(0.15, 0.6, 0.075)
    assert price_for("llava-next") is None
    assert price_for("mine", {"mine": Price(1, 2)}) == Price(1, 2)
    assert Price(2.5, 10).cost(1_000_000, 100_000) == pytest.approx(3.5)
    assert parse_price("qwen2-vl=0.2,0.6") == ("qwen2-vl", Price(0.2, 0.6))
    with pytest.raises(ValueError, match="MODEL=INPUT,OUTPUT"):
        parse_price("qwen2-vl=0.2")
