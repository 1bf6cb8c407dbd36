"""The generation pipeline: contexts -> requests -> backend -> parse -> filter -> store.

:func:`generate` builds a request per image and task, sends them through a generator with
bounded concurrency, parses each reply into turns, filters it, and appends the result to the
run folder as soon as it arrives. Rerunning the same call resumes: requests whose key is
already stored are skipped (failed ones too, unless ``retry_failed``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import platform
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any

from tqdm import tqdm

from kpit import plugins
from kpit._checks import check_contexts, check_count, check_names, check_path, check_type
from kpit._sync import run_sync
from kpit._version import __version__
from kpit.errors import ConfigError, ParseError
from kpit.exclusion import ExcludeImages, read_image_ids, source_paths
from kpit.generators.base import Generator, Price, Reply, cached_share
from kpit.generators.openai.pricing import cacheable_tokens
from kpit.pipeline.quality import QualityConfig, QualityFilter, Rejection, sample_fingerprint
from kpit.pipeline.store import Run, RunLock, RunStore
from kpit.prompts.environment import templates_read
from kpit.prompts.recipes import DEFAULT_RECIPE, Recipe, resolve_recipe, split_recipes
from kpit.prompts.tasks import PromptOptions, Task, request_key
from kpit.prompts.tokens import SharedPrefix, tokenizer_name
from kpit.types import ChatRequest, ImageContext, Sample, Turn

__all__ = [
    "ALL_TASKS",
    "DryRun",
    "agenerate",
    "generate",
    "plan_recipes",
    "plan_run",
    "resolve_tasks",
]

log = logging.getLogger(__name__)

ALL_TASKS = ("conversation", "detail", "complex")
"""The paper's three tasks, what ``tasks="all"`` means."""

REPLY_EXCERPT = 4000
"""Characters of an unusable reply kept in ``failures.jsonl`` (the rest is counted)."""

RESUME_KEYS = ("seed", "prompt", "generator_identity", "recipe")
"""Manifest entries a resumed run must share with the run it continues (and the hashes of
the templates both use)."""

RESUME_DEFAULTS = {"recipe": DEFAULT_RECIPE}
"""The values of resume keys that manifests written before them lack."""

RecipeLike = str | type[Recipe] | Recipe


def resolve_tasks(tasks: str | Sequence[str], recipe: RecipeLike = DEFAULT_RECIPE) -> list[Task]:
    """Task objects from names (a list, a comma-separated string, or ``"all"``), as
    ``recipe`` builds them."""
    chosen = resolve_recipe(recipe)
    names = tasks.split(",") if isinstance(tasks, str) else list(tasks)
    names = [n.strip() for n in names if n.strip()]
    if names == ["all"]:
        names = list(chosen.tasks) if chosen.tasks is not None else list(ALL_TASKS)
    if not names:
        raise ConfigError("no task given", field="tasks")
    if len(set(names)) != len(names):
        raise ConfigError(f"a task is named twice: {', '.join(names)}", field="tasks")
    return [chosen.task(name) for name in names]


