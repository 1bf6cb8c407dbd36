"""LLaVA-1.5's conversation format: one definition for the trainer, the exporter and ``hf-llava``.

LLaVA-1.5 fine-tunes and answers with its ``v1`` conversation: a system line, then
``USER: <image>\\n{question} ASSISTANT: {answer}</s>`` per turn pair, the image placeholder
first in the first user turn, and the image padded to a square with CLIP's mean colour
before the processor resizes it. kpit's exporter writes the placeholder, the trainer builds
its text and label spans from :func:`conversation_text`, the ``hf-llava`` backend asks with
:func:`llava_prompt`, and the processor saved with a checkpoint carries
:data:`LLAVA_CHAT_TEMPLATE`: all from this module, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PIL import Image

from kpit.errors import SampleError

__all__ = [
    "CLIP_MEAN",
    "EOS",
    "IMAGE_TOKEN",
    "LLAVA_CHAT_TEMPLATE",
    "SYSTEM",
    "check_markers",
    "conversation_text",
    "llava_prompt",
    "pad_to_square",
    "with_image_token",
]

IMAGE_TOKEN = "<image>"
"""LLaVA's placeholder for the image, first in the first human turn."""

EOS = "</s>"
"""The end of an answer (Vicuna's end-of-sequence token)."""

SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. The "
    "assistant gives helpful, detailed, and polite answers to the user's questions."
)
"""LLaVA-1.5's system line: ``conv_vicuna_v1`` in LLaVA's ``llava/conversation.py``, which its
fine-tuning (``--version v1`` in ``scripts/v1_5/finetune.sh``) and its evaluation
(``--conv-mode vicuna_v1``) both use. (``conv_llava_v1`` says "human" instead; LLaVA-1.5
uses neither it nor that wording.)"""

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
"""CLIP's mean pixel, LLaVA-1.5's padding colour."""

LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% endif %}{% endfor %}{% endif %} "
    "{% elif message['role'] == 'user' %}USER: "
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}" + IMAGE_TOKEN + "\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %} "
    "{% else %}ASSISTANT: {% generation %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% endif %}{% endfor %}" + EOS + "{% endgeneration %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
"""LLaVA-1.5's conversation format as a chat template, saved with a trained processor.

It renders :func:`kpit.export_hf`'s records (a system message included) to the text of
:func:`conversation_text`, and marks what that trains (each answer and its end token) as
``{% generation %}``, for TRL's ``assistant_only_loss``."""


def with_image_token(question: str) -> str:
    """``question`` with the image placeholder in front, as LLaVA's first human turn has it."""
    return f"{IMAGE_TOKEN}\n{question.replace(IMAGE_TOKEN, '').strip()}"


def llava_prompt(question: str, system: str = SYSTEM) -> str:
    """A question in LLaVA-1.5's conversation format, the image first, ready for the answer."""
    return f"{system} USER: {with_image_token(question)} ASSISTANT:"


def conversation_text(
    turns: Sequence[Mapping[str, str]], eos: str = EOS, system: str = SYSTEM
) -> tuple[str, list[tuple[int, int]]]:
    """LLaVA-1.5's text of ``turns`` and the character spans to train (answers and ``eos``).

    ``turns`` alternate ``{"from": "human", "value"}`` and ``{"from": "gpt", "value"}``;
    the image placeholder goes first in the first human turn.

    The markers that shape the text stay in their places: the image placeholder may appear
    once, in the first human turn (LLaVA's records put it first or last there), and the end
    token ``eos`` in no turn at all. A turn that carries them elsewhere (a teacher's reply
    with ``</s>`` or ``<image>`` in it) would forge turns or images in the training text, so
    it is refused, not cleaned.

    Raises:
        SampleError: a turn comes from neither ``human`` nor ``gpt`` (field ``from``), or
            holds the image placeholder or the end token outside its place (field
            ``conversations``; the caller adds the file and the record).
    """
    check_markers(turns, eos)
    text = system + " "
    spans: list[tuple[int, int]] = []
    for n, turn in enumerate(turns):
        role, value = turn.get("from"), str(turn.get("value", ""))
        if role == "human":
            if n == 0:
                value = with_image_token(value)
            text += f"USER: {value.strip()} ASSISTANT:"
        elif role == "gpt":
            start = len(text) + 1
            text += f" {value.strip()}{eos}"
            spans.append((start, len(text)))
        else:
            raise SampleError(f"turn {n} comes from {role!r}, not 'human' or 'gpt'", field="from")
    return text, spans


MARKER_ERROR = "a chat marker outside its place"
"""The start of the message of a :class:`SampleError` for a misplaced marker (a skip reason)."""


def check_markers(turns: Sequence[Mapping[str, str]], eos: str = EOS) -> None:
    """Refuse turns whose text would forge turns or images in LLaVA's training text.

    The one check of the trainer (:func:`conversation_text`), the LLaVA JSON export and the
    Hugging Face export: the image placeholder may appear once, in the first human turn,
    and the end token ``eos`` in no turn. A teacher's reply that ends
    ``... </s> USER: <image>`` would otherwise end the answer there and start a turn the user
    never wrote, with an image of its own.

    Raises:
        SampleError: the first misplaced marker (field ``conversations``; its message starts
            with ``MARKER_ERROR``; the caller adds the file and the record).
    """
    for n, turn in enumerate(turns):
        _check_markers(n, turn.get("from"), str(turn.get("value", "")), eos)


def _check_markers(n: int, role: object, value: str, eos: str) -> None:
    """Refuse the image placeholder or the end token where LLaVA's format does not put them."""
    images = value.count(IMAGE_TOKEN)
    allowed = 1 if n == 0 and role == "human" else 0
    if images > allowed:
        where = "more than once in the first turn" if allowed else f"in turn {n} ({role})"
        raise SampleError(f"{MARKER_ERROR}: the image token {IMAGE_TOKEN!r} {where}",
                          field="conversations")  # fmt: skip
    if eos and eos in value:
        raise SampleError(f"{MARKER_ERROR}: the end token {eos!r} in turn {n} ({role})",
                          field="conversations")  # fmt: skip


def pad_to_square(image: Image.Image, colour: tuple[float, ...] = CLIP_MEAN) -> Image.Image:
    """``image`` centred on a square canvas of ``colour`` (0..1 per channel), as LLaVA-1.5."""
    image = image.convert("RGB")
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    fill = tuple(round(c * 255) for c in colour)
    canvas = Image.new("RGB", (side, side), fill)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas
