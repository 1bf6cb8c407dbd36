"""What the ``openai`` backend sends and reads back: kpit's messages as the chat API's message
dicts (images inline as base64 data URLs), a reply's text (or why it has none) as
:class:`Answer`, and its ``usage`` as :class:`Usage`."""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kpit.generators.base import GeneratorError, Usage
from kpit.types import Message


def image_url(image: str) -> str:
    """An image as a URL the API accepts: data and http URLs as they are, files as base64."""
    if image.startswith(("data:", "http://", "https://")):
        return image
    path = Path(image)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GeneratorError(f"cannot read the image: {exc.strerror}", file=path) from None
    mime = mimetypes.guess_type(path.name)[0] or "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def to_openai_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """kpit messages as the chat API's message dicts, images as ``image_url`` parts."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if not message.images:
            out.append({"role": message.role, "content": message.content})
            continue
        parts: list[dict[str, Any]] = [
            {"type": "image_url", "image_url": {"url": image_url(image)}}
            for image in message.images
        ]
        parts.append({"type": "text", "text": message.content})
        out.append({"role": message.role, "content": parts})
    return out


def read_usage(raw: Any) -> tuple[Usage | None, str]:
    """A reply's ``usage`` as :class:`Usage`, and what in it could not be read.

    Token counts must be whole numbers, 0 or more; an absent ``usage`` (some servers send
    none), one without its counts, and anything else malformed read as ``None`` and why
    (the tokens are unknown, never free). The cached prompt tokens come from
    ``prompt_tokens_details.cached_tokens``: absent or null reads as none cached; a
    malformed count (not a count, or more than the prompt tokens) also reads as none
    cached, the usage kept, and the second value says why.
    """
    if raw is None or raw == {}:
        return None, "the reply has no usage"
    if not isinstance(raw, Mapping):
        return None, f"usage is {type(raw).__name__}, not an object"
    counts = []
    for name in ("prompt_tokens", "completion_tokens"):
        if name not in raw:
            return None, f"usage has no {name}"
        value = _count(raw[name])
        if value is None:
            return None, f"{name} is {str(raw.get(name))[:40]!r}, not a count of tokens"
        counts.append(value)
    cached, fault = _cached(raw.get("prompt_tokens_details"), counts[0])
    return Usage(counts[0], counts[1], cached), fault


def _count(value: Any) -> int | None:
    """A token count: a whole number, 0 or more (``3.0`` too), else ``None``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _cached(details: Any, prompt_tokens: int) -> tuple[int, str]:
    """The cached prompt tokens in ``prompt_tokens_details``, and why 0 if it is malformed."""
    if details is None:
        return 0, ""
    if not isinstance(details, Mapping):
        return 0, f"prompt_tokens_details is {type(details).__name__}, not an object"
    raw = details.get("cached_tokens")
    if raw is None:
        return 0, ""
    cached = _count(raw)
    if cached is None:
        return 0, f"cached_tokens is {str(raw)[:40]!r}, not a count of tokens"
    if cached > prompt_tokens:
        return 0, f"cached_tokens ({cached}) is more than prompt_tokens ({prompt_tokens})"
    return cached, ""


@dataclass(frozen=True, slots=True)
class Answer:
    """A chat completion's first choice: its text, or why it has none.

    Attributes:
        text: the reply's text; ``None`` when it has none usable.
        error: why not (``malformed``, ``refusal``, ``content_filter``, ``length``,
            ``empty``), when ``text`` is ``None``.
        detail: words about it.
        finish_reason: the choice's ``finish_reason``, when it is a string.
    """

    text: str | None
    error: str | None = None
    detail: str = ""
    finish_reason: str | None = None


DETAIL_CHARS = 200
"""The most characters of a server's words (a refusal) kept in a failure's detail."""


def read_answer(completion: Any) -> Answer:
    """The text of a chat completion's first choice, or why it has none.

    ``message.content`` may be a string or a list of content parts (Mistral, some vLLM and
    TGI servers): the parts of type ``text`` are joined; parts of other types (a model's
    ``thinking``) are left out, a ``refusal`` part is a refusal. A reply is unusable when it
    has no choices or no message (``malformed``), when its content is of another shape
    (``malformed``: a number, an object, parts without text), when the model refused
    (``refusal``: ``content`` null and a ``refusal``), when the provider's filter stopped
    it (``finish_reason`` ``content_filter``), and when it has no text (``empty``, or
    ``length`` when the token limit cut it off before any). A reply cut off after some
    text keeps it, with its ``finish_reason`` ``length`` (the pipeline's to judge).
    """
    if not isinstance(completion, Mapping):
        return Answer(None, "malformed", f"the reply is {_kind(completion)}, not an object")
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices:
        return Answer(None, "malformed", "a reply without choices")
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, Mapping) else None
    if not isinstance(message, Mapping):
        return Answer(None, "malformed", "a reply whose choice has no message")
    finish = choice.get("finish_reason")
    finish = finish[:40] if isinstance(finish, str) else None
    if finish == "content_filter":
        return Answer(None, "content_filter", "the provider's content filter stopped the reply",
                      finish)  # fmt: skip
    text, refusal, fault = _content(message.get("content"))
    if refusal is None and isinstance(message.get("refusal"), str):
        refusal = message["refusal"]
    if refusal:
        return Answer(None, "refusal", f"the model refused: {refusal[:DETAIL_CHARS]}", finish)
    if fault:
        return Answer(None, "malformed", fault, finish)
    if not text:
        if finish == "length":
            return Answer(None, "length", "the token limit cut the reply off before any text",
                          finish)  # fmt: skip
        return Answer(None, "empty", "a reply without text", finish)
    return Answer(text, finish_reason=finish)


def _content(content: Any) -> tuple[str | None, str | None, str]:
    """``(text, refusal, fault)`` of a message's ``content``: a string, null, or parts."""
    if content is None or isinstance(content, str):
        return content, None, ""
    if not isinstance(content, list):
        return None, None, f"the reply's content is {_kind(content)}, not text"
    texts: list[str] = []
    kinds: list[str] = []
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if not isinstance(kind, str):
            return None, None, "the reply's content parts are not typed objects"
        kinds.append(kind[:40])
        if kind == "refusal":
            return None, str(part.get("refusal") or "(no words)"), ""
        if kind == "text":
            if not isinstance(part.get("text"), str):
                return None, None, "a text part of the reply's content has no text"
            texts.append(part["text"])
    if not texts and content:
        return None, None, f"the reply's content parts hold no text ({', '.join(kinds)[:100]})"
    return "".join(texts), None, ""


def _kind(value: Any) -> str:
    """What a JSON value is, in words (``a number``, ``a list``...)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else type(value).__name__
