"""Client-side pacing as providers enforce it, limits learned from headers, adaptive concurrency.

Providers enforce their per-minute limits over short slices of the minute: OpenAI documents
that 60,000 requests a minute may be enforced as 1,000 requests a second, so a burst that a
minute's budget allows is still refused. :class:`RateLimiter` therefore paces so that no
second holds more than the per-second share of the limit (``rpm / 60``, the quantized
limit):

- each request starts ``60 / rpm`` seconds after the one before (1% under the limit),
  beginning with the first: there is no burst at start-up;
- a request that wakes late (the event loop was busy) may make up at most half an interval
  of the time it lost, and whatever the timing, no more than ``N`` requests start within
  ``N`` intervals, ``N`` being the per-second share rounded down (a sliding window over the
  actual start times): when ``rpm / 60`` is whole, no second ever holds more than it;
- tokens are paced the same way: each request is charged its estimated tokens at
  ``tpm / 60`` a second, corrected afterwards by the server's count.

The limits are those given (``rpm``, ``tpm``) and those the server announces on every reply
in ``x-ratelimit-limit-requests`` and ``x-ratelimit-limit-tokens`` (per minute, as OpenAI
sends them), the lower of the two where both are known. Before anything is known (no limit
given, learning on), the first request goes alone: its reply says whether the server
announces limits, and the others follow at the pace it announces. An announced limit that
would hold a request longer than ``MAX_LEARNED_WAIT`` (``x-ratelimit-limit-tokens: 1``:
about a day a request) is not believed that far: the wait is cut to it, with a warning
naming the header, once.

A 429 comes in two kinds, told apart by the headers. One that says a budget is spent
(``x-ratelimit-remaining-requests: 0`` or ``x-ratelimit-remaining-tokens: 0``) pauses every
request until the matching ``x-ratelimit-reset-*`` and slows the pace (by a fifth, back a
hundredth per success). One without (an overloaded server, Azure, vLLM) delays only its own
request, for its ``Retry-After``, and lowers the concurrency a step
(:class:`AdaptiveConcurrency`: additive increase, multiplicative decrease). Each slows
things down at most once per round trip: a 429 for a request sent before the last
slow-down says nothing new.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["AdaptiveConcurrency", "RateLimiter", "parse_reset", "retry_after"]

log = logging.getLogger(__name__)

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?"
                       r"(?:(\d+(?:\.\d+)?)ms)?$")  # fmt: skip

_KINDS = ("requests", "tokens")

MAX_LEARNED_WAIT = 60.0
"""The longest a limit the server announces may hold one request, in seconds (a given
``rpm`` or ``tpm`` is the user's word, and paced to as it is)."""


def parse_reset(value: str | None) -> float | None:
    """Seconds from a rate-limit reset header: ``"1s"``, ``"6m0s"``, ``"20ms"``, ``"0.5"``.

    ``None`` for what does not read as a duration, ``inf`` and ``nan`` included.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    match = _DURATION.match(value)
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds, millis = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def _count(value: str | None) -> float | None:
    """A header's finite, non-negative number, or ``None``."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """The wait a reply asks for (``retry-after-ms``, else ``retry-after``), in seconds."""
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        seconds = parse_reset(headers.get(name))
        if seconds is not None:
            return seconds / scale
    return None


class RateLimiter:
    """Paces requests under requests and tokens per minute, given or announced by the server.

    Args:
        rpm: requests per minute, or ``None``.
        tpm: tokens per minute, or ``None``.
        learn: pace to the limits the server announces (``x-ratelimit-limit-*``) as well;
            until the first reply, one request at a time when no limit is given.
        min_factor: the slowest pace spent budgets can bring it to, as a fraction of the
            limits.
        margin: pace this fraction under the limits (default 1%), so that the jitter of real
            sends never pushes a second over them.
        max_pause: the longest pause a server can ask for (``Retry-After``, a reset header),
            in seconds; longer asks are cut to it with a warning, so that a server saying
            ``1e9`` cannot hang a run. ``None``: no cap.
        clock: the monotonic clock, in seconds; injectable for tests.
        sleep: the coroutine that waits; injectable for tests.
    """

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        learn: bool = True,
        min_factor: float = 0.25,
        margin: float = 0.01,
        max_pause: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive")
        self.rpm, self.tpm = rpm, tpm
        self.learn = learn
        self.learned: dict[str, float] = {}  # "requests"/"tokens" -> per minute, announced
        self.ceiling = 1.0 - margin
        self.factor = self.ceiling  # pace as a fraction of the limits, lowered by spent budgets
        self.min_factor = min_factor
        self.max_pause = max_pause
        self.capped = 0  # pauses cut to max_pause
        self.learned_capped: set[str] = set()  # announced limits whose waits were cut
        self.throttled = 0  # 429s seen, of both kinds
        self.pauses = 0  # pauses for a spent budget
        self._clock, self._sleep = clock, sleep
        self._next_request = -math.inf  # the earliest start of the next request
        self._next_token = -math.inf  # the same, for the token budget
        self._starts: deque[float] = deque(maxlen=1)  # the last N start times
        self._paused_until = -math.inf
        self._slowed_at = -math.inf  # when the pace was last lowered
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate: asyncio.Lock | None = None
        self._turn: asyncio.Task[Any] | None = None  # the task whose request is on its way
        self._probe = "wanted" if learn and rpm is None and tpm is None else "done"
        self._probed: asyncio.Event | None = None

    # --- the limits -------------------------------------------------------------------

    @property
    def requests_per_minute(self) -> float | None:
        """The request limit paced to: the given one or the announced one, the lower."""
        return _lower(self.rpm, self.learned.get("requests"))

    @property
    def tokens_per_minute(self) -> float | None:
        """The token limit paced to: the given one or the announced one, the lower."""
        return _lower(self.tpm, self.learned.get("tokens"))

    @property
    def active(self) -> bool:
        """True when any limit is known."""
        return self.requests_per_minute is not None or self.tokens_per_minute is not None

    def share(self) -> int:
        """The per-second share of the request limit, rounded down (at least 1); 0: none."""
        rpm = self.requests_per_minute
        return 0 if rpm is None else max(1, math.floor(rpm / 60.0 + 1e-9))

    def interval(self) -> float:
        """Seconds between request starts at the current pace (0 without a request limit)."""
        rpm = self.requests_per_minute
        return 0.0 if rpm is None else self._bounded("requests", 60.0 / (rpm * self.factor))

    def _token_seconds(self, tokens: int) -> float:
        """Seconds of the token budget that ``tokens`` take at the current pace."""
        tpm = self.tokens_per_minute
        return 0.0 if tpm is None else self._bounded("tokens", tokens * 60.0 / (tpm * self.factor))

    def _bounded(self, kind: str, seconds: float) -> float:
        """``seconds`` of waiting for a limit of ``kind``; at most ``MAX_LEARNED_WAIT``
        when the limit paced to is the one the server announced (warned about once)."""
        if seconds <= MAX_LEARNED_WAIT:
            return seconds
        learned, given = self.learned.get(kind), self.rpm if kind == "requests" else self.tpm
        if learned is None or (given is not None and given <= learned):
            return seconds
        if kind not in self.learned_capped:
            self.learned_capped.add(kind)
            log.warning("the server announces x-ratelimit-limit-%s: %g (a minute), which would "
                        "hold a request %.0f s; waiting at most %g s instead", kind, learned,
                        seconds, MAX_LEARNED_WAIT)  # fmt: skip
        return MAX_LEARNED_WAIT

    # --- waiting for a turn -----------------------------------------------------------

    async def acquire(self, tokens: int = 0) -> float:
        """Wait until a request of ``tokens`` (estimated) may start; return the time.

        Requests take their turns in the order they ask, and a pause (a spent budget) that
        begins while one waits holds it too. Under a limit, the turn lasts until
        :meth:`sent` (the request's bytes are leaving) or :meth:`release`: the next
        request's turn is counted from when this one left, not from when it was allowed
        to, so that no work between the two (building the HTTP request, opening a
        connection, the event loop's other tasks) can bunch requests up.
        """
        self._bind()
        await self._wait_for_probe()
        if not self.active and self._clock() >= self._paused_until:
            return self._clock()
        assert self._gate is not None
        await self._gate.acquire()
        try:
            waited_for_pace = False
            while True:
                now = self._clock()
                start = self._earliest(now)
                if start <= now:
                    break
                waited_for_pace = start > self._paused_until
                await self._sleep(start - now)
        except BaseException:
            self._gate.release()
            raise
        self._schedule(now, tokens, waited_for_pace)
        self._turn = asyncio.current_task()
        return now

    def _bind(self) -> None:
        """Make the lock and the event for the running loop (a backend may serve several
        runs, each with a loop of its own)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._gate, self._turn = loop, asyncio.Lock(), None
            if self._probed is not None:
                self._probed = asyncio.Event()
                if self._probe == "done":
                    self._probed.set()

    def holding(self) -> bool:
        """True when the running task holds a turn that has not ended."""
        return self._turn is not None and self._turn is asyncio.current_task()

    def sent(self) -> None:
        """The running task's request is leaving now: its turn ends, the next one's begins.

        Nothing when the running task holds no turn.
        """
        if not self.holding():
            return
        assert self._gate is not None
        self._turn = None
        share = self.share()
        if share:
            if self._starts.maxlen != share:
                self._starts = deque(self._starts, maxlen=share)
            self._starts.append(self._clock())
        self._gate.release()

    def release(self) -> None:
        """End the running task's turn if :meth:`sent` did not (the request failed early)."""
        self.sent()

    def _earliest(self, now: float) -> float:
        start = max(now, self._paused_until, self._next_request)
        share = self.share()
        if share and self._starts:
            interval = self.interval()
            # never closer than half an interval to the last one to leave, and no more than
            # N within N intervals, whatever the timing
            start = max(start, self._starts[-1] + interval / 2)
            if len(self._starts) >= share:
                start = max(start, self._starts[-share] + share * interval)
        if self.tokens_per_minute is not None:
            start = max(start, self._next_token)
        return start

    def _schedule(self, now: float, tokens: int, waited_for_pace: bool) -> None:
        """Book a start at ``now``: when the next request and the next tokens may go.

        The pace keeps its own clock: a request that woke late (the event loop was busy)
        lets the next one make up at most half an interval of the time it lost. One that
        did not wait, or waited out a pause, starts the clock afresh.
        """
        interval = self.interval()
        if interval:
            slot = max(self._next_request, now - interval / 2) if waited_for_pace else now
            self._next_request = slot + interval
        if self.tokens_per_minute is not None:
            cost = self._token_seconds(tokens)
            slot = max(self._next_token, now - cost / 2) if waited_for_pace else now
            self._next_token = max(self._next_token, slot) + cost

    async def _wait_for_probe(self) -> None:
        """Before the first reply, when nothing is known, one request goes alone."""
        if self._probe == "done":
            return
        if self._probe == "wanted":
            self._probe = "sent"  # this request is the probe
            return
        if self._probed is None:
            self._probed = asyncio.Event()
        await self._probed.wait()

    def settle(self) -> None:
        """A request ended (answered or not): the others need not wait for a first reply."""
        if self._probe != "done":
            self._probe = "done"
            if self._probed is not None:
                self._probed.set()

    # --- what the server says ---------------------------------------------------------

    def correct(self, estimated: int, actual: int) -> None:
        """Charge the token budget with the server's count instead of the estimate."""
        if self.tokens_per_minute is not None and actual != estimated:
            self._next_token += self._token_seconds(actual) - self._token_seconds(estimated)

    def observe(self, headers: Mapping[str, str] | None, *, refused: bool = False) -> bool:
        """Read a reply's rate-limit headers; True when they say a budget is spent.

        Learns ``x-ratelimit-limit-requests`` and ``-tokens`` (when learning). A budget
        whose ``x-ratelimit-remaining-*`` is 0 pauses every request until its
        ``x-ratelimit-reset-*``; on a 429 (``refused``) without a reset time, for the
        reply's ``Retry-After``, else a second.
        """
        self.settle()  # a reply: the others need not wait for one any more
        if not headers:
            return False
        if self.learn:
            for kind in _KINDS:
                self._learn(kind, _count(headers.get(f"x-ratelimit-limit-{kind}")))
        spent = False
        for kind in _KINDS:
            if _count(headers.get(f"x-ratelimit-remaining-{kind}")) != 0:
                continue
            reset = parse_reset(headers.get(f"x-ratelimit-reset-{kind}"))
            if reset is None and refused:
                wait = retry_after(headers)
                reset = 1.0 if wait is None else wait
            if reset is not None:
                spent = True
                self.pause(reset)
        if spent:
            self.pauses += 1
        return spent

    def _learn(self, kind: str, limit: float | None) -> None:
        if not limit or self.learned.get(kind) == limit:
            return
        first = kind not in self.learned
        self.learned[kind] = limit
        log.log(logging.INFO if first else logging.DEBUG,
                "the server announces %g %s a minute; pacing to %g a second",
                limit, kind, limit / 60.0)  # fmt: skip

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` from now (at most ``max_pause``)."""
        seconds = self.cap(seconds)
        self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    def cap(self, seconds: float) -> float:
        """``seconds``, or ``max_pause`` with a warning (the first time) when longer."""
        if self.max_pause is not None and not seconds <= self.max_pause:
            if not self.capped:
                log.warning("the server asked to wait %g s; waiting %g s instead (the "
                            "longest pause allowed: backoff_max)", seconds,
                            self.max_pause)  # fmt: skip
            self.capped += 1
            return self.max_pause
        return seconds

    def throttle(self, spent: bool, sent_at: float = math.inf) -> None:
        """Count a 429; one that says a budget is spent also slows the pace a step.

        ``sent_at``: when the refused request started. One sent before the last slow-down
        was answered before the slower pace could tell, and slows nothing more.
        """
        self.throttled += 1
        if spent and sent_at > self._slowed_at:
            self.factor = max(self.min_factor, self.factor * 0.8)
            self._slowed_at = self._clock()

    def succeed(self) -> None:
        """A success: let the pace recover towards the limits."""
        if self.factor < self.ceiling:
            self.factor = min(self.ceiling, self.factor + 0.01)

    def paused_for(self) -> float:
        """Seconds left of the current pause (0 when none)."""
        return max(0.0, self._paused_until - self._clock())


def _lower(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


class AdaptiveConcurrency:
    """At most ``limit`` holders at once; overload lowers the limit, successes raise it.

    Additive increase, multiplicative decrease: each success adds ``increase`` (one slot by
    default) up to ``maximum``; each overload signal (a 429 that spends no budget)
    multiplies it by ``decrease`` (three quarters), at most once per round trip: a signal
    about a request taken before the last decrease is ignored, and so is one that comes
    sooner after it than a successful request takes (a refusal comes back quicker than an
    answer; the decrease has not had the time to tell). The limit never goes under one.

    Args:
        maximum: the most holders at once (``--concurrency``).
        decrease: the factor an overload applies.
        increase: the slots a success gives back.
        clock: injectable for tests.
    """

    def __init__(
        self,
        maximum: int,
        *,
        decrease: float = 0.75,
        increase: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if maximum < 1:
            raise ValueError("maximum must be at least 1")
        self.maximum = maximum
        self.limit = float(maximum)
        self.lowest = maximum  # the lowest the limit went, in whole slots
        self.decrease, self.increase = decrease, increase
        self.decreases = 0
        self.in_flight = 0
        self._clock = clock
        self._decreased_at = -math.inf
        self.round_trip = 0.0  # a successful request's time, smoothed
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def slots(self) -> int:
        """Holders allowed now."""
        return max(1, int(self.limit))

    async def acquire(self) -> float:
        """Wait for a slot; return when it was taken (for :meth:`overloaded`)."""
        if self.in_flight >= self.slots or self._waiters:
            future = asyncio.get_running_loop().create_future()
            self._waiters.append(future)
            try:
                await future
            except BaseException:
                if future.done() and not future.cancelled():
                    self.in_flight -= 1  # given a slot while being cancelled: give it back
                    self._wake()
                elif future in self._waiters:
                    self._waiters.remove(future)
                raise
        else:
            self.in_flight += 1
        return self._clock()

    def release(self) -> None:
        """Give a slot back."""
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.slots:
            future = self._waiters.popleft()
            if not future.done():
                self.in_flight += 1  # the slot passes straight to the waiter
                future.set_result(None)

    def succeed(self, taken_at: float | None = None) -> None:
        """A success (of a request whose slot was taken at ``taken_at``): one step back
        towards ``maximum``."""
        if taken_at is not None:
            took = max(0.0, self._clock() - taken_at)
            self.round_trip = took if not self.round_trip else 0.9 * self.round_trip + 0.1 * took
        if self.limit < self.maximum:
            self.limit = min(float(self.maximum), self.limit + self.increase)
            self._wake()

    def overloaded(self, taken_at: float = math.inf) -> bool:
        """An overload signal for a request whose slot was taken at ``taken_at``.

        Returns True when the limit was lowered (not when the signal is about a request
        taken before the last decrease).
        """
        now = self._clock()
        if taken_at <= self._decreased_at or now - self._decreased_at < self.round_trip:
            return False
        self.limit = max(1.0, self.limit * self.decrease)
        self.lowest = min(self.lowest, self.slots)
        self.decreases += 1
        self._decreased_at = now
        return True

    async def __aenter__(self) -> float:
        return await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()
