"""Files named by records: an image name from a data file stays inside its folder.

Annotation files, benchmark questions and training records name their images, and kpit
opens those names (``kpit show``, ``kpit bench answer``, which uploads the image to a model
server, and the trainer). A name is data, not a path to follow anywhere: an absolute name
or one with a ``..`` part could read, and send away, any file the user can read.
:func:`safe_join` is the one place that turns a record's name into a path under its root,
and refuses anything else with an error that names the record.

The check is on the name itself: symbolic links inside the folder (a dataset folder whose
files link into a shared store) are followed as the user laid them out.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath

from kpit.errors import ConfigError, DataError

__all__ = ["OUTSIDE", "check_output", "safe_join"]

OUTSIDE = "refused, outside the image folder"
"""How the message of a refused name starts."""

_PARTS = re.compile(r"[\\/]")


def safe_join(
    root: str | os.PathLike[str],
    name: object,
    *,
    file: str | os.PathLike[str] | None = None,
    record: str | int | None = None,
    field: str = "image",
) -> Path:
    """``root / name`` for a relative ``name`` that stays inside ``root``.

    Args:
        root: the folder the names are relative to.
        name: the name a record gives (``file_name``, ``image``).
        file: the file the name comes from, for the error.
        record: the record the name comes from, for the error.
        field: the record's field that holds the name, for the error.

    Raises:
        DataError: ``name`` is not a non-empty string, is absolute (``/etc/passwd``,
            ``C:\\x``, ``\\\\server\\share``), or has a ``..`` part; the error names the
            file, the record and the field.
    """

    def refuse(why: str) -> DataError:
        return DataError(why, file=file, record=record, field=field)

    if not isinstance(name, str) or not name.strip():
        raise refuse(f"not a file name: {name!r}")
    if "\x00" in name:
        raise refuse(f"a file name with a NUL character: {name!r}")
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).anchor:
        raise refuse(f"{OUTSIDE}: {name!r} is absolute (names are relative to {root})")
    if ".." in _PARTS.split(name):
        raise refuse(f"{OUTSIDE}: {name!r} has a '..' part (names stay inside {root})")
    base = Path(root)
    joined = base / name
    folder = os.path.abspath(base)  # lexical, links not followed (see the module's note)
    if os.path.commonpath([folder, os.path.abspath(joined)]) != folder:
        raise refuse(f"{OUTSIDE}: {name!r}")  # pragma: no cover (the checks above catch it)
    return joined


def check_output(
    output: str | os.PathLike[str],
    inputs: Iterable[str | os.PathLike[str] | None],
    *,
    option: str = "-o",
) -> Path:
    """``output`` as a path, refused where writing it would write over one of ``inputs``.

    The same file under another name counts as the same: a hard link, a symbolic link to an
    input, or a path through a linked folder (compared with ``os.path.samefile`` where
    both exist, and by resolved path otherwise). A folder among ``inputs`` covers the files in
    it (a benchmark folder's ``questions.jsonl``).

    Raises:
        ConfigError: ``output`` is one of ``inputs`` (naming the option and both paths).
    """
    out = Path(output)
    resolved = out.resolve()
    for given in inputs:
        if given is None:
            continue
        source = Path(given)
        inside = source.is_dir() and source.resolve() in resolved.parents
        if inside or _same_file(out, source):
            raise ConfigError(f"{option} {out} would write over an input ({source}); choose "
                              "another output file", field=option)  # fmt: skip
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare where they lead
        return a.resolve() == b.resolve()
