"""Token estimates for prompts and replies.

kpit estimates tokens as one per four characters of text, the usual rule of thumb for
English with OpenAI's tokenizers (within about 10-15% for prose; numbers and coordinates
tokenise denser). Exact counts, where a tokenizer is installed, arrive with the OpenAI
backend.
"""

from __future__ import annotations

__all__ = ["estimate_tokens"]

CHARS_PER_TOKEN = 4.0


def estimate_tokens(text: str) -> int:
    """Approximate token count of ``text`` (at least 1 for non-empty text)."""
    if not text:
        return 0
    return max(1, round(len(text) / CHARS_PER_TOKEN))
