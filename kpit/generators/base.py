"""The abstract teacher-model backend.

A :class:`Generator` answers :class:`~kpit.types.ChatRequest` objects. Subclasses implement
:meth:`Generator.complete` for one request; :meth:`Generator.generate` runs many with
bounded concurrency and yields each :class:`Reply` as soon as it is ready, pulling requests
lazily so that a job of any size holds only what is in flight. A backend that sends
requests in bulk (a batch API) overrides :meth:`Generator.generate` instead.
"""

from __future__ import annotations

import asyncio
import logging
import math
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from kpit.errors import FatalGeneratorError, GeneratorError, StopGeneration
from kpit.options import NoOptions, parse_options, public_options
from kpit.types import ChatRequest

__all__ = [
    "TOKEN_FIELDS",
    "UNPRICED",
    "CostBound",
    "FatalGeneratorError",
    "Generator",
    "GeneratorError",
    "Price",
    "Reply",
    "StopGeneration",
    "Usage",
    "Validator",
    "cached_share",
    "stored_amount",
]

log = logging.getLogger(__name__)


TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "cached_tokens")
"""A usage's token counts, as stored with each sample and failure."""

UNPRICED = tuple(f"unpriced_{name}" for name in TOKEN_FIELDS)
"""The session totals of the tokens used while no price was known."""


