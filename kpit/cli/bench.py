"""``kpit bench``: judge a model's benchmark answers and report the scores."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click

from kpit.bench._output import claim_outputs
from kpit.bench._pooling import refuse_copies
from kpit.bench.answer import NOT_ASKED, answer_bench
from kpit.bench.build import BENCH_FILES, PAPER_SPLIT, build_bench
from kpit.bench.files import Bench, load_bench, read_answers
from kpit.bench.plot import plot_scores
from kpit.bench.plugin_report import answer_summary, describe_review, plugin_report
from kpit.bench.plugin_reviews import is_plugin_kind
from kpit.bench.report import (
    ReviewFile,
    category_table,
    flip_rate,
    load_reviews,
    markdown_table,
    paper_scores,
    paper_table,
    pose_scores,
    pose_table,
    repeated_note,
    report_reviews,
    run_spread,
)
from kpit.bench.review import PAIRWISE_ORDERS, failures_path, judge_answers, review_files
from kpit.cli.generate import EXIT_INTERRUPTED, EXIT_STOPPED, parse_shard
from kpit.cli.helps import WholeSummaryGroup, help_options, progress_option
from kpit.cli.options import (
    AliasedOption,
    backend_options,
    base_url_option,
    coco_options_without_images,
    load_from_options,
    price_option,
)
from kpit.errors import ConfigError, DataError, KpitError
from kpit.jsonl import atomic_writer, read_jsonl
from kpit.judges.pose.marks import mark_claims
from kpit.pipeline.setup import Shard
from kpit.plugins import get_judge

__all__ = ["bench", "bench_files", "load_bench_files", "mark_claims"]

# mark_claims is kpit.judges.pose.mark_claims, importable from here as before.

F = TypeVar("F", bound=Callable[..., Any])

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)

_GENERATOR_HELP_OPTIONS, _GENERATOR_CHOSEN = help_options("generator", "generator")
_JUDGE_HELP_OPTIONS, _JUDGE_CHOSEN = help_options("judge", "judge_name")


def _ids_in(path: Path, field: str) -> set[str]:
    """The ``field`` values of the records already in ``path`` (none when it is missing or
    unreadable: the command itself then says what is wrong with it)."""
    try:
        return {str(r[field]) for _, r in read_jsonl(path, missing_ok=True, torn_tail_ok=True)
                if isinstance(r, dict) and field in r}  # fmt: skip
    except (KpitError, OSError):
        return set()


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


def load_bench_files(files: Mapping[str, Path | None], *, require_references: bool = True) -> Bench:
    """The benchmark of :func:`bench_files`' values."""
    return load_bench(
        files["folder"],
        questions=files["questions"],
        context=files["context"],
        references=files["references"],
        require_references=require_references,
    )


@click.group(cls=WholeSummaryGroup)
def bench() -> None:
    """The HPAUB / LLaVA-Bench benchmark: build, answer, judge, report.

    Build a benchmark from a COCO split, answer its questions with the model under test,
    judge the answers (against the references, or model against model with --versus, as
    the paper does; or with --judge pose, each answer's claims about people checked against
    the keypoints), report the scores (--protocol llava or paper), and show an answer with
    its claims marked.
    """


