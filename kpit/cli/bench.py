"""``kpit bench``: judge a model's benchmark answers and report the scores."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from kpit.bench.answer import answer_bench
from kpit.bench.build import build_bench
from kpit.bench.files import Bench, load_bench, read_answers, read_jsonl
from kpit.bench.judge import judge_answers
from kpit.bench.plot import plot_scores
from kpit.bench.report import category_table, flip_rate, markdown_table, report_reviews, run_spread
from kpit.cli.options import (
    AliasedOption,
    backend_options,
    coco_options_without_images,
    load_from_options,
)

__all__ = ["bench", "bench_files", "load_bench_files"]

F = TypeVar("F", bound=Callable[..., Any])

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def bench_files(function: F) -> F:
    """Add FOLDER and ``--questions/--context/--references`` to a command."""
    folder = click.Path(exists=True, file_okay=False, path_type=Path)
    decorators = [
        click.argument("folder", required=False, type=folder),
        click.option("--questions", type=_FILE, help="Questions file (LLaVA-Bench fields)."),
        click.option("--context", type=_FILE, help="Context file (captions, instances, people)."),
        click.option("--references", type=_FILE, help="Reference answers file."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def load_bench_files(files: Mapping[str, Path | None]) -> Bench:
    """The benchmark of :func:`bench_files`' values."""
    return load_bench(
        files["folder"],
        questions=files["questions"],
        context=files["context"],
        references=files["references"],
    )


@click.group()
def bench() -> None:
    """The HPAUB / LLaVA-Bench benchmark: build, answer, judge, report.

    Build a benchmark from a COCO split, answer its questions with the model under test,
    judge the answers against the references, and report the scores.
    """


