"""The generation pipeline: contexts -> requests -> backend -> parse -> filter -> store.

:func:`generate` builds a request per image and task, sends them through a generator with
bounded concurrency, parses each reply into turns, filters it, and appends the result to the
run folder as soon as it arrives. Rerunning the same call resumes: requests whose key is
already stored are skipped (failed ones too, unless ``retry_failed``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence, Sized
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from tqdm import tqdm

from kpit import plugins
from kpit._sync import run_sync
from kpit._version import __version__
from kpit.errors import ConfigError
from kpit.generators.base import Generator, Price, Reply
from kpit.quality import QualityConfig, QualityFilter, record_fingerprint
from kpit.store import Run, RunStore
from kpit.tasks import ParseError, PromptOptions, Task, request_key
from kpit.tokens import count_message_tokens, tokenizer_name
from kpit.types import ChatRequest, ImageContext, Turn

__all__ = ["ALL_TASKS", "DryRun", "agenerate", "generate", "resolve_tasks"]

log = logging.getLogger(__name__)

ALL_TASKS = ("conversation", "detail", "complex")
"""The paper's three tasks, what ``tasks="all"`` means."""

RESUME_KEYS = ("seed", "prompt", "generator_identity")
"""Manifest entries a resumed run must share with the run it continues (and the hashes of
the templates both use)."""


def resolve_tasks(tasks: str | Sequence[str]) -> list[Task]:
    """Task objects from names (a list, a comma-separated string, or ``"all"``)."""
    names = tasks.split(",") if isinstance(tasks, str) else list(tasks)
    names = [n.strip() for n in names if n.strip()]
    if names == ["all"]:
        names = list(ALL_TASKS)
    if not names:
        raise ConfigError("no task given", field="tasks")
    if len(set(names)) != len(names):
        raise ConfigError(f"a task is named twice: {', '.join(names)}", field="tasks")
    return [plugins.get_task(name)() for name in names]


@dataclass(slots=True)
class DryRun:
    """What a run would send: request count and estimated tokens, per task."""

    requests: Counter[str] = field(default_factory=Counter)
    prompt_tokens: Counter[str] = field(default_factory=Counter)
    completion_tokens: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    examples: list[ChatRequest] = field(default_factory=list)
    price: Price | None = None
    tokenizer: str = ""

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

    def cost(self, task: str | None = None) -> float | None:
        """Estimated dollars (for one task, or all), if the backend's price is known."""
        if self.price is None:
            return None
        if task is None:
            return self.price.cost(self.total_prompt_tokens, self.total_completion_tokens)
        return self.price.cost(self.prompt_tokens[task], self.completion_tokens[task])


def _make_generator(generator: str | Generator, model: str | None,
                    options: dict[str, Any]) -> Generator:  # fmt: skip
    if isinstance(generator, Generator):
        return generator
    return plugins.get_generator(generator)(model=model, **options)


def _requests(
    contexts: Iterable[ImageContext],
    tasks: Sequence[Task],
    skip: set[str],
    seed: int,
    options: PromptOptions,
    counts: Counter[str],
) -> Iterator[ChatRequest]:
    for ctx in contexts:
        for task in tasks:
            key = request_key(task.name, ctx.image_id)
            if key in skip:
                counts["skipped"] += 1
                continue
            yield task.build(ctx, key=key, seed=seed, options=options)


def _check_templates(store: RunStore, hashes: dict[str, str]) -> None:
    """A template that both the run and this call use must not have changed."""
    old = store.read_manifest().get("template_hashes", {})
    changed = sorted(name for name in set(old) & set(hashes) if old[name] != hashes[name])
    if changed:
        raise ConfigError(f"templates changed since this run began: {', '.join(changed)}; "
                          "use a new --out folder", file=store.manifest_path,
                          field="template_hashes")  # fmt: skip


def _template_hashes(tasks: Sequence[Task], options: PromptOptions) -> dict[str, str]:
    return {name: h for task in tasks for name, h in task.template_hashes(options).items()}


