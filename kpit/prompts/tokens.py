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
from collections.abc import Callable, Iterable, Sequence

from kpit.types import Message

__all__ = [
    "CHARS_PER_TOKEN",
    "SharedPrefix",
    "common_prefix_tokens",
    "count_message_tokens",
    "encode",
    "estimate_tokens",
    "tokenizer_name",
]

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4.0
"""Characters per token of the estimate used when no ``o200k_base`` tokenizer loads."""
MESSAGE_OVERHEAD = 3
"""Tokens a chat message costs beyond its content (role and separators), as OpenAI counts."""
IMAGE_TOKENS = 765
"""Tokens of one high-detail 512x512-tiled image in GPT-4o's pricing (an estimate)."""


@functools.cache
def _encoder() -> tuple[str, Callable[[str], list[int]] | None]:
    try:
        import bpe_openai

        with warnings.catch_warnings():  # it loads its data with a deprecated importlib call
            warnings.simplefilter("ignore", DeprecationWarning)
            encoding = bpe_openai.get_encoding("o200k_base")
            encoding.encode("load the tables now")
        return "o200k_base (bpe-openai)", lambda text: _in_pieces(encoding.encode, text)
    except Exception as exc:  # not installed, or no wheel for this platform
        log.debug("bpe-openai unavailable: %s", exc)
    try:
        import tiktoken

        tik = tiktoken.get_encoding("o200k_base")
        return "o200k_base (tiktoken)", lambda text: _in_pieces(
            lambda piece: tik.encode(piece, disallowed_special=()), text
        )
    except Exception as exc:  # not installed, or cannot download the encoding offline
        log.debug("tiktoken unavailable: %s", exc)
    return f"estimate ({CHARS_PER_TOKEN:g} characters per token)", None


PIECE = 100_000
"""Characters the tokenizer reads at once: a longer text (a model's runaway answer of a
million characters) is read in pieces cut at white space, which the tokenizers refuse to
read whole ("Input too long to encode safely")."""


def _in_pieces(tokenize: Callable[[str], Iterable[int]], text: str) -> list[int]:
    """``text``'s token ids, read :data:`PIECE` characters at a time (cut after white space
    where there is some, so that a word is rarely split: the count may differ from the
    whole text's by a token a cut)."""
    if len(text) <= PIECE:
        return list(tokenize(text))
    ids: list[int] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + PIECE)
        if end < len(text):
            space = max(text.rfind(" ", start, end), text.rfind("\n", start, end))
            end = space + 1 if space > start else end
        ids.extend(tokenize(text[start:end]))
        start = end
    return ids


def tokenizer_name() -> str:
    """What counts tokens here: the o200k_base encoding, or the estimate."""
    return _encoder()[0]


def estimate_tokens(text: str) -> int:
    """Tokens of ``text`` (exact with a tokenizer, else estimated; at least 1 if non-empty)."""
    if not text:
        return 0
    tokens = encode(text)
    if tokens is not None:
        return len(tokens)
    return max(1, round(len(text) / CHARS_PER_TOKEN))


def encode(text: str) -> list[int] | None:
    """The ``o200k_base`` token ids of ``text``; ``None`` where no tokenizer loads."""
    tokenize = _encoder()[1]
    return None if tokenize is None else tokenize(text)


def count_message_tokens(messages: Iterable[Message]) -> int:
    """Prompt tokens of a chat request: contents, per-message overhead, attached images."""
    return _PRIMING + sum(_message_tokens(m, _tokenised(m.content)) for m in messages)


_PRIMING = 3
"""Tokens that prime every reply (``<|start|>assistant<|message|>``), counted in the prompt."""


def _tokenised(text: str) -> list[int] | str:
    """``text``'s token ids; the text itself where no tokenizer loads."""
    ids = encode(text)
    return text if ids is None else ids


def _message_tokens(message: Message, ids: list[int] | str) -> int:
    """One message's tokens, given its text as :func:`_tokenised` gives it."""
    text = estimate_tokens(ids) if isinstance(ids, str) else len(ids)
    return MESSAGE_OVERHEAD + text + IMAGE_TOKENS * len(message.images)


def common_prefix_tokens(first: Sequence[Message], second: Sequence[Message]) -> int:
    """The prompt tokens two chat requests begin with alike (see :class:`SharedPrefix`)."""
    shared = SharedPrefix()
    shared.add(first)
    return shared.add(second)


class SharedPrefix:
    """The prompt tokens that every request given to :meth:`add` begins with: what a
    provider's prompt cache can serve to all of them; and the prompt tokens of all of them
    together (:attr:`prompt_tokens`).

    A request is read as the tokens a chat model sees, counted as
    :func:`count_message_tokens` counts them: each message's header (its role), its images,
    its text. Messages that are the same in every request count whole; in the first one
    that differs, a header with the same role and the images they share count, then the
    common prefix of the two texts' token ids (of their characters, four to a token, where
    no tokenizer loads). The reply's priming tokens come after the prompt and never count.
    Each text is tokenised once: a message the same as the first request's is not again.
    """

    def __init__(self) -> None:
        self._first: tuple[Message, ...] = ()
        self._counts: list[int] = []  # tokens of each of the first request's messages
        self._ids: list[list[int] | str] = []  # its texts, as tokenised
        self.requests = 0
        self.tokens = 0
        """The identical leading tokens of every request so far."""
        self.prompt_tokens = 0
        """The prompt tokens of every request so far, together, as
        :func:`count_message_tokens` counts them."""

    def add(self, messages: Sequence[Message]) -> int:
        """Take one more request into account; return :attr:`tokens`."""
        if not self.requests:
            self._first = tuple(messages)
            self._ids = [_tokenised(m.content) for m in self._first]
            self._counts = list(map(_message_tokens, self._first, self._ids))
            self.tokens = sum(self._counts)
            self.prompt_tokens = _PRIMING + self.tokens
        else:
            common, total = self._compare(messages)
            self.tokens = min(self.tokens, common)
            self.prompt_tokens += total
        self.requests += 1
        return self.tokens

    def _compare(self, messages: Sequence[Message]) -> tuple[int, int]:
        """The tokens ``messages`` share with the first request, and all their tokens."""
        shared, total = 0, _PRIMING
        common: int | None = None  # known from the first message that differs
        for n, theirs in enumerate(messages):
            mine = self._first[n] if n < len(self._first) else None
            if mine == theirs:
                count = self._counts[n]
            else:
                ids = _tokenised(theirs.content)
                count = _message_tokens(theirs, ids)
                if common is None:
                    common = shared + (0 if mine is None else self._shared_in(n, theirs, ids))
            if common is None:
                shared += count
            total += count
        return (shared if common is None else common), total

    def _shared_in(self, n: int, theirs: Message, ids: list[int] | str) -> int:
        """Leading tokens of the first request's ``n``-th message that ``theirs`` shares."""
        mine = self._first[n]
        if mine.role != theirs.role:
            return 0
        total = MESSAGE_OVERHEAD - 1  # the header; the last token closes the message
        for image_a, image_b in zip(mine.images, theirs.images, strict=False):
            if image_a != image_b:
                return total
            total += IMAGE_TOKENS
        if mine.images != theirs.images:
            return total
        first = self._ids[n]
        if isinstance(first, str) or isinstance(ids, str):  # characters, four to a token
            return total + int(_common_length(mine.content, theirs.content) / CHARS_PER_TOKEN)
        return total + _common_length(first, ids)


def _common_length(a: Sequence[object], b: Sequence[object]) -> int:
    """How many leading items ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
