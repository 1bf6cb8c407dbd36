"""What the ``openai`` backend sends and reads back: kpit's messages as the chat API's message
dicts (images inline as base64 data URLs), and a reply's ``usage`` as :class:`Usage`."""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Mapping
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

    Token counts must be whole numbers, 0 or more; an absent ``usage`` reads as zero (some
    servers send none), anything else malformed as ``None`` and why. The cached prompt
    tokens come from ``prompt_tokens_details.cached_tokens``: absent or null reads as none
    cached; a malformed count (not a count, or more than the prompt tokens) also reads as
    none cached, the usage kept, and the second value says why.
    """
    if raw is None or raw == {}:
        return Usage(), ""
    if not isinstance(raw, Mapping):
        return None, f"usage is {type(raw).__name__}, not an object"
    counts = []
    for name in ("prompt_tokens", "completion_tokens"):
        value = _count(raw.get(name, 0))
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
