"""A small OpenAI-compatible HTTP server on 127.0.0.1, for tests and benchmarks.

It speaks enough of the API for kpit's backends and the official ``openai`` client: chat
completions (with usage and rate-limit headers), files (upload, content) and batches
(create, retrieve, cancel). It can be told to misbehave: be slow, answer 429 with
``Retry-After`` (``429``: an overloaded server, its budgets not spent; ``429-spent``: the
request budget spent, ``x-ratelimit-remaining-requests: 0`` and the reset), 500, 401 or
400, send malformed JSON, cut replies off at the length limit, drop the connection, or send
a malformed ``usage``, either by a script (one fault per request, in order) or at random
rates. Its usage reports ``prompt_tokens_details.cached_tokens``: 0, or with
``prompt_cache`` on, what OpenAI's prompt cache would serve (the longest prefix the prompt
shares with an earlier one, from 1,024 tokens on, in steps of 128); tokens are four
characters each, or with ``o200k`` on GPT-4o's own tokens, counted as OpenAI counts a chat
prompt (a header for each message, three tokens priming the reply); ``details`` replaces
the whole ``prompt_tokens_details`` (to send a malformed one). It can enforce a per-second
limit as providers do (``per_second``: more requests than that within any second are
refused with a spent budget), and announce its limits in ``x-ratelimit-*`` headers or not
(``limit_headers``). It counts what it receives and remembers the API keys (the
``Authorization`` header) and the paths it was sent; it stamps each chat request with its
``clock`` (``time.monotonic``, or a test's virtual clock: :mod:`.virtual_time`), and notes how
many chat replies it had sent when each arrived (``replied_before``). It can hold chat
replies until told (``hold_after``, :meth:`FakeOpenAI.release`), so that a test stops a
client while its requests are in flight whatever the machine's speed, and a test can wait
until it has received some number of requests (:meth:`FakeOpenAI.wait_for_requests`).
It can work on at most ``capacity`` requests at once (a GPU replica's batch: the others
queue), and die as a killed server does (:meth:`FakeOpenAI.kill`: no more connections, the
requests in flight dropped unanswered).

    server = FakeOpenAI(latency=0.01).start()
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test")
    ...
    server.stop()
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import math
import random
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN_CHARS = 4
"""Characters per token in this server's counts."""

FAULTS = ("429", "429-spent", "500", "401", "400", "malformed", "truncated", "drop", "slow")


class SecondLimit:
    """At most ``per_second`` requests within any second (a sliding window), as providers
    enforce a per-minute limit (1,200 a minute: 20 a second)."""

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self.accepted: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self.accepted and self.accepted[0] <= now - 1.0:
            self.accepted.popleft()

    def admit(self, now: float) -> bool:
        """Whether a request arriving at ``now`` is accepted (and counted)."""
        self._expire(now)
        if len(self.accepted) >= self.per_second:
            return False
        self.accepted.append(now)
        return True

    def reset_after(self, now: float) -> float:
        """Seconds from ``now`` until the oldest request in the window leaves it."""
        self._expire(now)
        return max(0.0, self.accepted[0] + 1.0 - now) if self.accepted else 0.0

    def headers(self, now: float) -> dict[str, str]:
        """OpenAI's request headers at ``now``: the limit a minute, what is left, and when
        the budget is whole again."""
        self._expire(now)
        reset = self.reset_after(now)
        return {
            "x-ratelimit-limit-requests": str(self.per_second * 60),
            "x-ratelimit-remaining-requests": str(self.per_second - len(self.accepted)),
            "x-ratelimit-reset-requests": f"{max(1, round(reset * 1000))}ms",
        }


