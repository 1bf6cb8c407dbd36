"""The benchmark files a ``kpit bench`` command reads: FOLDER or the three files."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from kpit.bench.files import Bench, load_bench
from kpit.errors import KpitError
from kpit.jsonl import read_jsonl

__all__ = ["FILE", "bench_files", "ids_in", "load_bench_files"]

F = TypeVar("F", bound=Callable[..., Any])

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def ids_in(path: Path, field: str) -> set[str]:
    """The ``field`` values of the records already in ``path`` (none when it is missing or
    unreadable: the command itself then says what is wrong with it)."""
    try:
        return {str(r[field]) for _, r in read_jsonl(path, missing_ok=True, torn_tail_ok=True)
                if isinstance(r, dict) and field in r}  # fmt: skip
    except (KpitError, OSError):
        return set()


def bench_files(function: F) -> F:
    """Add FOLDER and ``--questions/--context/--references`` to a command."""
    folder = click.Path(exists=True, file_okay=False, path_type=Path)
    decorators = [
        click.argument("folder", required=False, type=folder),
        click.option("--questions", type=FILE, help="Questions file (LLaVA-Bench fields)."),
        click.option("--context", type=FILE, help="Context file (captions, instances, people)."),
        click.option("--references", type=FILE, help="Reference answers file."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def load_bench_files(files: Mapping[str, Path | None], *, require_references: bool = True) -> Bench:
    """The benchmark of :func:`bench_files`' values."""
    return load_bench(
        files["folder"],
        questions=files["questions"],
        context=files["context"],
        references=files["references"],
        require_references=require_references,
    )
