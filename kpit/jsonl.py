"""Reading JSON-lines files of records: one JSON object a line, errors naming the line.

Shared by the benchmark's files and the overlap guard. (Run folders have a reader of their
own, :func:`kpit.pipeline.store.read_records`, which also repairs a line torn by a kill.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kpit.errors import DataError

__all__ = ["read_jsonl"]

PathLike = str | os.PathLike[str]


def read_jsonl(path: PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` for each non-empty line; bad JSON is a :class:`DataError`."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror}", file=path) from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON: {exc.msg}", file=path, record=f"line {n}") from None
        if not isinstance(record, dict):
            raise DataError("not a JSON object", file=path, record=f"line {n}")
        yield n, record