def default_content(body: dict[str, Any]) -> str:
    """A valid reply for kpit's tasks, unique per request (so no duplicate filter trips)."""
    messages = body.get("messages", [])
    system = str(messages[0].get("content", "")) if messages else ""
    last = messages[-1].get("content", "") if messages else ""
    text = last if isinstance(last, str) else json.dumps(last)
    tag = hashlib.sha256(text.encode()).hexdigest()[:8]
    if "Design a conversation" in system:
        return (
            f"Question:\nWhat is the person doing?\nAnswer:\nIn scene {tag}, they are "
            "standing with their knees slightly bent, ready to move.\n===\nQuestion:\nWhich "
            "way do they face?\nAnswer:\nThey face the camera, looking ahead."
        )
    if "Create one plausible question" in system:
        return (
            "Question:\nWhy might the person hold their body this way?\n===\nAnswer:\n"
            f"In scene {tag}, they keep their knees bent and their weight forward, which "
            "keeps them balanced and ready to react, as athletes do before they move."
        )
    return (
        f"In scene {tag}, one person stands on the snow facing the camera, knees slightly "
        "bent and arms held out a little from the body, the way a skier keeps balance "
        "while gliding down a gentle slope. The posture is relaxed and steady."
    )


@dataclass
class Behaviour:
    """How the server answers; change the fields while it runs."""

    latency: float = 0.0
    capacity: int | None = None  # requests worked on at once (a GPU's batch); others queue
    script: deque[str] = field(default_factory=deque)  # one fault per chat request, in order
    rates: dict[str, float] = field(default_factory=dict)  # fault -> probability
    retry_after: float = 0.2
    reset_after: float = 1.0  # a spent budget's reset (429-spent)
    slow_seconds: float | None = 3.0  # a "slow" reply's delay; None: until the server stops
    hold_after: int | None = None  # chat requests after this many wait for release()
    content: Callable[[dict[str, Any]], str] = default_content
    rpm_limit: int = 30_000  # announced, not enforced (OpenAI's tier 5 for gpt-4o-mini)
    tpm_limit: int = 150_000_000
    limit_headers: bool = True  # announce the limits on every reply (vLLM does not)
    per_second: int | None = None  # enforce this many requests within any second
    error_echoes_key: bool = False  # a 401 whose message quotes the key, as some servers do
    batch_polls: int = 2  # polls before a batch completes
    batch_failed_lines: int = 0  # lines of the next batch that fail
    batch_expire_once: bool = False  # the next batch expires, its lines unanswered
    usage: Any = "counted"  # "counted": real counts; anything else is sent as the usage
    prompt_cache: bool = False  # report cached tokens as OpenAI's prompt cache would
    o200k: bool = False  # count tokens with o200k_base, not four characters a token
    details: Any = "counted"  # "counted": prompt_tokens_details as OpenAI sends it; else sent as is


