"""Checks of what a ``kpit`` command printed, shared by the command-line tests."""

from __future__ import annotations

from click.testing import Result


def one_clear_line(result: Result, *words: str) -> None:
    """The command failed (exit 1) with one line on stderr, no traceback, holding ``words``."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    for word in words:
        assert word in message, message
