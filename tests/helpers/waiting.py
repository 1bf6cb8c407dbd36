"""Waiting on events, not on the clock: a test goes on when what it waits for has happened.

A timeout here only catches a hang (it is generous: a busy machine is slow, not stuck), and
a child process that exits early ends the wait at once, with its error.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

HANG = 600.0
"""Seconds after which a wait counts as a hang."""

POLL = 0.01
"""Seconds between two looks at a condition (how soon a wait notices, not how long it takes)."""


def wait_until(
    condition: Callable[[], bool],
    what: str,
    *,
    process: subprocess.Popen[bytes] | None = None,
    timeout: float = HANG,
) -> None:
    """Return once ``condition()`` holds; fail if ``process`` exits first or on a hang."""
    give_up = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            _, stderr = process.communicate()
            detail = stderr.decode(errors="replace")[-2000:] if stderr else ""
            raise AssertionError(f"exited ({process.returncode}) before {what}\n{detail}")
        if time.monotonic() > give_up:
            raise TimeoutError(f"no {what} after {timeout:g} s: a hang")
        time.sleep(POLL)


def count_lines(path: Path) -> int:
    """Complete lines in ``path`` (0 while it does not exist)."""
    return path.read_bytes().count(b"\n") if path.exists() else 0


def wait_for_lines(
    path: Path, count: int, *, process: subprocess.Popen[bytes] | None = None
) -> int:
    """Wait until ``path`` has at least ``count`` lines; how many it has then."""
    wait_until(lambda: count_lines(path) >= count, f"{count} lines in {path.name}",
               process=process)  # fmt: skip
    return count_lines(path)


def wait_for_exit(process: subprocess.Popen[bytes], *, timeout: float = HANG) -> bytes:
    """Wait until ``process`` exits; its standard error. On a hang, the child's Python stacks
    (it registers :mod:`faulthandler` on SIGUSR1, as ``slow_run.py`` does) are in the failure."""
    try:
        return process.communicate(timeout=timeout)[1] or b""
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGUSR1)
        time.sleep(1)  # a moment for the stacks to be written before the kill
        process.kill()
        stderr = process.communicate()[1] or b""
        raise AssertionError(f"still running {timeout:g} s after it was told to stop: a hang\n"
                             f"{stderr.decode(errors='replace')[-6000:]}") from None  # fmt: skip
