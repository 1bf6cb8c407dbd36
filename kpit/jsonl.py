"""JSON-lines files of records, and whole files written so that a crash never leaves half.

:func:`read_jsonl` reads one JSON object a line, its errors naming the file and the line;
it reads run folders too, which may lack a file yet or end on a line torn by a kill.
:func:`write_jsonl` and :func:`write_json` write a whole file through :func:`atomic_writer`:
to a temporary file beside it, flushed to disk, then renamed over it, so a reader sees the
old file or the new one, never a part. (A run's records are appended line by line to its open
files instead, by :class:`kpit.pipeline.store.RunStore`.)
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson

from kpit.errors import DataError

__all__ = ["atomic_writer", "open_new", "read_jsonl", "write_json", "write_jsonl"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def read_jsonl(
    path: PathLike, *, missing_ok: bool = False, torn_tail_ok: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` for each non-empty line of a JSON-lines file.

    Args:
        path: the file.
        missing_ok: a missing file has no records (a run that has not written it yet).
        torn_tail_ok: a last line that is not JSON and lacks its newline (a write cut off
            by a kill) is skipped, with a warning in the log.

    Raises:
        DataError: the file cannot be read, or a line is not a JSON object (naming the file
            and the line).
    """
    try:
        lines = Path(path).read_bytes().split(b"\n")
    except OSError as exc:
        if missing_ok and isinstance(exc, FileNotFoundError):
            return
        raise DataError(f"cannot read: {exc.strerror}", file=path) from None
    last = len(lines)  # the part after the last newline: empty unless the file was cut
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = _loads(line)
        except ValueError as exc:
            if torn_tail_ok and n == last:
                log.warning("%s: ignoring a torn last line", path)
                return
            raise DataError(f"invalid JSON: {exc}", file=path, record=f"line {n}") from None
        if not isinstance(record, dict):
            raise DataError("not a JSON object", file=path, record=f"line {n}")
        yield n, record


_LONG_NUMBER = re.compile(rb"\d{20}")
"""Digits enough for an integer beyond 64 bits, which orjson would read as a rounded float."""


def _loads(line: bytes) -> Any:
    """One line's value: orjson's speed, with ``json``'s exact big integers, leniency
    (``NaN``, lone surrogates) and messages.

    Raises:
        ValueError: the line is not UTF-8 or not JSON, with the reason.
    """
    if not _LONG_NUMBER.search(line):
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(exc.msg) from None


@contextmanager
def atomic_writer(path: PathLike) -> Iterator[IO[str]]:
    """A text file to write ``path`` through, put in its place only when the block ends well.

    The text goes to ``<path>.tmp`` in the same folder (made if missing), which is flushed
    to disk and renamed over ``path`` when the block ends; if the block raises, the
    temporary file is removed and ``path`` is left as it was.

    The temporary file is made anew (``O_EXCL``) and never through a symbolic link
    (``O_NOFOLLOW``): a link planted at ``<path>.tmp`` is refused, not written through, and
    a regular file left there by a killed writer is replaced. ``path`` itself is replaced by
    the rename, so a link there is replaced too, never its target.

    Raises:
        DataError: the temporary file cannot be made (naming it and why).
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    fd = open_new(tmp)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def open_new(path: PathLike, mode: int = 0o644) -> int:
    """A descriptor of a file made anew at ``path`` for writing, never through a link.

    A regular file already there (left by a killed writer) is removed first; a symbolic
    link, a folder or anything else in the way is refused.

    Raises:
        DataError: something other than a regular file is in the way, or the file cannot be
            made (naming it and why).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for attempt in range(2):
        try:
            return os.open(path, flags, mode)
        except FileExistsError:
            if attempt or not _stale_regular_file(path):
                raise DataError("refusing to write: a symbolic link or another non-file is in "
                                "the way of this temporary file", file=path) from None  # fmt: skip
            os.unlink(path)
        except OSError as exc:
            raise DataError(f"cannot write: {exc.strerror}", file=path) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _stale_regular_file(path: PathLike) -> bool:
    """True when ``path`` is a regular file with no other name (safe to remove)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return True
    return stat.S_ISREG(info.st_mode) and info.st_nlink == 1


def write_jsonl(
    path: PathLike, records: Iterable[Mapping[str, Any]], *, ensure_ascii: bool = False
) -> int:
    """Write records as JSON lines through :func:`atomic_writer`; return how many.

    ``ensure_ascii`` escapes every character outside ASCII (``\\u00e9``), as
    ``json.dumps`` does by default; without it they are written as UTF-8.
    """
    count = 0
    with atomic_writer(path) as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=ensure_ascii) + "\n")
            count += 1
    return count


def write_json(path: PathLike, value: Any, **dumps: Any) -> None:
    """Write ``value`` as one JSON document through :func:`atomic_writer`.

    ``dumps`` are ``json.dump``'s options (``indent``, ``sort_keys``, ``ensure_ascii``).
    """
    with atomic_writer(path) as f:
        json.dump(value, f, **dumps)
        f.write("\n")
