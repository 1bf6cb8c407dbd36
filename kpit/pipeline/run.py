"""The generation pipeline: contexts -> requests -> backend -> parse -> filter -> store.

:func:`generate` builds a request per image and task (:mod:`kpit.pipeline.setup`), sends them
through a generator with bounded concurrency, parses each reply into turns, filters it, and
appends the result to the run folder as soon as it arrives. Rerunning the same call resumes:
requests whose key is already stored are skipped (failed ones too, unless ``retry_failed``).
Ctrl-C (SIGINT) and SIGTERM stop a run the same way, with the manifest written. ``dry_run``
returns the plan of :mod:`kpit.pipeline.plan` instead.

The manifest keeps every session's record and the run's totals. A session's record goes in
as ``"running"`` before anything is sent, next to the earlier ones, and is completed when
the session ends; its spending is written ahead to the spend ledger meanwhile
(:class:`~kpit.pipeline.store.SpendLedger`). A session that never completed its record (a
``kill -9``, a full disk) is rebuilt at the next start, before anything is sent: from its
ledger, or, where there is none (a run of an older kpit), from the usage stored with the
samples and failures that no session's record counts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from kpit._checks import check_count
from kpit._sync import run_sync
from kpit.errors import ParseError
from kpit.generators.base import (
    Generator,
    Reply,
)
from kpit.pipeline.plan import DryRun, plan_run
from kpit.pipeline.quality import QualityFilter, Rejection
from kpit.pipeline.sessions import add_totals, recover_sessions
from kpit.pipeline.setup import ALL_TASKS, Pending, RunSetup, set_up
from kpit.pipeline.store import (
    Run,
    RunLock,
    RunStore,
    SpendLedger,
)
from kpit.types import ChatRequest, ImageContext, Sample, Turn

__all__ = ["SignalStop", "agenerate", "generate"]

log = logging.getLogger(__name__)

REPLY_EXCERPT = 4000
"""Characters of an unusable reply kept in ``failures.jsonl`` (the rest is counted)."""


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
    setup = set_up(contexts, tasks, generator, model, out, **options)
    return await _drive(setup, reply_retries=reply_retries, progress=progress)


async def _drive(setup: RunSetup, *, reply_retries: int, progress: bool) -> Run:
    """Send the pending requests, store each reply as it comes, keep the manifest current."""
    with RunLock(setup.store.folder):  # one writer per run folder: nothing paid or stored twice
        return await _drive_locked(setup, reply_retries=reply_retries, progress=progress)


async def _drive_locked(setup: RunSetup, *, reply_retries: int, progress: bool) -> Run:
    store, backend, manifest = setup.store, setup.backend, setup.manifest
    store.open_for_writing()  # a read-only folder or a full disk stops here, before paying
    previous = store.read_manifest() if setup.resuming else {}
    ledger = SpendLedger(store.folder)
    sessions, earlier = recover_sessions(store, previous, ledger)
    backend.resume(earlier)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    this = {"id": uuid.uuid4().hex[:12], "started": started_at, "source": manifest["source"],
            "status": "running",
            **setup.session}  # its filters, quality settings and exclusion  # fmt: skip
    manifest["created"] = previous.get("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    manifest["tasks"] = sorted({*previous.get("tasks", []), *manifest["tasks"]})
    manifest["template_hashes"] = previous.get("template_hashes", {}) | manifest["template_hashes"]
    if previous.get("last_session"):
        manifest["last_session"] = previous["last_session"]
    manifest["sessions"], manifest["totals"] = [*sessions, this], earlier
    store.write_manifest(manifest)  # the earlier sessions' spending is safe before paying more
    price = backend.price()
    ledger.begin(this["id"], started_at, None if price is None else price.to_dict())
    minimums = {t.name: t.min_answer_chars for t in setup.tasks}
    checker = _Checker(QualityFilter(setup.quality, minimums, setup.seen), setup.filters)
    in_flight: dict[str, Pending] = {}
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
    completed = False
    terminated = SignalStop().install()
    backend.spend_log = ledger.write
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
        backend.spend_log = None
        ledger.close()
        manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        status = "stopped" if backend.stop_reason else "done" if completed else "interrupted"
        session = this | {
            "status": status,
            "samples": counts["sample"], "failures": counts["failure"],
            "skipped": counts["skipped"], "seconds": round(time.monotonic() - started, 2),
            "interrupted": not completed,
            "stopped": backend.stop_reason,
            **backend.totals(),
        }  # fmt: skip
        manifest["last_session"] = session
        manifest["sessions"] = [*sessions, session]
        manifest["totals"] = add_totals(earlier, session)
        store.write_manifest(manifest)  # fails (a full disk): the ledger stays, to rebuild it
        ledger.clear()
    if terminated.signal == signal.SIGTERM:
        raise KeyboardInterrupt("terminated (SIGTERM)")
    if terminated.signal is not None:
        raise KeyboardInterrupt
    log.info("run %s: %s", store.folder, dict(counts))
    return Run(store.folder)


class SignalStop:
    """Ctrl-C (SIGINT) and SIGTERM handled in the event loop: the running task is cancelled,
    the manifest written, then ``KeyboardInterrupt`` goes on up.

    asyncio reads the signals from its wake-up pipe, so they are acted on whichever thread
    the operating system delivers them to. A second Ctrl-C interrupts at once.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signal: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handled: list[int] = []

    def install(self) -> SignalStop:
        """Handle the signals for the running task (where this thread can: the main one)."""
        task = asyncio.current_task()
        if task is None:
            return self
        self._loop = asyncio.get_running_loop()
        for sig in self.SIGNALS:
            try:
                self._loop.add_signal_handler(sig, self._fire, sig, task)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                break
            self._handled.append(sig)
        return self

    def _fire(self, sig: int, task: asyncio.Task[Any]) -> None:
        self._remove(signal.SIGINT)  # the next Ctrl-C is Python's own: at once
        if self.signal is not None:
            return
        log.warning("%s: stopping; everything finished is saved", signal.Signals(sig).name)
        self.signal = sig
        task.cancel()

    def is_set(self) -> bool:
        """True once a signal arrived."""
        return self.signal is not None

    def _remove(self, sig: int) -> None:
        if self._loop is not None and sig in self._handled:
            self._loop.remove_signal_handler(sig)
            self._handled.remove(sig)

    def restore(self) -> None:
        """Remove the handlers again."""
        for sig in list(self._handled):
            self._remove(sig)


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
    item: Pending, reply: Reply, checker: _Checker, *, remember: bool
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


def _store(store: RunStore, item: Pending, reply: Reply, checker: _Checker) -> str:
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
            ``exclude_images``, ``allow_new_source``, ``allow_changed`` (the settings that
            shape or filter the data a resume may change: ``"filters"``, ``"quality"``,
            ``"exclude_images"``), ``progress``.

    Returns:
        The :class:`~kpit.pipeline.store.Run`, or a :class:`DryRun` when ``dry_run``.

    Raises:
        ConfigError: unknown task, generator or recipe, an argument of the wrong type or
            value (``generate("/path")``, ``tasks=5``, ``limit=-1``: the error names it), an
            option that can never work (an ``out`` that is a file, a missing
            ``template_dir``, a task the backend cannot write), or a resumed run whose
            settings (the recipe, the filters among them) differ.

    Ctrl-C stops the run cleanly: everything finished is already on disk, and rerunning
    the same call resumes.
    """
    return run_sync(lambda: agenerate(contexts, tasks, generator, model, out, **options))
