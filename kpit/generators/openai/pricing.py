"""Model prices, for cost estimates and budgets.

Prices are US dollars per million tokens, OpenAI's list prices at the time of writing
(check the provider's page before a large job: they change). Override or add models with
the backend's ``prices`` option or ``--price MODEL=INPUT,OUTPUT`` on the command line. The
Batch API costs half.
"""

from __future__ import annotations

from collections.abc import Mapping

from kpit.generators.base import Price

__all__ = ["BATCH_DISCOUNT", "PRICES", "Price", "parse_price", "price_for"]


PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4-turbo": Price(10.00, 30.00),
    "gpt-4": Price(30.00, 60.00),
    "gpt-3.5-turbo": Price(0.50, 1.50),
}
"""List prices by model name; dated snapshots (``gpt-4o-2024-08-06``) match their family."""

BATCH_DISCOUNT = 0.5
"""The Batch API's price, as a fraction of the list price."""


def price_for(model: str | None, overrides: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model``: an exact name, else the longest known prefix; ``None`` if unknown."""
    if not model:
        return None
    table = dict(PRICES) | dict(overrides or {})
    if model in table:
        return table[model]
    prefixes = [name for name in table if model.startswith(name + "-")]
    return table[max(prefixes, key=len)] if prefixes else None


def parse_price(text: str) -> tuple[str, Price]:
    """``"gpt-4o=2.5,10"`` to ``("gpt-4o", Price(2.5, 10.0))``; ``ValueError`` if malformed."""
    model, sep, numbers = text.partition("=")
    parts = numbers.split(",")
    if not sep or not model.strip() or len(parts) != 2:
        raise ValueError(f"expected MODEL=INPUT,OUTPUT (dollars per million tokens), not {text!r}")
    return model.strip(), Price(float(parts[0]), float(parts[1]))