def _source(contexts: Iterable[ImageContext]) -> dict[str, Any]:
    files = getattr(contexts, "files", None)
    if files is None:
        return {"contexts": type(contexts).__name__}
    return {k: str(v) if v is not None else None for k, v in dataclasses.asdict(files).items()}


async def agenerate(
    contexts: Iterable[ImageContext],
    tasks: str | Sequence[str] = ALL_TASKS,
    generator: str | Generator = "template",
    model: str | None = None,
    out: str | os.PathLike[str] = "runs/kpit",
    *,
    concurrency: int = 8,
    limit: int | None = None,
    seed: int = 0,
    dry_run: bool = False,
    retry_failed: bool = False,
    style: str = "paper",
    pose_notes: bool = False,
    template_dir: str | os.PathLike[str] | None = None,
    fewshot: bool = True,
    quality: QualityConfig | None = None,
    reply_retries: int = 1,
    generator_options: dict[str, Any] | None = None,
    progress: bool = True,
) -> Run | DryRun:
    """:func:`generate` for code that already runs an event loop (e.g. a notebook)."""
    task_objects = resolve_tasks(tasks)
    if concurrency < 1:
        raise ConfigError("must be at least 1", field="concurrency")
    options = PromptOptions(style, pose_notes, os.fspath(template_dir) if template_dir else None,
                            fewshot)  # fmt: skip
    gen_options = dict(generator_options or {})
    if isinstance(generator, str) and generator == "template":
        gen_options.setdefault("seed", seed)
    backend = _make_generator(generator, model, gen_options)
    total = None  # requests in all, when the number of images is known (for the ETA)
    if isinstance(contexts, Sized):
        total = min(len(contexts), limit if limit is not None else len(contexts)) * len(
            task_objects
        )
    if limit is not None:
        contexts = islice(contexts, limit)
    store = RunStore(out)
    hashes = _template_hashes(task_objects, options)
    manifest = {
        "kpit_version": __version__,
        "python": platform.python_version(),
        "generator": backend.settings(),
        "generator_identity": backend.identity(),
        "prompt": {"style": options.style, "pose_notes": options.pose_notes,
                   "template_dir": options.template_dir, "fewshot": options.fewshot},
        "template_hashes": hashes,
        "seed": seed,
        "tasks": [t.name for t in task_objects],
        "source": _source(contexts),
        "quality": dataclasses.asdict(quality or QualityConfig()),
        "concurrency": concurrency,
    }  # fmt: skip
    resuming = store.exists()
    if resuming:
        store.check_compatible(manifest, RESUME_KEYS)
        _check_templates(store, hashes)
    skip: set[str] = set()
    seen: set[str] = set()  # answer fingerprints of stored samples, for the duplicate filter
    if resuming:
        for record in store.samples():
            skip.add(record["key"])
            seen.add(record_fingerprint(record))
        if not retry_failed:
            skip.update(r["key"] for r in store.failures())
    counts: Counter[str] = Counter()
    by_name = {t.name: t for t in task_objects}
    requests = _requests(contexts, task_objects, skip, seed, options, counts)

    if dry_run:
        plan = DryRun(price=backend.price(), tokenizer=tokenizer_name())
        for request in requests:
            plan.requests[request.task] += 1
            plan.prompt_tokens[request.task] += count_message_tokens(request.messages)
            plan.completion_tokens[request.task] += by_name[request.task].expected_completion_tokens
            if len(plan.examples) < 3:
                plan.examples.append(request)
        plan.skipped = counts["skipped"]
        return plan

    previous = store.read_manifest() if resuming else {}
    manifest["created"] = previous.get("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    manifest["tasks"] = sorted({*previous.get("tasks", []), *(t.name for t in task_objects)})
    manifest["template_hashes"] = previous.get("template_hashes", {}) | hashes
    store.write_manifest(manifest)
    minimums = {t.name: t.min_answer_chars for t in task_objects}
    checker = QualityFilter(quality, minimums, seen)
    in_flight: dict[str, ChatRequest] = {}
    backend.attach(store.folder)

    def validate(request: ChatRequest, reply: Reply) -> str | None:
        """Why a reply is worth asking again for (without storing or remembering it)."""
        return _problem(request, reply, by_name[request.task], checker, remember=False)[0]

    bar = tqdm(desc="generate", unit="req", total=total, disable=not progress, dynamic_ncols=True)

    def tracked() -> Iterator[ChatRequest]:
        skipped = 0
        for request in requests:
            if counts["skipped"] > skipped:  # count skipped requests as done, for the ETA
                bar.update(counts["skipped"] - skipped)
                skipped = counts["skipped"]
            in_flight[request.key] = request
            yield request

    started = time.monotonic()
    completed = False
    try:
        with store:
            replies = backend.generate(tracked(), concurrency=concurrency, validate=validate,
                                       reply_retries=reply_retries)  # fmt: skip
            async for reply in replies:
                request = in_flight.pop(reply.key)
                outcome = _store(store, request, reply, by_name[request.task], checker)
                counts[outcome] += 1
                bar.update(1)
                figures: dict[str, object] = {"done": counts["sample"], "failed": counts["failure"]}
                bar.set_postfix(figures | backend.progress(), refresh=False)
        completed = True
    finally:
        bar.close()
        await backend.aclose()
        manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        manifest["last_session"] = {
            "samples": counts["sample"], "failures": counts["failure"],
            "skipped": counts["skipped"], "seconds": round(time.monotonic() - started, 2),
            "interrupted": not completed,
            "stopped": backend.stop_reason,
            **backend.totals(),
        }  # fmt: skip
        store.write_manifest(manifest)
    log.info("run %s: %s", store.folder, dict(counts))
    return Run(store.folder)


def _problem(
    request: ChatRequest, reply: Reply, task: Task, checker: QualityFilter, *, remember: bool
) -> tuple[str | None, str, tuple[Turn, ...]]:
    """``(reason, detail, turns)``: why the reply cannot be stored (reason ``None`` if it can)."""
    if reply.text is None:
        return reply.error or "error", reply.detail, ()
    if reply.finish_reason == "length":
        return "length", "the reply was cut off at the token limit", ()
    try:
        turns = task.parse(reply.text, request)
    except ParseError as exc:
        return "parse", exc.message, ()
    rejection = checker.check(request.task, turns, remember=remember)
    if rejection is not None:
        return f"quality:{rejection.reason}", rejection.detail, turns
    return None, "", turns


def _store(store: RunStore, request: ChatRequest, reply: Reply, task: Task,
           checker: QualityFilter) -> str:  # fmt: skip
    """Parse, filter and store one reply; return ``"sample"`` or ``"failure"``."""
    base = {"key": request.key, "task": request.task, "image_id": request.image_id,
            "image": request.image}  # fmt: skip
    reason, detail, turns = _problem(request, reply, task, checker, remember=True)
    usage = reply.usage.to_dict() if reply.usage else None
    if reason is not None:
        failure = base | {"reason": reason, "detail": detail, "usage": usage}
        if reply.text is not None:
            failure["reply"] = reply.text  # kept for inspection
        store.add_failure(failure)
        return "failure"
    record = base | {
        "turns": [t.to_dict() for t in turns],
        "model": reply.model,
        "finish_reason": reply.finish_reason,
        "usage": usage,
    }
    if request.instruction:
        record["instruction"] = request.instruction
    if reply.extra:
        record["extra"] = dict(reply.extra)
    store.add_sample(record)
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
            ``retry_failed``, ``style``, ``pose_notes``, ``template_dir``, ``fewshot``,
            ``quality`` (:class:`~kpit.quality.QualityConfig`), ``reply_retries`` (how
            often to ask again for a reply that is cut off, unparseable or rejected by a
            filter; default 1), ``generator_options`` (passed to the generator),
            ``progress``.

    Returns:
        The :class:`~kpit.store.Run`, or a :class:`DryRun` when ``dry_run``.

    Raises:
        ConfigError: unknown task or generator, or a resumed run whose settings differ.

    Ctrl-C stops the run cleanly: everything finished is already on disk, and rerunning
    the same call resumes.
    """
    return run_sync(lambda: agenerate(contexts, tasks, generator, model, out, **options))
