"""Run a coroutine to the end from synchronous code, inside a running event loop or not.

The synchronous API (:func:`kpit.generate`, :func:`kpit.bench.build_bench`,
:func:`kpit.bench.answer_bench`, :func:`kpit.bench.judge_answers`) is called from scripts,
where no event loop runs, and from notebooks, where one already does and ``asyncio.run``
refuses. There the coroutine runs on a fresh loop in a worker thread, and the caller waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """The result of the coroutine ``make()``, run to the end on an event loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(1, thread_name_prefix="kpit-sync") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()
