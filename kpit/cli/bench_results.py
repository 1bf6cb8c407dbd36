"""``kpit bench report``, ``show`` and ``page``: what a benchmark's answers and reviews say.

The commands of :mod:`kpit.cli.bench` that read finished work: the score tables and chart
(``report``), one answer with its claims marked (``show``) and the whole benchmark as one
HTML page (``page``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kpit.bench._output import claim_outputs
from kpit.bench._pooling import refuse_copies
from kpit.bench.plot import plot_scores
from kpit.bench.plugin_report import describe_review, plugin_report
from kpit.bench.plugin_reviews import is_plugin_kind
from kpit.bench.pose_report import pose_scores, pose_table
from kpit.bench.report import (
    ReviewFile,
    category_table,
    flip_rate,
    load_reviews,
    markdown_table,
    paper_scores,
    paper_table,
    repeated_note,
    report_reviews,
    run_spread,
)
from kpit.bench.report_notes import LLAVA_NOTE, POSE_NOTE, judges_of, paper_note
from kpit.bench.review import PAIRWISE_ORDERS, failures_path, review_files
from kpit.cli.bench_inputs import FILE as _FILE
from kpit.cli.bench_inputs import bench_files, load_bench_files
from kpit.errors import ConfigError, DataError
from kpit.jsonl import atomic_writer
from kpit.judges.pose.marks import mark_claims

__all__ = ["page", "report", "show"]


@click.command()
@click.argument("reviews", nargs=-1, required=True, type=_FILE)
@click.option(
    "--protocol",
    type=click.Choice(["llava", "paper"]),
    default="llava",
    show_default=True,
    help="llava: a row per file, against the references, All pools every review. paper: "
    "pairwise reviews, a row per model pooled over every file it appears in, All = mean "
    "of the three categories (the paper's Tables 4 and 5).",
)
@click.option("--baseline", help="paper protocol: add each model's change of All against it.")
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
@click.option(
    "--strict",
    is_flag=True,
    help="paper protocol: refuse to pool a model over pairings whose question sets differ "
    "(by default a warning).",
)
def report(
    reviews: tuple[Path, ...],
    protocol: str,
    baseline: str | None,
    output: Path | None,
    plot: Path | None,
    seed: int,
    strict: bool,
) -> None:
    """Scores of one or more review files, side by side.

    Under the llava protocol: the model's mean x10 per category, the relative score, 95%
    bootstrap intervals, and reviews excluded. Under the paper protocol: the paper's table.
    Pose judge reviews get a table of their own below (grounding precision, contradictions
    per answer, coverage, count accuracy), never pooled with a GPT judge's scores.
    """
    reviews = _without_companions(reviews)
    read = [*reviews, *(failures_path(path) for path in reviews)]
    if output is not None:
        claim_outputs([output], read)
    if plot is not None:
        claim_outputs([plot], [*read, output], option="--plot")
    named: dict[Path, Path] = {}
    for path in reviews:
        first = named.setdefault(path.resolve(), path)
        if first is not path:
            raise ConfigError(f"named twice ({first} and {path}): its reviews would count "
                              "twice", file=path)  # fmt: skip
    loaded = [load_reviews(path) for path in reviews]
    refuse_copies(loaded)
    files = [f for f in loaded if f.kind in ("reference", "pairwise")]
    posed = [f for f in loaded if f.kind == "pose"]
    plugged = [f for f in loaded if is_plugin_kind(f.kind)]
    parts: list[str] = []
    results: dict[str, Any] = {}
    if protocol == "llava" and baseline is not None:
        raise click.UsageError("--baseline belongs to --protocol paper")
    if protocol == "llava" and strict:
        raise click.UsageError("--strict belongs to --protocol paper")
    if files:
        if protocol == "paper":
            text, results = _paper_report(files, baseline, strict)
        else:
            text, results = _llava_report(files, seed)
        parts.append(text)
    if posed:
        parts.append(_pose_report(posed, heading=bool(files) or bool(plugged)))
    if plugged:
        parts.append(plugin_report(plugged, heading=bool(files or posed)))
    text = "\n".join(parts)
    click.echo(text)
    if output is not None:
        _write_text(output, text)
    if plot is not None:
        if not results:
            kinds = " and ".join(sorted({f.kind for f in loaded}))
            raise click.UsageError(f"--plot draws the GPT judge's scores; these files hold "
                                   f"only {kinds} reviews")  # fmt: skip
        plot_scores(results, plot, protocol=protocol)


def _without_companions(reviews: tuple[Path, ...]) -> tuple[Path, ...]:
    """``reviews`` without the failures files and caches of the review files among them
    (``reviews-*.jsonl`` matches ``reviews-a.jsonl.cache.jsonl`` too), each one left out
    said on stderr: their reviews would count twice."""
    given = {path.resolve() for path in reviews}
    companions: dict[Path, tuple[str, Path]] = {}
    for path in reviews:
        _, failures, cache = review_files(path)
        companions[failures.resolve()] = ("failures file", path)
        companions[cache.resolve()] = ("cache", path)
    kept = []
    for path in reviews:
        what = companions.get(path.resolve())
        if what is not None and what[1].resolve() in given and what[1] != path:
            click.echo(f"left out {path}: the {what[0]} of {what[1]}", err=True)
            continue
        kept.append(path)
    return tuple(kept)


def _write_text(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all; a one-line error naming it when that fails."""
    try:
        with atomic_writer(path) as f:
            f.write(text)
    except OSError as exc:
        raise DataError(f"cannot write: {exc.strerror}", file=path) from None


