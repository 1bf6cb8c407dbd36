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


def help_entries(text: str) -> dict[str, str]:
    """``--help``'s option entries by flag: each entry's text with all whitespace removed."""
    blocks: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("  --"):  # an option's first line; its help is indented deeper
            current = []  # every spelling (--use-cpu, --use_cpu) names the entry
            for flag in line.strip().split("  ")[0].split():
                if flag.startswith("--"):
                    blocks[flag.rstrip(",")] = current
        current.append(line)
    return {flag: "".join("".join(lines).split()) for flag, lines in blocks.items()}
