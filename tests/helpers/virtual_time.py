"""A virtual clock for the pacing tests: time moves only by what the client chose to wait.

The pacing tests run the real ``openai`` client against the real loopback server, on an
event loop whose clock is virtual:

- while a chat request is on its way (from the backend's ``_send`` until it returns) the
  clock stands still: a round trip takes no virtual time, however slow the machine;
- when no request is on its way, no task can run and no thread is working for the loop,
  the loop does not sleep until its next timer (a pacing wait, a spent budget's pause, a
  ``Retry-After``, a backoff): it moves the clock there at once.

The rate limiter, the adaptive concurrency and the server read the same clock, so the time
the server stamps on a request is the client's own departure time, and the times a test
asserts on are the schedule the client decided: the same on a busy machine as on an idle
one, and they change only when the pacing does.

    clock = VirtualTime()
    clock.install(monkeypatch, server)  # for the rest of the test
"""

from __future__ import annotations

import asyncio
import functools
import selectors
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Executor
from typing import Any, TypeVar

import pytest

from kpit.generators.openai import chat
from kpit.generators.openai.ratelimit import AdaptiveConcurrency, RateLimiter

from .openai_server import FakeOpenAI

T = TypeVar("T")

POLL = 0.05
"""Real seconds the loop waits for a reply at a time while the clock stands still."""


class VirtualTime:
    """The clock (``now``, or call it) and what holds it still (requests on their way,
    threads working for the loop)."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.in_flight = 0  # chat requests on their way
        self.in_threads = 0  # executor jobs the loop waits for

    def __call__(self) -> float:
        return self.now

    @property
    def held(self) -> bool:
        """True while something real is under way: the clock must wait for it."""
        return self.in_flight > 0 or self.in_threads > 0

    def install(self, monkeypatch: pytest.MonkeyPatch, server: FakeOpenAI) -> None:
        """Run every ``asyncio.run`` of the test on this clock, pace the ``openai`` backend
        by it, count its requests on their way, and stamp the server's requests with it."""
        clock = self

        def run(main: Coroutine[Any, Any, T], *, debug: bool | None = None) -> T:
            with asyncio.Runner(debug=debug, loop_factory=lambda: VirtualTimeLoop(clock)) as r:
                return r.run(main)

        send = chat.OpenAIGenerator._send

        async def counted_send(backend: chat.OpenAIGenerator, body: dict[str, Any],
                               *endpoint: Any) -> Any:  # fmt: skip
            clock.in_flight += 1
            try:
                return await send(backend, body, *endpoint)
            finally:
                clock.in_flight -= 1

        monkeypatch.setattr(asyncio, "run", run)
        monkeypatch.setattr(chat, "RateLimiter", functools.partial(RateLimiter, clock=clock))
        monkeypatch.setattr(chat, "AdaptiveConcurrency",
                            functools.partial(AdaptiveConcurrency, clock=clock))  # fmt: skip
        monkeypatch.setattr(chat.OpenAIGenerator, "_send", counted_send)
        monkeypatch.setattr(server, "clock", clock)


class _WarpingSelector(selectors.DefaultSelector):
    """The loop's selector: a wait for the next timer moves the virtual clock instead,
    unless something real is under way."""

    def __init__(self, clock: VirtualTime) -> None:
        super().__init__()
        self.clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout <= 0:
            return super().select(timeout)
        if self.clock.held:
            return super().select(min(timeout, POLL))
        self.clock.now += timeout
        return super().select(0)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a :class:`VirtualTime` clock."""

    def __init__(self, clock: VirtualTime) -> None:
        super().__init__(_WarpingSelector(clock))
        self._virtual = clock

    def time(self) -> float:
        return self._virtual.now

    def run_in_executor(  # type: ignore[override]
        self, executor: Executor | None, func: Callable[..., T], *args: Any
    ) -> Awaitable[T]:
        future = super().run_in_executor(executor, func, *args)
        self._virtual.in_threads += 1
        future.add_done_callback(lambda _: self._release_thread())
        return future

    def _release_thread(self) -> None:
        self._virtual.in_threads -= 1
