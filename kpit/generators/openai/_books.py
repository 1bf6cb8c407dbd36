"""What the ``openai`` backend spends: its tokens and cost, the budget's reserves, and the
run's spend ledger.

:class:`SpendingBooks` keeps a session's figures and charges each reply's usage; before an
attempt leaves it reserves what the attempt may cost (:meth:`SpendingBooks._reserve`) and
writes the ledger's line for it, and when the attempt fails it charges what the attempt may
have cost (:meth:`SpendingBooks._settle_failed`): a request whose cost is unknown is never
free. The backend (:class:`~kpit.generators.openai.chat.OpenAIGenerator`) sends; these are
its books.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import Any

from kpit.errors import KpitError
from kpit.generators.base import (
    UNPRICED,
    CostBound,
    FatalGeneratorError,
    Price,
    StopGeneration,
    Usage,
)
from kpit.generators.openai._client import response_class
from kpit.generators.openai._retry import Retry
from kpit.prompts.tokens import count_message_tokens, estimate_tokens
from kpit.types import ChatRequest

__all__ = ["Charged", "Most", "SpendingBooks", "estimated_usage", "never_connected"]

log = logging.getLogger(__name__)

Most = tuple[int, int, float | None, int]
"""The most one attempt can cost (prompt tokens, completion tokens, dollars or ``None``
without a price: its reserve) and its prompt tokens as counted here."""
Charged = tuple[float, int, int, int, int, int]
"""What a session has charged: dollars, prompt, completion and cached tokens, and the prompt
and completion tokens without a price."""


class SpendingBooks:
    """A backend's spending: the session's figures, the budget and the spend ledger."""

    model: str | None
    stop_reason: str | None
    spend_log: Callable[[dict[str, Any]], None] | None
    max_cost: float | None
    _price: Price | None
    _halted: str | None

    def _start_books(self) -> None:
        """Nothing spent yet in this session."""
        self.prompt_tokens = self.completion_tokens = self.requests_sent = 0
        self.cached_tokens = 0  # prompt tokens the server read from its prompt cache
        self.cost = 0.0
        self.cache_saved = 0.0  # what the cached tokens cost less than at the input rate
        self.cost_before = 0.0  # spent by the run's earlier sessions
        self.usage_unknown = 0  # replies whose usage could not be read (malformed)
        self.usage_estimated = 0  # replies charged with tokens counted here (no usage read)
        self.bound_before = CostBound()  # what earlier sessions' replies cost at most
        self.bound = CostBound()  # what this session's replies cost at most
        self.cached_unknown = 0  # replies whose cached token count could not be read
        self._halted: str | None = None
        # The budget beyond the replies' usage (see _reserve and _settle_failed):
        self.reserved = 0.0  # dollars that the requests in flight may cost at most
        self._reserves = 0  # requests in flight holding a reserve
        self._budget_waiters: list[asyncio.Future[None]] = []
        self.cost_estimated = 0.0  # dollars charged at a reserve: what requests cost unknown
        self.reserve_charged = 0  # such requests
        self.earlier_priced = 0.0  # the earlier sessions' unpriced tokens, at this price
        self.unpriced = dict.fromkeys(UNPRICED, 0)  # tokens used without a price
        self._sends = 0  # requests written to the spend ledger

    def _charge(self, usage: Usage) -> None:
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.cached_tokens += usage.cached_tokens
        if self._price is not None:
            self.cost += self._price.cost(usage.prompt_tokens, usage.completion_tokens,
                                          usage.cached_tokens)  # fmt: skip
            self.cache_saved += self._price.saving(usage.cached_tokens)
        else:  # priced, and charged to a budget, by the first session that knows the price
            for key, tokens in zip(UNPRICED, (usage.prompt_tokens, usage.completion_tokens,
                                              usage.cached_tokens), strict=True):  # fmt: skip
                self.unpriced[key] += tokens
        self._check_budget()

    def _check_budget(self) -> None:
        spent = self.cost_before + self.cost
        if self.max_cost is not None and spent >= self.max_cost and self.stop_reason is None:
            self._budget_spent()

    def _budget_spent(self, next_cost: float | None = None) -> None:
        """Stop: the budget is spent, or has no room for the next request (``next_cost``)."""
        assert self.max_cost is not None
        figures = [f"${self.cost_before + self.cost:,.2f}"]
        if self.cost_before:
            figures.append(f"${self.cost_before:,.2f} of it in earlier sessions of this run")
        if next_cost is not None:
            figures.append(f"the next request may cost up to ${next_cost:,.2f}")
        self.stop_reason = f"the budget of ${self.max_cost:,.2f} is spent ({'; '.join(figures)})"
        log.warning("%s; no new requests are sent", self.stop_reason)
        self._wake_budget_waiters()

    # --- the budget's reserves and the spend ledger --------------------------------------

    def _likely(self, most: Most) -> Most:
        """The most an attempt of reserve ``most`` is likely to cost: the reserve until the
        run has learned what its replies cost (:class:`~kpit.generators.base.CostBound`)."""
        bound = self.bound_before.merge(self.bound)
        prompt, completion = bound.likely(most[3], most[0], most[1])
        usd = None if self._price is None else self._price.cost(prompt, completion)
        return prompt, completion, usd, most[3]

    async def _reserve(self, most: Most, key: str) -> float:
        """Reserve what an attempt may cost before it is sent; while the budget has no room
        for it, wait for the requests in flight to settle, and stop when none is left.

        Returns the dollars reserved (0 without a budget)."""
        usd = most[2]
        if self.max_cost is None or usd is None:
            return 0.0
        while True:
            if self.stop_reason is not None:
                raise StopGeneration(self.stop_reason, record=key)
            if self.cost_before + self.cost + self.reserved + usd <= self.max_cost:
                self.reserved += usd
                self._reserves += 1
                return usd
            if not self._reserves:  # nothing in flight can leave room for it
                self._budget_spent(usd)
                continue
            waiter = asyncio.get_running_loop().create_future()
            self._budget_waiters.append(waiter)
            await waiter

    def _release(self, usd: float) -> None:
        """The attempt that reserved ``usd`` has settled (its cost is charged)."""
        if usd:
            self._reserves -= 1
            self.reserved = self.reserved - usd if self._reserves else 0.0
            self._wake_budget_waiters()

    def _wake_budget_waiters(self) -> None:
        waiters, self._budget_waiters = self._budget_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _charged(self) -> Charged:
        """What this session has charged so far (to see what one reply added)."""
        unpriced = self.unpriced
        return (self.cost, self.prompt_tokens, self.completion_tokens, self.cached_tokens,
                unpriced[UNPRICED[0]], unpriced[UNPRICED[1]])  # fmt: skip

    def _log(self, record: dict[str, Any]) -> None:
        """One line of the run's spend ledger (none outside a run)."""
        if self.spend_log is not None:
            self.spend_log(record)

    def _log_send(self, key: str, most: Most) -> int:
        """The ledger's line for an attempt about to leave; a ledger that cannot be written
        stops the run before the request is sent."""
        self._sends += 1
        try:
            self._log({"send": self._sends, "key": key, "prompt_tokens": most[0],
                       "completion_tokens": most[1], "usd": most[2],
                       "counted_prompt_tokens": most[3]})  # fmt: skip
        except KpitError as exc:
            self._halted = "stopped: the spending cannot be recorded"
            raise FatalGeneratorError(exc.message, file=exc.file) from None
        return self._sends

    def _log_paid(self, ticket: int | None, before: Charged, *,
                  estimated: bool = False) -> None:  # fmt: skip
        """The ledger's line for what an attempt cost: what was charged since ``before``."""
        now = self._charged()
        cost, prompt, completion, cached = (now[i] - before[i] for i in range(4))
        if self._price is None:  # the tokens counted without a price, estimates included
            prompt, completion = now[4] - before[4], now[5] - before[5]
        usd = round(cost, 8) if self._price is not None else None
        record: dict[str, Any] = {"paid": ticket, "usd": usd, "prompt_tokens": prompt,
                                  "completion_tokens": completion,
                                  "cached_tokens": cached}  # fmt: skip
        if estimated:
            record["estimated"] = True
        try:
            self._log(record)
        except KpitError as exc:  # the request is paid and its reply kept; nothing more goes
            self._halted = f"stopped: the spending cannot be recorded ({exc.message})"
            log.error("%s: %s", exc.file, exc.message)

    def _settle_failed(self, ticket: int, before: Charged, most: Most,
                       exc: BaseException) -> None:  # fmt: skip
        """Charge a failed attempt: what its reply was charged since ``before``, else nothing
        where the server refused it or it never reached the server, else (its cost unknown)
        the most it could cost."""
        if self._charged() == before and _maybe_paid(exc):
            most = self._likely(most)
            self.reserve_charged += 1
            if most[2] is not None:
                self.cost += most[2]
                self.cost_estimated += most[2]
            else:
                self.unpriced[UNPRICED[0]] += most[0]
                self.unpriced[UNPRICED[1]] += most[1]
            self._log_paid(ticket, before, estimated=True)
            self._check_budget()
            return
        self._log_paid(ticket, before)