@dataclass(slots=True)
class DryRun:
    """What a run would send: request count and estimated tokens, per task, and what prompt
    caching would save.

    The caching estimate assumes that every request of a task but the first finds the
    task's identical leading tokens (:attr:`prefix_tokens`: the system prompt and the
    few-shot example, as far as they are the same in every request) in the provider's
    cache, and that the provider caches them as OpenAI does
    (:func:`~kpit.generators.openai.pricing.cacheable_tokens`: from 1,024 tokens, in steps
    of 128).
    """

    requests: Counter[str] = field(default_factory=Counter)
    prompt_tokens: Counter[str] = field(default_factory=Counter)
    completion_tokens: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    examples: list[ChatRequest] = field(default_factory=list)
    price: Price | None = None
    tokenizer: str = ""
    recipe: str = DEFAULT_RECIPE
    prefix_tokens: dict[str, int] = field(default_factory=dict)
    """Per task: the prompt tokens every one of its requests begins with."""

    def tokens_per_request(self, task: str | None = None) -> float:
        """Mean prompt tokens per request (for one task, or all)."""
        requests = self.requests[task] if task is not None else self.total_requests
        tokens = self.prompt_tokens[task] if task is not None else self.total_prompt_tokens
        return tokens / requests if requests else 0.0

    @property
    def total_requests(self) -> int:
        """Requests that would be sent."""
        return sum(self.requests.values())

    @property
    def total_prompt_tokens(self) -> int:
        """Estimated prompt tokens over all requests."""
        return sum(self.prompt_tokens.values())

    @property
    def total_completion_tokens(self) -> int:
        """Expected completion tokens over all requests (each task's typical reply)."""
        return sum(self.completion_tokens.values())

    def cached_per_request(self, task: str) -> int:
        """The prompt tokens of each of ``task``'s requests that a cache could serve."""
        return cacheable_tokens(self.prefix_tokens.get(task, 0))

    def cached_tokens(self, task: str | None = None) -> int:
        """Estimated cached prompt tokens (for one task, or all): every request but the
        first of each task reads :meth:`cached_per_request` tokens from the cache."""
        tasks = [task] if task is not None else list(self.requests)
        return sum(self.cached_per_request(t) * max(self.requests[t] - 1, 0) for t in tasks)

    def cost(self, task: str | None = None, *, caching: bool = False) -> float | None:
        """Estimated dollars (for one task, or all), if the backend's price is known; with
        ``caching``, the cached tokens (:meth:`cached_tokens`) at the cached rate."""
        if self.price is None:
            return None
        cached = self.cached_tokens(task) if caching else 0
        if task is None:
            return self.price.cost(self.total_prompt_tokens, self.total_completion_tokens,
                                   cached)  # fmt: skip
        return self.price.cost(self.prompt_tokens[task], self.completion_tokens[task], cached)

    def saving(self, task: str | None = None) -> float | None:
        """Estimated dollars that prompt caching saves (for one task, or all)."""
        return None if self.price is None else self.price.saving(self.cached_tokens(task))

    def scaled(self, images: int) -> DryRun:
        """The same job on ``images`` images: one request per image and task, each task's
        prompt and completion tokens at this plan's mean per request, the same identical
        prefix (an extrapolation from a sample, e.g. to COCO train2017's 56,599 images with
        an annotated person)."""
        check_count(images, "images", minimum=1)
        scaled = DryRun(price=self.price, tokenizer=self.tokenizer, recipe=self.recipe,
                        prefix_tokens=dict(self.prefix_tokens))  # fmt: skip
        for task, count in self.requests.items():
            if not count:
                continue
            scaled.requests[task] = images
            scaled.prompt_tokens[task] = round(self.prompt_tokens[task] / count * images)
            scaled.completion_tokens[task] = round(self.completion_tokens[task] / count * images)
        return scaled


def _make_generator(generator: str | Generator, model: str | None,
                    options: dict[str, Any]) -> Generator:  # fmt: skip
    if isinstance(generator, Generator):
        return generator
    return plugins.get_generator(generator)(model=model, **options)


@dataclass(slots=True)
class _Pending:
    """A request the pipeline built, with what it needs to store the reply."""

    task: Task
    ctx: ImageContext
    request: ChatRequest


def _pending(
    contexts: Iterable[ImageContext],
    tasks: Sequence[Task],
    skip: set[str],
    seed: int,
    options: PromptOptions,
    on_skip: Callable[[], None],
) -> Iterator[_Pending]:
    for ctx in contexts:
        for task in tasks:
            key = request_key(task.name, ctx.image_id)
            if key in skip:
                on_skip()
                continue
            yield _Pending(task, ctx, task.build(ctx, key=key, seed=seed, options=options))


