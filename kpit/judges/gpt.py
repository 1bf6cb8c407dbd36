"""The ``gpt`` judge: a model behind an OpenAI-compatible API, with LLaVA-Bench's rubric."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kpit.generators.base import GeneratorError
from kpit.generators.openai.chat import OpenAIGenerator
from kpit.judges.base import Judge
from kpit.types import ChatRequest, Message

__all__ = ["GPTJudge"]


class GPTJudge(Judge):
    """Reviews with a chat model (GPT-4o by default) through the ``openai`` backend.

    Takes the ``openai`` backend's options (``base_url``, ``api_key``, ``rpm``...);
    ``temperature`` defaults to 0.2 and ``max_tokens`` to 1024, as LLaVA's evaluation.
    """

    name = "gpt"
    description = "a chat model behind an OpenAI-compatible API (LLaVA-Bench's judge)"

    def __init__(self, model: str | None = None, **options: Any) -> None:
        super().__init__(model or "gpt-4o", **options)
        options = {"temperature": 0.2, "max_tokens": 1024} | options
        self.backend = OpenAIGenerator(self.model, **options)

    async def review(self, messages: Sequence[Message], key: str) -> str:
        request = ChatRequest(key, "judge", -1, "", tuple(messages))
        reply = await self.backend.complete(request)
        if reply.text is None:
            raise GeneratorError(reply.detail or "no review", code=reply.error, record=key)
        return reply.text

    def settings(self) -> dict[str, Any]:
        backend = self.backend.settings()
        return {"name": self.name, "model": self.model, "base_url": backend["base_url"],
                "params": backend["params"]}  # fmt: skip

    async def aclose(self) -> None:
        await self.backend.aclose()
