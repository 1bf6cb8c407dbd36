"""The ``gpt`` judge: a model behind an OpenAI-compatible API, with LLaVA-Bench's rubric."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from kpit.errors import GeneratorError
from kpit.generators.openai.chat import OpenAIGenerator, OpenAIOptions
from kpit.judges.base import Judge
from kpit.options import option
from kpit.types import ChatRequest, Message

__all__ = ["GPTJudge", "GPTJudgeOptions"]


@dataclass(frozen=True)
class GPTJudgeOptions(OpenAIOptions):
    """The ``gpt`` judge's options: the ``openai`` backend's, with LLaVA's evaluation
    settings as defaults (temperature 0.2, up to 1,024 tokens)."""

    temperature: float | None = option(0.2, "Sampling temperature (LLaVA's evaluation: 0.2).")
    max_tokens: int | None = option(1024, "The longest review (LLaVA's evaluation: 1024).")


class GPTJudge(Judge):
    """Reviews with a chat model (GPT-4o by default) through the ``openai`` backend.

    Options: :class:`GPTJudgeOptions`.
    """

    name = "gpt"
    description = "a chat model behind an OpenAI-compatible API (LLaVA-Bench's judge)"
    Options = GPTJudgeOptions
    options: GPTJudgeOptions

    def __init__(self, model: str | None = None, **options: Any) -> None:
        super().__init__(model or "gpt-4o", **options)
        given = {f.name: getattr(self.options, f.name) for f in fields(self.options)}
        self.backend = OpenAIGenerator(self.model, **given)
        self._usage: dict[str, dict[str, Any]] = {}

    async def review(self, messages: Sequence[Message], key: str) -> str:
        """The chat model's review; a failed request is a :class:`GeneratorError`."""
        request = ChatRequest(key, tuple(messages))
        reply = await self.backend.complete(request)
        if reply.usage is not None:
            self._usage[key] = reply.usage.to_dict()
        if reply.text is None:
            raise GeneratorError(reply.detail or "no review", code=reply.error, record=key)
        return reply.text

    def usage_of(self, key: str) -> dict[str, Any] | None:
        """The tokens the review asked for under ``key`` used (``None`` if none came back)."""
        return self._usage.pop(key, None)

    def resume(self, usages: Iterable[Mapping[str, Any]]) -> None:
        """Count the earlier reviews' stored usage, at the judge's price, against its
        budget (``max_cost``): a rerun into the same output never starts from $0."""
        price = self.backend.price()
        spent = 0.0 if price is None else price.cost_of_stored(usages)
        self.backend.resume({"cost_usd": spent})

    def settings(self) -> dict[str, Any]:
        """Name, model, server (without credentials) and sampling parameters."""
        backend = self.backend.settings()
        return {"name": self.name, "model": self.model, "base_url": backend["base_url"],
                "params": backend["params"]}  # fmt: skip

    async def aclose(self) -> None:
        """Close the backend's connections."""
        await self.backend.aclose()