class FakeOpenAI:
    """The server. ``start()`` returns it; ``base_url`` is what clients use."""

    def __init__(self, latency: float = 0.0, seed: int = 0) -> None:
        self.behaviour = Behaviour(latency=latency)
        self.random = random.Random(seed)
        self.lock = threading.RLock()  # run_batch answers under it, and counts cached tokens
        self.counts: Counter[str] = Counter()
        self.api_keys: set[str] = set()
        self.paths: list[str] = []  # the request paths, query included
        self.chat_requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.request_times: list[float] = []  # when each chat request arrived, by clock
        self.clock: Callable[[], float] = time.monotonic  # a test may give its virtual clock
        self.replied = 0  # chat requests answered (or refused, or dropped) so far
        self.replied_before: list[int] = []  # for each chat request, replied when it arrived
        self.second_limit: SecondLimit | None = None
        self.received = threading.Condition(self.lock)  # notified on every chat request
        self.released = threading.Event()  # held replies go on (set by release() and stop())
        self.stopping = threading.Event()
        self.killed = threading.Event()  # kill(): held and later requests get no reply
        self.connections: set[socket.socket] = set()  # open client connections
        self._working: threading.BoundedSemaphore | None = None  # the capacity's slots
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.prompts: list[str] = []  # every prompt answered, for the prompt cache
        self.token_prompts: list[tuple[int, ...]] = []  # the same in o200k tokens, sorted
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeOpenAI:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.request_queue_size = 512
        # polled every 0.05 s for a shutdown: stop() returns that soon, not in half a second
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def kill(self) -> None:
        """Die as a killed server does: stop listening and drop every open connection, the
        requests in flight unanswered."""
        self.killed.set()
        self.stop()
        with self.lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    @contextlib.contextmanager
    def working(self) -> Iterator[None]:
        """One of the server's ``capacity`` slots, while a request is worked on."""
        capacity = self.behaviour.capacity
        if capacity is None:
            yield
            return
        with self.lock:
            if self._working is None:
                self._working = threading.BoundedSemaphore(capacity)
            slots = self._working
        with slots:
            yield

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def release(self) -> None:
        """Let every held reply go, and hold none from now on."""
        self.behaviour.hold_after = None
        self.released.set()

    def wait_for_requests(self, count: int, timeout: float = 600.0) -> None:
        """Wait until ``count`` chat requests have arrived; ``timeout`` only catches a hang."""
        with self.received:
            if not self.received.wait_for(lambda: self.counts["chat"] >= count, timeout):
                raise TimeoutError(f"{self.counts['chat']} chat requests, not {count}")

    def _hold(self, arrival: int) -> None:
        """Wait for :meth:`release` if the ``arrival``-th chat request comes after the hold."""
        hold_after = self.behaviour.hold_after
        if hold_after is not None and arrival > hold_after:
            self.released.wait()

    def next_fault(self) -> str | None:
        with self.lock:
            if self.behaviour.script:
                fault = self.behaviour.script.popleft()
                return None if fault == "ok" else fault
            roll = self.random.random()
            for fault, rate in self.behaviour.rates.items():
                if roll < rate:
                    return fault
                roll -= rate
        return None

    def admit(self) -> bool:
        """Whether the per-second limit (if any) accepts a request arriving now."""
        per_second = self.behaviour.per_second
        if per_second is None:
            return True
        with self.lock:
            if self.second_limit is None or self.second_limit.per_second != per_second:
                self.second_limit = SecondLimit(per_second)
            return self.second_limit.admit(self.clock())

    def limits(self) -> dict[str, str]:
        """The rate-limit headers of a reply sent now (none when ``limit_headers`` is off)."""
        behaviour = self.behaviour
        if not behaviour.limit_headers:
            return {}
        if behaviour.per_second is not None and self.second_limit is not None:
            with self.lock:
                return self.second_limit.headers(self.clock())
        return {
            "x-ratelimit-limit-requests": str(behaviour.rpm_limit),
            "x-ratelimit-remaining-requests": str(behaviour.rpm_limit - 1),
            "x-ratelimit-reset-requests": "6ms",
            "x-ratelimit-limit-tokens": str(behaviour.tpm_limit),
            "x-ratelimit-remaining-tokens": str(behaviour.tpm_limit - 1000),
            "x-ratelimit-reset-tokens": "6ms",
        }

    def retry_headers(self) -> dict[str, str]:
        """``Retry-After`` (and ``retry-after-ms``) for a request the per-second limit refused."""
        with self.lock:
            wait = self.second_limit.reset_after(self.clock()) if self.second_limit else 1.0
        return {"retry-after-ms": str(max(1, round(wait * 1000))),
                "Retry-After": str(max(1, math.ceil(wait)))}  # fmt: skip

    def completion(self, body: dict[str, Any], content: str, finish: str = "stop") -> dict:
        messages = body.get("messages", [])
        if self.behaviour.o200k:
            tokens = _o200k_prompt(messages)
            prompt, cached = len(tokens), self.cached_o200k(tokens)
            reply = len(_o200k(content))
        else:
            prompt_text = "".join(json.dumps(m.get("content", "")) for m in messages)
            prompt, cached = len(prompt_text) // TOKEN_CHARS, self.cached(prompt_text)
            reply = len(content) // TOKEN_CHARS
        details = self.behaviour.details
        if details == "counted":
            details = {"cached_tokens": cached, "audio_tokens": 0}
        usage: Any = {
            "prompt_tokens": prompt,
            "completion_tokens": reply,
            "total_tokens": prompt + reply,
            "prompt_tokens_details": details,
        }
        return {
            "id": f"chatcmpl-{self.random.getrandbits(48):x}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "gpt-4o"),
            "choices": [
                {
                    "index": 0,
                    "finish_reason": finish,
                    "message": {"role": "assistant", "content": content},
                }
            ],
            "usage": usage if self.behaviour.usage == "counted" else self.behaviour.usage,
        }

    def cached(self, prompt_text: str) -> int:
        """The prompt tokens OpenAI's cache would serve for ``prompt_text`` (and remember it):
        its longest common prefix with an earlier prompt, in this server's tokens
        (:data:`TOKEN_CHARS` characters each), from 1,024 on in steps of 128; 0 with
        ``prompt_cache`` off (nothing remembered then)."""
        if not self.behaviour.prompt_cache:
            return 0
        with self.lock:
            earlier = list(self.prompts)
            self.prompts.append(prompt_text)
        shared = max((_shared_length(prompt_text, e) for e in earlier), default=0)
        tokens = shared // TOKEN_CHARS
        return 0 if tokens < 1024 else tokens // 128 * 128

    def cached_o200k(self, tokens: tuple[int, ...]) -> int:
        """:meth:`cached` in o200k tokens: the longest prefix ``tokens`` shares with an
        earlier prompt (a neighbour of it in sorted order has it), from 1,024 in steps of 128."""
        if not self.behaviour.prompt_cache:
            return 0
        with self.lock:
            at = bisect.bisect_left(self.token_prompts, tokens)
            neighbours = self.token_prompts[max(at - 1, 0) : at + 1]
            self.token_prompts.insert(at, tokens)
        shared = max((_shared_length(tokens, e) for e in neighbours), default=0)
        return 0 if shared < 1024 else shared // 128 * 128

    def run_batch(self, batch: dict[str, Any]) -> None:
        """Answer a batch's lines into output (and error) files."""
        lines = self.files[batch["input_file_id"]].decode().splitlines()
        out, errors = [], []
        failing, self.behaviour.batch_failed_lines = self.behaviour.batch_failed_lines, 0
        for n, line in enumerate(lines):
            item = json.loads(line)
            if n < failing:
                errors.append(
                    {
                        "id": f"r{n}",
                        "custom_id": item["custom_id"],
                        "response": None,
                        "error": {"code": "server_error", "message": "try again"},
                    }
                )
                continue
            body = item["body"]
            result = self.completion(body, self.behaviour.content(body))
            out.append(
                {
                    "id": f"r{n}",
                    "custom_id": item["custom_id"],
                    "error": None,
                    "response": {"status_code": 200, "request_id": f"q{n}", "body": result},
                }
            )
        batch["output_file_id"] = self._store_file("\n".join(map(json.dumps, out)).encode())
        if errors:
            batch["error_file_id"] = self._store_file("\n".join(map(json.dumps, errors)).encode())
        batch["request_counts"] = {
            "total": len(lines),
            "completed": len(out),
            "failed": len(errors),
        }

    def _store_file(self, data: bytes) -> str:
        file_id = f"file-{self.random.getrandbits(48):x}"
        self.files[file_id] = data
        return file_id


