"""The ``openai`` backend's options, the values no request could succeed with, and its
``prices`` option read as a table of prices."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kpit.errors import ConfigError
from kpit.generators.base import Price
from kpit.generators.openai.pricing import parse_price, price_of
from kpit.options import option


@dataclass(frozen=True)
class OpenAIOptions:
    """The ``openai`` backend's options (keyword arguments, or ``-O key=value``)."""

    base_url: str | tuple[str, ...] | None = option(
        None,
        "The server (default OPENAI_BASE_URL, else OpenAI's); several servers of one model "
        "as a list: each request goes to the one with the fewest in flight.",
    )
    api_key: str | None = option(
        None, "The key (default OPENAI_API_KEY); never stored or shown.", secret=True
    )
    organization: str | None = option(None, "OpenAI's organisation header.")
    project: str | None = option(None, "OpenAI's project header.")
    azure_endpoint: str | None = option(None, "Talk to Azure OpenAI at this endpoint instead.")
    api_version: str = option("2024-10-21", "Azure OpenAI's API version.")
    temperature: float | None = option(None, "Sampling temperature, sent when given.", minimum=0)
    top_p: float | None = option(None, "Nucleus sampling, sent when given.", minimum=0)
    max_tokens: int | None = option(None, "The longest reply, sent when given.", minimum=1)
    seed: int | None = option(None, "The server's sampling seed, sent when given.")
    extra_body: dict[str, Any] | None = option(
        None, "Extra request fields as a JSON object (e.g. vLLM's top_k)."
    )
    timeout: float = option(120.0, "Seconds per request (more than 0).", minimum=0)
    rpm: float | None = option(
        None,
        "Client-side limit: requests per minute (no second gets more than rpm/60).",
        minimum=0,
    )
    tpm: float | None = option(None, "Client-side limit: tokens per minute.", minimum=0)
    learn_limits: bool = option(
        True,
        "Pace to the limits the server announces (x-ratelimit-limit-requests/-tokens) too; "
        "without rpm/tpm the first request goes alone to learn them.",
    )
    max_retries: int = option(6, "Attempts after the first for retryable errors.", minimum=0)
    backoff: float = option(
        1.0, "The first retry's wait in seconds; doubles each retry.", minimum=0
    )
    backoff_max: float = option(
        60.0,
        "The longest wait between retries, and the longest pause a server's Retry-After may "
        "ask for, in seconds.",
        minimum=0,
    )
    max_cost: float | None = option(
        None, "Stop sending new requests once this many dollars are spent.", minimum=0
    )
    prices: dict[str, Any] | str | None = option(
        None,
        "Prices over the built-in table: {model: [input, output, cached]} dollars per "
        "million tokens (cached input optional), or 'MODEL=IN,OUT[,CACHED];MODEL=...'.",
    )


HEADERS = (("organization", "OPENAI_ORG_ID"), ("project", "OPENAI_PROJECT_ID"))
"""Options sent as HTTP headers, and the variables the ``openai`` client reads them from
when they are not given."""


def refuse_unworkable(options: OpenAIOptions) -> None:
    """Refuse, before any request, option values that no request could succeed with.

    A header value outside printable ASCII (HTTP headers carry nothing else; a line break
    would forge a header), a timeout of 0 or less (or not finite), and a number that is not
    a number (``nan``: a budget of ``nan`` would never stop a run).

    Raises:
        ConfigError: naming the option (and the variable it came from).
    """
    for item in dataclasses.fields(options):
        value = getattr(options, item.name)
        if isinstance(value, float) and math.isnan(value):
            raise ConfigError("must be a number, not nan", field=item.name)
    if not (options.timeout > 0 and math.isfinite(options.timeout)):
        raise ConfigError(f"must be a number of seconds above 0, not {options.timeout:g}: no "
                          "request could finish in time", field="timeout")  # fmt: skip
    for name, variable in HEADERS:
        given = getattr(options, name)
        value = given if given is not None else os.environ.get(variable)
        if value is None:
            continue
        bad = next((c for c in value if not " " <= c <= "~"), None)
        if bad is not None:
            where = name if given is not None else f"{name} (from {variable})"
            raise ConfigError(f"holds {bad!r}, which no HTTP header can carry (printable ASCII "
                              f"only): {value[:60]!r}", field=where)  # fmt: skip


def price_overrides(prices: Any) -> dict[str, Price]:
    """The ``prices`` option as a table of :class:`Price` by model."""
    overrides: dict[str, Price] = {}
    if isinstance(prices, Mapping):
        for model, value in prices.items():
            if isinstance(value, str):
                overrides[model] = parse_price(f"{model}={value}")[1]
            else:
                overrides[model] = price_of([float(v) for v in value])
    elif isinstance(prices, str):
        for item in prices.split(";"):
            model, price = parse_price(item)
            overrides[model] = price
    return overrides
