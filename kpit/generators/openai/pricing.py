"""Model prices and prompt caching, for costs, budgets and estimates.

Prices are US dollars per million tokens: input, output, and cached input (a prompt token
the provider read from its prompt cache, reported as
``usage.prompt_tokens_details.cached_tokens``). They are OpenAI's list prices, checked in
November 2026 against OpenAI's "Prompt Caching 201" cookbook (gpt-4o $2.50 / $1.25 cached,
gpt-4.1 $2.00 / $0.50; caching on gpt-4o and newer models) and OpenAI's pricing pages as
quoted by the prompt-caching announcement (gpt-4o-mini $0.075 cached) and the GPT-4.1
launch (75% off cached input for the family). The older models (gpt-4-turbo, gpt-4,
gpt-3.5-turbo, and the first gpt-4o snapshot, gpt-4o-2024-05-13) have no cached rate:
their cached tokens, if a server reports any, cost the full input rate. Check the
provider's page before a large job: prices change. Override or add models with the
backend's ``prices`` option or ``--price MODEL=INPUT,OUTPUT[,CACHED]``.

The Batch API costs half the list price. It gives no caching discount for the models
before GPT-5 (OpenAI's cookbook: "pre-GPT-5 models are not supported"), so through it
their cached tokens cost the batch input rate; for GPT-5 models (:data:`BATCH_CACHING`)
both discounts apply.

OpenAI caches a prompt's prefix from 1,024 tokens on, in steps of 128 tokens
(:func:`cacheable_tokens`; every :class:`Price` carries this rule unless told otherwise):
the dry run's estimate of caching follows the backend's price.

A budget reserves, before a request leaves, the most the request can cost
(:func:`most_tokens`): a token per byte of its text, which no byte-pair tokenizer exceeds,
at the full input rate, and ``max_tokens`` of reply (:data:`COMPLETION_RESERVE` when the
request sets none). A request whose cost stays unknown (a timeout, a dropped connection, in
flight when a run was killed) is charged that much.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from kpit.generators.base import Price
from kpit.prompts.tokens import IMAGE_TOKENS, MESSAGE_OVERHEAD
from kpit.types import Message

__all__ = [
    "BATCH_CACHING",
    "BATCH_DISCOUNT",
    "CACHE_INCREMENT",
    "CACHE_MIN_TOKENS",
    "COMPLETION_RESERVE",
    "PRICES",
    "Price",
    "batch_price",
    "cacheable_tokens",
    "most_tokens",
    "parse_price",
    "price_for",
    "price_of",
]


PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-2024-05-13": Price(5.00, 15.00),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-4-turbo": Price(10.00, 30.00),
    "gpt-4": Price(30.00, 60.00),
    "gpt-3.5-turbo": Price(0.50, 1.50),
}
"""List prices by model name (input, output, cached input); dated snapshots
(``gpt-4o-2024-08-06``) match their family unless listed themselves."""

BATCH_DISCOUNT = 0.5
"""The Batch API's price, as a fraction of the list price."""

BATCH_CACHING = ("gpt-5",)
"""Model families whose Batch API price discounts cached tokens too (OpenAI: GPT-5 and
later); through the Batch API the other models' cached tokens cost the batch input rate."""

_OPENAI_CACHING = Price(0.0, 0.0)
"""OpenAI's prompt caching, which is :class:`Price`'s default."""

CACHE_MIN_TOKENS = _OPENAI_CACHING.cache_min_tokens
"""The shortest prompt prefix OpenAI caches."""

CACHE_INCREMENT = _OPENAI_CACHING.cache_increment
"""OpenAI caches a prefix in steps of this many tokens (1,024, 1,152, 1,280...)."""


def cacheable_tokens(prefix_tokens: int) -> int:
    """How many of a prompt's ``prefix_tokens`` identical leading tokens OpenAI can serve
    from its cache: none below :data:`CACHE_MIN_TOKENS`, else whole steps of
    :data:`CACHE_INCREMENT` (:meth:`Price.cacheable_tokens` with OpenAI's rule)."""
    return _OPENAI_CACHING.cacheable_tokens(prefix_tokens)


COMPLETION_RESERVE = 4096
"""The reply tokens a request that sets no ``max_tokens`` is reserved for (kpit's replies
run to a few hundred; set ``max_tokens`` to make the budget's bound exact)."""

_PRIMING = 3
"""Tokens that prime a chat reply, beyond the messages."""


def most_tokens(
    messages: Iterable[Message], max_tokens: int | None = None, choices: int = 1
) -> tuple[int, int]:
    """The most prompt and completion tokens a chat request can cost: a token per UTF-8 byte
    of its messages (a byte-pair tokenizer never makes more), each message's overhead and
    ``IMAGE_TOKENS`` (:mod:`kpit.prompts.tokens`) per image; ``max_tokens`` (or
    :data:`COMPLETION_RESERVE`) for each of ``choices`` replies."""
    prompt = _PRIMING + sum(
        len(m.content.encode("utf-8", "surrogatepass")) + MESSAGE_OVERHEAD
        + IMAGE_TOKENS * len(m.images)
        for m in messages
    )  # fmt: skip
    return prompt, (max_tokens or COMPLETION_RESERVE) * max(choices, 1)


def price_for(model: str | None, overrides: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model``: an exact name, else the longest known prefix; ``None`` if unknown."""
    if not model:
        return None
    table = dict(PRICES) | dict(overrides or {})
    if model in table:
        return table[model]
    prefixes = [name for name in table if model.startswith(name + "-")]
    return table[max(prefixes, key=len)] if prefixes else None


def batch_price(price: Price, model: str | None) -> Price:
    """``price`` through the Batch API: half of it, cached tokens at the batch input rate
    unless the model is one of :data:`BATCH_CACHING`."""
    cached = None
    if price.cached_input is not None and (model or "").startswith(BATCH_CACHING):
        cached = price.cached_input * BATCH_DISCOUNT
    return replace(price, input=price.input * BATCH_DISCOUNT,
                   output=price.output * BATCH_DISCOUNT, cached_input=cached)  # fmt: skip


def parse_price(text: str) -> tuple[str, Price]:
    """``"gpt-4o=2.5,10,1.25"`` to ``("gpt-4o", Price(2.5, 10.0, 1.25))`` (the cached rate
    may be left out); ``ValueError`` if malformed."""
    model, sep, numbers = text.partition("=")
    parts = numbers.split(",")
    if not sep or not model.strip() or len(parts) not in (2, 3):
        raise ValueError(
            f"expected MODEL=INPUT,OUTPUT[,CACHED] (dollars per million tokens), not {text!r}"
        )
    return model.strip(), price_of([float(p) for p in parts])


def price_of(values: list[float]) -> Price:
    """A :class:`Price` from ``[input, output]`` or ``[input, output, cached]``."""
    if len(values) not in (2, 3) or any(v < 0 for v in values):
        raise ValueError(f"expected two or three prices of 0 or more, not {values!r}")
    return Price(values[0], values[1], values[2] if len(values) == 3 else None)