SAME_RENDER: dict[tuple[str, str], str] = {
    # source.j2 of kpit 0.1.0 before the compact rewrite (commit 57b4122): its paper branch is
    # the same text as today's (only the compact branch changed), so such a run resumes.
    ("common/source.j2", "a64932e571a74d9e"): "paper",
}
"""Earlier versions of kpit's templates, by name and hash, with the context style for which
they render the same text as today's: a run made with one in that style resumes."""


def _check_templates(store: RunStore, hashes: dict[str, str], style: str) -> None:
    """A template that both the run and this call use must not have changed (an earlier
    version listed in :data:`SAME_RENDER` for the run's style counts as the same)."""
    old = store.read_manifest().get("template_hashes", {})
    changed = sorted(
        name
        for name in set(old) & set(hashes)
        if old[name] != hashes[name] and SAME_RENDER.get((name, old[name])) != style
    )
    if changed:
        raise ConfigError(f"templates changed since this run began: {', '.join(changed)}; "
                          "use a new run folder (out=, -o)", file=store.manifest_path,
                          field="template_hashes")  # fmt: skip


def _template_hashes(tasks: Sequence[Task], options: PromptOptions) -> dict[str, str]:
    return {name: h for task in tasks for name, h in task.template_hashes(options).items()}


def _templates_of(
    contexts: Iterable[ImageContext], tasks: Sequence[Task], options: PromptOptions, seed: int
) -> tuple[Iterable[ImageContext], dict[str, str]]:
    """The hashes of every file that shapes the prompts, and the contexts to go on with.

    Each task builds its request for the first image while :func:`templates_read` watches,
    so the set holds whatever a render reads (includes, the context style, a ``--style``
    file, a recipe's files) besides the files a task names itself (its examples and
    instructions). A template that fails to render fails here, before anything is sent.
    """
    hashes = _template_hashes(tasks, options)
    pending = iter(contexts)
    first = next(pending, None)
    if first is None:
        return (), hashes
    with templates_read() as reads:
        for task in tasks:
            task.build(first, key=request_key(task.name, first.image_id), seed=seed,
                       options=options)  # fmt: skip
    return chain([first], pending), hashes | reads


def _source(contexts: Iterable[ImageContext]) -> dict[str, Any]:
    files = getattr(contexts, "files", None)
    if files is None:
        return {"contexts": type(contexts).__name__}
    return {k: str(Path(v).resolve()) if v is not None else None
            for k, v in dataclasses.asdict(files).items()}  # fmt: skip


@dataclass(slots=True)
class _RunSetup:
    """Everything a run needs before it sends anything: what to ask, whom, and where to store."""

    tasks: list[Task]
    prompt: PromptOptions
    backend: Generator
    store: RunStore
    manifest: dict[str, Any]
    contexts: Iterable[ImageContext]
    seed: int
    concurrency: int
    quality: QualityConfig
    filters: str = "reject"  # reject, flag or off
    total: int | None = None  # requests in all, when the number of images is known
    skip: set[str] = field(default_factory=set)  # keys already done
    seen: set[str] = field(default_factory=set)  # answer fingerprints of stored samples
    resuming: bool = False

    def pending(self, on_skip: Callable[[], None]) -> Iterator[_Pending]:
        """The requests still to send, built lazily; ``on_skip`` is called per done one."""
        return _pending(self.contexts, self.tasks, self.skip, self.seed, self.prompt, on_skip)


