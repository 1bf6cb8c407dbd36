"""``kpit generate``: instruction data from a COCO split, through a teacher backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kpit.cli.helps import help_options, progress_option
from kpit.cli.options import (
    AliasedOption,
    backend_options,
    base_url_option,
    coco_options,
    load_from_options,
    price_option,
)
from kpit.cli.runs import not_a_bench_folder
from kpit.errors import ConfigError
from kpit.generators.base import Price
from kpit.pipeline import DryRun, plan_recipes
from kpit.pipeline import generate as run_generate
from kpit.pipeline.shard import Shard
from kpit.pipeline.stats import run_stats
from kpit.pipeline.store import Run
from kpit.prompts.recipes import DEFAULT_RECIPE, FILTER_MODES, split_recipes
from kpit.prompts.render import CONTEXT_STYLES, context_template

__all__ = ["generate", "parse_shard"]

_GENERATOR_HELP_OPTIONS, _GENERATOR_CHOSEN = help_options("generator", "generator")


@click.command()
@coco_options
@click.option(
    "--tasks",
    default="all",
    show_default=True,
    help="Comma-separated tasks (conversation,detail,complex) or 'all'.",
)
@click.option(
    "--generator",
    default="template",
    show_default=True,
    is_eager=True,
    callback=_GENERATOR_CHOSEN,
    help="The backend (see `kpit plugins`).",
)
@_GENERATOR_HELP_OPTIONS
@click.option("--model", help="The model the backend should use.")
@click.option(
    "-o",
    "--output",
    "--out",
    "out",
    cls=AliasedOption,
    hidden_aliases=("--out",),  # the old spelling, for scripts that still use it
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    callback=lambda ctx, param, value: _run_folder(ctx, param, value),
    help="The run folder; an existing run is resumed.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Model calls in flight.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds all sampling.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the requests' count, estimated tokens and cost, with and without prompt "
    "caching; call nothing.",
)
@click.option("--retry-failed", is_flag=True, help="Send failed requests again.")
@click.option(
    "--recipe",
    default=DEFAULT_RECIPE,
    show_default=True,
    help="The prompt recipe (`kpit prompts list`): kpit or paper. With --dry-run, several, "
    "comma-separated (paper,kpit), side by side.",
)
@click.option(
    "--filters",
    type=click.Choice(FILTER_MODES),
    help="What the quality filters do: reject a reply, flag it (stored, with its flags), or "
    "nothing. [default: the recipe's: reject for kpit, flag for paper]",
)
@click.option(
    "--style",
    default="paper",
    show_default=True,
    help=f"Context style: {', '.join(CONTEXT_STYLES)}, or a .j2 file.",
)
@click.option("--pose-notes", is_flag=True, help="Add each person's pose facts to the context.")
@click.option(
    "--template-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder whose templates override the packaged ones by name.",
)
@click.option(
    "--fewshot/--no-fewshot",
    default=True,
    show_default=True,
    help="Send each task's few-shot examples.",
)
@click.option(
    "-O",
    "--generator-option",
    "generator_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A backend setting (repeatable), e.g. -O temperature=0.7.",
)
@base_url_option("the generator (default: OPENAI_BASE_URL)")
@click.option(
    "--rpm",
    type=click.FloatRange(min=0, min_open=True),
    help="Client-side limit: requests per minute, no second over rpm/60 (default: the "
    "limits the server announces).",
)
@click.option(
    "--tpm",
    type=click.FloatRange(min=0, min_open=True),
    help="Client-side limit: tokens per minute.",
)
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    help="Stop sending requests once this many dollars are spent.",
)
@price_option
@click.option(
    "--reply-retries",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Ask again this often for a reply cut off, unparseable or filtered out.",
)
@click.option(
    "--exclude-images",
    "exclude_images",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Benchmark images that are never sent: a benchmark folder, a run folder, "
    "or a file of image ids or names (repeatable).",
)
@click.option(
    "--allow-new-source",
    is_flag=True,
    help="Resume a run with images from another dataset than it was made from.",
)
@click.option(
    "--allow-changed",
    metavar="SETTING[,SETTING]",
    help="Resume a run with other values of these settings that shape or filter its data: "
    "filters, quality, exclude-images (each session records its own).",
)
@click.option(
    "--shard",
    metavar="I/N",
    callback=lambda ctx, param, value: parse_shard(value),
    help="Take only the I-th of N disjoint shares of the requests (1/3, 2/3, 3/3), chosen "
    "by each request's key: the same share on every machine and rerun. Run each share "
    "into its own folder and join them with `kpit merge`. A run is resumed with its own "
    "shard.",
)
@progress_option
def generate(
    tasks: str,
    generator: str,
    model: str | None,
    out: Path,
    concurrency: int,
    seed: int,
    dry_run: bool,
    retry_failed: bool,
    recipe: str,
    filters: str | None,
    style: str,
    pose_notes: bool,
    template_dir: Path | None,
    fewshot: bool,
    generator_options: tuple[str, ...],
    base_url: tuple[str, ...],
    rpm: float | None,
    tpm: float | None,
    max_cost: float | None,
    prices: tuple[str, ...],
    reply_retries: int,
    exclude_images: tuple[Path, ...],
    allow_new_source: bool,
    allow_changed: str | None,
    shard: Shard | None,
    progress: bool,
    **options: object,
) -> None:
    """Generate instruction data for the images of a COCO split into a run folder.

    Rerunning the same command resumes: finished requests are skipped; a rerun with another
    --filters or --exclude-images is refused unless --allow-changed names it. Ctrl-C (or SIGTERM)
    stops cleanly; everything finished is already on disk. Exit status: 0 done, 1 an error
    before or during the run, 3 every request failed, 4 stopped early (a spent budget),
    130 interrupted.
    """
    recipes = split_recipes(recipe)
    if len(recipes) > 1 and not dry_run:
        raise click.BadParameter("several recipes go with --dry-run only", param_hint="--recipe")
    context_template(style, template_dir)
    options_for_backend = backend_options(
        generator_options,
        base_url,
        rpm=rpm,
        tpm=tpm,
        max_cost=max_cost,
        prices=";".join(prices) or None,
    )
    contexts = load_from_options(options)
    settings: dict[str, Any] = {
        "concurrency": concurrency,
        "seed": seed,
        "retry_failed": retry_failed,
        "filters": filters,
        "style": style,
        "pose_notes": pose_notes,
        "template_dir": template_dir,
        "fewshot": fewshot,
        "generator_options": options_for_backend,
        "exclude_images": list(exclude_images) or None,
        "allow_new_source": allow_new_source,
        "allow_changed": allow_changed,
        "shard": shard,
    }
    if len(recipes) > 1:
        _print_plans(plan_recipes(contexts, recipes, tasks, generator, model, out, **settings))
        return
    try:
        result = run_generate(contexts, tasks, generator, model, out, dry_run=dry_run,
                              recipe=recipes[0], reply_retries=reply_retries, progress=progress,
                              **settings)  # fmt: skip
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM handled like it
        click.echo(f"\ninterrupted: everything finished is saved in {out}; run the same "
                   "command again to resume", err=True)  # fmt: skip
        raise SystemExit(EXIT_INTERRUPTED) from None
    if isinstance(result, DryRun):
        _print_plan(result)
        return
    _report_session(result)


def parse_shard(value: str | None) -> Shard | None:
    """``--shard I/N`` parsed; a bad value is a usage error naming the option."""
    if value is None:
        return None
    try:
        return Shard.parse(value)
    except ConfigError as exc:
        raise click.BadParameter(exc.message, param_hint="--shard") from None


EXIT_ALL_FAILED = 3
"""``kpit generate``'s exit status when every request it sent failed."""
EXIT_STOPPED = 4
"""... when it stopped early on purpose (a spent budget): the run is incomplete."""
EXIT_INTERRUPTED = 130
"""... when Ctrl-C or SIGTERM stopped it (everything finished is saved)."""


