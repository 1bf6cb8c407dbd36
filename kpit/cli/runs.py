"""``kpit export`` and ``kpit stats``: read a run folder."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from kpit.export.llava import LeftOut, export_hf, export_llava
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
@click.option(
    "--image-prefix",
    default="",
    help="The folder each image file name is joined to, e.g. coco/train2017 (llava).",
)
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
@click.option(
    "--include-flagged/--exclude-flagged",
    default=True,
    show_default=True,
    help="Keep the samples that report-only filters flagged (--filters flag, the paper "
    "recipe's), or leave them out. Records whose text would forge chat turns are left out "
    "either way.",
)
@click.pass_context
def export(
    ctx: click.Context,
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
    include_flagged: bool,
) -> None:
    """Export the samples of RUN for training.

    --format hf writes a Hugging Face dataset folder in the messages + images shape of TRL's
    vision SFT and the llava-hf processors. With --exclude-images, a sample on a benchmark
    image stops the export with an error naming how many records and which images overlap.
    A record whose text would forge chat turns (a reply with </s> or a second <image>, which
    kpit train refuses too) is left out, and the count line says how many."""
    _check_format_options(ctx, fmt)
    selected = split_names(tasks, what="task", field="tasks") if tasks else None
    excluded = list(exclude_images) or None
    left_out = LeftOut()
    if fmt == "llava":
        count = export_llava(Run(run), output, image_prefix=image_prefix, per_pair=per_pair,
                             tasks=selected, exclude_images=excluded,
                             include_flagged=include_flagged, left_out=left_out)  # fmt: skip
    else:
        count = export_hf(Run(run), output, image_root=image_root, embed_images=embed_images,
                          per_pair=per_pair, tasks=selected, exclude_images=excluded,
                          system=SYSTEM if llava_system else None,
                          include_flagged=include_flagged, left_out=left_out)  # fmt: skip
    click.echo(f"{output}: {count} records" + (f"; {left_out.to_text()}" if left_out else ""))


_FORMAT_OPTIONS = {
    "llava": ("image_prefix",),
    "hf": ("image_root", "embed_images", "llava_system"),
}
"""The options of one format only: given with the other, they are an error, not ignored."""


def _check_format_options(ctx: click.Context, fmt: str) -> None:
    """Refuse an option of the other format (``--image-prefix`` with ``--format hf``)."""
    for other, names in _FORMAT_OPTIONS.items():
        given = [n for n in names if ctx.get_parameter_source(n) is ParameterSource.COMMANDLINE]
        if other != fmt and given:
            option = next(p for p in ctx.command.params if p.name == given[0])
            flag = "/".join([*option.opts, *option.secondary_opts])
            raise click.UsageError(f"{flag} belongs to --format {other}; it does nothing with "
                                   f"--format {fmt}")  # fmt: skip


@click.command()
@click.argument("run", type=_RUN)
def stats(run: Path) -> None:
    """Counts of RUN: samples, pairs, lengths and tokens per task, and open failures."""
    click.echo(run_stats(Run(run)).to_text())
