"""Errors raised by kpit.

Every error kpit raises on purpose is a :class:`KpitError`. It carries the file, the record
and the field that were wrong, so a user can find the problem without reading a traceback;
the command line prints ``str(error)`` as one line and exits non-zero.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "ConfigError",
    "DataError",
    "FatalGeneratorError",
    "GeneratorError",
    "KpitError",
    "ParseError",
    "SampleError",
    "StopGeneration",
    "TemplateError",
]


class KpitError(Exception):
    """Base class of kpit's errors.

    Attributes:
        message: what went wrong, in words.
        file: the file that holds the bad input, if any.
        record: which record in that file (an image id, an annotation id, a line number).
        field: the field of that record that is wrong.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | os.PathLike[str] | None = None,
        record: str | int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = os.fspath(file) if file is not None else None
        self.record = record
        self.field = field
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.record is not None:
            where.append(str(self.record))
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{': '.join(where)}: {self.message}" if where else self.message


class DataError(KpitError):
    """An input file is missing, unreadable or holds a record that breaks its format."""


class ConfigError(KpitError):
    """An option or argument has a value kpit cannot use."""


class TemplateError(KpitError):
    """A prompt or context template is missing or fails to render."""


class GeneratorError(KpitError):
    """A request failed; the run records it (``code`` is the failure's reason) and goes on."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, **where: Any) -> None:
        super().__init__(message, **where)
        if code is not None:
            self.code = code


class FatalGeneratorError(GeneratorError):
    """A failure no retry can fix (bad credentials, a malformed request): the run stops."""

    code = "fatal"


class StopGeneration(GeneratorError):
    """Stop sending new requests (a budget is spent); requests in flight still finish."""

    code = "stopped"


class ParseError(KpitError):
    """A teacher's reply that cannot be turned into turns; recorded as a failure."""


class SampleError(DataError):
    """A training sample that cannot be used (missing image, no trainable token, too long)."""