def _set_up(
    contexts: Iterable[ImageContext],
    tasks: str | Sequence[str],
    generator: str | Generator,
    model: str | None,
    out: str | os.PathLike[str],
    *,
    concurrency: int = 8,
    limit: int | None = None,
    seed: int = 0,
    retry_failed: bool = False,
    style: str = "paper",
    pose_notes: bool = False,
    template_dir: str | os.PathLike[str] | None = None,
    fewshot: bool = True,
    quality: QualityConfig | None = None,
    generator_options: Mapping[str, Any] | None = None,
    exclude_images: ExcludeImages = None,
    allow_new_source: bool = False,
    recipe: RecipeLike = DEFAULT_RECIPE,
    filters: str | None = None,
) -> _RunSetup:
    """Check the arguments, make the backend, and read what an existing run has done."""
    contexts = _check_arguments(contexts, tasks, generator, model, out, concurrency=concurrency,
                                limit=limit, seed=seed, quality=quality,
                                generator_options=generator_options)  # fmt: skip
    chosen = resolve_recipe(recipe)
    task_objects = resolve_tasks(tasks, chosen)
    if concurrency < 1:
        raise ConfigError("must be at least 1", field="concurrency")
    mode = chosen.filter_mode(filters)
    prompt = chosen.prompt_options(style, pose_notes,
                                   os.fspath(template_dir) if template_dir else None,
                                   fewshot)  # fmt: skip
    backend = _make_generator(generator, model, dict(generator_options or {}))
    excluded = read_image_ids(exclude_images)
    source = _source(contexts)
    total = None
    if isinstance(contexts, Sized):
        images = len(contexts) if limit is None else min(len(contexts), limit)
        total = images * len(task_objects)
    if limit is not None:
        contexts = islice(contexts, limit)
    if excluded:
        contexts = _without(contexts, excluded)
        total = None  # how many the exclusion removes is known only on the way
    quality = quality or QualityConfig()
    store = RunStore(out)
    contexts, hashes = _templates_of(contexts, task_objects, prompt, seed)
    manifest = {
        "kpit_version": __version__,
        "python": platform.python_version(),
        "generator": backend.settings(),
        "generator_identity": backend.identity(),
        "prompt": {"style": prompt.style, "pose_notes": prompt.pose_notes,
                   "template_dir": prompt.template_dir, "fewshot": prompt.fewshot},
        "template_hashes": hashes,
        "recipe": chosen.name,
        "recipe_version": chosen.version,
        "filters": mode,
        "seed": seed,
        "tasks": [t.name for t in task_objects],
        "source": source,
        "quality": dataclasses.asdict(quality),
        "concurrency": concurrency,
        "exclude_images": {"sources": source_paths(exclude_images),
                           "images": len(excluded)},
    }  # fmt: skip
    if store.orphaned():
        raise ConfigError("the folder holds samples but no manifest.json: it cannot be resumed "
                          "safely (the settings that made it are lost); use a new run folder",
                          file=store.folder)  # fmt: skip
    setup = _RunSetup(task_objects, prompt, backend, store, manifest, contexts, seed,
                      concurrency, quality, mode, total, resuming=store.exists())  # fmt: skip
    if setup.resuming:
        store.check_compatible(manifest, RESUME_KEYS, RESUME_DEFAULTS)
        old_source = store.read_manifest().get("source")
        if old_source is not None and old_source != source and not allow_new_source:
            raise ConfigError(f"this run was made from {old_source}, not {source}; pass "
                              "allow_new_source=True (--allow-new-source) to add images from "
                              "another dataset to it", file=store.manifest_path,
                              field="source")  # fmt: skip
        _check_templates(store, hashes, prompt.style)
        for sample in store.samples():
            setup.skip.add(sample.id)
            setup.seen.add(sample_fingerprint(sample))
        if not retry_failed:
            setup.skip.update(r["key"] for r in store.failures())
    return setup


