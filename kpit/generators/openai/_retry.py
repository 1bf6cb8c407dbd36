"""The ``openai`` backend's failed attempts that another may fix, and what a refusal said."""

from __future__ import annotations

from collections.abc import Mapping

from kpit.generators.openai.ratelimit import retry_after

RETRYABLE_STATUS = frozenset({408, 409, 429})
"""Status codes below 500 worth retrying (timeout, conflict, rate limit)."""


class Retry(Exception):
    """A failed attempt worth another: why, and what a 429 said."""

    def __init__(self, code: str, detail: str, *, spent: bool = False,
                 retry_after: float | None = None) -> None:  # fmt: skip
        super().__init__(detail)
        self.code, self.detail = code, detail
        self.spent = spent  # a 429 whose headers say a budget is spent
        self.retry_after = retry_after


def refusal_retry(
    status: int, message: str, headers: Mapping[str, str], *, spent: bool
) -> Retry | None:
    """The retry that a request the server refused with ``status`` is worth, if any.

    A 429 (``spent``: its headers say a budget is spent) waits as the server says, a 5xx or
    another :data:`RETRYABLE_STATUS` backs off; ``None``: no retry can help (a bad request,
    a bad key).
    """
    if status == 429:
        return Retry("rate_limit", f"429 {message}", spent=spent, retry_after=retry_after(headers))
    if status >= 500 or status in RETRYABLE_STATUS:
        return Retry("server_error", f"{status} {message}")
    return None
