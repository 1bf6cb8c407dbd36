"""A run folder: manifest, samples and failures, append-only, keyed by request key.

::

    RUN/manifest.json     what made the run: arguments, versions, template hashes, seed
    RUN/samples.jsonl     one :class:`~kpit.types.Sample` per line, its ``to_dict()``
                          (``id`` = the request key, ``image``, ``task``, ``turns``, ``meta``)
    RUN/failures.jsonl    one per failed request (key, task, image_id, reason, detail...)

Samples written by kpit 0.1 (flat records keyed by ``key``) still read, as the same
:class:`~kpit.types.Sample`.

Each record is written as one line and flushed, so a crash or a kill loses at most the
requests in flight. Reopening a run reads what is done; a torn last line (from a kill in
the middle of a write) is cut off before anything is appended.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import orjson

from kpit.errors import ConfigError, DataError
from kpit.types import Sample

__all__ = ["FAILURES", "MANIFEST", "SAMPLES", "Run", "RunStore", "read_records", "read_samples"]

log = logging.getLogger(__name__)

MANIFEST, SAMPLES, FAILURES = "manifest.json", "samples.jsonl", "failures.jsonl"


def read_records(path: Path, key: str | tuple[str, ...] = "key") -> Iterator[dict[str, Any]]:
    """The records of a JSONL file; a torn last line is skipped, other bad lines are errors.

    Every record must be a JSON object with a ``key`` field (or one of several names).
    """
    keys = (key,) if isinstance(key, str) else key
    if not path.exists():
        return
    with path.open("rb") as f:
        lines = f.read().split(b"\n")
    last = len(lines) - 1
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if n == last:
                log.warning("%s: ignoring a torn last line", path)
                return
            raise DataError(f"invalid JSON: {exc}", file=path, record=f"line {n + 1}") from None
        if not isinstance(record, dict) or not any(k in record for k in keys):
            raise DataError(f"not a record with a {keys[0]!r}", file=path, record=f"line {n + 1}")
        yield record


_LEGACY_TOP = ("key", "task", "image", "turns")


def read_samples(path: Path) -> Iterator[Sample]:
    """The samples of a ``samples.jsonl`` file, as written now or by kpit 0.1."""
    for n, record in enumerate(read_records(path, ("id", "key")), start=1):
        if "id" not in record:  # kpit 0.1: a flat record keyed by "key"
            meta = {k: v for k, v in record.items() if k not in _LEGACY_TOP}
            record = {"id": record["key"], "image": record.get("image"), "task": record.get("task"),
                      "turns": record.get("turns"), "meta": meta}  # fmt: skip
        try:
            yield Sample.from_dict(record)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"not a sample: {type(exc).__name__}: {exc}", file=path,
                            record=f"line {n}", field=str(exc).strip("'")) from None  # fmt: skip


def _cut_torn_tail(path: Path) -> None:
    """Remove a last line without its newline, so appends start on a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        keep = data.rfind(b"\n") + 1
        f.truncate(keep)
        log.warning("%s: cut a torn last line (%d bytes)", path, len(data) - keep)


class RunStore:
    """The files of one run folder.

    Args:
        folder: the run folder (made if missing).
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._files: dict[str, IO[bytes]] = {}

    @property
    def manifest_path(self) -> Path:
        """``RUN/manifest.json``."""
        return self.folder / MANIFEST

    def exists(self) -> bool:
        """True when the folder holds a run (a manifest)."""
        return self.manifest_path.is_file()

    def read_manifest(self) -> dict[str, Any]:
        """The run's manifest."""
        try:
            manifest: dict[str, Any] = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            raise DataError("not a kpit run folder (no manifest.json)", file=self.folder) from None
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON: {exc}", file=self.manifest_path) from None
        return manifest

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Write the manifest atomically (write a temporary file, then rename)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.manifest_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.manifest_path)

    def check_compatible(
        self,
        manifest: Mapping[str, Any],
        keys: tuple[str, ...],
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        """Refuse to resume a run whose ``keys`` settings differ from ``manifest``'s.

        ``defaults`` gives the value of a key that manifests written before it existed lack.
        """
        old = self.read_manifest()
        for key in keys:
            before = old.get(key, (defaults or {}).get(key))
            if before != manifest.get(key):
                raise ConfigError(
                    f"this run was made with {key}={before!r}, not {manifest.get(key)!r}; "
                    "use a new run folder (out=, -o) to change it",
                    file=self.manifest_path,
                    field=key,
                )

    def samples(self) -> Iterator[Sample]:
        """The stored samples."""
        return read_samples(self.folder / SAMPLES)

    def failures(self) -> Iterator[dict[str, Any]]:
        """The recorded failures (every attempt, in order)."""
        return read_records(self.folder / FAILURES)

    def _append(self, name: str, record: Mapping[str, Any]) -> None:
        f = self._files.get(name)
        if f is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            _cut_torn_tail(self.folder / name)
            f = self._files[name] = (self.folder / name).open("ab")
        f.write(orjson.dumps(record) + b"\n")
        f.flush()

    def add_sample(self, sample: Sample) -> None:
        """Append a sample (flushed at once); its ``meta`` gets the time it was stored."""
        record = sample.to_dict()
        record["meta"]["created"] = round(time.time(), 3)
        self._append(SAMPLES, record)

    def add_failure(self, record: Mapping[str, Any]) -> None:
        """Append a failure (flushed at once)."""
        self._append(FAILURES, {**record, "created": round(time.time(), 3)})

    def close(self) -> None:
        """Flush to disk and close the files."""
        for f in self._files.values():
            f.flush()
            os.fsync(f.fileno())
            f.close()
        self._files.clear()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Run:
    """A finished or partial run, for reading: its manifest, samples and failures.

    ``kpit.pipeline`` returns one; ``Run("runs/demo")`` opens one from disk.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.store = RunStore(folder)
        if not self.store.exists():
            raise DataError("not a kpit run folder (no manifest.json)", file=folder)

    @property
    def folder(self) -> Path:
        """The run folder."""
        return self.store.folder

    @property
    def manifest(self) -> dict[str, Any]:
        """The run's manifest."""
        return self.store.read_manifest()

    def samples(self) -> Iterator[Sample]:
        """The stored samples, in the order they were written."""
        return self.store.samples()

    def failures(self) -> Iterator[dict[str, Any]]:
        """Every recorded failure, in order (a key retried later may appear again)."""
        return self.store.failures()

    def open_failures(self) -> list[dict[str, Any]]:
        """The last failure of each key that has no sample."""
        done = {sample.id for sample in self.samples()}
        last: dict[str, dict[str, Any]] = {}
        for record in self.failures():
            if record["key"] not in done:
                last[record["key"]] = record
        return list(last.values())

    def __repr__(self) -> str:
        return f"Run({str(self.folder)!r})"
