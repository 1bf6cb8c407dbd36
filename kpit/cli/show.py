"""``kpit show``: draw one image's context (boxes, skeletons, keypoints, pose facts)."""

from __future__ import annotations

from pathlib import Path

import click

from kpit.cli.options import coco_options, load_from_options
from kpit.errors import ConfigError
from kpit.viz import show as show_context

__all__ = ["show"]


@click.command()
@coco_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The picture to write (PNG, JPEG...); with several --image-id, one per image, "
    "named OUTPUT's stem, a dash and the image id (ctx-785.png).",
)
@click.option(
    "--facts/--no-facts",
    default=True,
    show_default=True,
    help="Add a panel with each person's pose facts.",
)
@click.option("--blank", is_flag=True, help="Draw on a blank canvas instead of the image.")
def show(output: Path, facts: bool, blank: bool, **options: object) -> None:
    """Draw the context of one image: object boxes, each person's number, skeleton and
    keypoints (visible filled, occluded hollow), and their pose facts.

    Pick the image with --image-id (repeatable: each image named is drawn, into its own
    file); without it, the first image is drawn.
    """
    loaded = load_from_options(options)
    if not len(loaded):
        raise ConfigError("no image matches the options", field="image_id")
    named = options.get("image_ids")
    chosen = list(loaded) if isinstance(named, tuple) and len(named) > 1 else [loaded[0]]
    for ctx in chosen:
        image = None if blank or loaded.files.images is None else loaded.image_path(ctx)
        path = output if len(chosen) == 1 else output.with_stem(f"{output.stem}-{ctx.image_id}")
        click.echo(show_context(ctx, path, image, facts=facts))
