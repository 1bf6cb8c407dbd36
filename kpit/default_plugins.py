"""kpit's own tasks, backends, judges and recipes, registered through the plugins' hooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kpit.hookspecs import hookimpl


@hookimpl
def kpit_register_tasks(register: Callable[[type[Any]], None]) -> None:
    """The paper's three tasks."""
    from kpit.prompts.tasks import BUILTIN_TASKS

    for task in BUILTIN_TASKS.values():
        register(task)


@hookimpl
def kpit_register_generators(register: Callable[[type[Any]], None]) -> None:
    """The offline template generator, the OpenAI-compatible backends, a local LLaVA."""
    from kpit.generators.hf_llava import HFLlavaGenerator
    from kpit.generators.openai.batch import OpenAIBatchGenerator
    from kpit.generators.openai.chat import OpenAIGenerator
    from kpit.generators.template import TemplateGenerator

    register(TemplateGenerator)
    register(OpenAIGenerator)
    register(OpenAIBatchGenerator)
    register(HFLlavaGenerator)


@hookimpl
def kpit_register_judges(register: Callable[[type[Any]], None]) -> None:
    """The LLaVA-Bench judge, and the pose judge that checks answers against the keypoints."""
    from kpit.judges.gpt import GPTJudge
    from kpit.judges.pose.judge import PoseJudge

    register(GPTJudge)
    register(PoseJudge)


@hookimpl
def kpit_register_recipes(register: Callable[[type[Any]], None]) -> None:
    """kpit's prompts (the default) and the paper's, as its released code sends them."""
    from kpit.prompts.paper_recipe import PaperRecipe
    from kpit.prompts.recipes import KpitRecipe

    register(KpitRecipe)
    register(PaperRecipe)
