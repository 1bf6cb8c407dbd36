"""A worked kpit plugin: a caption-only generator and a one-question task."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import kpit
from kpit.options import option
from kpit.prompts.tasks import ConversationTask


@dataclass(frozen=True)
class CaptionOptions:
    """The caption generator's options (``-O sentences=2``)."""

    sentences: int = option(3, "Captions joined into a detailed description.", minimum=1)


class CaptionGenerator(kpit.Generator):
    """Answers from the captions alone: a baseline that ignores the keypoints."""

    name = "captions"
    description = "answers from the image's captions only (a no-keypoints baseline)"
    Options = CaptionOptions
    options: CaptionOptions

    async def complete(self, request: kpit.ChatRequest) -> kpit.Reply:
        ctx = request.meta.get("context")  # the ImageContext the pipeline's requests carry
        if not isinstance(ctx, kpit.ImageContext) or not ctx.captions:
            raise kpit.GeneratorError("no captions to answer from", record=request.key)
        captions = list(ctx.captions)
        random.Random(request.key).shuffle(captions)
        sentences = [c.strip().rstrip(".") + "." for c in captions]
        if request.meta.get("task") == "detail":
            text = " ".join(sentences[: self.options.sentences])
        else:
            question = "What is the main activity in the image?"
            text = f"Question:\n{question}\n===\nAnswer:\n{sentences[0]}"
        return kpit.Reply(request.key, text=text, model="captions", finish_reason="stop")


class ActivityTask(ConversationTask):
    """One question about the main activity, with the conversation task's prompts."""

    name = "activity"
    description = "one question about the main activity in the image"
    template_folder = "conversation"
    min_pairs = max_pairs = 1

    def parse(self, reply: str, request: kpit.ChatRequest) -> tuple[kpit.Turn, ...]:
        return super().parse(reply, request)[:2]  # the first pair only


@kpit.hookimpl
def kpit_register_generators(register: Callable[[type[kpit.Generator]], None]) -> None:
    """Add the caption-only generator."""
    register(CaptionGenerator)


@kpit.hookimpl
def kpit_register_tasks(register: Callable[[type[kpit.Task]], None]) -> None:
    """Add the activity task."""
    register(ActivityTask)