def _pose_report(files: list[ReviewFile], heading: bool) -> str:
    scores = pose_scores(files)
    notes = [POSE_NOTE, _judged_by(files)]
    title = "## Pose judge (never pooled with the GPT judge's scores)\n\n" if heading else ""
    return title + pose_table(scores) + "\n\n" + "\n".join(notes) + "\n"


def _paper_report(
    files: list[ReviewFile], baseline: str | None, strict: bool
) -> tuple[str, dict[str, Any]]:
    scores = paper_scores(files, strict=strict)
    swapped = any(r.get("order") == PAIRWISE_ORDERS[1] for f in files for r in f.reviews)
    notes = [paper_note(swapped), _judged_by(files)]
    for f in files:
        flips = flip_rate(f.reviews)
        if flips is not None:
            notes.append(f"- {f.path.name}: flip rate when the order is swapped {flips:.1%}")
        repeated = repeated_note(f)
        if repeated is not None:
            notes.append(repeated)
    text = paper_table(scores, baseline) + "\n\n" + "\n".join(notes) + "\n"
    return text, {model: score.as_scores() for model, score in scores.items()}


def _llava_report(files: list[ReviewFile], seed: int) -> tuple[str, dict[str, Any]]:
    results = {}
    notes = [LLAVA_NOTE]
    details = []
    counts: dict[str, int] = {}
    for f in files:
        counts[f.model_id] = counts.get(f.model_id, 0) + 1
    for f in files:
        if f.kind != "reference":
            raise ConfigError(f"{f.path} holds pairwise reviews; use --protocol paper",
                              field="protocol")  # fmt: skip
        label = f.model_id if counts[f.model_id] == 1 else f"{f.model_id} ({f.path.name})"
        results[label] = report_reviews(f.reviews + f.failed, seed=seed)
        records = f.reviews
        rubrics = {f"{r.get('rubric')} {r.get('rubric_hash')}" for r in records if r.get("rubric")}
        details.append(f"### {label}\n\n{category_table(results[label])}")
        flips, spread = flip_rate(records), run_spread(records)
        note = (
            f"- {label}: {f.path.name}; judge {judges_of(records)}; "
            f"rubric {', '.join(sorted(rubrics)) or 'unknown'}"
        )
        if flips is not None:
            note += f"; flip rate when the order is swapped {flips:.1%}"
        if spread is not None:
            note += f"; across runs {spread[0]:.2f} ± {spread[1]:.2f}"
        notes.append(note)
        repeated = repeated_note(f)
        if repeated is not None:
            notes.append(repeated)
    text = (
        markdown_table(results) + "\n\n" + "\n".join(notes) + "\n\n" + "\n\n".join(details)
        + "\n"
    )  # fmt: skip
    return text, results


def _judged_by(files: list[ReviewFile]) -> str:
    """The note naming the judges of ``files`` and the files."""
    reviews = [r for f in files for r in f.reviews]
    return f"Judge: {judges_of(reviews)}; files: " + ", ".join(f.path.name for f in files)


