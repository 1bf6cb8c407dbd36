"""What a run would send and cost, without calling the backend or writing anything.

:func:`plan_run` sets a run up as :func:`~kpit.pipeline.run.generate` would and counts the
requests it would send, their prompt tokens (:mod:`kpit.prompts.tokens`) and each task's
identical leading tokens, into a :class:`DryRun`; :func:`plan_recipes` does it for several
recipes side by side.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kpit._checks import check_count
from kpit.errors import ConfigError
from kpit.generators.base import Generator, Price
from kpit.pipeline.setup import ALL_TASKS, set_up
from kpit.prompts.recipes import DEFAULT_RECIPE, split_recipes
from kpit.prompts.tokens import SharedPrefix, tokenizer_name
from kpit.types import ChatRequest, ImageContext

__all__ = ["DryRun", "plan_recipes", "plan_run"]

_OPENAI_CACHING = Price(0.0, 0.0)
"""Whose caching rule (OpenAI's, :class:`Price`'s default) an estimate without a price uses."""


@dataclass(slots=True)
class DryRun:
    """What a run would send: request count and estimated tokens, per task, and what prompt
    caching would save.

    The caching estimate assumes that every request of a task but the first finds the
    task's identical leading tokens (:attr:`prefix_tokens`: the system prompt and the
    few-shot example, as far as they are the same in every request) in the provider's
    cache, and that the provider caches them as the backend's ``price`` says
    (:meth:`~kpit.generators.base.Price.cacheable_tokens`), or as OpenAI does (from 1,024
    tokens, in steps of 128) when the price is unknown.
    """

    requests: Counter[str] = field(default_factory=Counter)
    prompt_tokens: Counter[str] = field(default_factory=Counter)
    completion_tokens: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    examples: list[ChatRequest] = field(default_factory=list)
    price: Price | None = None
    tokenizer: str = ""
    recipe: str = DEFAULT_RECIPE
    prefix_tokens: dict[str, int] = field(default_factory=dict)
    """Per task: the prompt tokens every one of its requests begins with."""

    def tokens_per_request(self, task: str | None = None) -> float:
        """Mean prompt tokens per request (for one task, or all)."""
        requests = self.requests[task] if task is not None else self.total_requests
        tokens = self.prompt_tokens[task] if task is not None else self.total_prompt_tokens
        return tokens / requests if requests else 0.0

    @property
    def total_requests(self) -> int:
        """Requests that would be sent."""
        return sum(self.requests.values())

    @property
    def total_prompt_tokens(self) -> int:
        """Estimated prompt tokens over all requests."""
        return sum(self.prompt_tokens.values())

    @property
    def total_completion_tokens(self) -> int:
        """Expected completion tokens over all requests (each task's typical reply)."""
        return sum(self.completion_tokens.values())

    def cached_per_request(self, task: str) -> int:
        """The prompt tokens of each of ``task``'s requests that a cache could serve."""
        caching = self.price if self.price is not None else _OPENAI_CACHING
        return caching.cacheable_tokens(self.prefix_tokens.get(task, 0))

    def cached_tokens(self, task: str | None = None) -> int:
        """Estimated cached prompt tokens (for one task, or all): every request but the
        first of each task reads :meth:`cached_per_request` tokens from the cache."""
        tasks = [task] if task is not None else list(self.requests)
        return sum(self.cached_per_request(t) * max(self.requests[t] - 1, 0) for t in tasks)

    def cost(self, task: str | None = None, *, caching: bool = False) -> float | None:
        """Estimated dollars (for one task, or all), if the backend's price is known; with
        ``caching``, the cached tokens (:meth:`cached_tokens`) at the cached rate."""
        if self.price is None:
            return None
        cached = self.cached_tokens(task) if caching else 0
        if task is None:
            return self.price.cost(self.total_prompt_tokens, self.total_completion_tokens,
                                   cached)  # fmt: skip
        return self.price.cost(self.prompt_tokens[task], self.completion_tokens[task], cached)

    def saving(self, task: str | None = None) -> float | None:
        """Estimated dollars that prompt caching saves (for one task, or all)."""
        return None if self.price is None else self.price.saving(self.cached_tokens(task))

    def scaled(self, images: int) -> DryRun:
        """The same job on ``images`` images: one request per image and task, each task's
        prompt and completion tokens at this plan's mean per request, the same identical
        prefix (an extrapolation from a sample, e.g. to COCO train2017's 56,599 images with
        an annotated person)."""
        check_count(images, "images", minimum=1)
        scaled = DryRun(price=self.price, tokenizer=self.tokenizer, recipe=self.recipe,
                        prefix_tokens=dict(self.prefix_tokens))  # fmt: skip
        for task, count in self.requests.items():
            if not count:
                continue
            scaled.requests[task] = images
            scaled.prompt_tokens[task] = round(self.prompt_tokens[task] / count * images)
            scaled.completion_tokens[task] = round(self.completion_tokens[task] / count * images)
        return scaled


def plan_run(
    contexts: Iterable[ImageContext],
    tasks: str | Sequence[str] = ALL_TASKS,
    generator: str | Generator = "template",
    model: str | None = None,
    out: str | os.PathLike[str] = "runs/kpit",
    **options: Any,
) -> DryRun:
    """What :func:`~kpit.pipeline.run.generate` would send, without calling the backend or
    writing anything.

    Takes :func:`~kpit.pipeline.run.generate`'s arguments (``reply_retries`` and ``progress``
    are ignored); an existing run folder counts its finished requests as skipped. Prompt
    tokens are counted with :mod:`kpit.prompts.tokens`; completions are each task's typical
    reply length. Each task's identical leading tokens (:attr:`DryRun.prefix_tokens`) are the
    common token prefix of all its requests (:class:`kpit.prompts.tokens.SharedPrefix`), for
    the estimate with prompt caching.
    """
    options.pop("dry_run", None)
    options.pop("reply_retries", None)
    options.pop("progress", None)
    options.pop("writing", None)
    setup = set_up(contexts, tasks, generator, model, out, writing=False, **options)
    skipped = 0

    def count_skip() -> None:
        nonlocal skipped
        skipped += 1

    plan = DryRun(price=setup.backend.price(), tokenizer=tokenizer_name(),
                  recipe=setup.manifest["recipe"])  # fmt: skip
    shared: dict[str, SharedPrefix] = defaultdict(SharedPrefix)
    for item in setup.pending(count_skip):
        name = item.task.name
        plan.requests[name] += 1
        plan.completion_tokens[name] += item.task.expected_completion_tokens
        shared[name].add(item.request.messages)  # counts its prompt tokens too
        if len(plan.examples) < 3:
            plan.examples.append(item.request)
    plan.skipped = skipped
    plan.prompt_tokens.update({name: prefix.prompt_tokens for name, prefix in shared.items()})
    plan.prefix_tokens = {name: prefix.tokens for name, prefix in shared.items()}
    return plan


def plan_recipes(
    contexts: Iterable[ImageContext],
    recipes: str | Sequence[str] = ("paper", DEFAULT_RECIPE),
    tasks: str | Sequence[str] = ALL_TASKS,
    generator: str | Generator = "template",
    model: str | None = None,
    out: str | os.PathLike[str] = "runs/kpit",
    **options: Any,
) -> dict[str, DryRun]:
    """:func:`plan_run` for each of several recipes, on the same images: what each would
    send and cost, side by side (``kpit generate --dry-run --recipe paper,kpit``).

    Args:
        contexts: the images (read once per recipe; an iterator is read into a list first).
        recipes: recipe names, a list or a comma-separated string.
        tasks: as for :func:`~kpit.pipeline.run.generate`.
        generator: as for :func:`~kpit.pipeline.run.generate`.
        model: as for :func:`~kpit.pipeline.run.generate`.
        out: as for :func:`~kpit.pipeline.run.generate`.
        **options: as for :func:`~kpit.pipeline.run.generate`; ``recipe`` is not one of them.

    Returns:
        Each recipe's :class:`DryRun`, by name, in the order given.
    """
    names = split_recipes(recipes)
    if "recipe" in options:
        raise ConfigError("give the recipes as recipes=, not recipe=", field="recipe")
    images = contexts if isinstance(contexts, Sequence) else list(contexts)
    return {name: plan_run(images, tasks, generator, model, out, recipe=name, **dict(options))
            for name in names}  # fmt: skip
