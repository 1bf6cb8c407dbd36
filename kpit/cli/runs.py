"""``kpit export`` and ``kpit stats``: read a run folder."""

from __future__ import annotations

from pathlib import Path

import click

from kpit.export.llava import export_hf, export_llava
from kpit.llava_format import SYSTEM
from kpit.names import split_names
from kpit.pipeline.stats import run_stats
from kpit.pipeline.store import Run

__all__ = ["export", "stats"]

_RUN = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command()
@click.argument("run", type=_RUN)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["llava", "hf"]),
    default="llava",
    show_default=True,
    help="LLaVA training JSON, or a Hugging Face dataset folder.",
)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True)
@click.option("--image-prefix", default="", help="Put before each image file name (llava).")
@click.option(
    "--image-root",
    type=click.Path(path_type=Path),
    help="The image folder (hf); by default the one the run was made from.",
)
@click.option(
    "--embed-images/--image-paths",
    default=True,
    show_default=True,
    help="Store the images' bytes in the dataset, which then loads anywhere, or only their "
    "paths: a small dataset that needs the images where they are (hf).",
)
@click.option(
    "--llava-system",
    is_flag=True,
    help="Put LLaVA-1.5's system line first in each record, as LLaVA-1.5 was trained (hf).",
)
@click.option(
    "--per-pair",
    is_flag=True,
    help="One record per question/answer pair, as the paper counts samples.",
)
@click.option("--tasks", help="Only these tasks (comma-separated).")
@click.option(
    "--exclude-images",
    "exclude_images",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Benchmark images that must stay out of the data: a benchmark folder, a run folder, "
    "or a file of image ids or names (repeatable).",
)
def export(
    run: Path,
    fmt: str,
    output: Path,
    image_prefix: str,
    image_root: Path | None,
    embed_images: bool,
    llava_system: bool,
    per_pair: bool,
    tasks: str | None,
    exclude_images: tuple[Path, ...],
) -> None:
    """Export the samples of RUN for training.

    --format hf writes a Hugging Face dataset folder in the messages + images shape of TRL's
    vision SFT and the llava-hf processors. With --exclude-images, a sample on a benchmark
    image stops the export with an error naming how many records and which images overlap."""
    selected = split_names(tasks, what="task", field="tasks") if tasks else None
    excluded = list(exclude_images) or None
    if fmt == "llava":
        count = export_llava(Run(run), output, image_prefix=image_prefix, per_pair=per_pair,
                             tasks=selected, exclude_images=excluded)  # fmt: skip
    else:
        count = export_hf(Run(run), output, image_root=image_root, embed_images=embed_images,
                          per_pair=per_pair, tasks=selected, exclude_images=excluded,
                          system=SYSTEM if llava_system else None)  # fmt: skip
    click.echo(f"{output}: {count} records")


@click.command()
@click.argument("run", type=_RUN)
def stats(run: Path) -> None:
    """Counts of RUN: samples, pairs, lengths and tokens per task, and open failures."""
    click.echo(run_stats(Run(run)).to_text())