@click.command()
@click.argument("question_id", type=int)
@click.option("--reviews", "reviews_file", type=_FILE, required=True,
              help="A single-answer judge's reviews (--judge pose, or a plugin's).")  # fmt: skip
@click.option("--model", help="The model whose answer to show, when the file holds several.")
@click.option("--colour/--no-colour", "--color/--no-color", default=None,
              help="Colour the claims (default: when writing to a terminal).")  # fmt: skip
def show(question_id: int, reviews_file: Path, model: str | None, colour: bool | None) -> None:
    """Print the answer to QUESTION_ID with its claims marked: [words]{n+} supported,
    {n!} contradicted, {n?} undecidable, and below, each claim with the fact that decided
    it and its confidence (or why nothing did)."""
    loaded = load_reviews(reviews_file)
    if loaded.kind != "pose" and not is_plugin_kind(loaded.kind):
        raise ConfigError(f"{reviews_file} holds {loaded.kind} reviews; show reads a "
                          "single-answer judge's (kpit bench judge ... --judge pose)",
                          field="reviews")  # fmt: skip
    found = [r for r in loaded.reviews if r.get("question_id") == question_id
             and (model is None or r.get("model_id") == model)]  # fmt: skip
    if not found:
        raise DataError(f"no review of question {question_id}"
                        + (f" by model {model!r}" if model else ""), file=reviews_file,
                        field="question_id")  # fmt: skip
    use_colour = colour if colour is not None else None
    for review in found:
        if loaded.kind != "pose":  # a plugin judge's review
            click.echo(describe_review(review) + "\n")
            continue
        scores = (f"{review.get('supported', 0)} supported, {review.get('contradicted', 0)} "
                  f"contradicted, {review.get('undecidable', 0)} undecidable")  # fmt: skip
        click.echo(f"question {question_id} ({review.get('category')}, {review.get('image')}), "
                   f"model {review.get('model_id')}: {scores}")  # fmt: skip
        for note in review.get("notes") or []:
            click.echo(f"note: {note}")
        click.echo(mark_claims(review, colour=use_colour is not False), color=use_colour)
        click.echo()


_FOLDER = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command()
@bench_files
@click.option("--answers", "answer_files", type=_FILE, multiple=True, required=True,
              help="A model's answers: a column each (repeatable).")  # fmt: skip
@click.option("--reviews", "review_files_", type=_FILE, multiple=True,
              help="Review files: the GPT judge's (the tables, the scores on each card) and "
              "the pose judge's (claims marked in the answers) (repeatable).")  # fmt: skip
@click.option("--images", "image_dir", type=_FOLDER,
              help="The folder of the benchmark's images (default: the people drawn on a "
              "blank canvas).")  # fmt: skip
@click.option("--image-width", type=click.IntRange(min=16), default=640, show_default=True,
              help="Shrink the embedded images (JPEG) to this width in pixels.")  # fmt: skip
@click.option("--baseline", help="The paper's table: each model's change of All against it.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the bootstrap.")
@click.option("--title", help="The page's title (default: the benchmark folder's name).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The HTML file to write (one file: images, tables and chart inside).",
)
def page(
    answer_files: tuple[Path, ...],
    review_files_: tuple[Path, ...],
    image_dir: Path | None,
    image_width: int,
    baseline: str | None,
    seed: int,
    title: str | None,
    output: Path,
    **files: Path | None,
) -> None:
    """Write the benchmark as one HTML page that works offline: the tables and chart of
    `kpit bench report` (the protocol chosen from the reviews), then a card per question:
    the image with each person's skeleton and number, the question, each model's answer
    with the pose judge's claims marked, and the judge's scores in each order with its
    explanation. Filters by category, model pair, orders that disagree and contradicted
    claims; a text search and sorting by score difference. Everything read is escaped, and
    the page loads nothing from the network.
    """
    from kpit.bench.page import write_page

    loaded = load_bench_files(files, require_references=False)
    written = write_page(loaded, list(answer_files), output, reviews=list(review_files_),
                         images=image_dir, image_width=image_width, baseline=baseline,
                         seed=seed, title=title)  # fmt: skip
    size = written.stat().st_size
    models = f"{len(answer_files)} model" + ("s" if len(answer_files) != 1 else "")
    click.echo(f"{written}: {len(loaded.questions)} questions, {models}, "
               f"{size / 1e6:.1f} MB")  # fmt: skip