def _check_arguments(
    contexts: Any,
    tasks: Any,
    generator: Any,
    model: Any,
    out: Any,
    *,
    concurrency: Any,
    limit: Any,
    seed: Any,
    quality: Any,
    generator_options: Any,
) -> Iterable[ImageContext]:
    """The arguments of :func:`generate` checked at the boundary: one ConfigError naming
    the argument, not a traceback from deep inside or a silent empty run."""
    checked = check_contexts(contexts)
    check_names(tasks, "tasks")
    check_type(generator, "generator", (str, Generator), "a backend's name or a Generator")
    check_type(model, "model", (str, type(None)), "a model name")
    check_path(out, "out", what="a run folder")
    check_count(concurrency, "concurrency", minimum=1)
    check_count(limit, "limit", optional=True)
    check_count(seed, "seed", minimum=-(2**63))
    check_type(quality, "quality", (QualityConfig, type(None)), "a kpit.QualityConfig")
    check_type(generator_options, "generator_options", (Mapping, type(None)), "a dict of options")
    return checked


def _without(contexts: Iterable[ImageContext], excluded: set[int]) -> Iterator[ImageContext]:
    """``contexts`` without the excluded images (benchmark images never reach a teacher)."""
    for ctx in contexts:
        if ctx.image_id in excluded:
            log.debug("image %s is excluded", ctx.image_id)
            continue
        yield ctx


def plan_run(
    contexts: Iterable[ImageContext],
    tasks: str | Sequence[str] = ALL_TASKS,
    generator: str | Generator = "template",
    model: str | None = None,
    out: str | os.PathLike[str] = "runs/kpit",
    **options: Any,
) -> DryRun:
    """What :func:`generate` would send, without calling the backend or writing anything.

    Takes :func:`generate`'s arguments (``reply_retries`` and ``progress`` are ignored); an
    existing run folder counts its finished requests as skipped. Prompt tokens are counted
    with :mod:`kpit.prompts.tokens`; completions are each task's typical reply length. Each task's
    identical leading tokens (:attr:`DryRun.prefix_tokens`) are the common token prefix of
    all its requests (:class:`kpit.prompts.tokens.SharedPrefix`), for the estimate with prompt
    caching.
    """
    options.pop("dry_run", None)
    options.pop("reply_retries", None)
    options.pop("progress", None)
    setup = _set_up(contexts, tasks, generator, model, out, **options)
    skipped = 0

    def count_skip() -> None:
        nonlocal skipped
        skipped += 1

    plan = DryRun(price=setup.backend.price(), tokenizer=tokenizer_name(),
                  recipe=setup.manifest["recipe"])  # fmt: skip
    shared: dict[str, SharedPrefix] = defaultdict(SharedPrefix)
    for item in setup.pending(count_skip):
        name = item.task.name
        plan.requests[name] += 1
        plan.completion_tokens[name] += item.task.expected_completion_tokens
        shared[name].add(item.request.messages)  # counts its prompt tokens too
        if len(plan.examples) < 3:
            plan.examples.append(item.request)
    plan.skipped = skipped
    plan.prompt_tokens.update({name: prefix.prompt_tokens for name, prefix in shared.items()})
    plan.prefix_tokens = {name: prefix.tokens for name, prefix in shared.items()}
    return plan


def plan_recipes(
    contexts: Iterable[ImageContext],
    recipes: str | Sequence[str] = ("paper", DEFAULT_RECIPE),
    tasks: str | Sequence[str] = ALL_TASKS,
    generator: str | Generator = "template",
    model: str | None = None,
    out: str | os.PathLike[str] = "runs/kpit",
    **options: Any,
) -> dict[str, DryRun]:
    """:func:`plan_run` for each of several recipes, on the same images: what each would
    send and cost, side by side (``kpit generate --dry-run --recipe paper,kpit``).

    Args:
        contexts: the images (read once per recipe; an iterator is read into a list first).
        recipes: recipe names, a list or a comma-separated string.
        tasks: as for :func:`generate`.
        generator: as for :func:`generate`.
        model: as for :func:`generate`.
        out: as for :func:`generate`.
        **options: as for :func:`generate`; ``recipe`` is not one of them.

    Returns:
        Each recipe's :class:`DryRun`, by name, in the order given.
    """
    names = split_recipes(recipes)
    if "recipe" in options:
        raise ConfigError("give the recipes as recipes=, not recipe=", field="recipe")
    images = contexts if isinstance(contexts, Sequence) else list(contexts)
    return {name: plan_run(images, tasks, generator, model, out, recipe=name, **dict(options))
            for name in names}  # fmt: skip


