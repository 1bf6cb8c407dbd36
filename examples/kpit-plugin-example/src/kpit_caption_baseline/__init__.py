"""A worked kpit plugin: a caption-only generator, a one-question task, and two judges."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import kpit
from kpit.judges import AnswerJudge, Judge
from kpit.judges.records import Answer, BenchContext, Question
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


class OverlapJudge(Judge):
    """A pairwise judge, offline: each answer scored 1-10 by the share of its words found in
    the image's context (captions and object names), a grounding baseline."""

    name = "overlap"
    description = "scores a pair of answers by their words found in the context (offline)"

    def __init__(self, model: str | None = None, **options: Any) -> None:
        super().__init__(model or "word-overlap-1", **options)  # recorded in the reviews

    async def review(self, messages: Sequence[kpit.Message], key: str) -> str:
        text = messages[-1].content  # [Context], [Question], [Assistant 1], [Assistant 2]
        context = re.search(r"\[Context\]\n(.*?)\n\n\[Question\]", text, re.S)
        answers = re.findall(r"\[(.+?) [12]\]\n(.*?)\n\n\[End of \1 [12]\]", text, re.S)
        if context is None or len(answers) != 2:
            raise kpit.GeneratorError("not LLaVA-Bench's review messages", record=key)
        known = set(re.findall(r"[a-z]+", context.group(1).lower()))
        scores = []
        for _, answer in answers:
            words = re.findall(r"[a-z]+", answer.lower())
            share = sum(w in known for w in words) / len(words) if words else 0.0
            scores.append(1 + round(9 * share))
        return f"{scores[0]} {scores[1]}\nScored by the share of words found in the context."


@dataclass(frozen=True)
class LengthReview:
    """One answer's review by the ``length`` judge: a record of kind ``"length"``."""

    question: Question
    answer: Answer
    words: int
    sentences: int
    kind: str = "length"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "question_id": self.question.question_id,
            "category": self.question.category,
            "model_id": self.answer.model_id,
            "scores": {"words": self.words, "sentences": self.sentences},
            "text": self.answer.text,
        }


class LengthJudge(AnswerJudge):
    """A single-answer judge: how long each answer is, in words and sentences (to read a
    chat judge's scores against verbosity)."""

    name = "length"
    description = "counts each answer's words and sentences (offline)"

    def assess(self, question: Question, context: BenchContext, answer: Answer) -> LengthReview:
        words = len(answer.text.split())
        sentences = len([s for s in re.split(r"[.!?]+", answer.text) if s.strip()])
        return LengthReview(question, answer, words, sentences)


@kpit.hookimpl
def kpit_register_generators(register: Callable[[type[kpit.Generator]], None]) -> None:
    """Add the caption-only generator."""
    register(CaptionGenerator)


@kpit.hookimpl
def kpit_register_tasks(register: Callable[[type[kpit.Task]], None]) -> None:
    """Add the activity task."""
    register(ActivityTask)


@kpit.hookimpl
def kpit_register_judges(register: Callable[[type[Judge]], None]) -> None:
    """Add the overlap (pairwise) and length (single-answer) judges."""
    register(OverlapJudge)
    register(LengthJudge)
