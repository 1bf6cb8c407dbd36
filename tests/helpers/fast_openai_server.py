"""The lean asyncio variant of the loopback OpenAI server, for throughput benchmarks.

``python openai_server.py LATENCY --fast ...`` runs it in a process of its own (see
:func:`openai_server.main`); it shares the threaded server's replies, faults and limits.
"""

from __future__ import annotations

import json
import time
from collections import Counter

try:
    from .openai_server import FakeOpenAI, default_content
except ImportError:  # imported by the script, from this folder
    from openai_server import FakeOpenAI, default_content  # type: ignore[no-redef]

_REASONS = {200: "OK", 429: "Too Many Requests", 500: "Internal Server Error"}


async def serve_fast(
    latency: float,
    *,
    per_second: int | None = None,
    rates: dict[str, float] | None = None,
    retry_after: float = 1.0,
    limit_headers: bool = False,
    seed: int = 0,
    capacity: int | None = None,
) -> None:
    """A lean asyncio server for chat completions only, for throughput benchmarks.

    The threaded server above is easy to script but hands the GIL around between dozens of
    sleeping handler threads; this one answers every request from one event loop, so a
    benchmark measures the client, not the server. It can enforce ``per_second`` (refusing
    the excess with a spent budget, announced in ``x-ratelimit-*`` headers when
    ``limit_headers``), and inject faults at random ``rates`` (``429``: an overloaded
    server, ``Retry-After: retry_after`` and no rate-limit headers; ``500``). It records
    request times, answer times and counts for ``GET /v1/_stats``. With ``capacity``, at most
    that many requests are worked on at once (a GPU replica's batch); the others queue.
    """
    import asyncio
    import contextlib

    working = asyncio.Semaphore(capacity) if capacity else contextlib.nullcontext()

    times: list[float] = []  # chat requests' arrivals
    answered: list[float] = []  # the answers' departures (not the refusals or errors)
    counts: Counter[str] = Counter()
    fake = FakeOpenAI(seed=seed)
    fake.behaviour.rates = dict(rates or {})
    fake.behaviour.per_second = per_second
    fake.behaviour.limit_headers = limit_headers

    def response(status: int, payload: str, headers: dict[str, str]) -> bytes:
        data = payload.encode()
        head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        head += "Content-Type: application/json\r\n"
        head += "".join(f"{key}: {value}\r\n" for key, value in headers.items())
        head += f"Content-Length: {len(data)}\r\n\r\n"
        return head.encode() + data

    def error(status: int, message: str) -> str:
        return json.dumps({"error": {"message": message, "type": "error", "code": status}})

    async def chat(body: bytes) -> bytes:
        times.append(time.monotonic())
        counts["chat"] += 1
        if not fake.admit():
            counts["refused"] += 1
            headers = fake.retry_headers() | fake.limits()
            return response(429, error(429, "Rate limit reached for requests"), headers)
        fault = fake.next_fault()
        if fault in ("429", "500"):
            counts[fault] += 1
            await asyncio.sleep(latency / 10)  # refusals come back quicker than answers
            if fault == "429":
                headers = {"Retry-After": f"{retry_after:g}"}
                return response(429, error(429, "The server is overloaded"), headers)
            return response(500, error(500, "The server had an error"), {})
        async with working:
            await asyncio.sleep(latency)
        parsed = json.loads(body)
        payload = json.dumps(fake.completion(parsed, default_content(parsed)))
        answered.append(time.monotonic())
        return response(200, payload, fake.limits())

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                headers = dict(line.split(": ", 1) for line in lines if ": " in line)
                length = int(headers.get("Content-Length", headers.get("content-length", 0)))
                body = await reader.readexactly(length) if length else b""
                if request_line.startswith("GET") and "_stats" in request_line:
                    stats = {"counts": dict(counts), "request_times": times,
                             "answer_times": answered}  # fmt: skip
                    writer.write(response(200, json.dumps(stats), {}))
                else:
                    writer.write(await chat(body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1", flush=True)
    async with server:
        await server.serve_forever()