async def agenerate(
    contexts: Iterable[ImageContext],
    tasks: str | Sequence[str] = ALL_TASKS,
    generator: str | Generator = "template",
    model: str | None = None,
    out: str | os.PathLike[str] = "runs/kpit",
    *,
    dry_run: bool = False,
    reply_retries: int = 1,
    progress: bool = True,
    **options: Any,
) -> Run | DryRun:
    """:func:`generate` for code that already runs an event loop (e.g. a notebook)."""
    check_count(reply_retries, "reply_retries")
    if dry_run:
        return plan_run(contexts, tasks, generator, model, out, **options)
    setup = _set_up(contexts, tasks, generator, model, out, **options)
    return await _drive(setup, reply_retries=reply_retries, progress=progress)


async def _drive(setup: _RunSetup, *, reply_retries: int, progress: bool) -> Run:
    """Send the pending requests, store each reply as it comes, keep the manifest current."""
    with RunLock(setup.store.folder):  # one writer per run folder: nothing paid or stored twice
        return await _drive_locked(setup, reply_retries=reply_retries, progress=progress)


async def _drive_locked(setup: _RunSetup, *, reply_retries: int, progress: bool) -> Run:
    store, backend, manifest = setup.store, setup.backend, setup.manifest
    store.open_for_writing()  # a read-only folder or a full disk stops here, before paying
    previous = store.read_manifest() if setup.resuming else {}
    earlier = _earlier_totals(previous)
    backend.resume(earlier)
    manifest["created"] = previous.get("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    manifest["tasks"] = sorted({*previous.get("tasks", []), *manifest["tasks"]})
    manifest["template_hashes"] = previous.get("template_hashes", {}) | manifest["template_hashes"]
    store.write_manifest(manifest)
    minimums = {t.name: t.min_answer_chars for t in setup.tasks}
    checker = _Checker(QualityFilter(setup.quality, minimums, setup.seen), setup.filters)
    in_flight: dict[str, _Pending] = {}
    counts: Counter[str] = Counter()
    backend.attach(store.folder)
    bar = tqdm(desc="generate", unit="req", total=setup.total, disable=not progress,
               dynamic_ncols=True)  # fmt: skip

    def resumed() -> None:  # a request done in an earlier session counts as done
        counts["skipped"] += 1
        bar.update(1)

    def requests() -> Iterator[ChatRequest]:
        for item in setup.pending(resumed):
            in_flight[item.request.key] = item
            yield item.request

    def validate(request: ChatRequest, reply: Reply) -> str | None:
        """Why a reply is worth asking again for (without storing or remembering it)."""
        return _problem(in_flight[request.key], reply, checker, remember=False)[0]

    started = time.monotonic()
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    completed = False
    terminated = _on_sigterm()
    try:
        with store:
            replies = backend.generate(requests(), concurrency=setup.concurrency,
                                       validate=validate, reply_retries=reply_retries)  # fmt: skip
            async for reply in replies:
                outcome = _store(store, in_flight.pop(reply.key), reply, checker)
                counts[outcome] += 1
                bar.update(1)
                figures: dict[str, object] = {"done": counts["sample"], "failed": counts["failure"]}
                bar.set_postfix(figures | backend.progress(), refresh=False)
        completed = True
    except asyncio.CancelledError:
        if not terminated.is_set():
            raise
    finally:
        terminated.restore()
        bar.close()
        await backend.aclose()
        manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        session = {
            "started": started_at,
            "source": manifest["source"],
            "samples": counts["sample"], "failures": counts["failure"],
            "skipped": counts["skipped"], "seconds": round(time.monotonic() - started, 2),
            "interrupted": not completed,
            "stopped": backend.stop_reason,
            **backend.totals(),
        }  # fmt: skip
        manifest["last_session"] = session
        manifest["sessions"] = [*previous.get("sessions", []), session]
        manifest["totals"] = _add_totals(earlier, backend.totals())
        store.write_manifest(manifest)
    if terminated.is_set():
        raise KeyboardInterrupt("terminated (SIGTERM)")
    log.info("run %s: %s", store.folder, dict(counts))
    return Run(store.folder)


_SUMMED = ("requests_sent", "prompt_tokens", "completion_tokens", "cached_tokens", "cost_usd",
           "cache_saved_usd", "throttled", "budget_pauses")  # fmt: skip
"""A backend's session totals that add up over a run's sessions."""

_LATEST = ("learned_limits",)
"""A backend's session figures that the run's totals keep the latest known of (the rate
limits a server announced)."""


def _earlier_totals(previous: Mapping[str, Any]) -> dict[str, Any]:
    """What the run's earlier sessions spent (manifests before commit b624a2a kept the last
    one only)."""
    totals = previous.get("totals")
    if isinstance(totals, dict):
        return dict(totals)
    last = previous.get("last_session") or {}
    return {k: last[k] for k in _SUMMED if isinstance(last.get(k), (int, float))}


def _add_totals(earlier: Mapping[str, Any], session: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(earlier)
    for key in _SUMMED:
        value = session.get(key)
        if isinstance(value, (int, float)):
            out[key] = round(out.get(key, 0) + value, 6)
    for key in _LATEST:
        if session.get(key) is not None:
            out[key] = session[key]
    if "cached_tokens" in out:  # the share of the run's prompt tokens, not a sum of shares
        out["cached_share"] = cached_share(int(out["cached_tokens"]),
                                           int(out.get("prompt_tokens") or 0))  # fmt: skip
    return out


class _Terminated:
    """SIGTERM handled like Ctrl-C: the running task is cancelled, the manifest written."""

    def __init__(self) -> None:
        self._flag = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> _Terminated:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if task is None:
            return self
        try:
            loop.add_signal_handler(signal.SIGTERM, self._fire, task)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            return self
        self._loop = loop
        return self

    def _fire(self, task: asyncio.Task[Any]) -> None:
        log.warning("SIGTERM: stopping; everything finished is saved")
        self._flag = True
        task.cancel()

    def is_set(self) -> bool:
        """True once SIGTERM arrived."""
        return self._flag

    def restore(self) -> None:
        """Remove the handler again."""
        if self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGTERM)
            self._loop = None


def _on_sigterm() -> _Terminated:
    return _Terminated().install()


@dataclass(slots=True)
class _Checker:
    """The quality filters and what to do with what they find (``reject``, ``flag``, ``off``)."""

    quality: QualityFilter
    mode: str

    def rejection(self, task: str, turns: tuple[Turn, ...], *, remember: bool) -> Rejection | None:
        """Why the turns must not be stored (only in ``reject`` mode)."""
        if self.mode != "reject":
            return None
        return self.quality.check(task, turns, remember=remember)

    def flags(self, task: str, turns: tuple[Turn, ...]) -> list[Rejection] | None:
        """The rules the turns break, in ``flag`` mode (``None`` in the others)."""
        if self.mode != "flag":
            return None
        return self.quality.flags(task, turns)


def _problem(
    item: _Pending, reply: Reply, checker: _Checker, *, remember: bool
) -> tuple[str | None, str, tuple[Turn, ...]]:
    """``(reason, detail, turns)``: why the reply cannot be stored (reason ``None`` if it can)."""
    if reply.text is None:
        return reply.error or "error", reply.detail, ()
    if reply.finish_reason == "length":
        return "length", "the reply was cut off at the token limit", ()
    try:
        turns = item.task.parse(reply.text, item.request)
    except ParseError as exc:
        return "parse", exc.message, ()
    rejection = checker.rejection(item.task.name, turns, remember=remember)
    if rejection is not None:
        return f"quality:{rejection.reason}", rejection.detail, turns
    return None, "", turns


def _store(store: RunStore, item: _Pending, reply: Reply, checker: _Checker) -> str:
    """Parse, filter and store one reply; return ``"sample"`` or ``"failure"``."""
    key, task, ctx = item.request.key, item.task.name, item.ctx
    reason, detail, turns = _problem(item, reply, checker, remember=True)
    usage = reply.usage.to_dict() if reply.usage else None
    if reason is not None:
        failure = {"key": key, "task": task, "image_id": ctx.image_id, "image": ctx.file_name,
                   "reason": reason, "detail": detail, "usage": usage}  # fmt: skip
        if reply.text is not None:  # kept for inspection, within reason
            failure["reply"] = reply.text[:REPLY_EXCERPT]
            if len(reply.text) > REPLY_EXCERPT:
                failure["reply_chars"] = len(reply.text)
        store.add_failure(failure)
        return "failure"
    meta: dict[str, Any] = {"image_id": ctx.image_id, "model": reply.model,
                            "finish_reason": reply.finish_reason, "usage": usage}  # fmt: skip
    if item.request.meta.get("instruction"):
        meta["instruction"] = item.request.meta["instruction"]
    flags = checker.flags(task, turns)
    if flags is not None:  # report-only filters: the sample carries what they found
        meta["flags"] = [f.reason for f in flags]
        if flags:
            meta["flag_details"] = {f.reason: f.detail for f in flags}
    if reply.extra:
        meta["extra"] = dict(reply.extra)
    store.add_sample(Sample(key, ctx.file_name, task, turns, meta))
    return "sample"


def generate(
    contexts: Iterable[ImageContext],
    tasks: str | Sequence[str] = ALL_TASKS,
    generator: str | Generator = "template",
    model: str | None = None,
    out: str | os.PathLike[str] = "runs/kpit",
    **options: Any,
) -> Run | DryRun:
    """Generate instruction data for ``contexts`` into the run folder ``out``.

    Args:
        contexts: image contexts, e.g. from :func:`kpit.load_coco`.
        tasks: task names, a comma-separated string, or ``"all"``.
        generator: a registered generator's name (``template``, ``openai``...) or an instance.
        model: the model name for the generator.
        out: the run folder; an existing run is resumed.
        **options: ``concurrency`` (model calls in flight, default 8), ``limit`` (images),
            ``seed``, ``dry_run`` (return a :class:`DryRun` estimate, call nothing),
            ``retry_failed``, ``recipe`` (a registered recipe's name, ``"kpit"`` by
            default, or ``"paper"``; see :mod:`kpit.prompts.recipes`), ``filters`` (``"reject"``,
            ``"flag"`` or ``"off"``; default: the recipe's policy), ``style``,
            ``pose_notes``, ``template_dir`` (overrides the recipe's templates by name),
            ``fewshot``, ``quality`` (:class:`~kpit.pipeline.quality.QualityConfig`),
            ``reply_retries`` (how
            often to ask again for a reply that is cut off, unparseable or rejected by a
            filter; default 1), ``generator_options`` (passed to the generator),
            ``progress``.

    Returns:
        The :class:`~kpit.pipeline.store.Run`, or a :class:`DryRun` when ``dry_run``.

    Raises:
        ConfigError: unknown task, generator or recipe, an argument of the wrong type or
            value (``generate("/path")``, ``tasks=5``, ``limit=-1``: the error names it), or a
            resumed run whose settings (the recipe among them) differ.

    Ctrl-C stops the run cleanly: everything finished is already on disk, and rerunning
    the same call resumes.
    """
    return run_sync(lambda: agenerate(contexts, tasks, generator, model, out, **options))
