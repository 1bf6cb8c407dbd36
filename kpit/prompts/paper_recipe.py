"""The ``paper`` recipe: what the paper's released code sends GPT-4o, verbatim.

Source: the repository Ody-trek/Keypoint-Instruction-Tuning, ``data_generation/`` (commit
6d4daa8). Its three scripts build each request as a list of messages:

- ``complex_reasoning_gen.py``: the system message (the paper's Table 1), then each caption
  as its own user message ``caption: ...``, then every other record of the image (each person,
  each object) as its own user message of ``f"{key}: {value}\n"`` lines, one per field but
  ``caption``, ``image_id`` and ``id``;
- ``detailed_description_gen.py``: the same layout with its own system message, then one of
  16 instructions, chosen at random, as the last user message;
- ``conversation_gen.py``: a system message, then each caption as a few-shot pair (the user
  asks "What can be described in the image?", the assistant answers with the caption), then
  one request for questions and answers. No keypoints, no boxes.

No few-shot example beyond that, no length, no reply format, no sampling parameters, and
the paper filtered nothing. Captions are sent as the COCO file holds them
(:meth:`kpit.types.ImageContext.file_captions`), surrounding white space included. The
scripts read an unpublished preprocessed file, so each person is written in kpit's
normalised ``paper`` context style (box and keypoint triples in ``[0, 1]``). Object boxes go
to the complex task only, one message per object after the people's (``surfboard: [x1, y1,
x2, y2]``): inferred from the complex script's loop, which writes every field of every
record; the detail script writes every box as ``person:``, so it gets people only. The
templates are in ``prompts/templates/paper/<task>/``, each with its source in a header
comment.

Replies have no prescribed format: :func:`parse_free_pairs` reads the shapes GPT-4o writes
for such a prompt (numbered questions, bold labels, ``Q1:``/``A1:``, headings, bullets, an
opening and a closing line around the pairs).
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from kpit.errors import ConfigError, ParseError
from kpit.prompts.environment import PACKAGE_TEMPLATES
from kpit.prompts.recipes import Recipe
from kpit.prompts.render import format_box, keypoint_triples, object_label
from kpit.prompts.replies import parse_reply
from kpit.prompts.tasks import PromptOptions, PromptTask, Task, _read_json, _turns
from kpit.types import ChatRequest, ImageContext, Message, Turn

__all__ = [
    "PAPER_TEMPLATES",
    "PaperComplexTask",
    "PaperConversationTask",
    "PaperDetailTask",
    "PaperRecipe",
    "PaperTask",
    "parse_free_pairs",
]

PAPER_TEMPLATES = PACKAGE_TEMPLATES / "paper"
"""The ``paper`` recipe's template folder."""

_CODE = "Ody-trek/Keypoint-Instruction-Tuning (commit 6d4daa8), data_generation/"


# --- parsing free-form replies -------------------------------------------------------------


def parse_free_pairs(reply: str, *, limit: int | None = None) -> list[tuple[str, str]]:
    """Question/answer pairs from a reply written without a prescribed format.

    Reads labelled pairs (``Question:``/``Answer:``, ``Q1:``/``A1:``, ``**Question 1:**``,
    ``### Question`` headings, with or without ``===`` separators) and, when there are no
    labels, numbered or bold questions ending in ``?`` with the answer on the same or the
    following lines. An opening line (``Sure! Here are some questions...:``) and a closing
    remark (``These questions focus on...``) are left out; answers keep their own words and
    markdown, as the paper's released data does. The same reader as kpit's recipe
    (:func:`kpit.prompts.replies.parse_reply`, whose rule says what is kept).

    Args:
        reply: the teacher's reply.
        limit: read at most this many pairs; with ``limit=1`` everything after the first
            question of an unlabelled reply is its answer.
    """
    return parse_reply(reply, limit=limit)


# --- the tasks -------------------------------------------------------------------------------


class PaperTask(PromptTask):
    """A task of the ``paper`` recipe: the released code's messages, byte for byte.

    Templates are rendered as they are (not stripped), since the code's strings begin and
    end with line breaks and spaces that are part of what GPT-4o was sent.
    """

    template_root = PAPER_TEMPLATES

    def exact(self, name: str, options: PromptOptions, **values: Any) -> str:
        """A template of this task, rendered without stripping."""
        return self._render(name, options, strip=False, **values)

    def meta(self, ctx: ImageContext, seed: int) -> dict[str, Any]:
        """What the pipeline and the backends read from a request's ``meta``."""
        return {"task": self.name, "image_id": ctx.image_id, "image": ctx.file_name,
                "seed": seed, "context": ctx}  # fmt: skip

    def captions_and_people(self, ctx: ImageContext, options: PromptOptions) -> list[Message]:
        """Each caption as its own user message, as the file holds it, then each person as
        their own."""
        messages = [Message("user", self.exact("caption.j2", options, caption=c))
                    for c in ctx.file_captions()]  # fmt: skip
        for person in ctx.people:
            text = self.exact("person.j2", options, person=person, box=format_box(person.box),
                              keypoints=keypoint_triples(person))  # fmt: skip
            messages.append(Message("user", text))
        return messages


