"""``kpit prompts``: the recipes and tasks there are, and the exact messages a task sends."""

from __future__ import annotations

from pathlib import Path

import click

from kpit import plugins as registry
from kpit.cli.helps import WholeSummaryGroup
from kpit.cli.options import coco_options, load_from_options
from kpit.errors import ConfigError
from kpit.pipeline import resolve_tasks
from kpit.plugins import resolve_recipe
from kpit.prompts.recipes import DEFAULT_RECIPE
from kpit.prompts.render import CONTEXT_STYLES
from kpit.prompts.tasks import request_key
from kpit.prompts.tokens import estimate_tokens

__all__ = ["prompts"]


@click.group(cls=WholeSummaryGroup)
def prompts() -> None:
    """Look at the prompts kpit sends."""


@prompts.command()
@coco_options
@click.option(
    "--task",
    default="conversation",
    show_default=True,
    help="The task whose messages to print (see `kpit prompts list`).",
)
@click.option(
    "--recipe",
    default=DEFAULT_RECIPE,
    show_default=True,
    help="The prompt recipe (see `kpit prompts list`).",
)
@click.option(
    "--style",
    default="paper",
    show_default=True,
    help=f"Context style: {', '.join(CONTEXT_STYLES)}, or a .j2 file.",
)
@click.option("--pose-notes", is_flag=True, help="Add each person's pose facts to the context.")
@click.option(
    "--template-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder whose templates override the recipe's by name.",
)
@click.option(
    "--fewshot/--no-fewshot",
    default=True,
    show_default=True,
    help="Include the task's few-shot examples.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seeds any sampling (the detail task's instruction), as generate's --seed does.",
)
def show(task: str, recipe: str, style: str, pose_notes: bool, template_dir: Path | None,
         fewshot: bool, seed: int, **options: object) -> None:  # fmt: skip
    """Print the messages TASK sends for one image (the first, or --image-id)."""
    chosen = resolve_recipe(recipe)
    (task_object,) = resolve_tasks([task], chosen)
    prompt = chosen.prompt_options(style, pose_notes, str(template_dir) if template_dir else None,
                                   fewshot)  # fmt: skip
    loaded = load_from_options(options)
    if not len(loaded):
        raise ConfigError("no image matches the options", field="image_id")
    ctx = loaded[0]
    request = task_object.build(ctx, key=request_key(task, ctx.image_id), seed=seed,
                                options=prompt)  # fmt: skip
    total = 0
    for message in request.messages:
        tokens = estimate_tokens(message.content)
        total += tokens
        click.echo(f"=== {message.role} (~{tokens} tokens) ===\n{message.content}\n")
    if chosen.name != DEFAULT_RECIPE:
        click.echo(f"recipe {chosen.name} (version {chosen.version})")
    click.echo(f"request {request.key}: {len(request.messages)} messages, ~{total} tokens")


@prompts.command(name="list")
def list_() -> None:
    """List the recipes (--recipe) and the tasks (--tasks)."""
    click.echo("recipes (--recipe):")
    for name, cls in sorted(registry.recipes().items()):
        recipe = cls()
        default = " (default)" if name == DEFAULT_RECIPE else ""
        click.echo(f"  {name}{default}: version {recipe.version}; filters {recipe.filters}; "
                   f"teacher {recipe.model or 'any'}")  # fmt: skip
        click.echo(f"      {recipe.description}")
        click.echo(f"      tasks: {', '.join(recipe.task_names())}")
        if recipe.source:
            click.echo(f"      source: {recipe.source}")
    click.echo("tasks (--tasks):")
    for name, task in sorted(registry.tasks().items()):
        click.echo(f"  {name:<16}{task.description}")
