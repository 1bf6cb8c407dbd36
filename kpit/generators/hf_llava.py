"""The ``hf-llava`` backend: a local Hugging Face LLaVA answers questions about images.

``LlavaForConditionalGeneration`` models such as ``llava-hf/llava-1.5-7b-hf`` and kpit's
fine-tuned checkpoints (a hub id or a local folder), with LLaVA-1.5's conversation format
(its system line, ``USER: <image>\\n... ASSISTANT:``) and its preprocessing: the image
padded to a square with CLIP's mean colour before the processor resizes it. Greedy
decoding, up to 1,024 new tokens, by default. Needs ``torch`` and ``transformers``
(``pip install kpit[train]``).

Questions are answered ``batch_size`` at a time: the prompts padded on the left to the
longest, with their attention mask, and one ``generate`` call per batch. Greedy answers are
the ones the model gives to each question alone (the tests check it token for token on a
trained model); the batch size only changes the speed, so it is not part of the settings
that a cached answer or a resumed run must match.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from kpit.errors import ConfigError, DataError
from kpit.generators.base import Generator, GeneratorError, Reply, Usage, Validator
from kpit.llava_format import llava_prompt, pad_to_square
from kpit.options import option
from kpit.types import ChatRequest

__all__ = ["HFLlavaGenerator", "HFLlavaOptions"]

log = logging.getLogger(__name__)


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
    batch_size: int = option(
        8,
        "Questions answered together, left-padded, in one generate call (1: one at a time; "
        "lower it if the accelerator runs out of memory).",
        minimum=1,
    )


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A request whose image is read: what one row of a batch needs."""

    request: ChatRequest
    image: Image.Image
    prompt: str


def _failed(request: ChatRequest, exc: Exception) -> Reply:
    """A failed reply for ``request``, as :meth:`Generator.generate` makes one."""
    if isinstance(exc, GeneratorError):
        return Reply(request.key, error=exc.code, detail=str(exc))
    return Reply(request.key, error="error", detail=f"{type(exc).__name__}: {exc}")


