"""Tasks: the prompts for one kind of instruction data, and the parser of the teacher's reply.

A :class:`Task` builds a :class:`~kpit.types.ChatRequest` for an image (system prompt,
few-shot examples, the image's context) and turns the teacher's reply into conversation
:class:`~kpit.types.Turn` objects. The three built-in tasks are those of the paper:

- ``conversation``: several question/answer pairs about poses and actions;
- ``detail``: a detailed description, asked with an instruction sampled from a list;
- ``complex``: one question that needs reasoning about the poses, and its answer.

Plugins add tasks through the ``kpit_register_tasks`` hook.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import jinja2

from kpit.errors import ParseError, TemplateError
from kpit.layouts import COCO_17
from kpit.prompts.environment import PACKAGE_TEMPLATES, template_environment
from kpit.prompts.render import render_context
from kpit.prompts.replies import parse_reply
from kpit.types import ChatRequest, ImageContext, Message, Turn

__all__ = [
    "BUILTIN_TASKS",
    "ComplexTask",
    "ConversationTask",
    "DetailTask",
    "ParseError",
    "PromptOptions",
    "PromptTask",
    "Task",
    "parse_pairs",
    "request_key",
]


@dataclass(frozen=True, slots=True)
class PromptOptions:
    """How the prompts are rendered.

    Attributes:
        style: the context style (``paper``, ``compact`` or a ``.j2`` file).
        pose_notes: append each person's pose facts to the context.
        template_dir: a folder whose templates override the packaged ones by name.
        fewshot: include the task's few-shot examples as user/assistant turns.
        recipe_dir: the selected recipe's template folder, searched after ``template_dir``
            and before the task's own (``None``: the task's own; see :mod:`kpit.prompts.recipes`).
    """

    style: str = "paper"
    pose_notes: bool = False
    template_dir: str | None = None
    fewshot: bool = True
    recipe_dir: str | None = None


def request_key(task: str, image_id: int, variant: int = 0) -> str:
    """The stable key of a request: ``task/image_id/variant``."""
    return f"{task}/{image_id}/{variant}"


class Task(ABC):
    """A kind of instruction data: builds requests and parses replies.

    Subclasses set :attr:`name` and :attr:`description`, and implement :meth:`build` and
    :meth:`parse`.
    """

    name: ClassVar[str]
    """The task's name, as ``--tasks`` takes it."""
    description: ClassVar[str] = ""
    """One line for ``kpit plugins``."""
    min_answer_chars: ClassVar[int] = 10
    """The quality filter's default floor for an answer's length, in characters."""
    expected_completion_tokens: ClassVar[int] = 300
    """A typical reply's length in tokens, for cost estimates before a run."""

    @abstractmethod
    def build(
        self, ctx: ImageContext, *, key: str, seed: int, options: PromptOptions
    ) -> ChatRequest:
        """The request for ``ctx``; ``seed`` makes any sampling reproducible."""

    @abstractmethod
    def parse(self, reply: str, request: ChatRequest) -> tuple[Turn, ...]:
        """The turns of the teacher's ``reply``; raise :class:`ParseError` if there are none."""

    def template_hashes(self, options: PromptOptions) -> dict[str, str]:
        """Hashes of the templates this task renders (for run manifests)."""
        return {}


# --- parsing -----------------------------------------------------------------------------


def parse_pairs(reply: str, *, limit: int | None = None) -> list[tuple[str, str]]:
    """Question/answer pairs from a teacher's reply, robust to the usual drift.

    Understands ``Question:``/``Answer:`` blocks with or without ``===`` separators,
    ``Q:``/``A:``, ``User:``/``Assistant:``, numbering (``1. Question:``), markdown bold and
    headings, and, when no labels are present, questions ending in ``?`` followed by their
    answers. An answer's words and markdown are kept exactly; only the reply's own layout is
    removed (the rule: :mod:`kpit.prompts.replies`).

    Args:
        reply: the teacher's reply.
        limit: read at most this many pairs.
    """
    return parse_reply(reply, limit=limit)


def _turns(pairs: list[tuple[str, str]]) -> tuple[Turn, ...]:
    turns: list[Turn] = []
    for question, answer in pairs:
        turns += [Turn("human", question), Turn("gpt", answer)]
    return tuple(turns)


