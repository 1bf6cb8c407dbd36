"""The ``openai-batch`` backend: the same requests through OpenAI's Batch API, at half price.

Requests are written as JSONL (``custom_id`` = the request key), uploaded, and submitted as
batches; the backend polls them, downloads the results and feeds them through the same
parse, filter and store path as any reply. Its state (input files, file ids, batch ids,
which keys each batch holds) lives in ``RUN/openai-batch/state.json``, written after every
step, so a process that dies between steps resumes where it was: nothing is submitted
twice, and nothing finished is paid for again. Lines that fail or expire are resubmitted,
never dropped. With ``wait=false`` a run submits and returns; rerun it to collect.

With a budget (``max_cost``), a batch holds only the requests whose most possible cost, at
batch prices, fits beside what the run spent and what its batches not yet collected may
cost (:func:`~kpit.generators.openai.pricing.most_tokens`); the others wait for the next
session, and the run says so (it stops early, as a spent budget stops the chat backend).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from kpit.errors import ConfigError
from kpit.generators.base import FatalGeneratorError, Price, Reply, Validator
from kpit.generators.openai._client import openai_module
from kpit.generators.openai._wire import read_answer
from kpit.generators.openai.chat import OpenAIGenerator, OpenAIOptions
from kpit.generators.openai.pricing import batch_price
from kpit.jsonl import write_json, write_jsonl
from kpit.options import option
from kpit.types import ChatRequest

__all__ = ["OpenAIBatchGenerator", "OpenAIBatchOptions"]

log = logging.getLogger(__name__)

T = TypeVar("T")
FINISHED = ("completed", "failed", "expired", "cancelled")
ENDPOINT = "/v1/chat/completions"


@dataclass(frozen=True)
class OpenAIBatchOptions(OpenAIOptions):
    """The ``openai-batch`` backend's options: the ``openai`` backend's, and these."""

    poll_interval: float = option(60.0, "Seconds between polls of a batch.", minimum=0)
    max_batch_requests: int = option(
        50_000, "Requests per batch (the API allows 50,000).", minimum=1
    )
    max_resubmits: int = option(3, "How often a failed or expired line is sent again.", minimum=0)
    wait: bool = option(True, "Wait for the batches; false submits and returns (rerun to collect).")
    completion_window: str = option("24h", "The batch's completion window.")


class OpenAIBatchGenerator(OpenAIGenerator):
    """The OpenAI Batch API (results within 24 hours, half the price).

    Its cached prompt tokens cost the batch input rate, but for GPT-5 models
    (:func:`~kpit.generators.openai.pricing.batch_price`). Options: :class:`OpenAIBatchOptions`.
    """

    name = "openai-batch"
    description = "the OpenAI Batch API: the same requests at half the price, within 24 h"
    Options = OpenAIBatchOptions
    options: OpenAIBatchOptions

    def __init__(self, model: str | None = None, **options: Any) -> None:
        super().__init__(model, **options)
        if len(self.base_urls) > 1:  # a batch's files and results live on one server
            raise ConfigError("the Batch API takes one server, not several base URLs",
                              field="base_url")  # fmt: skip
        self.poll_interval = self.options.poll_interval
        self.max_batch_requests = self.options.max_batch_requests
        self.max_resubmits = self.options.max_resubmits
        self.wait = self.options.wait
        self.window = self.options.completion_window
        self.folder: Path | None = None

    def _priced(self, price: Price) -> Price:
        return batch_price(price, self.model)

    def attach(self, run_folder: Path) -> None:
        """Keep the batches' state in ``RUN/openai-batch/``, so that a rerun picks them up."""
        self.folder = run_folder / "openai-batch"
        self.folder.mkdir(parents=True, exist_ok=True)

    def settings(self) -> dict[str, Any]:
        """The ``openai`` settings with the polling interval and the requests per batch."""
        return super().settings() | {"poll_interval": self.poll_interval,
                                     "max_batch_requests": self.max_batch_requests}  # fmt: skip

    # --- state ------------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        """``RUN/openai-batch/state.json``."""
        if self.folder is None:
            raise ConfigError("the batch backend needs a run folder (use kpit.generate)")
        return self.folder / "state.json"

    def _load(self) -> dict[str, Any]:
        if self.state_path.is_file():
            state: dict[str, Any] = json.loads(self.state_path.read_text())
            return state
        return {"batches": [], "submissions": {}}

    def _save(self, state: dict[str, Any]) -> None:
        write_json(self.state_path, state, indent=1)

    # --- the API, with retries for passing trouble --------------------------------------

    async def _api(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        openai = openai_module()
        for attempt in range(self.max_retries + 1):
            try:
                return await call()
            except openai.APIStatusError as exc:
                if exc.status_code < 500 and exc.status_code != 429:
                    raise FatalGeneratorError(
                        f"{what} was refused ({exc.status_code} {type(exc).__name__}): "
                        f"{self._message(exc)}"
                    ) from None
                detail = f"{exc.status_code}"
            except (
                openai.APIConnectionError,
                openai.APIResponseValidationError,
                ValueError,
            ) as exc:
                detail = type(exc).__name__
            log.info("%s failed (%s), retrying", what, detail)
            await asyncio.sleep(self._backoff(attempt + 1))
        raise FatalGeneratorError(f"{what} kept failing; rerun later to resume")

    # --- the run ----------------------------------------------------------------------

    async def generate(
        self,
        requests: Iterable[ChatRequest],
        *,
        concurrency: int = 8,
        validate: Validator | None = None,
        reply_retries: int = 0,
    ) -> AsyncIterator[Reply]:
        """Submit every request in batches, wait for them, and yield their replies."""
        _ = self.client
        wanted = {r.key: r for r in requests}
        state = self._load()
        submissions: Counter[str] = Counter(state["submissions"])
        waiting = {k for b in state["batches"] if b["status"] not in ("consumed",)
                   for k in b["keys"]}  # fmt: skip
        await self._submit([r for k, r in wanted.items() if k not in waiting], state, submissions,
                           wanted)  # fmt: skip
        if not self.wait:
            submitted = "batches submitted; rerun the same command to collect them"
            self.stop_reason = submitted + (f"; {self.stop_reason}" if self.stop_reason else "")
            return
        while True:
            live = [b for b in state["batches"] if b["status"] != "consumed"]
            if not live:
                return
            resubmit: list[ChatRequest] = []
            for batch in live:
                async for reply in self._advance(batch, state, wanted, resubmit, submissions,
                                                 validate, reply_retries):  # fmt: skip
                    yield reply
            if resubmit:
                await self._submit(resubmit, state, submissions, wanted)
            elif any(b["status"] != "consumed" for b in state["batches"]):
                await asyncio.sleep(self.poll_interval)

    async def _submit(self, requests: list[ChatRequest], state: dict[str, Any],
                      submissions: Counter[str],
                      wanted: Mapping[str, ChatRequest]) -> None:  # fmt: skip
        requests = self._affordable(requests, state, wanted)
        for start in range(0, len(requests), self.max_batch_requests):
            chunk = requests[start : start + self.max_batch_requests]
            n = len(state["batches"])
            path = self.state_path.parent / f"input-{n:04d}.jsonl"
            lines = ({"custom_id": request.key, "method": "POST", "url": ENDPOINT,
                      "body": self.body(request)} for request in chunk)  # fmt: skip
            write_jsonl(path, lines, ensure_ascii=True)
            for request in chunk:
                submissions[request.key] += 1
            entry = {"input": path.name, "keys": [r.key for r in chunk], "status": "written"}
            state["batches"].append(entry)
            state["submissions"] = dict(submissions)
            self._save(state)
            await self._start(entry, state)
        for entry in state["batches"]:  # a previous process may have died between steps
            if entry["status"] in ("written", "uploaded"):
                await self._start(entry, state)

    def _affordable(self, requests: list[ChatRequest], state: Mapping[str, Any],
                    wanted: Mapping[str, ChatRequest]) -> list[ChatRequest]:  # fmt: skip
        """The first of ``requests`` that the budget has room for, each at the most it can
        cost at batch prices, beside what the run spent and what the batches not collected
        yet may cost; the others wait for the next session (:attr:`stop_reason` says so)."""
        if self.max_cost is None or not requests:
            return requests
        live = sum(self._most(wanted[key])[2] or 0.0
                   for entry in state["batches"] if entry["status"] != "consumed"
                   for key in entry["keys"] if key in wanted)  # fmt: skip
        spent = self.cost_before + self.cost
        room = self.max_cost - spent - live
        chosen: list[ChatRequest] = []
        for request in requests:
            most = self._most(request)[2] or 0.0
            if most > room:
                break
            room -= most
            chosen.append(request)
        if len(chosen) < len(requests):
            left = len(requests) - len(chosen)
            self.stop_reason = (
                f"the budget of ${self.max_cost:,.2f} has room for {len(chosen)} of "
                f"{len(requests)} requests (${spent:,.2f} spent, ${live:,.2f} reserved for "
                f"batches not collected yet, up to ${most:,.2f} a request at batch prices); "
                f"the other {left} wait for the next session"
            )
            log.warning("%s", self.stop_reason)
        return chosen

    async def _start(self, entry: dict[str, Any], state: dict[str, Any]) -> None:
        """Upload a written input file and create its batch, saving after each step."""
        if entry["status"] == "written":
            path = self.state_path.parent / entry["input"]
            uploaded = await self._api(
                lambda: self.client.files.create(file=path.open("rb"), purpose="batch"),
                "uploading the batch input",
            )
            entry["input_file_id"], entry["status"] = uploaded.id, "uploaded"
            self._save(state)
        if entry["status"] == "uploaded":
            batch = await self._api(
                lambda: self.client.batches.create(
                    input_file_id=entry["input_file_id"],
                    endpoint=ENDPOINT,
                    completion_window=self.window,
                ),
                "creating the batch",
            )
            entry["id"], entry["status"] = batch.id, "submitted"
            self._save(state)
            log.info("submitted batch %s with %d requests", batch.id, len(entry["keys"]))

    async def _advance(
        self,
        entry: dict[str, Any],
        state: dict[str, Any],
        wanted: dict[str, ChatRequest],
        resubmit: list[ChatRequest],
        submissions: Counter[str],
        validate: Validator | None,
        reply_retries: int,
    ) -> AsyncIterator[Reply]:
        """Poll one batch; when it has ended, yield its replies and queue what must go again."""
        if entry["status"] != "submitted":
            return
        batch = await self._api(lambda: self.client.batches.retrieve(entry["id"]), "polling")
        if batch.status not in FINISHED:
            return
        answered: dict[str, Reply] = {}
        if batch.output_file_id:
            for line in await self._lines(batch.output_file_id):
                if str(line.get("custom_id")) not in wanted:
                    continue  # stored, and charged, by an earlier session
                before = self._charged()
                reply = self._reply_of(line, wanted)
                if self._charged() != before:
                    self._log_paid(None, before)
                if reply is not None:
                    answered[reply.key] = reply
        for key in entry["keys"]:
            request = wanted.get(key)
            if request is None:
                continue  # stored by an earlier run
            reply = answered.get(key)
            usable = reply is not None and (
                not reply.ok or validate is None or submissions[key] > reply_retries
                or _checked(validate, request, reply)
            )  # fmt: skip
            if reply is not None and usable:
                yield reply
            elif submissions[key] <= self.max_resubmits:
                resubmit.append(request)
            else:
                yield Reply(key, error="batch_failed",
                            detail=f"no usable result after {submissions[key]} submissions "
                                   f"(last batch {entry['id']}: {batch.status})")  # fmt: skip
        entry["status"] = "consumed"
        entry["ended"] = batch.status
        self._save(state)

    async def _lines(self, file_id: str) -> list[dict[str, Any]]:
        content = await self._api(lambda: self.client.files.content(file_id), "downloading")
        text = content.text if hasattr(content, "text") else content.read().decode()
        return _output_records(text, file_id)

    def _reply_of(self, line: dict[str, Any], wanted: Mapping[str, ChatRequest]) -> Reply | None:
        """A reply from one output line (read as a chat reply is, so a reply of another
        shape is a failure of its own request), or ``None`` for a line that failed."""
        response = line.get("response")
        body = response.get("body") if isinstance(response, Mapping) else None
        if line.get("error") or not isinstance(body, Mapping):
            return None
        if response.get("status_code") != 200:  # type: ignore[union-attr]
            return None
        key = str(line.get("custom_id"))
        answer = read_answer(body)
        usage, extra = self._account(wanted.get(key), body.get("usage"), answer.text or "")
        model = body.get("model") if isinstance(body.get("model"), str) else None
        if answer.text is None:
            return Reply(key, error=answer.error, detail=answer.detail, usage=usage,
                         finish_reason=answer.finish_reason, model=model,
                         extra=extra)  # fmt: skip
        return Reply(key, text=answer.text, usage=usage, finish_reason=answer.finish_reason,
                     model=model, extra=extra)  # fmt: skip


def _checked(validate: Validator, request: ChatRequest, reply: Reply) -> bool:
    """Whether ``validate`` finds nothing to ask again for; a check that raises counts as
    nothing found (the reply goes on to the pipeline, which stores it or its failure)."""
    try:
        return validate(request, reply) is None
    except Exception as exc:  # a check's bug must not lose a paid batch's results
        log.warning("%s: the reply could not be checked (%s: %s)", request.key,
                    type(exc).__name__, exc)  # fmt: skip
        return True


def _output_records(text: str, file_id: str = "the batch output") -> list[dict[str, Any]]:
    """The records of a batch output file: a JSON object a line, the lines split on ``\\n``
    only (a reply's text may hold U+2028 or other characters that ``str.splitlines`` also
    splits on). A line that is not a JSON object is left out, with a warning: its request
    counts as unanswered and is resubmitted."""
    records = []
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            log.warning("%s, line %d: not JSON (%s); its request is sent again", file_id, n, exc)
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            log.warning("%s, line %d: not a JSON object; its request is sent again", file_id, n)
    return records