@bench.command()
@bench_files
@click.option("--answers", type=_FILE, required=True, help="The model's answers.")
@click.option(
    "--versus",
    type=_FILE,
    help="Another model's answers: judge model against model (the paper's protocol); "
    "no references needed.",
)
@click.option(
    "--judge",
    "judge_name",
    default="gpt",
    show_default=True,
    is_eager=True,
    callback=_JUDGE_CHOSEN,
    help="gpt: a chat model scores pairs of answers; pose: each answer's claims about people "
    "checked against the keypoints, offline (no references needed); or a plugin's judge "
    "(kpit plugins lists them).",
)
@_JUDGE_HELP_OPTIONS
@click.option(
    "--model", help="The judge's model (gpt: gpt-4o by default; pose: none, leave it out)."
)
@click.option(
    "--rubric",
    type=click.Choice(["hpaub", "llava"]),
    default="hpaub",
    show_default=True,
    help="hpaub explains the keypoints; llava is LLaVA-Bench's.",
)
@click.option("--swap", is_flag=True, help="Judge both orders and report the flip rate.")
@click.option(
    "--runs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Judge each pair this many times and report the spread across runs.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Reviews asked for at once.",
)
@base_url_option("the judge")
@click.option(
    "-O",
    "--judge-option",
    "judge_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A judge setting (repeatable), e.g. -O max_cost=5 (see --help-options).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The review file to write (its failures file and cache go beside it).",
)
@progress_option
def judge(
    answers: Path,
    versus: Path | None,
    judge_name: str,
    model: str | None,
    rubric: str,
    swap: bool,
    runs: int,
    concurrency: int,
    base_url: tuple[str, ...],
    judge_options: tuple[str, ...],
    output: Path,
    progress: bool,
    **files: Path | None,
) -> None:
    """Judge ANSWERS against the references of a benchmark FOLDER (or the three files), or
    against the answers of another model (--versus).

    Reviews without readable scores go to OUTPUT's failures file
    (reviews.failures.jsonl beside reviews.jsonl), never into the reviews. Each review is
    kept as it comes (in reviews.jsonl.cache.jsonl): rerunning the same command asks only
    for what is missing, and Ctrl-C or SIGTERM stops with everything finished saved. With
    --judge pose each answer is checked on its own against the people's pose facts (-O
    images=DIR reads image sizes that an older context file lacks); see `kpit bench show`.
    Exit status: 0 done, 1 an error, 4 stopped early (a spent budget), 130 interrupted."""
    single = get_judge(judge_name).single_answer
    if single:
        _refuse_unused(click.get_current_context(), judge_name)
    options = backend_options(judge_options, base_url)
    loaded = load_bench_files(files, require_references=versus is None and not single)
    folder = options.get("images") if single else None  # the pose judge reads image sizes
    pictures = [Path(folder) / name for name in loaded.contexts] if folder else []
    claim_outputs(review_files(output), [answers, versus, *pictures])
    mine = read_answers(answers, default_model=answers.stem)
    if single:
        reviews = judge_answers(loaded, mine, output, judge=judge_name,
                                judge_options=options, progress=progress)  # fmt: skip
        if not any(r.get("kind") == "pose" for r in reviews):  # a plugin's judge
            click.echo(answer_summary(output, reviews, judge_name))
            return
        failed = sum(1 for r in reviews if "error" in r)
        claims = [c for r in reviews for c in r.get("claims", [])]
        tally = {s: sum(1 for c in claims if c["status"] == s)
                 for s in ("supported", "contradicted", "undecidable")}  # fmt: skip
        click.echo(f"{output}: {len(reviews) - failed} answers, {len(claims)} claims: "
                   + ", ".join(f"{n} {s}" for s, n in tally.items()))  # fmt: skip
        return
    before = _ids_in(review_files(output)[2], "key")
    try:
        reviews = judge_answers(
            loaded,
            mine,
            output,
            versus=read_answers(versus, default_model=versus.stem) if versus is not None else None,
            judge=judge_name,
            model=model,  # None: the judge's own default (gpt: gpt-4o)
            rubric=rubric,
            swap=swap,
            runs=runs,
            concurrency=concurrency,
            judge_options=options,
            progress=progress,
        )
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM handled like it
        click.echo(f"\ninterrupted: every review finished is saved (in {review_files(output)[2]}"
                   "); run the same command again to finish", err=True)  # fmt: skip
        raise SystemExit(EXIT_INTERRUPTED) from None
    unasked = [r for r in reviews if r.get("stopped")]
    failed = sum(1 for r in reviews if "error" in r) - len(unasked)
    note = f" (in {failures_path(output)})" if failed else ""
    scored = len(reviews) - failed - len(unasked)
    cached = sum(1 for r in reviews if r.get("key") in before and not r.get("stopped"))
    served = f" ({cached} served from the cache)" if cached else ""
    click.echo(f"{output}: {scored} reviews, {failed} without scores{note}{served}")
    if unasked:
        click.echo(f"stopped early: {unasked[0]['error'].removeprefix(NOT_ASKED + ': ')}; "
                   f"{len(unasked)} reviews not asked; run again to go on", err=True)  # fmt: skip
        raise SystemExit(EXIT_STOPPED)


_PAIR_ONLY = ("versus", "model", "rubric", "swap", "runs", "concurrency", "base_url")
"""The options of ``bench judge`` that a single-answer judge (``pose``) has no use for."""


def _refuse_unused(ctx: click.Context, judge_name: str) -> None:
    """A one-line error for an option given that the single-answer judge would ignore."""
    for param in ctx.command.params:
        if param.name not in _PAIR_ONLY:
            continue
        source = ctx.get_parameter_source(param.name)
        if source in (None, click.core.ParameterSource.DEFAULT):
            continue
        flag = max(param.opts, key=len)
        raise ConfigError(f"--judge {judge_name} checks each answer on its own against the "
                          f"context; {flag} does not apply to it (leave it out)",
                          field=flag)  # fmt: skip


@bench.command()
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


