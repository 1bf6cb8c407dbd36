"""``kpit contexts``: look at the image contexts of a COCO split."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from kpit.cli.options import coco_options, load_from_options
from kpit.prompts.render import CONTEXT_STYLES, context_template, render_context

__all__ = ["contexts"]


@click.command()
@coco_options
@click.option(
    "--style",
    default="paper",
    show_default=True,
    help=f"Context style: {', '.join(CONTEXT_STYLES)}, or a .j2 template file.",
)
@click.option(
    "--template-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="A folder whose context/*.j2 templates override the packaged ones.",
)
@click.option("--jsonl", is_flag=True, help="Print one JSON context per line instead of text.")
@click.option("--pose-notes", is_flag=True, help="Append each person's pose facts in words.")
def contexts(
    style: str, template_dir: Path | None, jsonl: bool, pose_notes: bool, **options: object
) -> None:
    """Print the image contexts of a COCO split, as a teacher model would read them.

    PATH is a folder in the standard COCO layout (annotations/ and one image folder per
    split); --captions/--instances/--keypoints name files directly.
    """
    if not jsonl:
        context_template(style, template_dir)  # a typo in --style fails before loading
    loaded = load_from_options(options)
    for n, ctx in enumerate(loaded):
        if jsonl:
            click.echo(orjson.dumps(ctx.to_dict()).decode())
            continue
        if n:
            click.echo()
        click.echo(f"# image {ctx.image_id} ({ctx.file_name}, {ctx.width}x{ctx.height})")
        click.echo(render_context(ctx, style, template_dir=template_dir, pose_notes=pose_notes))
