"""Recipes: a named, versioned set of prompt templates, task settings and a filter policy.

A recipe decides what the teacher is sent for each task and what happens to replies the
quality filters object to. kpit ships two, registered through the same
``kpit_register_recipes`` hook as a plugin's:

- ``kpit`` (the default): kpit's own prompts in ``prompts/templates/<task>/`` (rules against leaks
  and coordinates, a hand-written few-shot example, a length for each answer, the full
  context for every task), with filters that reject;
- ``paper``: what the paper's released code sends, verbatim, in its message layout
  (:mod:`kpit.prompts.paper_recipe`), with filters that only flag, since the paper filtered nothing.

``--template-dir`` still overrides the selected recipe's files by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from kpit.errors import ConfigError
from kpit.names import parse_names
from kpit.prompts.tasks import BUILTIN_TASKS, PromptOptions, Task

__all__ = [
    "DEFAULT_RECIPE",
    "FILTER_MODES",
    "KpitRecipe",
    "Recipe",
    "split_recipes",
]

FILTER_MODES = ("reject", "flag", "off")
"""What the quality filters do: ``reject`` a reply (it goes to ``failures.jsonl``),
``flag`` it (the sample is stored with its flags in ``meta["flags"]``), or nothing."""

DEFAULT_RECIPE = "kpit"
"""The recipe a run uses unless told otherwise (and the one of runs made before recipes)."""


class Recipe:
    """A named, versioned set of templates, task settings and a filter policy.

    Subclass it, set the class attributes, and register the class through the
    ``kpit_register_recipes`` hook; ``--recipe NAME`` selects it.

    Attributes:
        name: what ``--recipe`` selects.
        version: changes whenever what the recipe sends changes.
        description: one line for ``kpit prompts list``.
        source: where the prompts come from.
        folder: the recipe's template folder, laid out as ``<task>/<file>``: searched
            after ``--template-dir`` and before the tasks' own templates (``None``: the
            tasks' own).
        tasks: the recipe's own task classes by name; ``None`` uses the registered tasks.
        filters: the default of ``filters=`` (one of :data:`FILTER_MODES`).
        model: the teacher model the recipe was written for (recorded, not enforced).
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    source: ClassVar[str] = ""
    folder: ClassVar[Path | None] = None
    tasks: ClassVar[Mapping[str, type[Task]] | None] = None
    filters: ClassVar[str] = "reject"
    model: ClassVar[str | None] = None

    def __init__(self, registered_tasks: Mapping[str, type[Task]] | None = None) -> None:
        """Args:
        registered_tasks: the task classes a recipe without its own (``tasks = None``)
            builds, by name: :func:`kpit.plugins.resolve_recipe` passes every registered
            task; ``None`` means kpit's built-in ones.
        """
        self.registered_tasks = registered_tasks

    def _task_table(self) -> Mapping[str, type[Task]]:
        if self.tasks is not None:
            return self.tasks
        if self.registered_tasks is not None:
            return self.registered_tasks
        return BUILTIN_TASKS

    def task_names(self) -> list[str]:
        """The tasks this recipe can build: its own, or every registered one."""
        table = self._task_table()
        return list(table) if self.tasks is not None else sorted(table)

    def task(self, name: str) -> Task:
        """A task object for ``name``, as this recipe builds it."""
        table = self._task_table()
        try:
            return table[name]()
        except KeyError:
            if self.tasks is None:
                known = ", ".join(sorted(table)) or "none"
                raise ConfigError(f"unknown task {name!r}; installed: {known}",
                                  field="task") from None  # fmt: skip
            raise ConfigError(
                f"recipe {self.name!r} has no task {name!r}; its tasks: {', '.join(self.tasks)}",
                field="tasks",
            ) from None

    def check_options(self, options: PromptOptions) -> None:
        """Refuse prompt settings the recipe cannot honour (a :class:`ConfigError`)."""

    def prompt_options(
        self,
        style: str = "paper",
        pose_notes: bool = False,
        template_dir: str | None = None,
        fewshot: bool = True,
    ) -> PromptOptions:
        """:class:`~kpit.prompts.tasks.PromptOptions` that read this recipe's templates."""
        folder = str(self.folder) if self.folder is not None else None
        options = PromptOptions(style, pose_notes, template_dir, fewshot, recipe_dir=folder)
        self.check_options(options)
        return options

    def filter_mode(self, filters: str | None) -> str:
        """``filters``, checked, or the recipe's policy when ``None``."""
        mode = self.filters if filters is None else filters
        if mode not in FILTER_MODES:
            raise ConfigError(f"unknown filter mode {mode!r}; use one of {', '.join(FILTER_MODES)}",
                              field="filters")  # fmt: skip
        return mode

    def describe(self) -> dict[str, Any]:
        """What a run manifest records of the recipe."""
        return {"name": self.name, "version": self.version, "filters": self.filters,
                "model": self.model, "source": self.source}  # fmt: skip


class KpitRecipe(Recipe):
    """kpit's own prompts, with filters that reject."""

    name = "kpit"
    version = "2"  # 2: the compact context rewrite (the paper style's prompts as in 1)
    description = (
        "kpit's prompts: rules against leaks and numbers, a few-shot example, answer lengths, "
        "the full context for every task"
    )
    source = "kpit/prompts/templates/<task>/ (written for kpit from the paper's prompts)"
    filters = "reject"
    model = "gpt-4o"


def split_recipes(recipes: str | Sequence[str]) -> list[str]:
    """Recipe names from a comma-separated string or a list, each once, in order."""
    return parse_names(recipes, what="recipe", field="recipe")
