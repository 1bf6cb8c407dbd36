"""The ``hf-llava`` backend: a local Hugging Face LLaVA answers questions about images.

``LlavaForConditionalGeneration`` models such as ``llava-hf/llava-1.5-7b-hf`` and kpit's
fine-tuned checkpoints (a hub id or a local folder), with LLaVA-1.5's conversation format
(its system line, ``USER: <image>\\n... ASSISTANT:``) and its preprocessing: the image
padded to a square with CLIP's mean colour before the processor resizes it. Greedy
decoding, up to 1,024 new tokens, by default. Needs ``torch`` and ``transformers``
(``pip install kpit[train]``).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from kpit.errors import ConfigError, DataError
from kpit.generators.base import Generator, GeneratorError, Reply, Usage
from kpit.llava_format import llava_prompt, pad_to_square
from kpit.options import option
from kpit.types import ChatRequest

__all__ = ["HFLlavaGenerator", "HFLlavaOptions"]


@dataclass(frozen=True)
class HFLlavaOptions:
    """The ``hf-llava`` backend's options."""

    device: str | None = option(None, "cpu, cuda, cuda:1... (default: cuda when available).")
    dtype: str = option(
        "auto", "The weights' type.", choices=("auto", "bfloat16", "float16", "float32")
    )
    max_new_tokens: int | None = option(
        None, "The longest answer in tokens (default 1024).", minimum=1
    )
    max_tokens: int | None = option(
        None, "The same as max_new_tokens (the OpenAI name).", minimum=1
    )
    temperature: float = option(0.0, "0 decodes greedily, as LLaVA's evaluation.", minimum=0)
    pad_to_square: bool = option(True, "Pad the image to a square with CLIP's mean, as LLaVA-1.5.")


class HFLlavaGenerator(Generator):
    """A local ``LlavaForConditionalGeneration``.

    Options: :class:`HFLlavaOptions`.
    """

    name = "hf-llava"
    description = "a local Hugging Face LLaVA (llava-hf/llava-1.5-7b-hf or a kpit checkpoint)"
    accepts_images = True
    Options = HFLlavaOptions
    options: HFLlavaOptions

    def __init__(self, model: str | None = None, **options: Any) -> None:
        if not model:
            raise ConfigError("give the model: a hub id or a local folder", field="model")
        super().__init__(model, **options)
        opts = self.options
        self.max_new_tokens = opts.max_new_tokens or opts.max_tokens or 1024
        self.temperature = opts.temperature
        self.pad = opts.pad_to_square
        self.device = opts.device
        self.dtype = opts.dtype
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    def settings(self) -> dict[str, Any]:
        """The base settings with the generation length, temperature and padding."""
        return super().settings() | {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "pad_to_square": self.pad,
        }

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            try:
                import torch
                from transformers import AutoProcessor, LlavaForConditionalGeneration
            except ImportError:
                raise ConfigError(
                    "the hf-llava backend needs torch and transformers: pip install 'kpit[train]'",
                    field="generator",
                ) from None
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            dtype = self.dtype if self.dtype == "auto" else getattr(torch, self.dtype)
            model = LlavaForConditionalGeneration.from_pretrained(self.model, dtype=dtype)
            model.to(device).eval()
            processor = AutoProcessor.from_pretrained(self.model)
            self._loaded = (model, processor)
        return self._loaded

    def _answer(self, request: ChatRequest) -> Reply:
        import torch

        message = next((m for m in reversed(request.messages) if m.role == "user"), None)
        if message is None or not message.images:
            raise GeneratorError("the request has no image", record=request.key)
        try:
            with Image.open(Path(message.images[0])) as opened:
                image = opened.convert("RGB")
        except OSError as exc:
            raise DataError(
                f"cannot open the image: {exc}", file=message.images[0], record=request.key
            ) from None
        if self.pad:
            image = pad_to_square(image)
        with self._lock:
            model, processor = self._load()
            inputs = processor(
                images=image, text=llava_prompt(message.content), return_tensors="pt"
            ).to(model.device)
            sampling = (
                {"do_sample": True, "temperature": self.temperature}
                if self.temperature > 0
                else {"do_sample": False}
            )
            with torch.inference_mode():
                output = model.generate(**inputs, max_new_tokens=self.max_new_tokens, **sampling)
        prompt_length = inputs["input_ids"].shape[1]
        new = output[0][prompt_length:]
        text = processor.decode(new, skip_special_tokens=True).strip()
        finish = "length" if len(new) >= self.max_new_tokens else "stop"
        return Reply(
            request.key,
            text=text,
            usage=Usage(int(prompt_length), len(new)),
            finish_reason=finish,
            model=str(self.model),
        )

    async def complete(self, request: ChatRequest) -> Reply:
        """Answer one request with the local model, in a worker thread."""
        return await asyncio.to_thread(self._answer, request)
