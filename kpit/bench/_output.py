"""The files the bench commands write: checked before anything is paid, one writer each, and
paid-for records appended one by one.

:func:`claim_outputs` refuses an output that is one of the command's inputs under any name
(:func:`kpit.paths.check_output`) and one whose folder cannot be written, before the first
request; :class:`kpit.pipeline.store.RunLock` keeps each output to one writer at a time.
:class:`Appender` writes one JSON line per record and flushes it, as a run folder's
``samples.jsonl`` is written, so that a kill loses at most the requests in flight; reopened,
it cuts a last line torn by a kill before appending.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

from kpit.errors import DataError
from kpit.jsonl import open_new
from kpit.paths import check_output

__all__ = ["NOT_ASKED", "Appender", "claim_outputs", "writable_folder", "write_bytes"]

log = logging.getLogger(__name__)

NOT_ASKED = "not asked"
"""How the reason of a question or review left unasked starts (a budget was spent first)."""

PathLike = str | os.PathLike[str]


def claim_outputs(
    outputs: Iterable[PathLike],
    inputs: Iterable[PathLike | None],
    *,
    option: str = "-o",
) -> None:
    """Refuse ``outputs`` (an output and the files written beside it) where one would write
    over one of ``inputs``, or where its folder cannot be written.

    Raises:
        ConfigError: an output is one of the inputs (naming the option and both paths).
        DataError: an output's folder cannot be made or written (naming the output).
    """
    sources = list(inputs)
    for output in outputs:
        check_output(output, sources, option=option)
        writable_folder(Path(output))


def writable_folder(path: Path) -> None:
    """Make ``path``'s folder if missing; a :class:`DataError` naming ``path`` when that
    fails or the folder cannot be written to."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot write here: {exc.strerror} ({folder})", file=path) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"cannot write here: the folder {folder} is not writable",
                        file=path)  # fmt: skip


def write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``path`` whole or not at all, as :func:`kpit.jsonl.atomic_writer` writes text:
    through a temporary file beside it (never through a link), flushed, then renamed.

    Raises:
        DataError: the file cannot be written (naming it and why).
    """
    out = Path(path)
    writable_folder(out)
    tmp = out.with_name(out.name + ".tmp")
    fd = open_new(tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot write: {exc.strerror}", file=out) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Appender:
    """A JSON-lines file that records are appended to one line at a time, each flushed.

    Opened (as a context manager, or by :meth:`open`) without following a symbolic link;
    a last line torn by a kill is cut first, and a whole record that only lost its newline
    is kept.

    Args:
        path: the file (made if missing).
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self._file: IO[bytes] | None = None

    def open(self) -> Appender:
        """Open the file for appending; a :class:`DataError` naming it when that fails."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            self._cut_torn_tail()
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise DataError("the output is a symbolic link; refusing to write through it "
                                "(give the file itself)", file=self.path) from None  # fmt: skip
            raise DataError(f"cannot write: {exc.strerror}", file=self.path) from None
        self._file = os.fdopen(fd, "ab")
        return self

    def write(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` as one line and flush it."""
        assert self._file is not None, "open the Appender first"
        try:
            self._file.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
            self._file.flush()
        except OSError as exc:
            raise DataError(f"cannot write: {exc.strerror}", file=self.path) from None

    def close(self) -> None:
        """Close the file (what was written is already flushed)."""
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None

    def __enter__(self) -> Appender:
        return self.open()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def _cut_torn_tail(self) -> None:
        """End the file on a fresh line: a last line without its newline is completed when it
        holds a whole record, and cut when it was torn."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        with os.fdopen(fd, "rb+") as f:
            data = f.read()
            if not data or data.endswith(b"\n"):
                return
            keep = data.rfind(b"\n") + 1
            try:
                orjson.loads(data[keep:])
            except orjson.JSONDecodeError:
                f.truncate(keep)
                log.warning("%s: cut a torn last line (%d bytes)", self.path, len(data) - keep)
                return
            f.write(b"\n")