def estimated_usage(request: ChatRequest | None, text: str) -> Usage:
    """The tokens of ``request`` and a reply's ``text`` as counted here, marked estimated."""
    prompt = count_message_tokens(request.messages) if request is not None else 0
    return Usage(prompt, estimate_tokens(text), estimated=True)


def _maybe_paid(exc: BaseException) -> bool:
    """Whether a failed attempt may have been billed: not when the server refused it (an
    error status) or it never reached the server (no connection was made); otherwise (a
    timeout, a dropped connection, an unreadable reply, in flight when the run stopped) it
    may have been."""
    if isinstance(exc, FatalGeneratorError):  # a 4xx refusal
        return False
    if isinstance(exc, Retry) and exc.code in ("rate_limit", "server_error"):
        return False
    return not never_connected(exc)


def never_connected(exc: BaseException) -> bool:
    """Whether a failed attempt never reached the server: the HTTP library's ``ConnectError``
    or ``ConnectTimeout`` is among its causes (a server down, or a host that drops the
    packets), however the ``openai`` client wrapped it."""
    http = sys.modules.get(response_class().__module__.split(".")[0])
    unconnected = tuple(getattr(http, name) for name in ("ConnectError", "ConnectTimeout")
                        if isinstance(getattr(http, name, None), type))  # fmt: skip
    cause: BaseException | None = exc
    for _ in range(4):  # Retry <- the openai client's error <- the HTTP library's
        if cause is None:
            break
        if unconnected and isinstance(cause, unconnected):
            return True
        cause = cause.__cause__ or cause.__context__
    return False
