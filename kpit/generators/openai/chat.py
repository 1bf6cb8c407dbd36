"""The ``openai`` backend: any OpenAI-compatible chat completions server.

OpenAI, Azure OpenAI, vLLM, SGLang and Ollama all speak this API. The backend uses the
official ``openai`` client's async API and adds what a job of hundreds of thousands of
requests needs:

- client-side limits on requests and tokens per minute, given or announced by the server's
  ``x-ratelimit-*`` headers, paced so that no second holds more than its share
  (:class:`~kpit.generators.openai.ratelimit.RateLimiter`); a 429 that says a budget is
  spent pauses every request until the reset, one that does not delays only its own
  request and lowers the concurrency a step
  (:class:`~kpit.generators.openai.ratelimit.AdaptiveConcurrency`);
- retries with exponential backoff and jitter on 429, 5xx, timeouts, dropped connections
  and malformed replies; errors are classified by exception type and status code, never by
  message text; a request waiting out its backoff holds no concurrency slot;
- no retry for 4xx errors that cannot succeed (bad request, bad key): the run stops at
  once with one clear message instead of burning through the dataset;
- usage and cost: tokens per request, the running cost, and a budget (``max_cost``) that
  stops the run cleanly, never past it: before a request leaves, the most it can cost is
  reserved (:func:`~kpit.generators.openai.pricing.most_tokens`), and it is sent only if
  that fits beside what is spent and what the requests in flight may cost; the run's spend
  ledger (``spend_log``) has a line for it first, so that a killed run knows what it paid.

The API key comes from the environment (``OPENAI_API_KEY``) or the ``api_key`` option,
without the white space around it; it is never stored, logged, or shown in an error, and
neither are credentials in the server URL (``user:password@``, ``?api-key=``): see
:mod:`~kpit.generators.openai.credentials`.

The ``openai`` package is imported when the first client is made, not with this module:
registering the backend (every ``kpit`` command does) costs nothing.

Beside this module: the options (``_options``), the client and the lazy import of ``openai``
(``_client``), the request and usage shaping (``_wire``), which failures a retry can fix
(``_retry``), what the backend spends and its ledger (``_books``), and the servers of one
model it shares requests between (:mod:`~kpit.generators.openai.endpoints`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from kpit.errors import ConfigError
from kpit.generators.base import (
    UNPRICED,
    CostBound,
    FatalGeneratorError,
    Generator,
    GeneratorError,
    Price,
    Reply,
    StopGeneration,
    Usage,
    Validator,
    cached_share,
    stored_amount,
)
from kpit.generators.openai._books import Most, SpendingBooks, estimated_usage, never_connected
from kpit.generators.openai._client import make_client, openai_module, response_class
from kpit.generators.openai._options import (
    OpenAIOptions,
    price_overrides,
    refuse_unworkable,
)
from kpit.generators.openai._retry import Retry, refusal_retry
from kpit.generators.openai._wire import read_answer, read_usage, to_openai_messages
from kpit.generators.openai.credentials import (
    ServerURL,
    clean_key,
    protect_logs,
    public_url,
    redact,
    split_url,
)
from kpit.generators.openai.endpoints import Endpoint, Endpoints
from kpit.generators.openai.pricing import most_tokens, price_for
from kpit.generators.openai.ratelimit import AdaptiveConcurrency, RateLimiter
from kpit.prompts.tokens import (
    CHARS_PER_TOKEN,
    IMAGE_TOKENS,
    count_message_tokens,
)
from kpit.types import ChatRequest

if TYPE_CHECKING:
    import openai

__all__ = ["OpenAIGenerator", "OpenAIOptions", "redact"]  # redact: from .credentials

log = logging.getLogger(__name__)


WAITING_FACTOR = 4
"""Requests worked on per call in flight: the others wait out backoffs or rate limits."""

_DEPARTURES = ("connect_tcp.started", "connect_unix_socket.started",
               "send_request_headers.started")  # fmt: skip
"""HTTP core trace events at which a request is leaving (a new connection, or its headers)."""


def _public_url(url: str | None) -> str | None:
    """A URL as it may be shown: credentials and every query value as ``***``
    (``https://user:pass@host/v1?code=k`` -> ``https://***@host/v1?code=***``)."""
    return public_url(url)


class OpenAIGenerator(SpendingBooks, Generator):
    """Any OpenAI-compatible chat completions server.

    Options: :class:`OpenAIOptions` (keyword arguments, or ``-O key=value`` on the command
    line); ``kpit generate --generator openai --help-options`` lists them.
    """

    name = "openai"
    description = "any OpenAI-compatible chat server (OpenAI, Azure, vLLM, SGLang, Ollama)"
    accepts_images = True

    Options = OpenAIOptions
    options: OpenAIOptions

    def __init__(self, model: str | None = None, **options: Any) -> None:
        super().__init__(model or "gpt-4o", **options)
        opts = self.options
        refuse_unworkable(opts)  # before anything is sent: no request could succeed
        self._secret = clean_key(opts.api_key or os.environ.get("OPENAI_API_KEY"))
        self.base_urls = _server_urls(opts)
        self.base_url = self.base_urls[0] if self.base_urls else None
        self._azure = split_url(opts.azure_endpoint)
        default = self._azure if opts.azure_endpoint else split_url(None)
        servers = [split_url(url) for url in self.base_urls] or [default]
        protect_logs(self._secret, *(s for server in servers for s in server.secrets),
                     *self._azure.secrets, names=(*(n for server in servers for n in server.names),
                                                  *self._azure.names))  # fmt: skip
        self.timeout = opts.timeout
        self.max_retries = opts.max_retries
        self.backoff = opts.backoff
        self.backoff_max = opts.backoff_max
        self.max_cost = opts.max_cost
        self.endpoints = Endpoints(
            servers,
            make_limiter=lambda: RateLimiter(
                opts.rpm or None,
                opts.tpm or None,
                learn=opts.learn_limits,
                max_pause=opts.backoff_max,
            ),
            make_slots=lambda calls: AdaptiveConcurrency(calls),
            cooldown=opts.backoff,
            cooldown_max=opts.backoff_max,
        )
        self.params: dict[str, Any] = {
            k: getattr(opts, k)
            for k in ("temperature", "top_p", "max_tokens", "seed")
            if getattr(opts, k) is not None
        }
        self.extra_body = opts.extra_body
        self._price = self._resolve_price(opts.prices)
        if self.max_cost is not None and self._price is None:
            raise ConfigError(
                f"a budget needs the price of {self.model!r}, which kpit's table does not "
                "know: give it with --price MODEL=INPUT,OUTPUT[,CACHED] (dollars per million "
                "tokens) or the prices option",
                field="max_cost",
            )
        self._start_books()
        self._concurrency_set = False  # by generate (or the first call)

    def _resolve_price(self, prices: Any) -> Price | None:
        try:
            overrides = price_overrides(prices)
        except (ValueError, TypeError, IndexError) as exc:
            raise ConfigError(f"unreadable prices: {exc}", field="prices") from None
        base = price_for(self.model, overrides)
        return None if base is None else self._priced(base)

    def _priced(self, price: Price) -> Price:
        """What this backend pays for a model whose list price is ``price``."""
        return price

    # --- the clients --------------------------------------------------------------------

    @property
    def limiter(self) -> RateLimiter:
        """The first endpoint's pacing (the only one's, with one server)."""
        return self.endpoints.all[0].limiter

    @property
    def client(self) -> Any:
        """The first endpoint's ``openai`` async client, made on first use."""
        return self._client_of(self.endpoints.all[0])

    def _client_of(self, endpoint: Endpoint) -> Any:
        """The ``openai`` async client of ``endpoint``, made on first use."""
        if endpoint.client is None:
            endpoint.client = self._make_client(endpoint.server, endpoint)
        return endpoint.client

    def _make_client(self, server: ServerURL, endpoint: Endpoint) -> Any:
        # The pacing's turn ends when the request's bytes leave (see _on_request).
        async def on_request(request: Any) -> None:
            await self._on_request(endpoint, request)

        return make_client(self.options, self._secret, server, self._azure, on_request,
                           timeout=self.timeout)  # fmt: skip

    async def _on_request(self, endpoint: Endpoint, request: Any) -> None:
        """The HTTP client's request hook: end the pacing's turn when the bytes leave.

        The HTTP core's ``trace`` extension says when the connection is opened or the
        request's headers start going out, after the work that can delay a request on its
        way (the first request's lazy imports, a busy event loop); a transport that never
        reports it ends the turn here instead.
        """
        limiter = endpoint.limiter
        if not limiter.holding():
            return
        if endpoint.traced is False:
            limiter.sent()
            return

        async def trace(event: str, info: Mapping[str, Any]) -> None:
            if event.endswith(_DEPARTURES):
                endpoint.traced = True
                limiter.sent()

        request.extensions["trace"] = trace

    async def aclose(self) -> None:
        """Close the HTTP clients that were opened."""
        for endpoint in self.endpoints.all:
            if endpoint.client is not None:
                await endpoint.client.close()

    # --- reporting ----------------------------------------------------------------------

    def price(self) -> Price | None:
        """The model's price (given, or from the list of known prices); ``None`` if unknown."""
        return self._price

    def settings(self) -> dict[str, Any]:
        """Options, server (without credentials), parameters, limits, retries, budget and
        price; never the key."""
        given = self.options.base_url
        options = super().settings()["options"] | {
            "base_url": [_public_url(u) for u in given] if isinstance(given, (list, tuple))
            else _public_url(given),
            "azure_endpoint": _public_url(self.options.azure_endpoint),
        }  # fmt: skip
        shown = [_public_url(url) for url in self.base_urls]
        settings = super().settings() | {
            "options": options,
            "base_url": shown if len(shown) > 1 else _public_url(self.base_url),
            "params": dict(self.params),
            "extra_body": self.extra_body,
            "rpm": self.limiter.rpm,
            "tpm": self.limiter.tpm,
            "learn_limits": self.limiter.learn,
            "max_retries": self.max_retries,
            "max_cost": self.max_cost,
            "price_per_million": None if self._price is None else self._price.to_dict(),
        }  # fmt: skip
        if self.options.azure_endpoint:
            settings["azure_endpoint"] = _public_url(self.options.azure_endpoint)
        return settings

    def identity(self) -> dict[str, Any]:
        """Model and sampling settings; limits, budget and server may change on resume."""
        return {"name": self.name, "model": self.model, "params": dict(self.params),
                "extra_body": self.extra_body}  # fmt: skip

    def resume(self, earlier: Mapping[str, Any]) -> None:
        """Count what the run's earlier sessions spent against the budget: their cost, and
        the tokens they used without a price (``unpriced_*``) at this model's list price."""
        self.cost_before = stored_amount(earlier.get("cost_usd"))
        self.bound_before = CostBound.from_dict(earlier.get("cost_bound"))
        unpriced = [int(stored_amount(earlier.get(key))) for key in UNPRICED]
        price = self._list_price()
        if price is not None and any(unpriced):
            self.earlier_priced = price.cost(*unpriced)
            log.info("the run's earlier sessions used %s tokens without a price: $%.2f at "
                     "this one, counted as spent", f"{sum(unpriced[:2]):,}",
                     self.earlier_priced)  # fmt: skip
        self.cost_before += self.earlier_priced
        if self.max_cost is not None and self.cost_before >= self.max_cost:
            self._budget_spent()

    def _list_price(self) -> Price | None:
        """The model's list price (not a batch discount): what earlier sessions may have paid."""
        try:
            return price_for(self.model, price_overrides(self.options.prices))
        except (ValueError, TypeError, IndexError):
            return None

    def progress(self) -> dict[str, str]:
        """The running cost (of the run, against its budget), or the tokens used when the
        price is unknown."""
        if self._price is None:
            return {"tokens": f"{self.prompt_tokens + self.completion_tokens:,}"}
        if self.max_cost is not None:
            return {"cost": f"${self.cost_before + self.cost:,.2f} of ${self.max_cost:,.2f}"}
        return {"cost": f"${self.cost:,.2f}"}

    def totals(self) -> dict[str, Any]:
        """Requests sent, tokens, cost, throttling and budget pauses, replies without usage,
        the limits the server announced and the lowest concurrency reached; what the budget
        charged at a reserve (``cost_estimated_usd``, ``reserve_charged``), the tokens used
        without a price (``unpriced_*``) and what this session priced of the earlier ones
        (``earlier_priced_usd``)."""
        priced = self._price is not None
        limiters = [endpoint.limiter for endpoint in self.endpoints.all]
        return {
            "requests_sent": self.requests_sent,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens,
            "cached_share": cached_share(self.cached_tokens, self.prompt_tokens),
            "cost_usd": round(self.cost, 6) if self._price is not None else None,
            "cache_saved_usd": round(self.cache_saved, 6) if self._price is not None else None,
            "throttled": sum(limiter.throttled for limiter in limiters),
            "budget_pauses": sum(limiter.pauses for limiter in limiters),
            "usage_unknown": self.usage_unknown,
            "usage_estimated": self.usage_estimated,  # replies charged with counted tokens
            "cached_unknown": self.cached_unknown,
            "cost_estimated_usd": round(self.cost_estimated, 6) if priced else None,
            "reserve_charged": self.reserve_charged,
            "earlier_priced_usd": round(self.earlier_priced, 6) if priced else None,
            **self.unpriced,
            "cost_bound": self.bound.to_dict(),
            "learned_limits": self.learned_limits(),
            "concurrency_lowest": min(e.slots.lowest for e in self.endpoints.all)
            if self._concurrency_set else None,
            "endpoints": self.endpoints.report(),
        }  # fmt: skip

    def learned_limits(self) -> dict[str, float] | None:
        """The limits the server announced, per minute (``requests``, ``tokens``), if any:
        with several endpoints, the first's (each endpoint's are in ``totals()["endpoints"]``)."""
        return self.endpoints.all[0].learned_limits()

    def _most(self, request: ChatRequest) -> Most:
        """The most one attempt at ``request`` can cost: prompt and completion tokens, and
        dollars (``None`` without a price); and its prompt tokens as counted here."""
        choices = (self.extra_body or {}).get("n", 1)
        prompt, completion = most_tokens(request.messages, self.params.get("max_tokens"),
                                         choices if isinstance(choices, int) else 1)  # fmt: skip
        usd = None if self._price is None else self._price.cost(prompt, completion)
        return prompt, completion, usd, count_message_tokens(request.messages)

    async def _paid_send(self, request: ChatRequest, body: dict[str, Any], estimate: int,
                         most: Most, endpoint: Endpoint) -> Reply:  # fmt: skip
        """Send one attempt and read its reply, with the spend ledger's lines around it.

        :meth:`_reply` charges the reply's usage without awaiting anything, so what the
        session's figures gain across it is this reply's cost alone."""
        ticket = self._log_send(request.key, most)
        try:
            sent = await self._send(body, endpoint)
        except BaseException as exc:
            self._settle_failed(ticket, self._charged(), most, exc)
            raise
        before = self._charged()
        try:
            reply = self._reply(request, sent, estimate, endpoint)
        except BaseException as exc:
            self._settle_failed(ticket, before, most, exc)
            raise
        self._log_paid(ticket, before)
        usage = reply.usage
        if usage is not None and not usage.estimated and usage.prompt_tokens > 0:
            self.bound = self.bound.learn(most[3], usage.prompt_tokens, usage.completion_tokens)
        return reply

    # --- one request ----------------------------------------------------------------------

    def body(self, request: ChatRequest) -> dict[str, Any]:
        """The chat completions request body for ``request``."""
        messages = to_openai_messages(request.messages)
        body: dict[str, Any] = {"model": self.model, "messages": messages, **self.params}
        if self.extra_body:
            body.update(self.extra_body)
        return body

    def _estimate(self, request: ChatRequest) -> int:
        """Tokens to charge the token budget before the server counts them (cheaply)."""
        if self.limiter.tpm is None and not self.limiter.learn:
            return 0
        expected = int(self.params.get("max_tokens", 400))
        characters = sum(len(m.content) for m in request.messages)
        return (
            round(characters / CHARS_PER_TOKEN)
            + IMAGE_TOKENS * sum(len(m.images) for m in request.messages)
            + expected
        )

    async def generate(
        self,
        requests: Iterable[ChatRequest],
        *,
        concurrency: int = 8,
        validate: Validator | None = None,
        reply_retries: int = 0,
    ) -> AsyncIterator[Reply]:
        """As :meth:`Generator.generate`, with ``concurrency`` counting calls in flight.

        Requests that wait out a backoff or a rate limit hold no slot, so more of them are
        worked on than are sent at once.
        """
        self.endpoints.set_concurrency(concurrency)
        self._concurrency_set = True
        _ = self.client  # no key or a bad option fails here, before any request
        working = concurrency * WAITING_FACTOR * len(self.endpoints.all)
        replies = super().generate(requests, concurrency=working,
                                   validate=validate, reply_retries=reply_retries)  # fmt: skip
        async for reply in replies:
            yield reply

    async def complete(self, request: ChatRequest) -> Reply:
        """Send one chat request, paced by the rate limits, retrying what a retry can fix."""
        self._concurrency_set = True
        estimate = self._estimate(request)
        body = self.body(request)
        most = self._most(request)
        last_code, last_detail = "error", ""
        wait = 0.0
        backoffs = 0  # failed attempts that waited out a backoff (not a server's own wait)
        failed_on: set[int] = set()  # endpoints that just failed this request
        for attempt in range(self.max_retries + 1):
            if self.stop_reason is not None:
                raise StopGeneration(self.stop_reason, record=request.key)
            if attempt:
                await asyncio.sleep(wait)  # no slot held here
            taking = await self.endpoints.take(failed_on, stopped=self._stopping)
            if taking is None:
                raise StopGeneration(self._halted or self.stop_reason or "stopped",
                                     record=request.key)  # fmt: skip
            endpoint, taken = taking
            started = taken
            reserved = 0.0
            try:
                # Within the budget, with what the requests in flight may cost reserved:
                reserved = await self._reserve(self._likely(most), request.key)
                # Paced after taking a slot, so that each request goes out at its turn.
                started = await endpoint.limiter.acquire(estimate)
                halted = self._halted or self.stop_reason
                if halted is not None:
                    raise StopGeneration(halted, record=request.key)
                reply = await self._paid_send(request, body, estimate, most, endpoint)
            except Retry as retry:
                last_code, last_detail = retry.code, retry.detail
                if self._elsewhere(endpoint, retry, taken, failed_on):
                    wait = 0.0  # another endpoint is ready: the failure says nothing of it
                else:
                    told = self._wait_after(retry, endpoint, taken, started)
                    if told is None:
                        backoffs += 1
                    wait = self._backoff(backoffs) if told is None else told
                log.info("%s: %s (attempt %d), retrying in %.2g s", request.key, retry.detail,
                         attempt + 1, wait)  # fmt: skip
                continue
            finally:
                self._release(reserved)
                endpoint.limiter.release()  # it failed before leaving, or went untraced
                self.endpoints.give_back(endpoint)
                endpoint.limiter.settle()
            self.endpoints.answered(endpoint, taken)
            return reply
        raise GeneratorError(f"gave up after {self.max_retries + 1} attempts: {last_detail}",
                             code=last_code, record=request.key)  # fmt: skip

    def _stopping(self) -> bool:
        """Whether the run is stopping (a spent budget, a fatal error): no more attempts."""
        return self.stop_reason is not None or self._halted is not None

    def _budget_spent(self, next_cost: float | None = None) -> None:
        super()._budget_spent(next_cost)
        self.endpoints.wake()  # requests waiting for a server stop now, not after a cool-down

    def _elsewhere(self, endpoint: Endpoint, retry: Retry, taken: float,
                   failed_on: set[int]) -> bool:  # fmt: skip
        """Whether the next attempt goes to another endpoint at once: ``endpoint`` could
        not be reached or failed (it is counted against it: its slot was taken at
        ``taken``), and another one is ready. ``failed_on`` gathers the endpoints that
        failed the request, until none is left."""
        if not self.endpoints.failed(endpoint, retry.code, taken) or not self.endpoints.several:
            return False
        failed_on.add(endpoint.index)
        if self.endpoints.ready_besides(failed_on):
            return True
        failed_on.clear()  # every endpoint failed it: back off, then try them all again
        return False

    def _wait_after(self, retry: Retry, endpoint: Endpoint, taken: float,
                    started: float) -> float | None:  # fmt: skip
        """How long a failed request waits before its next attempt, and what a 429 slows.

        A 429 that says a budget is spent has paused every request until the reset (the
        limiter holds this one too) and slows the pace; any other 429 delays this request
        alone, for its ``Retry-After`` (at most ``backoff_max``), and lowers the
        concurrency a step. ``None``: the server said nothing, back off (exponentially in
        the attempts that did so: a 500 after a 429 waits as a first 500 would).
        """
        if retry.code == "rate_limit":
            endpoint.limiter.throttle(retry.spent, started)
            if retry.spent:
                return 0.0
            endpoint.slots.overloaded(taken)
            if retry.retry_after is not None:
                return endpoint.limiter.cap(retry.retry_after) * random.uniform(1.0, 1.1)
        return None

    def _backoff(self, attempt: int) -> float:
        wait = min(self.backoff_max, self.backoff * 2.0 ** (attempt - 1))
        return float(wait * random.uniform(0.5, 1.5))

    async def _send(self, body: dict[str, Any],
                    endpoint: Endpoint | None = None) -> tuple[Any, Mapping[str, str]]:  # fmt: skip
        """One call to ``endpoint`` (default: the first); retryable failures raise
        :class:`Retry`, hopeless ones are fatal."""
        openai = openai_module()
        endpoint = endpoint or self.endpoints.all[0]
        limiter = endpoint.limiter
        self.requests_sent += 1
        try:
            # The client's own request path (auth, base URL, Azure deployments, error types),
            # without its typed-parameter transform and response models: at tens of
            # requests a second their CPU cost delays every other request on the loop.
            client = self._client_of(endpoint)
            response = await client.post("/chat/completions", body=body,
                                         cast_to=response_class())  # fmt: skip
            return orjson.loads(response.content), response.headers
        except openai.APIStatusError as exc:
            status = exc.status_code
            headers = exc.response.headers if exc.response is not None else {}
            spent = limiter.observe(headers, refused=status == 429)
            retry = refusal_retry(status, self._message(exc), headers, spent=spent)
            if retry is not None:
                raise retry from None
            self._halted = f"stopped after a {status} error"  # nothing more goes out
            raise FatalGeneratorError(
                f"the server refused the request ({status} {type(exc).__name__}): "
                f"{self._message(exc)}",
                field="status",
            ) from None
        except openai.APITimeoutError as exc:
            if never_connected(exc):  # a host that drops the packets: as good as down
                raise Retry("connection", f"no connection within {self.timeout:g} s") from None
            raise Retry("timeout", f"no answer within {self.timeout:g} s") from None
        except openai.APIConnectionError as exc:
            raise Retry("connection", f"connection failed: {type(exc).__name__}") from None
        except (openai.APIResponseValidationError, ValueError) as exc:
            raise Retry("malformed", f"malformed reply: {type(exc).__name__}") from None
        finally:
            if endpoint.traced is None and limiter.holding():
                endpoint.traced = False  # answered, and the transport never said it left

    def _message(self, exc: openai.APIStatusError) -> str:
        return redact(str(exc.message), self._secret)[:300]

    def _reply(self, request: ChatRequest, sent: tuple[Any, Mapping[str, str]],
               estimate: int, endpoint: Endpoint) -> Reply:  # fmt: skip
        """The reply of a request the server answered: its text, or the failure of this
        request alone (a reply of another shape, a refusal, a filtered or empty reply), with
        its usage charged either way."""
        completion, headers = sent
        endpoint.limiter.observe(headers)
        endpoint.limiter.succeed()
        answer = read_answer(completion)
        body = completion if isinstance(completion, Mapping) else {}
        usage, extra = self._account(request, body.get("usage"), answer.text or "")
        if not usage.estimated:
            endpoint.limiter.correct(estimate, usage.prompt_tokens + usage.completion_tokens)
        model = body.get("model") if isinstance(body.get("model"), str) else None
        if answer.text is None:
            log.info("%s: %s", request.key, answer.detail)
            return Reply(request.key, error=answer.error, detail=answer.detail, usage=usage,
                         finish_reason=answer.finish_reason, model=model,
                         extra=extra)  # fmt: skip
        return Reply(request.key, text=answer.text, usage=usage,
                     finish_reason=answer.finish_reason, model=model, extra=extra)  # fmt: skip

    def _account(
        self, request: ChatRequest | None, raw: Any, text: str
    ) -> tuple[Usage, dict[str, Any]]:
        """Charge a reply's usage; where the server's is absent or unreadable, an estimate.

        Returns the usage charged (``estimated`` when kpit counted it: the prompt with the
        local tokenizer, the completion from ``text``), and what to store with the sample
        beside it: why the server's usage or cached count could not be used.
        """
        usage, fault = read_usage(raw)
        if usage is not None:
            self._charge(usage)
            if not fault:
                return usage, {}
            self.cached_unknown += 1  # the reply and its usage kept, its cache hits unknown
            if self.cached_unknown == 1:
                log.warning("a reply's cached token count is unreadable (%s): counted as none "
                            "cached, at the full input rate", fault)  # fmt: skip
            return usage, {"cached_unknown": fault}
        guess = estimated_usage(request, text)
        self.usage_estimated += 1
        if raw is not None and raw != {}:
            self.usage_unknown += 1
        if self.usage_estimated == 1:
            log.warning("%s: the reply is kept, its tokens counted here and charged to the "
                        "cost and the budget (marked estimated)", fault)  # fmt: skip
        self._charge(guess)
        return guess, ({"usage_unknown": fault} if raw is not None and raw != {} else {})


def _server_urls(options: OpenAIOptions) -> list[str]:
    """The servers' URLs: ``base_url`` (one, or several), else ``OPENAI_BASE_URL``; none for
    OpenAI's own. Several with Azure, or one named twice, are refused."""
    given = options.base_url
    urls = list(given) if isinstance(given, (list, tuple)) else [given] if given else []
    if not urls and os.environ.get("OPENAI_BASE_URL"):
        urls = [os.environ["OPENAI_BASE_URL"]]
    for url in urls:
        if not isinstance(url, str) or not url.strip():
            raise ConfigError(f"must be a server URL, not {public_url(str(url))!r}",
                              field="base_url")  # fmt: skip
    if len(urls) > 1 and options.azure_endpoint:
        raise ConfigError("Azure OpenAI takes one endpoint (azure_endpoint), not several "
                          "base URLs", field="base_url")  # fmt: skip
    same = [url.strip().rstrip("/") for url in urls]
    for i, url in enumerate(urls):
        if same[i] in same[:i]:
            raise ConfigError(f"{public_url(url)} is named twice", field="base_url")
    return urls