def _o200k(text: str) -> list[int]:
    from kpit.prompts.tokens import encode

    ids = encode(text)
    assert ids is not None, "o200k counting needs bpe-openai"
    return ids


def _o200k_prompt(messages: list[dict[str, Any]]) -> tuple[int, ...]:
    """A chat prompt as GPT-4o reads it: per message a three-token header (start, role,
    message marks; stand-in ids below zero) and the text's tokens, then three tokens priming
    the reply, as :func:`kpit.prompts.tokens.count_message_tokens` counts it."""
    tokens: list[int] = []
    for message in messages:
        content = message.get("content", "")
        text = content if isinstance(content, str) else json.dumps(content)
        tokens += [-1, -2 - len(str(message.get("role", ""))), -3, *_o200k(text)]
    return (*tokens, -5, -6, -7)


def _shared_length(a: str | tuple[int, ...], b: str | tuple[int, ...]) -> int:
    """How many leading characters (or tokens) ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # dropped connections are on purpose


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        with self.fake.lock:
            self.fake.connections.add(self.connection)

    def finish(self) -> None:
        with self.fake.lock:
            self.fake.connections.discard(self.connection)
        with contextlib.suppress(OSError):  # a connection that kill() dropped
            super().finish()

    def _send(
        self,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> None:
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(
        self, status: int, kind: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self._send(status, {"error": {"message": message, "type": kind, "code": kind}}, headers)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length", 0))
        return self.rfile.read(length)

    def _auth(self) -> str:
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.fake.lock:
            self.fake.api_keys.add(key)
        return key

    def do_POST(self) -> None:
        key = self._auth()
        with self.fake.lock:
            self.fake.paths.append(self.path)
        path = self.path.split("?")[0]
        if path.endswith("/chat/completions"):
            self._chat(key)
        elif path.endswith("/files"):
            self._upload()
        elif path.endswith("/batches"):
            self._create_batch()
        elif path.endswith("/cancel"):
            batch = self.fake.batches[path.split("/")[-2]]
            batch["status"] = "cancelled"
            self._send(200, batch)
        else:
            self._error(404, "not_found", f"no route {path}")

    def do_GET(self) -> None:
        self._auth()
        parts = self.path.split("?")[0].rstrip("/").split("/")
        if parts[-1] == "_stats":  # for a benchmark that runs the server in another process
            with self.fake.lock:
                stats = {"counts": dict(self.fake.counts),
                         "request_times": list(self.fake.request_times)}  # fmt: skip
            self._send(200, stats)
        elif "files" in parts and parts[-1] == "content":
            self._send(200, None, raw=self.fake.files[parts[-2]])
        elif "batches" in parts:
            self._poll_batch(parts[-1])
        else:
            self._error(404, "not_found", f"no route {self.path}")

    def _chat(self, key: str) -> None:
        fake = self.fake
        body = json.loads(self._body())
        with fake.lock:
            fake.counts["chat"] += 1
            arrival = fake.counts["chat"]
            fake.chat_requests.append(body)
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            fake.request_times.append(fake.clock())
            fake.replied_before.append(fake.replied)
            fake.received.notify_all()
        try:
            fake._hold(arrival)
            if fake.killed.is_set():  # a dead server answers nothing
                self.close_connection = True
                return
            fault = fake.next_fault() if fake.admit() else "refused"
            if fault:
                with fake.lock:
                    fake.counts[fault] += 1
            if fault == "slow":
                fake.stopping.wait(fake.behaviour.slow_seconds)
            elif fake.behaviour.latency and fault != "refused":
                with fake.working():
                    time.sleep(fake.behaviour.latency)
            limits = fake.limits()
            with fake.lock:
                fake.replied += 1  # before the reply leaves: the client cannot overtake it
            if fault == "refused":  # over the per-second limit: refused at once
                self._error(429, "rate_limit_exceeded", "Rate limit reached for requests",
                            fake.retry_headers() | limits)  # fmt: skip
            elif fault == "429":
                self._error(
                    429,
                    "rate_limit_exceeded",
                    "The server is overloaded",
                    {"Retry-After": f"{fake.behaviour.retry_after:g}"} | limits,
                )
            elif fault == "429-spent":
                spent = {
                    "Retry-After": f"{fake.behaviour.retry_after:g}",
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": f"{fake.behaviour.reset_after:g}s",
                }
                self._error(429, "rate_limit_exceeded", "Rate limit reached for requests",
                            limits | spent)  # fmt: skip
            elif fault == "500":
                self._error(500, "server_error", "The server had an error")
            elif fault == "401":
                shown = key if fake.behaviour.error_echoes_key else key[:3] + "***"
                self._error(401, "invalid_api_key", f"Incorrect API key provided: {shown}")
            elif fault == "400":
                self._error(400, "invalid_request_error", "messages: too long")
            elif fault == "malformed":
                self._send(200, None, raw=b'{"id": "chatcmpl-x", "choices": [')
            elif fault == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif fault == "truncated":
                content = fake.behaviour.content(body)
                self._send(
                    200, fake.completion(body, content[: len(content) // 3], "length"), limits
                )
            else:
                self._send(200, fake.completion(body, fake.behaviour.content(body)), limits)
        finally:
            with fake.lock:
                fake.in_flight -= 1

    def _upload(self) -> None:
        body = self._body()
        boundary = self.headers.get("Content-Type", "").split("boundary=")[-1].encode()
        content = b""
        for part in body.split(b"--" + boundary):
            if b'name="file"' in part:
                content = part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
        file_id = self.fake._store_file(content)
        with self.fake.lock:
            self.fake.counts["upload"] += 1
        self._send(
            200,
            {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "created_at": int(time.time()),
                "filename": "batch.jsonl",
                "purpose": "batch",
                "status": "processed",
            },
        )

    def _create_batch(self) -> None:
        request = json.loads(self._body())
        batch_id = f"batch_{self.fake.random.getrandbits(48):x}"
        batch = {
            "id": batch_id,
            "object": "batch",
            "endpoint": request["endpoint"],
            "input_file_id": request["input_file_id"],
            "completion_window": "24h",
            "status": "validating",
            "created_at": int(time.time()),
            "polls": 0,
            "output_file_id": None,
            "error_file_id": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
        }
        with self.fake.lock:
            self.fake.batches[batch_id] = batch
            self.fake.counts["batch"] += 1
        self._send(200, batch)

    def _poll_batch(self, batch_id: str) -> None:
        fake = self.fake
        batch = fake.batches.get(batch_id)
        if batch is None:
            self._error(404, "not_found", f"no batch {batch_id}")
            return
        with fake.lock:
            batch["polls"] += 1
            if batch["status"] in ("validating", "in_progress"):
                batch["status"] = "in_progress"
                if batch["polls"] >= fake.behaviour.batch_polls:
                    if fake.behaviour.batch_expire_once:
                        fake.behaviour.batch_expire_once = False
                        batch["status"] = "expired"
                    else:
                        fake.run_batch(batch)
                        batch["status"] = "completed"
        self._send(200, {k: v for k, v in batch.items() if k != "polls"})


def main() -> None:
    """Serve in this process; print the base URL.

    ``python openai_server.py LATENCY [--fast [--per-second N] [--limit-headers]
    [--faults 429=0.1,500=0.05] [--retry-after SECONDS] [--capacity N]]``
    """
    import argparse
    import asyncio

    parser = argparse.ArgumentParser(description="an OpenAI-compatible server on 127.0.0.1")
    parser.add_argument("latency", type=float, nargs="?", default=0.0)
    parser.add_argument("--fast", action="store_true", help="the lean asyncio server")
    parser.add_argument("--per-second", type=int, help="refuse more requests a second")
    parser.add_argument("--limit-headers", action="store_true", help="announce the limit")
    parser.add_argument("--faults", default="", help="FAULT=RATE,... (429, 500)")
    parser.add_argument("--retry-after", type=float, default=1.0, help="a 429's Retry-After")
    parser.add_argument("--capacity", type=int, help="requests worked on at once")
    args = parser.parse_args()
    rates = {k: float(v) for k, v in (item.split("=") for item in args.faults.split(",") if item)}
    if args.fast:
        if __package__:
            from .fast_openai_server import serve_fast
        else:  # run as a script, from this folder
            from fast_openai_server import serve_fast  # type: ignore[import-not-found,no-redef]

        asyncio.run(serve_fast(args.latency, per_second=args.per_second, rates=rates,
                               retry_after=args.retry_after, limit_headers=args.limit_headers,
                               capacity=args.capacity))  # fmt: skip
        return
    server = FakeOpenAI(latency=args.latency)
    server.behaviour.capacity = args.capacity
    server.start()
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
