"""Client-side rate limits: requests and tokens per minute, paced evenly, slowed by 429s.

Providers enforce their per-minute limits over short slices of the minute, so a burst of a
whole minute's quota is refused. :class:`RateLimiter` therefore spaces requests evenly (a
generic cell rate algorithm): each request reserves the earliest start at which both the
request budget (one per ``60 / rpm`` seconds) and the token budget (its estimated tokens
at ``tpm / 60`` per second) allow it, so the limits are never exceeded. The server's usage
report corrects the token estimate afterwards. A 429 pauses every request for the
server's ``Retry-After`` and lowers the pace, which recovers gradually (additive increase,
multiplicative decrease).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable, Mapping

__all__ = ["RateLimiter", "parse_reset"]

log = logging.getLogger(__name__)

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?"
                       r"(?:(\d+(?:\.\d+)?)ms)?$")  # fmt: skip


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


class RateLimiter:
    """Paces requests under ``rpm`` requests and ``tpm`` tokens per minute (either optional).

    Args:
        rpm: requests per minute, or ``None`` for no limit.
        tpm: tokens per minute, or ``None`` for no limit.
        min_factor: the slowest pace a run of 429s can bring it to, as a fraction of the limits.
        max_pause: the longest pause a server can ask for (``Retry-After``, a reset header),
            in seconds; longer asks are cut to it with a warning, so that a server saying
            ``1e9`` cannot hang a run. ``None``: no cap.
        margin: pace this fraction under the limits (default 1%), so that the jitter of
            real sends never pushes a slice of the minute over them.
        clock, sleep: injectable for tests.
    """

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        min_factor: float = 0.25,
        margin: float = 0.01,
        max_pause: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive")
        self.rpm, self.tpm = rpm, tpm
        self.ceiling = 1.0 - margin
        self.factor = self.ceiling  # pace as a fraction of the limits, lowered by 429s
        self.min_factor = min_factor
        self.max_pause = max_pause
        self.capped = 0  # pauses cut to max_pause
        self._clock, self._sleep = clock, sleep
        self._next_request = 0.0
        self._next_token = 0.0
        self._paused_until = 0.0
        self._last_start = -1e9
        self.throttled = 0  # 429s seen

    @property
    def active(self) -> bool:
        """True when any limit is set."""
        return self.rpm is not None or self.tpm is not None

    def reserve(self, tokens: int) -> float:
        """Reserve a start time for a request of ``tokens``; return the seconds to wait."""
        now = self._clock()
        start = max(now, self._paused_until)
        if self.rpm is not None:
            start = max(start, self._next_request)
            self._next_request = start + 60.0 / (self.rpm * self.factor)
        if self.tpm is not None:
            start = max(start, self._next_token)
            self._next_token = max(self._next_token, start) + tokens * 60.0 / (
                self.tpm * self.factor
            )
        return start - now

    async def acquire(self, tokens: int) -> None:
        """Wait until a request of ``tokens`` (estimated) may start."""
        delay = self.reserve(tokens)
        if delay > 0:
            await self._sleep(delay)  # type: ignore[misc]
        await self.wait_if_paused()
        if self.rpm is not None:
            # A request that woke late must not go out right before the next one: keep the
            # spacing between actual starts, so no slice of the minute sees a burst.
            gap = self._last_start + 60.0 / (self.rpm * self.factor) - self._clock()
            if gap > 0:
                await self._sleep(gap)  # type: ignore[misc]
            self._last_start = self._clock()

    async def wait_if_paused(self) -> None:
        """Wait out a pause (a 429 may arrive while a request waits for its turn)."""
        now = self._clock()
        while now < self._paused_until:
            await self._sleep(self._paused_until - now)  # type: ignore[misc]
            now = self._clock()

    def correct(self, estimated: int, actual: int) -> None:
        """Charge the token budget with the server's count instead of the estimate."""
        if self.tpm is not None and actual != estimated:
            self._next_token += (actual - estimated) * 60.0 / (self.tpm * self.factor)

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` from now (at most :attr:`max_pause`)."""
        if self.max_pause is not None and not seconds <= self.max_pause:
            if not self.capped:
                log.warning("the server asked to wait %g s; waiting %g s instead (the "
                            "longest pause allowed: backoff_max)", seconds,
                            self.max_pause)  # fmt: skip
            self.capped += 1
            seconds = self.max_pause
        self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    def throttle(self, retry_after: float | None) -> None:
        """A 429: pause for ``retry_after`` (or a second) and slow the pace down."""
        self.throttled += 1
        self.pause(retry_after if retry_after is not None else 1.0)
        self.factor = max(self.min_factor, self.factor * 0.8)

    def succeed(self) -> None:
        """A success: let the pace recover towards the limits."""
        if self.factor < self.ceiling:
            self.factor = min(self.ceiling, self.factor + 0.01)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Pause when the server says a budget is spent (``x-ratelimit-remaining-*`` of 0)."""
        for kind in ("requests", "tokens"):
            remaining = headers.get(f"x-ratelimit-remaining-{kind}")
            if remaining is not None and remaining.strip() == "0":
                reset = parse_reset(headers.get(f"x-ratelimit-reset-{kind}"))
                if reset:
                    self.pause(reset)