def _write_text(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all; a one-line error naming it when that fails."""
    try:
        with atomic_writer(path) as f:
            f.write(text)
    except OSError as exc:
        raise DataError(f"cannot write: {exc.strerror}", file=path) from None


def _pose_report(files: list[ReviewFile], heading: bool) -> str:
    scores = pose_scores(files)
    judges = {json_key(r.get("judge")) for f in files for r in f.reviews if r.get("judge")}
    notes = [
        "Pose judge: each answer's claims about people checked against the pose facts of "
        "the keypoints (supported, contradicted or undecidable; undecidable claims count "
        "neither way). Grounding precision = supported / decided claims, pooled; coverage = "
        "the mean share of the image's salient facts an answer states; count accuracy = "
        "answers whose stated number of people is right, of those that state one.",
        f"Judge: {', '.join(sorted(judges)) or 'unknown'}; files: "
        + ", ".join(f.path.name for f in files),
    ]
    title = "## Pose judge (never pooled with the GPT judge's scores)\n\n" if heading else ""
    return title + pose_table(scores) + "\n\n" + "\n".join(notes) + "\n"


def _paper_report(
    files: list[ReviewFile], baseline: str | None, strict: bool
) -> tuple[str, dict[str, Any]]:
    scores = paper_scores(files, strict=strict)
    judges = {json_key(r.get("judge")) for f in files for r in f.reviews if r.get("judge")}
    swapped = any(r.get("order") == PAIRWISE_ORDERS[1] for f in files for r in f.reviews)
    notes = [
        "Protocol: paper (pairwise, model against model, each answer scored 1-10 by the "
        "judge). A model's category score is 10 x the mean of all its scores across every "
        "pairing it appears in"
        + (" (both orders of a question averaged first)" if swapped else "")
        + "; All is the mean of the three category scores.",
        f"Judge: {', '.join(sorted(judges)) or 'unknown'}; files: "
        + ", ".join(f.path.name for f in files),
    ]
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
    notes = [
        "Protocol: llava (each answer against the reference answer; relative = 100 x "
        "mean(model) / mean(reference); All pools every review)."
    ]
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
        judges = {json_key(r.get("judge")) for r in records if r.get("judge")}
        rubrics = {f"{r.get('rubric')} {r.get('rubric_hash')}" for r in records if r.get("rubric")}
        details.append(f"### {label}\n\n{category_table(results[label])}")
        flips, spread = flip_rate(records), run_spread(records)
        note = (
            f"- {label}: {f.path.name}; judge {', '.join(sorted(judges)) or 'unknown'}; "
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


def json_key(value: object) -> str:
    """A judge record as ``name/model``, and ``at URL`` when its server is not OpenAI's."""
    if isinstance(value, dict):
        where = _endpoint(value.get("base_url"))
        return f"{value.get('name')}/{value.get('model')}" + (f" at {where}" if where else "")
    return str(value)


def _endpoint(url: object) -> str:
    """The judge's server(s) as recorded (credentials already masked), or ``""`` for
    OpenAI's own API (the default)."""
    urls = url if isinstance(url, list | tuple) else [url]
    shown = [str(u) for u in urls if u and urlsplit(str(u)).hostname != "api.openai.com"]
    return ", ".join(shown)


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
@base_url_option("the generator")
@click.option("--pose-notes", is_flag=True, help="Give the writer each person's pose facts.")
@click.option(
    "--recipe",
    default="kpit",
    show_default=True,
    help="The prompt recipe the questions and references are written with (kpit or paper); "
    f"paper makes --split default to {PAPER_SPLIT}, the paper's.",
)
@click.option(
    "--disjoint-from",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="A training split's annotation file (or a run folder, or an id list): draw only "
    "images absent from it (repeatable). Without it kpit warns: a val2014 benchmark overlaps "
    "train2017 training data.",
)
@click.option(
    "-O",
    "--generator-option",
    "generator_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A setting of the generator (repeatable), e.g. -O temperature=0.7.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The benchmark folder to write (questions, context, references, manifest, run/).",
)
def build(
    num_images: int,
    seed: int,
    generator: str,
    model: str | None,
    base_url: tuple[str, ...],
    pose_notes: bool,
    recipe: str,
    disjoint_from: tuple[Path, ...],
    generator_options: tuple[str, ...],
    output: Path,
    **options: object,
) -> None:
    """Build a benchmark from a COCO split: images with people, one question per category
    with a reference answer, in LLaVA-Bench's fields."""
    if recipe == "paper" and _split_not_given():
        options["split"] = PAPER_SPLIT
        click.echo(f"--recipe paper: --split {PAPER_SPLIT}, the paper's benchmark split (COCO "
                   "Validation 2014); give --split to choose another", err=True)  # fmt: skip
    given = [options[name] for name in ("captions", "instances", "keypoints")]
    claim_outputs([output / name for name in BENCH_FILES],
                  [*(p for p in given if isinstance(p, Path)), *disjoint_from])  # fmt: skip
    contexts = load_from_options(options)
    backend = backend_options(generator_options, base_url)
    try:
        built = build_bench(contexts, output, num_images=num_images, seed=seed,
                            generator=generator, model=model, generator_options=backend,
                            pose_notes=pose_notes, recipe=recipe,
                            disjoint_from=list(disjoint_from) or None)  # fmt: skip
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM handled like it
        click.echo(f"\ninterrupted: every sample finished is saved in {output / 'run'}; run "
                   "the same command again to go on", err=True)  # fmt: skip
        raise SystemExit(EXIT_INTERRUPTED) from None
    click.echo(f"{output}: {len(built.questions)} questions on {len(built.contexts)} images")


def _split_not_given() -> bool:
    """Whether ``--split`` was left at its default."""
    source = click.get_current_context().get_parameter_source("split")
    return source in (None, click.core.ParameterSource.DEFAULT)


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
    is_eager=True,
    callback=_GENERATOR_CHOSEN,
    help="A backend that reads images (see `kpit plugins`).",
)
@_GENERATOR_HELP_OPTIONS
@click.option("--model", required=True, help="The model under test.")
@click.option(
    "--model-id",
    help="The name the answers carry (model_id), which reports and --baseline use. "
    "[default: --model's last path part: out/full gives full]",
)
@base_url_option("the model (vLLM, ...)")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Requests in flight (the openai backend; hf-llava answers -O batch_size at a time).",
)
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    help="Stop sending requests once this many dollars are spent on OUTPUT (what the answers "
    "already in it cost counts too).",
)
@price_option
@click.option(
    "-O",
    "--generator-option",
    "generator_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A backend setting (repeatable), e.g. -O device=cuda (see --help-options).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The answer file (JSONL); answers already in it are kept and not asked again.",
)
@progress_option
@click.option(
    "--shard",
    metavar="I/N",
    callback=lambda ctx, param, value: parse_shard(value),
    help="Answer only the I-th of N disjoint shares of the questions (by each question's "
    "request key, the same on every machine), into this OUTPUT; join the shares' files by "
    "answering into their concatenation without --shard, which asks nothing.",
)
def answer(
    image_dir: Path,
    generator: str,
    model: str,
    model_id: str | None,
    base_url: tuple[str, ...],
    concurrency: int,
    max_cost: float | None,
    prices: tuple[str, ...],
    generator_options: tuple[str, ...],
    output: Path,
    progress: bool,
    shard: Shard | None,
    **files: Path | None,
) -> None:
    """Answer every question of a benchmark with the model under test, image included.

    Each answer is appended to OUTPUT as it comes: rerunning the same command asks only for
    the questions still unanswered, and Ctrl-C or SIGTERM stops with every answer finished
    saved. Exit status: 0 done, 1 an error or questions left unanswered, 4 stopped early (a
    spent --max-cost), 130 interrupted.
    """
    loaded = load_bench_files(files)
    backend = backend_options(generator_options, base_url, max_cost=max_cost,
                              prices=";".join(prices) or None)  # fmt: skip
    before = _ids_in(output, "answer_id")
    try:
        answers, failures = answer_bench(loaded, output, image_dir, generator=generator,
                                         model=model, model_id=model_id, concurrency=concurrency,
                                         generator_options=backend, shard=shard,
                                         progress=progress)  # fmt: skip
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM handled like it
        click.echo(f"\ninterrupted: every answer finished is saved in {output}; run the same "
                   "command again to answer the rest", err=True)  # fmt: skip
        raise SystemExit(EXIT_INTERRUPTED) from None
    cached = sum(1 for a in answers.values() if a.answer_id in before)
    named = [f"model_id {a.model_id!r}" for a in list(answers.values())[:1]]
    notes = "; ".join(named + ([f"{cached} served from the cache"] if cached else []))
    click.echo(f"{output}: {len(answers)} answers, {len(failures)} unanswered"
               + (f" ({notes})" if notes else ""))  # fmt: skip
    unasked = {qid: why for qid, why in failures.items() if why.startswith(NOT_ASKED)}
    for qid, why in sorted(failures.items()):
        if qid not in unasked:
            click.echo(f"question {qid}: {why}", err=True)
    if unasked:
        reason = next(iter(unasked.values())).removeprefix(NOT_ASKED + ": ")
        click.echo(f"stopped early: {reason}; {len(unasked)} questions not asked; run again "
                   "with a larger --max-cost to go on", err=True)  # fmt: skip
        raise SystemExit(EXIT_STOPPED)
    if failures:
        raise click.exceptions.Exit(1)


@bench.command()
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


@bench.command()
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