_LEADING_LABEL = re.compile(r"^\s*\**\s*(?:answer|description|response)\s*\**\s*:\s*\**\s*", re.I)


# --- prompt-based tasks --------------------------------------------------------------------


def _read_json(path: str) -> Any:
    """A JSON file of a task (examples, instructions), read again once it changed (the run
    manifest hashes what is on disk: the prompts must be made from the same)."""
    info = os.stat(path)
    return _read_json_as(path, info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=64)
def _read_json_as(path: str, mtime_ns: int, size: int) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class PromptTask(Task):
    """A task whose prompts are the Jinja templates in ``prompts/<name>/``.

    The folder holds ``system.j2``, ``user.j2`` and ``fewshot.json`` (examples with a
    ``context`` and an ideal ``answer``); a ``template_dir`` with the same names overrides
    them. A subclass may set :attr:`template_folder` to use another task's folder.
    """

    template_folder: ClassVar[str | None] = None
    """The folder of templates under ``prompts/`` (default: the task's name)."""
    template_root: ClassVar[Path | None] = None
    """The folder that holds :attr:`folder` (default: kpit's packaged templates)."""
    template_files: ClassVar[tuple[str, ...]] = (
        "system.j2",
        "user.j2",
        "fewshot.json",
        "instructions.json",
    )
    """The files a run manifest records the hashes of."""

    @property
    def folder(self) -> str:
        """The template folder this task reads."""
        return self.template_folder or self.name

    def _roots(self, options: PromptOptions) -> list[Path]:
        """Where the recipe's and the task's templates are, before kpit's own."""
        roots = [Path(d) for d in (options.recipe_dir, self.template_root) if d is not None]
        return [*dict.fromkeys(roots), PACKAGE_TEMPLATES]

    def _find(self, name: str, options: PromptOptions) -> Path:
        if options.template_dir is not None:
            path = Path(options.template_dir) / self.folder / name
            if path.is_file():
                return path
        roots = self._roots(options)
        for root in roots:
            path = root / self.folder / name
            if path.is_file():
                return path
        return roots[0] / self.folder / name

    def _render(self, name: str, options: PromptOptions, *, strip: bool = True,
                **values: Any) -> str:  # fmt: skip
        env = template_environment(options.template_dir, self._roots(options)[:-1])
        try:
            text = env.get_template(f"{self.folder}/{name}").render(**values)
            return text.strip() if strip else text
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"template {exc.name} not found", field="template_dir") from None
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"undefined variable: {exc.message}",
                                file=os.fspath(self._find(name, options))) from None  # fmt: skip
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"syntax error: {exc.message}", file=exc.filename,
                                record=f"line {exc.lineno}") from None  # fmt: skip

    def system_values(self, ctx: ImageContext, options: PromptOptions) -> dict[str, Any]:
        """Values for ``system.j2``."""
        layout = ctx.people[0].layout if ctx.people else COCO_17
        return {
            "style": options.style,
            "pose_notes": options.pose_notes,
            "keypoint_names": layout.names,
        }

    def user_values(
        self, ctx: ImageContext, rng: random.Random, options: PromptOptions
    ) -> dict[str, Any]:
        """Values for ``user.j2`` besides the rendered context (e.g. a sampled instruction)."""
        return {}

    def examples(self, options: PromptOptions) -> list[dict[str, Any]]:
        """The few-shot examples (``fewshot.json``), or none."""
        if not options.fewshot:
            return []
        path = self._find("fewshot.json", options)
        if not path.is_file():
            return []
        examples: list[dict[str, Any]] = _read_json(str(path))["examples"]
        return examples

    def build(
        self, ctx: ImageContext, *, key: str, seed: int, options: PromptOptions
    ) -> ChatRequest:
        """The system prompt, the few-shot examples as earlier turns, and the user prompt with
        the rendered context; the request's ``meta`` carries the task, the image and the
        context."""
        rng = random.Random(f"{seed}:{key}")
        system = self._render("system.j2", options, **self.system_values(ctx, options))
        messages = [Message("system", system)]
        for example in self.examples(options):
            example_ctx = ImageContext.from_dict(example["context"])
            values = {k: v for k, v in example.items() if k not in ("context", "answer")}
            messages.append(Message("user", self._user(example_ctx, options, values)))
            messages.append(Message("assistant", str(example["answer"]).strip()))
        values = self.user_values(ctx, rng, options)
        messages.append(Message("user", self._user(ctx, options, values)))
        meta: dict[str, Any] = {"task": self.name, "image_id": ctx.image_id,
                                "image": ctx.file_name, "seed": seed, "context": ctx}  # fmt: skip
        if values.get("instruction"):
            meta["instruction"] = str(values["instruction"])
        return ChatRequest(key, tuple(messages), meta)

    def _user(self, ctx: ImageContext, options: PromptOptions, values: dict[str, Any]) -> str:
        context = render_context(ctx, options.style, template_dir=options.template_dir,
                                 pose_notes=options.pose_notes)  # fmt: skip
        return self._render("user.j2", options, context=context, **values)

    def template_hashes(self, options: PromptOptions) -> dict[str, str]:
        """A short SHA-256 of each template file found, by its name under the templates."""
        import hashlib

        root = self._roots(options)[0]
        prefix = ""  # kpit's own templates keep the names of runs made before recipes
        if root != PACKAGE_TEMPLATES:
            inside = root.is_relative_to(PACKAGE_TEMPLATES)
            prefix = f"{root.relative_to(PACKAGE_TEMPLATES) if inside else root.name}/"
        hashes = {}
        for name in self.template_files:
            path = self._find(name, options)
            if path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
                hashes[f"{prefix}{self.folder}/{name}"] = digest
        return hashes


