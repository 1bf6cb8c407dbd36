"""``kpit export``, ``kpit stats`` and ``kpit merge``: read run folders, join them."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from kpit.bench.build import BENCH_FILES
from kpit.errors import ConfigError
from kpit.export.llava import LeftOut, export_hf, export_llava
from kpit.llava_format import SYSTEM
from kpit.names import split_names
from kpit.pipeline.merge import merge_runs
from kpit.pipeline.stats import run_stats
from kpit.pipeline.store import Run

__all__ = ["export", "merge", "not_a_bench_folder", "stats"]

_RUN = click.Path(exists=True, file_okay=False, path_type=Path)


def not_a_bench_folder(folder: Path) -> None:
    """Refuse, in one line, a benchmark folder (``kpit bench build -o``) given where a run
    folder is expected: it holds questions, not samples (its samples are in its ``run/``)."""
    bench = all((folder / name).is_file() for name in BENCH_FILES[:2])
    if bench and not (folder / "samples.jsonl").exists():
        run = folder / "run"
        hint = f" (the run it was built from is {run})" if run.is_dir() else ""
        raise ConfigError(f"{folder} is a benchmark folder, not a run folder{hint}")


def _run_folders(ctx: click.Context, param: click.Parameter, value: object) -> object:
    """The ``RUN`` arguments, each checked by :func:`not_a_bench_folder`."""
    for folder in value if isinstance(value, tuple) else (value,):
        if isinstance(folder, Path):
            not_a_bench_folder(folder)
    return value


@click.command()
@click.argument("runs", metavar="RUN...", nargs=-1, required=True, type=_RUN,
                callback=_run_folders)  # fmt: skip
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["llava", "hf"]),
    default="llava",
    show_default=True,
    help="LLaVA training JSON, or a Hugging Face dataset folder.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="The file (llava: training JSON) or folder (hf: a dataset) to write.",
)
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
    help="One record per question/answer pair, the shape of the paper's released data.",
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
    runs: tuple[Path, ...],
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
    """Export the samples of one or more runs for training.

    Several runs of one identity (the shares of a run made with --shard) export as one: a
    sample found in several runs is exported once, the first run's, and the count line
    says how many were left out; runs made with different settings are refused (export
    each on its own).

    --format hf writes a Hugging Face dataset folder in the messages + images shape of TRL's
    vision SFT and the llava-hf processors. With --exclude-images, a sample on a benchmark
    image stops the export with an error naming how many records and which images overlap.
    A record whose text would forge chat turns (a reply with </s> or a second <image>, which
    kpit train refuses too) is left out, and the count line says how many."""
    _check_format_options(ctx, fmt)
    selected = split_names(tasks, what="task", field="tasks") if tasks else None
    excluded = list(exclude_images) or None
    left_out = LeftOut()
    run = [Run(folder) for folder in runs]
    if fmt == "llava":
        count = export_llava(run, output, image_prefix=image_prefix, per_pair=per_pair,
                             tasks=selected, exclude_images=excluded,
                             include_flagged=include_flagged, left_out=left_out)  # fmt: skip
    else:
        count = export_hf(run, output, image_root=image_root, embed_images=embed_images,
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
@click.argument("run", type=_RUN, callback=_run_folders)
def stats(run: Path) -> None:
    """Counts of RUN: samples, pairs, lengths and tokens per task, and open failures."""
    click.echo(run_stats(Run(run)).to_text())


@click.command()
@click.argument("runs", metavar="RUN...", nargs=-1, required=True, type=_RUN,
                callback=_run_folders)  # fmt: skip
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The merged run's folder: a new or empty folder.",
)
@click.option(
    "--allow-new-source",
    is_flag=True,
    help="Join runs made from the same images in different places (each machine's copy).",
)
def merge(runs: tuple[Path, ...], output: Path, allow_new_source: bool) -> None:
    """Join the run folders of one run's shares (--shard) into one.

    The run folders (RUN..., such as those that several machines made with `kpit generate
    --shard I/N`) must have one identity: runs made with different settings (seed, prompt,
    backend, recipe, filters, quality, excluded images, templates) are refused. A sample
    found in several runs is kept once, the first run's; failures are kept only for
    requests no run holds a sample of. The manifest adds up every run's sessions and
    spending. The inputs are only read; OUTPUT must be a new or empty folder. Resume the
    merged run with `kpit generate -o OUTPUT` and the same settings (no --shard once it
    holds every share).
    """
    result = merge_runs(list(runs), output, allow_new_source=allow_new_source)
    click.echo(result.to_text())
