"""``kpit prompts show``: the exact messages a task sends for one image."""

from __future__ import annotations

from pathlib import Path

import click

from kpit.cli.options import coco_options, load_from_options
from kpit.errors import ConfigError
from kpit.pipeline import resolve_tasks
from kpit.render import CONTEXT_STYLES
from kpit.tasks import PromptOptions, request_key
from kpit.tokens import estimate_tokens

__all__ = ["prompts"]


@click.group()
def prompts() -> None:
    """Look at the prompts kpit sends."""


@prompts.command()
@coco_options
@click.option("--task", default="conversation", show_default=True)
@click.option(
    "--style",
    default="paper",
    show_default=True,
    help=f"Context style: {', '.join(CONTEXT_STYLES)}, or a .j2 file.",
)
@click.option("--pose-notes", is_flag=True)
@click.option("--template-dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--fewshot/--no-fewshot", default=True, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def show(task: str, style: str, pose_notes: bool, template_dir: Path | None, fewshot: bool,
         seed: int, **options: object) -> None:  # fmt: skip
    """Print the messages TASK sends for one image (the first, or --image-id)."""
    (task_object,) = resolve_tasks([task])
    loaded = load_from_options(options)
    if not len(loaded):
        raise ConfigError("no image matches the options", field="image_id")
    ctx = loaded[0]
    prompt = PromptOptions(style, pose_notes, str(template_dir) if template_dir else None, fewshot)
    request = task_object.build(ctx, key=request_key(task, ctx.image_id), seed=seed,
                                options=prompt)  # fmt: skip
    total = 0
    for message in request.messages:
        tokens = estimate_tokens(message.content)
        total += tokens
        click.echo(f"=== {message.role} (~{tokens} tokens) ===\n{message.content}\n")
    click.echo(f"request {request.key}: {len(request.messages)} messages, ~{total} tokens")
