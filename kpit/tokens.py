"""Token counts for prompts and replies.

kpit counts tokens with OpenAI's ``o200k_base`` encoding (GPT-4o's) where a tokenizer can
load it: the ``bpe-openai`` package ships it and works offline; ``tiktoken`` is used when
it is installed and has the encoding at hand (it downloads it on first use, which fails
without a network). Otherwise the count is an estimate of one token per four characters,
the usual rule of thumb for English prose (coordinates tokenise denser).
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable, Iterable

from kpit.types import Message

__all__ = ["CHARS_PER_TOKEN", "count_message_tokens", "estimate_tokens", "tokenizer_name"]

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4.0
"""Characters per token of the estimate used when no ``o200k_base`` tokenizer loads."""
MESSAGE_OVERHEAD = 3
"""Tokens a chat message costs beyond its content (role and separators), as OpenAI counts."""
IMAGE_TOKENS = 765
"""Tokens of one high-detail 512x512-tiled image in GPT-4o's pricing (an estimate)."""


@functools.cache
def _encoder() -> tuple[str, Callable[[str], int] | None]:
    try:
        import bpe_openai

        with warnings.catch_warnings():  # it loads its data with a deprecated importlib call
            warnings.simplefilter("ignore", DeprecationWarning)
            encoding = bpe_openai.get_encoding("o200k_base")
            encoding.encode("load the tables now")
        return "o200k_base (bpe-openai)", lambda text: len(encoding.encode(text))
    except Exception as exc:  # not installed, or no wheel for this platform
        log.debug("bpe-openai unavailable: %s", exc)
    try:
        import tiktoken

        tik = tiktoken.get_encoding("o200k_base")
        return "o200k_base (tiktoken)", lambda text: len(tik.encode(text, disallowed_special=()))
    except Exception as exc:  # not installed, or cannot download the encoding offline
        log.debug("tiktoken unavailable: %s", exc)
    return f"estimate ({CHARS_PER_TOKEN:g} characters per token)", None


def tokenizer_name() -> str:
    """What counts tokens here: the o200k_base encoding, or the estimate."""
    return _encoder()[0]


def estimate_tokens(text: str) -> int:
    """Tokens of ``text`` (exact with a tokenizer, else estimated; at least 1 if non-empty)."""
    if not text:
        return 0
    count = _encoder()[1]
    if count is not None:
        return count(text)
    return max(1, round(len(text) / CHARS_PER_TOKEN))


def count_message_tokens(messages: Iterable[Message]) -> int:
    """Prompt tokens of a chat request: contents, per-message overhead, attached images."""
    total = 3  # every reply is primed with <|start|>assistant<|message|>
    for message in messages:
        total += MESSAGE_OVERHEAD + estimate_tokens(message.content)
        total += IMAGE_TOKENS * len(message.images)
    return total