def stored_amount(value: Any) -> float:
    """A count or an amount read back from a file or a manifest: 0 unless a number of 0 or
    more."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        return 0.0
    return float(value)


@dataclass(frozen=True, slots=True)
class Price:
    """What a model costs, in dollars per million tokens.

    Attributes:
        input: a prompt token.
        output: a completion token.
        cached_input: a prompt token the provider read from its prompt cache
            (``usage.prompt_tokens_details.cached_tokens``); ``None`` when the model has no
            cached rate, and such tokens cost the full ``input`` rate.
        cache_min_tokens: the shortest prompt prefix the provider caches (OpenAI's 1,024).
        cache_increment: the provider caches a prefix in steps of this many tokens
            (OpenAI's 128: 1,024, 1,152, 1,280...).
    """

    input: float
    output: float
    cached_input: float | None = None
    cache_min_tokens: int = field(default=1024, repr=False)
    cache_increment: int = field(default=128, repr=False)

    @property
    def cached_rate(self) -> float:
        """Dollars per million cached prompt tokens (the input rate when there is none)."""
        return self.input if self.cached_input is None else self.cached_input

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        """Dollars for that many tokens; ``cached_tokens`` are part of ``prompt_tokens``, as
        OpenAI reports them, and are charged at :attr:`cached_rate`."""
        cached = min(max(cached_tokens, 0), prompt_tokens)
        return ((prompt_tokens - cached) * self.input + cached * self.cached_rate
                + completion_tokens * self.output) / 1_000_000  # fmt: skip

    def cost_of_stored(self, usages: Iterable[Mapping[str, Any]]) -> float:
        """Dollars for usages read back from a file (:data:`TOKEN_FIELDS`); a usage whose
        counts are not all whole numbers of 0 or more is left out."""
        total = 0.0
        for usage in usages:
            tokens = [usage.get(name, 0) for name in TOKEN_FIELDS]
            if all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in tokens):
                total += self.cost(*tokens)
        return total

    def cacheable_tokens(self, prefix_tokens: int) -> int:
        """How many of a prompt's ``prefix_tokens`` identical leading tokens the provider can
        serve from its cache: none below ``cache_min_tokens``, else whole steps of
        ``cache_increment``."""
        if prefix_tokens < self.cache_min_tokens:
            return 0
        return prefix_tokens // self.cache_increment * self.cache_increment

    def saving(self, cached_tokens: int) -> float:
        """Dollars that ``cached_tokens`` cost less than they would at the full input rate."""
        return max(cached_tokens, 0) * (self.input - self.cached_rate) / 1_000_000

    def to_dict(self) -> dict[str, float | None]:
        """Return a JSON-ready dict (what a run manifest records)."""
        return {"input": self.input, "output": self.output, "cached_input": self.cached_input}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Price:
        """The inverse of :meth:`to_dict`; a manifest written before cached rates reads too."""
        cached = data.get("cached_input")
        return cls(float(data["input"]), float(data["output"]),
                   None if cached is None else float(cached))  # fmt: skip


@dataclass(frozen=True, slots=True)
class CostBound:
    """The most that a run's replies have cost so far, for the requests whose cost is unknown.

    A request's *reserve* (the most it can cost: every byte of its prompt a token, and its
    whole completion limit) is far above what replies cost (about ten times, for GPT-4o at
    the default limit). Once a reply with a reported usage is in, a request whose cost is
    unknown (in flight when the run was killed, timed out, dropped) is charged, and the
    budget reserves for each request in flight, the most the run's replies have cost: its
    prompt tokens as counted here times the highest ratio of billed to counted prompt tokens
    seen, and the longest completion seen, each at most the reserve. A reply longer than
    every earlier one can then go past the budget by that difference alone (at the end of a
    budget, the bound has learned from many replies).
    """

    LEARNED_AFTER: ClassVar[int] = 1
    """Replies with a reported usage before the bound replaces the reserve."""

    prompt_ratio: float = 0.0
    completion_tokens: int = 0
    replies: int = 0

    def learn(self, counted_prompt: int, prompt: int, completion: int) -> CostBound:
        """The bound with one reply's reported usage (its prompt counted ``counted_prompt``
        tokens here, and was billed ``prompt``)."""
        ratio = prompt / counted_prompt if counted_prompt > 0 else 1.0
        return CostBound(max(self.prompt_ratio, ratio),
                         max(self.completion_tokens, completion), self.replies + 1)  # fmt: skip

    def merge(self, other: CostBound) -> CostBound:
        """What two bounds learned, together."""
        return CostBound(max(self.prompt_ratio, other.prompt_ratio),
                         max(self.completion_tokens, other.completion_tokens),
                         self.replies + other.replies)  # fmt: skip

    def likely(
        self, counted_prompt: int, prompt_reserve: int, completion_reserve: int
    ) -> tuple[int, int]:
        """The prompt and completion tokens to charge for a request whose prompt counts
        ``counted_prompt`` tokens here, and whose reserve is the other two."""
        if self.replies < self.LEARNED_AFTER:
            return prompt_reserve, completion_reserve
        prompt = min(prompt_reserve, math.ceil(counted_prompt * self.prompt_ratio))
        return prompt, min(completion_reserve, self.completion_tokens)

    def to_dict(self) -> dict[str, float | int]:
        """Return a JSON-ready dict."""
        return {"prompt_ratio": self.prompt_ratio,
                "completion_tokens": self.completion_tokens, "replies": self.replies}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any) -> CostBound:
        """A bound read back from a manifest; anything unreadable is no bound."""
        if not isinstance(data, Mapping):
            return cls()
        values = [data.get(k) for k in ("prompt_ratio", "completion_tokens", "replies")]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                   for v in values):  # fmt: skip
            return cls()
        return cls(float(values[0]), int(values[1]), int(values[2]))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens a request used, as the server reported them (or as estimated).

    ``cached_tokens`` are the prompt tokens the provider served from its prompt cache (part of
    ``prompt_tokens``, billed at the cached rate); 0 where the server says nothing.
    ``estimated``: the server said nothing readable, and kpit counted the tokens itself (the
    prompt with a local tokenizer, the completion from the reply's text); such a usage is
    charged to the cost and the budget as a reported one is.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    estimated: bool = False

    def to_dict(self) -> dict[str, int | bool]:
        """Return a JSON-ready dict (with ``"estimated": true`` only for an estimate)."""
        out: dict[str, int | bool] = {
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens}  # fmt: skip
        if self.estimated:
            out["estimated"] = True
        return out


def cached_share(cached_tokens: int, prompt_tokens: int) -> float | None:
    """The share of the prompt tokens that were cached (4 decimals); ``None`` without any."""
    return round(cached_tokens / prompt_tokens, 4) if prompt_tokens else None


@dataclass(frozen=True, slots=True)
class Reply:
    """A backend's answer to one request: its text, or the reason it has none.

    Attributes:
        key: the request's key.
        text: the reply's text, or ``None`` on failure.
        error: a short failure code (``timeout``, ``rate_limit``, ``server_error``,
            ``length``, ``malformed``, ``refusal``, ``content_filter``, ``empty``,
            ``unchecked``, ``error``...) when ``text`` is ``None``.
        detail: words about the failure (never a secret).
        usage: tokens used (reported or estimated), when known; a failed reply that was paid
            for carries its usage too.
        finish_reason: why generation stopped (``stop``, ``length``...), when known.
        model: the model that answered, when known.
        extra: anything else worth storing with the sample.
    """

    key: str
    text: str | None = None
    error: str | None = None
    detail: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    model: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the reply has text."""
        return self.text is not None


