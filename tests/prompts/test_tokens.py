"""Counting tokens: the o200k_base encoding, on texts of any length."""

from __future__ import annotations

from kpit.prompts.tokens import PIECE, count_message_tokens, estimate_tokens
from kpit.types import Message


def test_a_runaway_answer_of_a_million_characters_is_counted() -> None:
    """A tokenizer refuses such a text whole ("Input too long to encode safely"): read in
    pieces cut at white space, it counts as the whole would, give or take a token a cut."""
    text = "pose " * 250_000  # 1,250,000 characters: 250,000 words, 250,001 tokens whole
    cuts = len(text) // PIECE
    assert abs(estimate_tokens(text) - 250_001) <= cuts
    assert estimate_tokens("a" * 1_000_001) > 0  # no white space to cut at
    message = Message("user", text)
    assert count_message_tokens([message]) >= 250_000  # a judge's request about it too


def test_a_short_text_is_read_whole() -> None:
    assert estimate_tokens("pose " * 100) == 101