class ConversationTask(PromptTask):
    """Several question/answer pairs about the poses and actions in the image."""

    name = "conversation"
    description = "a multi-turn conversation about poses and actions"
    min_answer_chars = 10
    expected_completion_tokens = 350
    min_pairs = 3
    max_pairs = 6

    def system_values(self, ctx: ImageContext, options: PromptOptions) -> dict[str, Any]:
        """The base values with the number of pairs to ask for."""
        return super().system_values(ctx, options) | {
            "min_pairs": self.min_pairs,
            "max_pairs": self.max_pairs,
        }

    def parse(self, reply: str, request: ChatRequest) -> tuple[Turn, ...]:
        """The reply's question/answer pairs as turns (:func:`parse_pairs`)."""
        pairs = parse_pairs(reply)
        if not pairs:
            raise ParseError("no question/answer pairs found in the reply", record=request.key)
        return _turns(pairs)


class DetailTask(PromptTask):
    """A detailed description, asked with an instruction sampled from ``instructions.json``."""

    name = "detail"
    description = "a detailed description of the people's poses and actions"
    min_answer_chars = 150
    expected_completion_tokens = 250

    def instructions(self, options: PromptOptions | None = None) -> list[str]:
        """The instruction phrasings to sample from."""
        path = self._find("instructions.json", options or PromptOptions())
        phrasings: list[str] = _read_json(str(path))
        return phrasings

    def user_values(
        self, ctx: ImageContext, rng: random.Random, options: PromptOptions
    ) -> dict[str, Any]:
        """An instruction sampled with ``rng`` from :meth:`instructions`."""
        return {"instruction": rng.choice(self.instructions(options))}

    def parse(self, reply: str, request: ChatRequest) -> tuple[Turn, ...]:
        """The request's instruction and the reply, without a leading label, as two turns."""
        text = _LEADING_LABEL.sub("", reply.strip()).strip()
        if not text:
            raise ParseError("the reply is empty", record=request.key)
        return (Turn("human", str(request.meta["instruction"])), Turn("gpt", text))


class ComplexTask(PromptTask):
    """One question that needs reasoning about the poses, and its detailed answer."""

    name = "complex"
    description = "a question that needs reasoning about the poses, and its answer"
    min_answer_chars = 100
    expected_completion_tokens = 280

    def parse(self, reply: str, request: ChatRequest) -> tuple[Turn, ...]:
        """The reply's first question and its answer as two turns."""
        pairs = parse_pairs(reply, limit=1)
        if not pairs:
            raise ParseError("no question and answer found in the reply", record=request.key)
        return _turns(pairs)


BUILTIN_TASKS: Mapping[str, type[Task]] = {
    task.name: task for task in (ConversationTask, DetailTask, ComplexTask)
}
"""kpit's own tasks by name, registered as the built-in plugin's: the paper's three."""