@bench.command()
@bench_files
@click.option("--answers", type=_FILE, required=True, help="The model's answers.")
@click.option("--judge", "judge_name", default="gpt", show_default=True)
@click.option("--model", default="gpt-4o", show_default=True, help="The judge's model.")
@click.option(
    "--rubric",
    type=click.Choice(["hpaub", "llava"]),
    default="hpaub",
    show_default=True,
    help="hpaub explains the keypoints; llava is LLaVA-Bench's.",
)
@click.option("--swap", is_flag=True, help="Judge both orders and report the flip rate.")
@click.option("--runs", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--base-url", help="An OpenAI-compatible server for the judge.")
@click.option("-O", "--judge-option", "judge_options", multiple=True, metavar="KEY=VALUE")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def judge(
    answers: Path,
    judge_name: str,
    model: str,
    rubric: str,
    swap: bool,
    runs: int,
    concurrency: int,
    base_url: str | None,
    judge_options: tuple[str, ...],
    output: Path,
    **files: Path | None,
) -> None:
    """Judge ANSWERS against the references of a benchmark FOLDER (or the three files)."""
    loaded = load_bench_files(files)
    options = backend_options(judge_options, base_url)
    reviews = judge_answers(
        loaded,
        read_answers(answers),
        output,
        judge=judge_name,
        model=model,
        rubric=rubric,
        swap=swap,
        runs=runs,
        concurrency=concurrency,
        judge_options=options,
    )
    failed = sum(1 for r in reviews if "error" in r)
    click.echo(f"{output}: {len(reviews)} reviews, {failed} without scores")


@bench.command()
@click.argument("reviews", nargs=-1, required=True, type=_FILE)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the Markdown report here.",
)
@click.option(
    "--plot", type=click.Path(dir_okay=False, path_type=Path), help="Draw a bar chart here (PNG)."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the bootstrap.")
def report(reviews: tuple[Path, ...], output: Path | None, plot: Path | None, seed: int) -> None:
    """Scores of one or more review files, side by side: the model's mean x10 per category,
    the relative score, 95% bootstrap intervals, and reviews excluded."""
    results = {}
    notes = []
    details = []
    for path in reviews:
        records = [record for _, record in read_jsonl(path)]
        model = next((str(r.get("model_id")) for r in records if r.get("model_id")), path.stem)
        results[model] = report_reviews(records, seed=seed)
        judges = {json_key(r.get("judge")) for r in records if r.get("judge")}
        rubrics = {f"{r.get('rubric')} {r.get('rubric_hash')}" for r in records if r.get("rubric")}
        details.append(f"### {model}\n\n{category_table(results[model])}")
        flips, spread = flip_rate(records), run_spread(records)
        note = (
            f"- {model}: {path.name}; judge {', '.join(sorted(judges)) or 'unknown'}; "
            f"rubric {', '.join(sorted(rubrics)) or 'unknown'}"
        )
        if flips is not None:
            note += f"; flip rate when the order is swapped {flips:.1%}"
        if spread is not None:
            note += f"; across runs {spread[0]:.2f} ± {spread[1]:.2f}"
        notes.append(note)
    text = (
        markdown_table(results) + "\n\n" + "\n".join(notes) + "\n\n" + "\n\n".join(details) + "\n"
    )
    click.echo(text)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
    if plot is not None:
        plot_scores(results, plot)


def json_key(value: object) -> str:
    """A judge record as ``name/model``."""
    if isinstance(value, dict):
        return f"{value.get('name')}/{value.get('model')}"
    return str(value)


@bench.command()
@coco_options_without_images
@click.option(
    "--num-images",
    "--images",
    "num_images",
    cls=AliasedOption,
    hidden_aliases=("--images",),  # the old name of the count; --images is a folder elsewhere
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="Images to draw (each gives one question per category).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Which images, reproducibly.")
@click.option(
    "--generator",
    default="template",
    show_default=True,
    help="Who writes the questions and references.",
)
@click.option("--model", help="The generator's model (e.g. gpt-4o).")
@click.option("--base-url", help="An OpenAI-compatible server for the generator.")
@click.option("--pose-notes", is_flag=True, help="Give the writer each person's pose facts.")
@click.option("-O", "--generator-option", "generator_options", multiple=True, metavar="KEY=VALUE")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True)
def build(
    num_images: int,
    seed: int,
    generator: str,
    model: str | None,
    base_url: str | None,
    pose_notes: bool,
    generator_options: tuple[str, ...],
    output: Path,
    **options: object,
) -> None:
    """Build a benchmark from a COCO split: images with people, one question per category
    with a reference answer, in LLaVA-Bench's fields."""
    contexts = load_from_options(options)
    backend = backend_options(generator_options, base_url)
    built = build_bench(
        list(contexts),
        output,
        num_images=num_images,
        seed=seed,
        generator=generator,
        model=model,
        generator_options=backend,
        pose_notes=pose_notes,
    )
    click.echo(f"{output}: {len(built.questions)} questions on {len(built.contexts)} images")


@bench.command()
@bench_files
@click.option(
    "--images",
    "image_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The folder of the benchmark's images.",
)
@click.option(
    "--generator",
    default="openai",
    show_default=True,
    help="A backend that reads images (see `kpit plugins`).",
)
@click.option("--model", required=True, help="The model under test.")
@click.option("--base-url", help="An OpenAI-compatible server (vLLM, ...).")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("-O", "--generator-option", "generator_options", multiple=True, metavar="KEY=VALUE")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def answer(
    image_dir: Path,
    generator: str,
    model: str,
    base_url: str | None,
    concurrency: int,
    generator_options: tuple[str, ...],
    output: Path,
    **files: Path | None,
) -> None:
    """Answer every question of a benchmark with the model under test, image included."""
    loaded = load_bench_files(files)
    backend = backend_options(generator_options, base_url)
    answers, failures = answer_bench(
        loaded,
        output,
        image_dir,
        generator=generator,
        model=model,
        concurrency=concurrency,
        generator_options=backend,
    )
    click.echo(f"{output}: {len(answers)} answers, {len(failures)} unanswered")
    for qid, why in sorted(failures.items()):
        click.echo(f"question {qid}: {why}", err=True)
    if failures:
        raise click.exceptions.Exit(1)