def _report_session(result: Run) -> None:
    """Print what the run's session did and its figures; exit with the status it calls for."""
    stats = run_stats(result)
    session = result.manifest.get("last_session", {})
    new, failed, skipped = (session.get(k, 0) for k in ("samples", "failures", "skipped"))
    click.echo(f"run {result.folder}: {new} new samples, {failed} failures, {skipped} skipped")
    click.echo(stats.to_text())
    if session.get("stopped"):
        click.echo(f"stopped early: {session['stopped']}; run again to go on", err=True)
        raise SystemExit(EXIT_STOPPED)
    if failed and not new:
        click.echo(f"every request failed; see {result.folder / 'failures.jsonl'}", err=True)
        raise SystemExit(EXIT_ALL_FAILED)


def _run_folder(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """``-o``, refused in one line when it is a benchmark folder."""
    if value is not None and not ctx.resilient_parsing:
        not_a_bench_folder(value)
    return value


def _dollars(value: float | None) -> str:
    return "?" if value is None else f"${value:,.2f}"


def _price_line(price: Price | None) -> str:
    if price is None:
        return ("cost: the model's price is unknown; give it with "
                "--price MODEL=INPUT,OUTPUT[,CACHED]")  # fmt: skip
    if price.cached_input is None:
        return f"price: ${price.input:g} / ${price.output:g} per million input / output tokens"
    return (f"price: ${price.input:g} / ${price.output:g} / ${price.cached_input:g} per million "
            "input / output / cached input tokens")  # fmt: skip


def _caching_note(price: Price | None) -> str:
    """What the estimate with prompt caching assumes."""
    rate = ""
    if price is not None and price.cached_input is None:
        rate = "; this price has no cached rate: cached tokens cost the input rate"
    return ("with caching (est.): every request of a task but the first reads the task's "
            "identical leading tokens from the\nprovider's cache (OpenAI caches a prefix of "
            f"1,024 tokens or more, in steps of 128){rate}")  # fmt: skip


def _print_plan(plan: DryRun) -> None:
    click.echo(
        f"{'task':<14}{'requests':>10}{'prompt tokens':>16}{'completion (est.)':>19}"
        f"{'cost (est.)':>14}"
    )
    for task, count in plan.requests.items():
        tokens = f"{plan.prompt_tokens[task]:>16,}{plan.completion_tokens[task]:>19,}"
        click.echo(f"{task:<14}{count:>10,}{tokens}{_dollars(plan.cost(task)):>14}")
    click.echo(
        f"{'all':<14}{plan.total_requests:>10,}{plan.total_prompt_tokens:>16,}"
        f"{plan.total_completion_tokens:>19,}{_dollars(plan.cost()):>14}"
    )
    click.echo(_price_line(plan.price))
    click.echo(f"tokens counted with {plan.tokenizer}; completions are typical reply lengths")
    click.echo(f"already done (skipped): {plan.skipped:,}")
    _print_caching(plan)
    if plan.examples:
        request = plan.examples[0]
        click.echo(f"\nfirst request: {request.key}")
        for message in request.messages:
            click.echo(f"--- {message.role} ---\n{message.content}")


def _print_caching(plan: DryRun) -> None:
    """The dry run's estimate with prompt caching, per task."""
    click.echo("\nwith prompt caching (est.):")
    click.echo(f"{'task':<14}{'same prefix':>13}{'cached/request':>16}{'cached tokens':>15}"
               f"{'cost (est.)':>13}{'saved':>10}")  # fmt: skip
    for task in plan.requests:
        click.echo(f"{task:<14}{plan.prefix_tokens.get(task, 0):>13,}"
                   f"{plan.cached_per_request(task):>16,}{plan.cached_tokens(task):>15,}"
                   f"{_dollars(plan.cost(task, caching=True)):>13}"
                   f"{_dollars(plan.saving(task)):>10}")  # fmt: skip
    share = plan.cached_tokens() / plan.total_prompt_tokens if plan.total_prompt_tokens else 0.0
    click.echo(f"{'all':<14}{'':>13}{'':>16}{plan.cached_tokens():>15,}"
               f"{_dollars(plan.cost(caching=True)):>13}{_dollars(plan.saving()):>10}")  # fmt: skip
    click.echo(f"cached: {share:.0%} of the prompt tokens")
    click.echo(_caching_note(plan.price))


def _figures(plan: DryRun, task: str | None) -> list[str]:
    """A dry run's rows for one task (or all): requests, tokens, per request, completion,
    cost; then the same prefix, cached tokens and cost with prompt caching."""
    if task is None:
        counts = (plan.total_requests, plan.total_prompt_tokens, plan.total_completion_tokens)
    else:
        counts = (plan.requests[task], plan.prompt_tokens[task], plan.completion_tokens[task])
    requests, prompt, completion = counts
    prefix = "" if task is None else f"{plan.prefix_tokens.get(task, 0):,}"
    return [f"{requests:,}", f"{prompt:,}", f"{plan.tokens_per_request(task):,.0f}",
            f"{completion:,}", _dollars(plan.cost(task)), prefix,
            f"{plan.cached_tokens(task):,}", _dollars(plan.cost(task, caching=True))]  # fmt: skip


_ROWS = ("requests", "prompt tokens", "per request", "completion (est.)", "cost (est.)",
         "same prefix", "cached (est.)", "with caching")  # fmt: skip


def _print_plans(plans: dict[str, DryRun]) -> None:
    """Several recipes' dry runs side by side: requests, prompt tokens, per request, cost,
    and the same with prompt caching."""
    names = list(plans)
    width = max(14, *(len(n) + 2 for n in names))
    tasks = list(dict.fromkeys(t for plan in plans.values() for t in plan.requests))
    click.echo(f"{'recipe':<33}" + "".join(f"{n:>{width}}" for n in names))
    for task in [*tasks, None]:
        columns = [_figures(plans[name], task) for name in names]
        for n, row in enumerate(_ROWS):
            if task is None and row == "same prefix":
                continue
            head = (task or "all") if n == 0 else ""
            click.echo(f"{head:<14}{row:<19}" + "".join(f"{c[n]:>{width}}" for c in columns))
    prices = {p.price for p in plans.values()}
    price = next(iter(prices)) if len(prices) == 1 else None
    click.echo(_price_line(price))
    tokenizer = next(iter(plans.values())).tokenizer
    click.echo(f"tokens counted with {tokenizer}; completions are typical reply lengths")
    click.echo(_caching_note(price))
    skipped = ", ".join(f"{name} {plan.skipped:,}" for name, plan in plans.items())
    click.echo(f"already done (skipped): {skipped}")
    click.echo("each recipe's messages: kpit prompts show PATH --recipe NAME --task TASK")