class HFLlavaGenerator(Generator):
    """A local ``LlavaForConditionalGeneration``, answering in left-padded batches.

    Options: :class:`HFLlavaOptions`. :meth:`generate` ignores ``concurrency``: one model
    answers one batch of ``batch_size`` questions at a time.
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
        self.batch_size = opts.batch_size
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    def settings(self) -> dict[str, Any]:
        """The base settings with the generation length, temperature and padding."""
        return super().settings() | {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "pad_to_square": self.pad,
        }

    def identity(self) -> dict[str, Any]:
        """The settings without the batch size, which changes the speed, not the answers."""
        settings = self.settings()
        options = {k: v for k, v in settings["options"].items() if k != "batch_size"}
        return settings | {"options": options}

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
            tokenizer = processor.tokenizer
            if tokenizer.pad_token is None:  # a batch needs one; its rows are masked out
                tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
            self._loaded = (model, processor)
        return self._loaded

    def _prepare(self, request: ChatRequest) -> _Prepared:
        """The request's image, read and padded, and its prompt; a DataError if unreadable."""
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
        return _Prepared(request, image, llava_prompt(message.content))

    def _run(self, batch: Sequence[_Prepared]) -> list[Reply]:
        """One ``generate`` call for ``batch``: prompts padded on the left, one reply a row."""
        import torch

        with self._lock:
            model, processor = self._load()
            inputs = processor(
                images=[p.image for p in batch],
                text=[p.prompt for p in batch],
                padding=True,
                padding_side="left",
                return_tensors="pt",
            ).to(model.device)
            sampling = (
                {"do_sample": True, "temperature": self.temperature}
                if self.temperature > 0
                else {"do_sample": False}
            )
            if model.generation_config.pad_token_id is None:
                sampling["pad_token_id"] = processor.tokenizer.pad_token_id
            with torch.inference_mode():
                output = model.generate(**inputs, max_new_tokens=self.max_new_tokens, **sampling)
            eos = model.generation_config.eos_token_id
        stops = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        width = inputs["input_ids"].shape[1]
        replies = []
        for row, prepared in enumerate(batch):
            new = output[row, width:].tolist()
            # A row that ended early is filled up with padding after its end token.
            length = next((k + 1 for k, token in enumerate(new) if token in stops), len(new))
            new = new[:length]
            replies.append(
                Reply(
                    prepared.request.key,
                    text=processor.decode(new, skip_special_tokens=True).strip(),
                    usage=Usage(int(inputs["attention_mask"][row].sum()), length),
                    finish_reason="length" if length >= self.max_new_tokens else "stop",
                    model=str(self.model),
                )
            )
        return replies

    def _answer(self, request: ChatRequest) -> Reply:
        """Answer one request alone; raises on an unreadable image or a failed ``generate``."""
        return self._run([self._prepare(request)])[0]

    def answer_batch(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        """Answer ``requests`` in one ``generate`` call, a reply for each in their order.

        A request whose image cannot be read fails alone (a failed :class:`Reply`). Should
        the batch's ``generate`` fail (out of memory, say), its requests are answered one at
        a time, so that only the one at fault fails.
        """
        replies: dict[int, Reply] = {}
        ready: list[tuple[int, _Prepared]] = []
        for index, request in enumerate(requests):
            try:
                ready.append((index, self._prepare(request)))
            except Exception as exc:
                replies[index] = _failed(request, exc)
        try:
            answered = self._run([p for _, p in ready]) if ready else []
        except Exception as exc:
            if len(ready) == 1:
                answered = [_failed(ready[0][1].request, exc)]
            else:
                log.warning("a batch of %d failed (%s: %s); answering one at a time",
                            len(ready), type(exc).__name__, exc)  # fmt: skip
                answered = [self._alone(p) for _, p in ready]
        replies.update((index, reply) for (index, _), reply in zip(ready, answered, strict=True))
        return [replies[index] for index in range(len(requests))]

    def _alone(self, prepared: _Prepared) -> Reply:
        try:
            return self._run([prepared])[0]
        except Exception as exc:
            return _failed(prepared.request, exc)

    async def complete(self, request: ChatRequest) -> Reply:
        """Answer one request with the local model, in a worker thread."""
        return await asyncio.to_thread(self._answer, request)

    async def generate(
        self,
        requests: Iterable[ChatRequest],
        *,
        concurrency: int = 8,
        validate: Validator | None = None,
        reply_retries: int = 0,
    ) -> AsyncIterator[Reply]:
        """As :meth:`Generator.generate`, answering ``batch_size`` requests per ``generate``.

        Requests are pulled a batch at a time and their replies yielded in the same order;
        ``concurrency`` is not used. A reply that ``validate`` refuses is asked again in a
        later batch, up to ``reply_retries`` times. An error while building the requests
        stops the run once the requests already pulled are answered, and is raised.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        pending = iter(requests)
        again: deque[tuple[ChatRequest, int]] = deque()  # refused replies' requests, attempts
        broken: BaseException | None = None
        exhausted = False
        while True:
            batch = [again.popleft() for _ in range(min(len(again), self.batch_size))]
            while not exhausted and len(batch) < self.batch_size:
                try:
                    batch.append((next(pending), 0))
                except StopIteration:
                    exhausted = True
                except BaseException as exc:  # building a request failed: stop, loudly
                    broken, exhausted = exc, True
            if not batch:
                break
            replies = await asyncio.to_thread(self.answer_batch, [r for r, _ in batch])
            for (request, attempt), reply in zip(batch, replies, strict=True):
                if reply.ok and validate is not None and attempt < reply_retries:
                    reason = validate(request, reply)
                    if reason is not None:
                        log.info("%s: asking again (%s)", request.key, reason)
                        again.append((request, attempt + 1))
                        continue
                yield reply
        if broken is not None:
            raise broken
