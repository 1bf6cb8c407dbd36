"""``kpit bench``: build a benchmark, answer it, judge the answers (``report``, ``show`` and
``page``, which read the results, are in :mod:`kpit.cli.bench_results`)."""

from __future__ import annotations

from pathlib import Path

import click

from kpit.bench._output import claim_outputs
from kpit.bench.answer import NOT_ASKED, answer_bench
from kpit.bench.build import BENCH_FILES, PAPER_SPLIT, build_bench
from kpit.bench.files import read_answers
from kpit.bench.plugin_report import answer_summary
from kpit.bench.review import failures_path, judge_answers, review_files
from kpit.cli.bench_inputs import FILE as _FILE
from kpit.cli.bench_inputs import bench_files, ids_in, load_bench_files
from kpit.cli.bench_results import page, report, show
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
from kpit.errors import ConfigError
from kpit.judges.pose.marks import mark_claims
from kpit.pipeline.shard import Shard
from kpit.plugins import get_judge

__all__ = ["bench", "bench_files", "load_bench_files", "mark_claims"]

# mark_claims is kpit.judges.pose.mark_claims, importable from here as before.

_GENERATOR_HELP_OPTIONS, _GENERATOR_CHOSEN = help_options("generator", "generator")
_JUDGE_HELP_OPTIONS, _JUDGE_CHOSEN = help_options("judge", "judge_name")


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
    before = ids_in(review_files(output)[2], "key")
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
    is_eager=True,
    callback=_GENERATOR_CHOSEN,
    help="Who writes the questions and references.",
)
@_GENERATOR_HELP_OPTIONS
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
    before = ids_in(output, "answer_id")
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


for _command in (report, show, page):  # the commands that read finished work
    bench.add_command(_command)