Validator = Callable[[ChatRequest, "Reply"], str | None]
"""Says why a reply with text is unusable, or ``None``."""


class Generator(ABC):
    """A teacher-model backend.

    Class attributes:

    - ``name``: what ``--generator`` selects.
    - ``description``: one line for ``kpit plugins``.
    - ``accepts_images``: the backend can read images attached to messages.
    - ``supported_tasks``: the tasks the backend can write, by name; ``None`` (a model
      backend) writes any. A run refuses another task before it sends anything.
    - ``Options``: the backend's options, a frozen dataclass whose fields carry defaults and
      help (see :func:`kpit.options.option`); :class:`~kpit.options.NoOptions` if none.

    Args:
        model: the model name, if the backend has several.
        **options: the backend's options, parsed into ``self.options`` (an ``Options``
            instance); an unknown name or a bad value is a :class:`~kpit.errors.ConfigError`
            naming the option.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    accepts_images: ClassVar[bool] = False
    supported_tasks: ClassVar[tuple[str, ...] | None] = None
    Options: ClassVar[type[Any]] = NoOptions
    options: Any
    spend_log: Callable[[dict[str, Any]], None] | None = None
    """Set by the pipeline for a run: where a backend that pays per request writes, before a
    request leaves, what it may cost, and then what it did cost (the run's spend ledger,
    :class:`kpit.pipeline.store.SpendLedger`), so that a killed run's spending is known."""

    def __init__(self, model: str | None = None, **options: Any) -> None:
        self.model = model
        self.options = parse_options(type(self).Options, options, owner=f"generator {self.name!r}")
        self.stop_reason: str | None = None  # set when a StopGeneration ended the run early

    def attach(self, run_folder: Path) -> None:  # noqa: B027 - optional hook
        """Called with the run folder before :meth:`generate`, for backends with state to keep."""

    def resume(self, earlier: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Called before :meth:`generate` with what the run's earlier sessions spent (their
        summed :meth:`totals`), so that a budget counts per run, not per session."""

    def progress(self) -> dict[str, str]:
        """Figures for the progress bar (for example the running cost)."""
        return {}

    def totals(self) -> dict[str, Any]:
        """Figures for the run manifest (tokens used, dollars spent), when the backend counts."""
        return {}

    def price(self) -> Price | None:
        """What the backend's model costs per token, for estimates; ``None`` if unknown."""
        return None

    @abstractmethod
    async def complete(self, request: ChatRequest) -> Reply:
        """Answer one request; raise :class:`GeneratorError` (or return a failed Reply)."""

    def settings(self) -> dict[str, Any]:
        """The settings worth recording in a run manifest (the parsed options); never secrets."""
        return {"name": self.name, "model": self.model, "options": public_options(self.options)}

    def identity(self) -> dict[str, Any]:
        """The settings that shape the replies: a resumed run must keep them."""
        return self.settings()

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections and other resources."""

    async def generate(
        self,
        requests: Iterable[ChatRequest],
        *,
        concurrency: int = 8,
        validate: Validator | None = None,
        reply_retries: int = 0,
    ) -> AsyncIterator[Reply]:
        """Answer ``requests`` with at most ``concurrency`` in flight, yielding as they finish.

        Args:
            requests: pulled lazily, so a job of any size holds only what is in flight.
            concurrency: the number of requests worked on at once.
            validate: ``validate(request, reply)`` returns why a reply with text is unusable
                (cut off, unparseable, rejected by a filter), or ``None``.
            reply_retries: how many times to ask again for an unusable reply.

        A :class:`FatalGeneratorError`, or any error while building the requests, stops
        everything and is raised. A :class:`StopGeneration` stops pulling new requests and
        lets those in flight finish. Any other exception from :meth:`complete` becomes a
        failed :class:`Reply`.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        work = _Work(self, iter(requests), validate, reply_retries)
        workers = [asyncio.create_task(work.worker()) for _ in range(concurrency)]
        waiter = asyncio.create_task(_wait_all(workers))
        try:
            while True:
                getter = asyncio.create_task(work.done.get())
                finished, _ = await asyncio.wait(
                    {getter, waiter}, return_when=asyncio.FIRST_COMPLETED
                )
                if getter in finished:
                    yield getter.result()
                    continue
                getter.cancel()
                while not work.done.empty():
                    yield work.done.get_nowait()
                break
            if work.fatal:
                raise work.fatal[0]
            if work.stopped:
                self.stop_reason = work.stopped[0].message
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            waiter.cancel()


