"""kpit's plugin hooks (pluggy).

A plugin is a module or object with functions marked ``@kpit.hookimpl``, found through the
``kpit`` entry-point group. Each registration hook receives a ``register`` callback; call it
once per class the plugin adds::

    import kpit

    @kpit.hookimpl
    def kpit_register_generators(register):
        register(MyGenerator)

kpit's own backends, tasks, judges and recipes register through these same hooks; a
plugin's class replaces a built-in one of the same name, with a warning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from kpit.generators.base import Generator
    from kpit.judges.base import Judge
    from kpit.prompts.recipes import Recipe
    from kpit.prompts.tasks import Task

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("kpit")
"""Marks a hook specification in this module."""
hookimpl = pluggy.HookimplMarker("kpit")
"""Marks a plugin's hook implementation (re-exported as ``kpit.hookimpl``)."""


@hookspec
def kpit_register_generators(register: Callable[[type[Generator]], None]) -> None:
    """Register teacher-model backends.

    Args:
        register: call ``register(GeneratorSubclass)`` for each backend; its ``name``
            class attribute is what ``--generator`` selects.
    """


@hookspec
def kpit_register_judges(register: Callable[[type[Judge]], None]) -> None:
    """Register benchmark judges.

    Args:
        register: call ``register(JudgeSubclass)`` for each judge; its ``name`` class
            attribute is what ``--judge`` selects.
    """


@hookspec
def kpit_register_tasks(register: Callable[[type[Task]], None]) -> None:
    """Register instruction-data tasks.

    Args:
        register: call ``register(TaskSubclass)`` for each task; its ``name`` class
            attribute is what ``--tasks`` selects.
    """


@hookspec
def kpit_register_recipes(register: Callable[[type[Recipe]], None]) -> None:
    """Register prompt recipes: named, versioned sets of templates, tasks and filter policy.

    Args:
        register: call ``register(RecipeSubclass)`` for each recipe; its ``name`` class
            attribute is what ``--recipe`` selects.
    """
