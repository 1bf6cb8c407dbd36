"""Several servers of one model behind one backend: least-outstanding routing, set-asides.

A team that serves an open-weight teacher on several GPUs runs several vLLM, SGLang or TGI
replicas of one model, each at its own URL. The ``openai`` backend takes them all
(``base_url`` given several times) and :class:`Endpoints` shares the requests out:

- each attempt goes to the endpoint with the fewest requests in flight (ties go round in
  turn), among those with a free slot; each endpoint has its own pacing (the limits given,
  ``rpm`` and ``tpm``, apply to each, and each learns what its server announces) and its
  own adaptive concurrency (``--concurrency`` calls in flight at most, each);
- an endpoint that fails to connect or answers 5xx :data:`STRIKES` times in a row is set
  aside: no request goes to it for a cool-down (the backend's ``backoff``, doubled at each
  set-aside in a row, at most ``backoff_max``), then one request at a time goes to it until
  one is answered. A request whose attempt failed there is tried at once on another
  endpoint, with no backoff: the failure said nothing about the others;
- when every endpoint is set aside, requests wait for the first cool-down to end: a run
  whose servers all restart at once goes on when they are back.

With one endpoint nothing changes: the endpoint is never set aside (there is nowhere else
to go; the retries and their backoff do the waiting).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kpit.generators.openai.credentials import ServerURL
from kpit.generators.openai.ratelimit import AdaptiveConcurrency, RateLimiter

__all__ = ["DEFAULT_URL", "STRIKES", "Endpoint", "Endpoints"]

log = logging.getLogger(__name__)

STRIKES = 3
"""Failures to connect or 5xx answers in a row that set an endpoint aside."""

SETTING_ASIDE = frozenset({"connection", "server_error"})
"""The kinds of failed attempt (``Retry.code``) that count against an endpoint: it could not
be reached or it failed. A timeout, a 429 or an unreadable reply are not: the server is up."""

DEFAULT_URL = "https://api.openai.com/v1"
"""The server of a backend given no URL (the ``openai`` client's default)."""


@dataclass(eq=False)
class Endpoint:
    """One server: its URL taken apart, its client, pacing, slots and what it did."""

    index: int
    server: ServerURL = field(repr=False)  # its credentials, as headers and query
    limiter: RateLimiter = field(repr=False)
    slots: AdaptiveConcurrency = field(repr=False)
    client: Any = field(default=None, repr=False)  # made on first use
    traced: bool | None = None  # whether the HTTP core reports this server's departures
    answered: int = 0  # attempts the server answered (a reply, usable or not)
    failed: int = 0  # attempts that failed to connect or got a 5xx
    set_aside: int = 0  # times it was set aside
    strikes: int = 0  # failures in a row
    asides_in_a_row: int = 0  # set-asides with no answer between them
    aside_until: float | None = None  # set aside until then; after it, one request at a time
    aside_since: float = -1.0  # when it was last set aside

    @property
    def public(self) -> str:
        """The URL as it may be shown and stored: no credentials."""
        return self.server.public or DEFAULT_URL

    def learned_limits(self) -> dict[str, float] | None:
        """The limits its server announced, per minute (``requests``, ``tokens``), if any."""
        learned = self.limiter.learned
        return {f"{kind}_per_minute": learned[kind] for kind in sorted(learned)} or None

    def report(self) -> dict[str, Any]:
        """What the manifest keeps of it: what it did, its learned limits, its lowest
        concurrency."""
        return {
            "answered": self.answered,
            "failed": self.failed,
            "set_aside": self.set_aside,
            "learned_limits": self.learned_limits(),
            "concurrency_lowest": self.slots.lowest,
        }


class Endpoints:
    """The endpoints of one backend and the choice of one for each attempt.

    Args:
        servers: the servers' URLs taken apart, in the order given.
        make_limiter: makes an endpoint's pacing.
        make_slots: makes an endpoint's concurrency for a number of calls in flight.
        cooldown: the first set-aside's length, in seconds (doubled at each in a row).
        cooldown_max: the longest set-aside, in seconds.
        clock: the monotonic clock; injectable for tests.
    """

    def __init__(
        self,
        servers: Sequence[ServerURL],
        *,
        make_limiter: Callable[[], RateLimiter],
        make_slots: Callable[[int], AdaptiveConcurrency],
        cooldown: float = 1.0,
        cooldown_max: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make_slots = make_slots
        self.all = [Endpoint(i, server, make_limiter(), make_slots(8))
                    for i, server in enumerate(servers)]  # fmt: skip
        self.shown = _shown_urls(self.all)
        self.cooldown, self.cooldown_max = cooldown, cooldown_max
        self._clock = clock
        self._turn = 0  # where ties start: the endpoint after the last one chosen
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def several(self) -> bool:
        """True with more than one endpoint."""
        return len(self.all) > 1

    def set_concurrency(self, calls: int) -> None:
        """Allow ``calls`` calls in flight on each endpoint (a run's ``--concurrency``)."""
        for endpoint in self.all:
            endpoint.slots = self._make_slots(calls)

    # --- choosing ---------------------------------------------------------------------

    def _ready(self, endpoint: Endpoint, now: float) -> bool:
        """Whether an attempt may go to ``endpoint`` now: not set aside, or its cool-down
        over and nothing of its own in flight (one request at a time tells if it is back)."""
        if endpoint.aside_until is None:
            return True
        return now >= endpoint.aside_until and endpoint.slots.in_flight == 0

    def ready_besides(self, avoid: set[int]) -> bool:
        """Whether an endpoint outside ``avoid`` (indices) may take an attempt now."""
        now = self._clock()
        return any(e.index not in avoid and self._ready(e, now) for e in self.all)

    async def take(
        self, avoid: set[int] | None = None, *, stopped: Callable[[], bool] = lambda: False
    ) -> tuple[Endpoint, float] | None:
        """Wait for a slot on the endpoint with the fewest requests in flight; return it and
        when its slot was taken (for :meth:`AdaptiveConcurrency.overloaded`).

        Endpoints in ``avoid`` (indices: those that just failed this request) are chosen
        only when no other is ready, and endpoints pausing for a spent rate-limit budget
        only when no other has a free slot. ``None`` once ``stopped()`` is true (checked
        whenever something changes: :meth:`wake`).
        """
        if not self.several:
            endpoint = self.all[0]
            return endpoint, await endpoint.slots.acquire()
        while not stopped():
            now = self._clock()
            ready = [e for e in self.all if self._ready(e, now)]
            preferred = [e for e in ready if e.index not in (avoid or ())] or ready
            free = [e for e in preferred if e.slots.in_flight < e.slots.slots]
            if free:
                count = len(self.all)
                best = min(free, key=lambda e: (e.limiter.paused_for() > 0, e.slots.in_flight,
                                                (e.index - self._turn) % count))  # fmt: skip
                self._turn = (best.index + 1) % count
                return best, await best.slots.acquire()  # free: returns at once
            await self._changed(self._next_cooldown_end(now))
        return None

    def _next_cooldown_end(self, now: float) -> float | None:
        """Seconds until the first set-aside ends (``None``: none is waiting to end)."""
        ends = [e.aside_until for e in self.all
                if e.aside_until is not None and e.aside_until > now]  # fmt: skip
        return min(ends) - now if ends else None

    async def _changed(self, timeout: float | None) -> None:
        """Wait until a slot is given back or an endpoint's state changes (or ``timeout``)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait([waiter], timeout=timeout)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def wake(self) -> None:
        """Wake the requests waiting for an endpoint, to look again (the run stopping)."""
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # --- what happened ----------------------------------------------------------------

    def give_back(self, endpoint: Endpoint) -> None:
        """The attempt that took a slot on ``endpoint`` has ended."""
        endpoint.slots.release()
        self._wake()

    def answered(self, endpoint: Endpoint, taken_at: float) -> None:
        """``endpoint`` answered (a reply, usable or not): it is up."""
        endpoint.answered += 1
        if endpoint.aside_until is not None:
            log.warning("%s answers again: back in use", self.shown[endpoint.index])
        endpoint.strikes = endpoint.asides_in_a_row = 0
        endpoint.aside_until = None
        endpoint.slots.succeed(taken_at)
        self._wake()

    def failed(self, endpoint: Endpoint, code: str, taken_at: float = float("inf")) -> bool:
        """An attempt on ``endpoint`` (its slot taken at ``taken_at``) failed with ``code``
        (``Retry.code``); with several endpoints, set it aside after :data:`STRIKES` in a
        row, or at once when it fails again after a cool-down. Attempts taken before it
        was set aside say nothing new: they are counted, and change nothing. Returns True
        when it counts against the endpoint."""
        if code not in SETTING_ASIDE:
            return False
        endpoint.failed += 1
        now = self._clock()
        cooling = endpoint.aside_until is not None and now < endpoint.aside_until
        if not self.several or taken_at <= endpoint.aside_since or cooling:
            return True  # sent before it was set aside, or while it is: nothing new
        endpoint.strikes += 1
        if endpoint.aside_until is not None or endpoint.strikes >= STRIKES:
            wait = min(self.cooldown_max, self.cooldown * 2.0**endpoint.asides_in_a_row)
            endpoint.set_aside += 1
            endpoint.asides_in_a_row += 1
            endpoint.aside_since, endpoint.aside_until = now, now + wait
            log.warning("%s set aside for %.3g s: %d failures to connect or 5xx in a row",
                        self.shown[endpoint.index], wait, endpoint.strikes)  # fmt: skip
            self._wake()
        return True

    def report(self) -> dict[str, dict[str, Any]]:
        """Each endpoint's figures by its URL as shown (no credentials), for the manifest."""
        return {self.shown[e.index]: e.report() for e in self.all}


def _shown_urls(endpoints: Sequence[Endpoint]) -> list[str]:
    """Each endpoint's URL as it may be shown, told apart by ``#N`` (its place, from 1) where
    two show the same (they differ in credentials, or in a query value)."""
    shown = [e.public for e in endpoints]
    return [url if shown.count(url) == 1 else f"{url} #{n}" for n, url in enumerate(shown, 1)]