class _Work:
    """The state that the workers of one :meth:`Generator.generate` call share.

    The requests not yet pulled, the replies not yet yielded, and what stopped the work: a
    fatal error (raised by ``generate``) or a :class:`StopGeneration` (in flight finishes).
    """

    def __init__(
        self,
        generator: Generator,
        pending: Iterator[ChatRequest],
        validate: Validator | None,
        reply_retries: int,
    ) -> None:
        self.generator = generator
        self.pending = pending
        self.validate = validate
        self.reply_retries = reply_retries
        self.done: asyncio.Queue[Reply] = asyncio.Queue()
        self.fatal: list[BaseException] = []
        self.stopped: list[StopGeneration] = []

    async def worker(self) -> None:
        """Answer requests one after another until none is left or the work stops."""
        while not self.fatal and not self.stopped:
            try:
                request = next(self.pending)
            except StopIteration:
                return
            except BaseException as exc:  # building a request failed: stop, loudly
                self.fatal.append(exc)
                return
            try:
                reply = await self.answer(request)
            except Exception as exc:  # a bug here: stop loudly, never a silently dead worker
                self.fatal.append(exc)
                return
            if reply is None:
                return
            await self.done.put(reply)

    async def answer(self, request: ChatRequest) -> Reply | None:
        """The reply to ``request``, asked again while unusable; ``None`` when work stops.

        Every reply with text is checked (the last one too, so that a check that raises
        fails its own request here rather than the run later).
        """
        for attempt in range(self.reply_retries + 1):
            try:
                reply = await self.generator.complete(request)
            except StopGeneration as exc:
                self.stopped.append(exc)
                return None
            except FatalGeneratorError as exc:
                self.fatal.append(exc)
                return None
            except GeneratorError as exc:
                return Reply(request.key, error=exc.code, detail=str(exc))
            except Exception as exc:  # a backend bug must not lose the finished work
                return Reply(request.key, error="error", detail=f"{type(exc).__name__}: {exc}")
            if not reply.ok or self.validate is None:
                return reply
            try:
                reason = self.validate(request, reply)
            except Exception as exc:  # an unreadable reply fails alone; the run goes on
                log.warning("%s: the reply could not be checked (%s: %s)", request.key,
                            type(exc).__name__, exc)  # fmt: skip
                return replace(reply, text=None, error="unchecked",
                               detail=f"the reply could not be checked: {type(exc).__name__}: "
                                      f"{str(exc)[:200]}")  # fmt: skip
            if reason is None or attempt == self.reply_retries:
                return reply
            log.info("%s: asking again (%s)", request.key, reason)
        return reply


async def _wait_all(tasks: list[asyncio.Task[None]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)