class PaperComplexTask(PaperTask):
    """Complex reasoning as ``complex_reasoning_gen.py`` asks for it (the paper's Table 1)."""

    name = "complex"
    description = "the paper's complex reasoning prompt (Table 1), verbatim"
    min_answer_chars = 100
    expected_completion_tokens = 385  # the released samples: question and answer, mean of 2
    template_files = ("system.j2", "caption.j2", "person.j2", "object.j2")

    def build(
        self, ctx: ImageContext, *, key: str, seed: int, options: PromptOptions
    ) -> ChatRequest:
        """The system prompt, then each caption, each person and each object as their own
        message."""
        messages = [Message("system", self.exact("system.j2", options))]
        messages += self.captions_and_people(ctx, options)
        messages += [Message("user", self.exact("object.j2", options, label=object_label(o),
                                                box=format_box(o.box)))
                     for o in ctx.objects]  # fmt: skip
        return ChatRequest(key, tuple(messages), self.meta(ctx, seed))

    def parse(self, reply: str, request: ChatRequest) -> tuple[Turn, ...]:
        """The reply's first question and its answer (:func:`parse_free_pairs`) as two turns."""
        pairs = parse_free_pairs(reply, limit=1)
        if not pairs:
            raise ParseError("no question and answer found in the reply", record=request.key)
        return _turns(pairs)


class PaperDetailTask(PaperTask):
    """The detailed description as ``detailed_description_gen.py`` asks for it."""

    name = "detail"
    description = "the paper's detailed description prompt and its 16 instructions, verbatim"
    min_answer_chars = 150
    expected_completion_tokens = 430  # the released samples' descriptions, mean of 2
    template_files = ("system.j2", "caption.j2", "person.j2", "instructions.json")

    def instructions(self, options: PromptOptions | None = None) -> list[str]:
        """The 16 instructions the code chooses from."""
        path = self._find("instructions.json", options or PromptOptions())
        phrasings: list[str] = _read_json(str(path))["instructions"]
        return phrasings

    def build(
        self, ctx: ImageContext, *, key: str, seed: int, options: PromptOptions
    ) -> ChatRequest:
        """The system prompt, each caption and person, then an instruction chosen with the
        seed."""
        instruction = random.Random(f"{seed}:{key}").choice(self.instructions(options))
        messages = [Message("system", self.exact("system.j2", options))]
        messages += self.captions_and_people(ctx, options)
        messages.append(Message("user", instruction))
        meta = self.meta(ctx, seed) | {"instruction": instruction}
        return ChatRequest(key, tuple(messages), meta)

    def parse(self, reply: str, request: ChatRequest) -> tuple[Turn, ...]:
        """The request's instruction and the whole reply as two turns."""
        text = reply.strip()
        if not text:
            raise ParseError("the reply is empty", record=request.key)
        return (Turn("human", str(request.meta["instruction"])), Turn("gpt", text))


class PaperConversationTask(PaperTask):
    """The conversation as ``conversation_gen.py`` asks for it: from the captions only."""

    name = "conversation"
    description = "the paper's conversation prompt, from the captions only, verbatim"
    min_answer_chars = 10
    expected_completion_tokens = 200  # the released samples: 5 pairs, numbered, an opening line
    template_files = ("system.j2", "caption_question.j2", "caption_answer.j2", "request.j2")

    def build(
        self, ctx: ImageContext, *, key: str, seed: int, options: PromptOptions
    ) -> ChatRequest:
        """The system prompt, each caption as a question and its answer, then the request."""
        messages = [Message("system", self.exact("system.j2", options))]
        for caption in ctx.file_captions():
            messages.append(Message("user", self.exact("caption_question.j2", options)))
            messages.append(Message("assistant", self.exact("caption_answer.j2", options,
                                                            caption=caption)))  # fmt: skip
        messages.append(Message("user", self.exact("request.j2", options)))
        return ChatRequest(key, tuple(messages), self.meta(ctx, seed))

    def parse(self, reply: str, request: ChatRequest) -> tuple[Turn, ...]:
        """The reply's question/answer pairs (:func:`parse_free_pairs`) as turns."""
        pairs = parse_free_pairs(reply)
        if not pairs:
            raise ParseError("no question/answer pairs found in the reply", record=request.key)
        return _turns(pairs)


class PaperRecipe(Recipe):
    """The paper's prompts and layout, as its released code sends them; filters only flag."""

    name = "paper"
    version = "1"
    description = (
        "the paper's released prompts and message layout, verbatim: no examples, no lengths, "
        "conversation from the captions only"
    )
    source = f"{_CODE}{{conversation,detailed_description,complex_reasoning}}_gen.py"
    folder = PAPER_TEMPLATES
    tasks: ClassVar[dict[str, type[Task]]] = {
        "conversation": PaperConversationTask,
        "detail": PaperDetailTask,
        "complex": PaperComplexTask,
    }
    filters = "flag"
    model = "gpt-4o"

    def check_options(self, options: PromptOptions) -> None:
        """The paper sent one layout: no other context style, no pose notes.

        ``fewshot=False`` changes nothing: the recipe has no example to leave out (the
        conversation's caption pairs are the image's context, not examples).
        """
        if options.style != "paper":
            raise ConfigError(f"the paper recipe writes people in the paper style only, not "
                              f"{options.style!r}; other styles are for the kpit recipe",
                              field="style")  # fmt: skip
        if options.pose_notes:
            raise ConfigError("the paper recipe sends no pose notes; they are for the kpit recipe",
                              field="pose_notes")  # fmt: skip
