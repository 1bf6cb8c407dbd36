"""A run folder: manifest, samples and failures, append-only, keyed by request key.

::

    RUN/manifest.json     what made the run: arguments, versions, template hashes, seed
    RUN/samples.jsonl     one Sample per line, its to_dict()
                          (id = the request key, image, task, turns, meta)
    RUN/failures.jsonl    one per failed request (key, task, image_id, reason, detail...)
    RUN/spend.jsonl       while a session runs: what it sent and paid, written before each
                          request leaves (:class:`SpendLedger`); gone once the manifest
                          holds the session's record

Samples written by kpit 0.1.0 before commit f9b1b12 (flat records keyed by ``key``) still
read, as the same :class:`~kpit.types.Sample`.

Each record is written as one line and flushed, so a crash or a kill loses at most the
requests in flight. Reopening a run reads what is done; a torn last line (from a kill in
the middle of a write) is cut off before anything is appended. What a killed session spent
is read back from its spend ledger (the requests in flight at the kill at what they could
cost at most), or, where it left none, from the usage stored with its samples and failures.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import stat
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import orjson

from kpit.errors import ConfigError, DataError
from kpit.generators.base import TOKEN_FIELDS, UNPRICED, CostBound, Price, stored_amount
from kpit.jsonl import read_jsonl, write_json
from kpit.types import Sample

__all__ = [
    "FAILURES",
    "LOCK",
    "MANIFEST",
    "RUN_FILES",
    "SAMPLES",
    "SPEND",
    "Run",
    "RunLock",
    "RunStore",
    "SpendLedger",
    "read_records",
    "read_samples",
    "stored_usage",
]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
"""The run's manifest: what made it (arguments, versions, template hashes, seed)."""
SAMPLES = "samples.jsonl"
"""The run's samples, one JSON object per line."""
FAILURES = "failures.jsonl"
"""The run's failed requests, one JSON object per line."""
LOCK = ".lock"
"""The lock file that keeps a run folder to one writer at a time."""
SPEND = "spend.jsonl"
"""The spend ledger of the session writing the run (:class:`SpendLedger`)."""
RUN_FILES = (MANIFEST, SAMPLES, FAILURES)
"""The files that make a folder a run folder."""


def read_records(path: Path, key: str | tuple[str, ...] = "key") -> Iterator[dict[str, Any]]:
    """The records of a run's JSONL file; a torn last line is skipped, other bad lines are
    errors (:func:`kpit.jsonl.read_jsonl`), and a missing file has none.

    Every record must be a JSON object with a ``key`` field (or one of several names).
    """
    keys = (key,) if isinstance(key, str) else key
    for n, record in read_jsonl(path, missing_ok=True, torn_tail_ok=True):
        if not any(k in record for k in keys):
            raise DataError(f"not a record with a {keys[0]!r}", file=path, record=f"line {n}")
        yield record


_LEGACY_TOP = ("key", "task", "image", "turns")


def read_samples(path: Path, *, unique: bool = True) -> Iterator[Sample]:
    """The samples of a ``samples.jsonl`` file, as written now or by early kpit 0.1.0.

    With ``unique`` (the default), a sample stored twice under one id (two writers into one
    folder, before kpit locked run folders) is yielded once, the first time, and the
    repeats are reported in the log.
    """
    seen: set[str] = set()
    repeats = 0
    for sample in _all_samples(path):
        if unique:
            if sample.id in seen:
                repeats += 1
                continue
            seen.add(sample.id)
        yield sample
    if repeats:
        log.warning("%s: %d samples stored twice under one id; each is read once", path, repeats)


def _all_samples(path: Path) -> Iterator[Sample]:
    for n, record in enumerate(read_records(path, ("id", "key")), start=1):
        if "id" not in record:  # kpit 0.1.0 before f9b1b12: a flat record keyed by "key"
            meta = {k: v for k, v in record.items() if k not in _LEGACY_TOP}
            record = {"id": record["key"], "image": record.get("image"), "task": record.get("task"),
                      "turns": record.get("turns"), "meta": meta}  # fmt: skip
        try:
            yield Sample.from_dict(record)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"not a sample: {type(exc).__name__}: {exc}", file=path,
                            record=f"line {n}", field=str(exc).strip("'")) from None  # fmt: skip


def _cut_torn_tail(path: Path) -> None:
    """End the file on a fresh line: a last line without its newline is completed when it
    holds a whole record (the newline was all that was lost), and cut when it is torn."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        keep = data.rfind(b"\n") + 1
        try:
            orjson.loads(data[keep:])
        except orjson.JSONDecodeError:
            f.truncate(keep)
            log.warning("%s: cut a torn last line (%d bytes)", path, len(data) - keep)
            return
        f.write(b"\n")  # a complete record that only lacked its newline: kept


class RunLock:
    """One writer per run folder: an exclusive ``flock`` on ``RUN/.lock``.

    The operating system releases the lock when its process ends, however it ends (a kill
    -9 included), so a dead writer never leaves a folder locked. The lock file is opened
    without following a symbolic link and must be a regular file with one name, so a link
    or hard link planted in its place is refused instead of truncating what it points to.

    Args:
        folder: the folder to lock (made if missing).
        name: the lock file's name in it: :data:`LOCK` for a run folder; a bench output
            ``OUT`` is locked with ``.OUT.lock`` beside it.
    """

    def __init__(self, folder: Path, name: str = LOCK) -> None:
        self.path = Path(folder) / name
        self._file: IO[bytes] | None = None

    @classmethod
    def for_file(cls, path: str | os.PathLike[str]) -> RunLock:
        """The lock of one output file: ``.NAME.lock`` in its folder."""
        out = Path(path)
        return cls(out.parent, f".{out.name}.lock")

    def acquire(self) -> None:
        """Take the lock or raise :class:`ConfigError` naming the process that holds it."""
        import fcntl

        handle = self._open()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read(200).decode(errors="replace").strip() or "another process"
            handle.close()
            raise ConfigError(f"the output is being written by {holder}; wait for it to "
                              "finish (two writers would pay for and store everything twice)",
                              file=self.path.parent) from None  # fmt: skip
        handle.seek(0)
        handle.truncate()
        handle.write(f"kpit process {os.getpid()}".encode())
        handle.flush()
        self._file = handle

    def _open(self) -> IO[bytes]:
        """The lock file, opened for reading and writing without following a link."""
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ConfigError("the lock file is a symbolic link; refusing to write through "
                                  "it (remove it)", file=self.path) from None  # fmt: skip
            raise ConfigError(f"cannot open the lock file: {exc.strerror}",
                              file=self.path) from None  # fmt: skip
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            os.close(fd)
            regular = stat.S_ISREG(info.st_mode)
            what = "has another name (a hard link)" if regular else "is not a file"
            raise ConfigError(f"the lock file {what}; refusing to write to it (remove it)",
                              file=self.path)  # fmt: skip
        return os.fdopen(fd, "r+b")

    def release(self) -> None:
        """Let go of the lock."""
        if self._file is not None:
            self._file.close()  # closing the descriptor releases the flock
            self._file = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


"""Session and run totals: tokens counted while no price was known (priced, and charged to
the budget, by the first session that knows one)."""


class SpendLedger:
    """``RUN/spend.jsonl``: what the session writing a run sent and paid, written ahead.

    A backend that pays per request writes a line just before a request leaves, with the
    most the request can cost (its reserve), and one when it knows what it did cost. Each
    line goes to the operating system at once, so a ``kill -9`` loses none; a full disk
    stops the run before the request is sent. Once a session's record is in the manifest
    its ledger is removed; a ledger left behind belongs to a session that ended without
    writing its record (a kill, a full disk), and :meth:`read` sums what it spent, each
    request sent and never settled at its reserve.

    Lines, one JSON object each:

    - ``{"session": ID, "started": TIME, "price": {...} or null}``, the first;
    - ``{"send": N, "key": KEY, "prompt_tokens": P, "completion_tokens": C, "usd": U}``: the
      N-th request is about to leave, and ``P``, ``C``, ``U`` (``null`` without a price) are
      the most it can cost;
    - ``{"paid": N, "prompt_tokens": P, "completion_tokens": C, "cached_tokens": K,
      "usd": U}``: what it cost (zero: refused, not billed); with ``"estimated": true`` its
      cost is unknown (a timeout, a dropped connection, in flight when the run stopped) and
      the reserve is charged; ``"paid": null``: a charge without a send of its own (a
      Batch API result).

    Args:
        folder: the run folder.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = Path(folder) / SPEND
        self._fd: int | None = None
        self._header: dict[str, Any] = {}
        self._broken = False

    def begin(self, session: str, started: str, price: Mapping[str, Any] | None) -> None:
        """Start the ledger of a new session (the file is made with its first record): the
        old ledger goes, its session being in the manifest by now."""
        self.clear()
        self._header = {"session": session, "started": started,
                        "price": dict(price) if price is not None else None}  # fmt: skip

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one line, through to the operating system.

        Raises:
            DataError: the line could not be written whole (and no later line will be).
        """
        try:
            if self._broken:
                raise OSError(errno.EIO, "an earlier line could not be written")
            if self._fd is None:
                self._fd = self._open()
                self._put(self._header)
            self._put(record)
        except OSError as exc:
            self._broken = True
            raise DataError(f"cannot record the spending: {exc.strerror}",
                            file=self.path) from None  # fmt: skip

    def _open(self) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            return os.open(self.path, flags, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise OSError(exc.errno, "it is a symbolic link; refusing to write through "
                              "it (remove it)") from None  # fmt: skip
            raise

    def _put(self, record: Mapping[str, Any]) -> None:
        assert self._fd is not None
        data = orjson.dumps(record) + b"\n"
        if os.write(self._fd, data) != len(data):  # only a full disk writes a part
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def close(self) -> None:
        """Close the file (it stays, for :meth:`read`)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def clear(self) -> None:
        """Close and remove the ledger: the manifest holds its session's record now."""
        self.close()
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:  # a later session knows its record is in the manifest
            log.warning("%s: cannot remove the spend ledger: %s", self.path, exc.strerror)

    def read(self, bound: CostBound | None = None) -> dict[str, Any] | None:
        """The spending of the session that left the ledger, as a manifest's session record
        (``status`` ``"recovered"``); ``None`` without a ledger.

        A request sent and never settled is charged the most the run's replies have cost
        (``bound``, what earlier sessions learned, with what the ledger's own settled
        replies teach), or its reserve before any reply is known."""
        header: dict[str, Any] | None = None
        sends: dict[Any, dict[str, Any]] = {}
        settled: list[dict[str, Any]] = []
        for _, record in read_jsonl(self.path, missing_ok=True, torn_tail_ok=True):
            if "session" in record and header is None:
                header = record
            elif "send" in record:
                sends[record["send"]] = record
            elif "paid" in record:
                settled.append(record)
        if header is None:
            return None
        sent = len(sends)
        learned = CostBound()
        for record in settled:
            send = sends.pop(record["paid"], None)
            prompt = int(stored_amount(record.get("prompt_tokens")))
            if send is not None and prompt and not record.get("estimated"):  # a reported usage
                completion = int(stored_amount(record.get("completion_tokens")))
                learned = learned.learn(_counted(send), prompt, completion)
        priced = header.get("price") is not None
        price = Price.from_dict(header["price"]) if priced else None
        likely = (bound or CostBound()).merge(learned)
        unsettled = [_likely_cost(send, likely, price) for send in sends.values()]
        return {"id": header["session"], "started": header.get("started"),
                "status": "recovered", "recovered_from": "spend ledger", "interrupted": True,
                "requests_sent": sent,
                **_ledger_sums(settled, unsettled, priced),
                "cost_bound": learned.to_dict()}  # fmt: skip


def _ledger_sums(
    settled: list[dict[str, Any]], unsettled: list[dict[str, Any]], priced: bool
) -> dict[str, Any]:
    """A ledger's figures, named as a backend's session totals."""
    tokens = dict.fromkeys(TOKEN_FIELDS, 0)
    unpriced = dict.fromkeys(TOKEN_FIELDS, 0)
    cost = estimated = 0.0
    charged = len(unsettled)
    for record in settled:
        usd = stored_amount(record.get("usd"))
        cost += usd
        if record.get("estimated"):
            charged += 1
            estimated += usd
        else:
            for name in TOKEN_FIELDS:
                tokens[name] += int(stored_amount(record.get(name)))
        for name in TOKEN_FIELDS:
            unpriced[name] += int(stored_amount(record.get(name)))
    for record in unsettled:
        usd = stored_amount(record.get("usd"))
        cost, estimated = cost + usd, estimated + usd
        for name in ("prompt_tokens", "completion_tokens"):
            unpriced[name] += int(stored_amount(record.get(name)))
    sums: dict[str, Any] = {
        **tokens,
        "cost_usd": round(cost, 6) if priced else None,
        "cost_estimated_usd": round(estimated, 6) if priced else None,
        "reserve_charged": charged,
    }  # fmt: skip
    for name, key in zip(TOKEN_FIELDS, UNPRICED, strict=True):
        sums[key] = 0 if priced else unpriced[name]
    return sums


def _likely_cost(send: Mapping[str, Any], bound: CostBound, price: Price | None) -> dict[str, Any]:
    """A request sent and never settled, as the tokens and dollars it is charged."""
    reserve = [int(stored_amount(send.get(name))) for name in TOKEN_FIELDS[:2]]
    prompt, completion = bound.likely(_counted(send), *reserve)
    usd = price.cost(prompt, completion) if price is not None else None
    return {"prompt_tokens": prompt, "completion_tokens": completion, "usd": usd}


def _counted(send: Mapping[str, Any]) -> int:
    """A ``send`` line's prompt tokens as counted by the backend (its reserve, if it has none)."""
    return int(stored_amount(send.get("counted_prompt_tokens", send.get("prompt_tokens"))))


def stored_usage(path: Path, skip: int) -> tuple[int, dict[str, int]]:
    """The records of a run's JSONL file after its first ``skip`` lines: how many, and the
    tokens that their stored usage says they cost (a sample's ``meta.usage``, or the
    estimate ``meta.extra.usage_estimate`` kept for an unreadable one; a failure's
    ``usage``). A torn last line is left out."""
    tokens = dict.fromkeys(TOKEN_FIELDS, 0)
    count = 0
    try:
        lines = path.open("rb")
    except FileNotFoundError:
        return 0, tokens
    with lines:
        for n, line in enumerate(lines):
            if n < skip or not line.endswith(b"\n"):
                continue
            count += 1
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            usage = _usage_of(record) if isinstance(record, dict) else {}
            for name in TOKEN_FIELDS:
                tokens[name] += int(stored_amount(usage.get(name)))
    return count, tokens


def _usage_of(record: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = record.get("meta")
    where = meta if isinstance(meta, Mapping) else record  # a failure, or an early flat sample
    usage = where.get("usage")
    if not isinstance(usage, Mapping):
        extra = where.get("extra")
        usage = extra.get("usage_estimate") if isinstance(extra, Mapping) else None
    return usage if isinstance(usage, Mapping) else {}


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
        try:
            write_json(self.manifest_path, manifest, indent=2, sort_keys=True)
        except OSError as exc:
            raise DataError(f"cannot write the manifest: {exc.strerror}",
                            file=self.manifest_path) from None  # fmt: skip

    def orphaned(self) -> bool:
        """True when the folder holds samples or failures but no manifest (it was deleted)."""
        return not self.exists() and any(
            (self.folder / name).is_file() and (self.folder / name).stat().st_size
            for name in (SAMPLES, FAILURES)
        )

    def open_for_writing(self, min_free_bytes: int = 50 * 2**20) -> None:
        """Open the JSONL files for appending now, so that a read-only folder or a full disk
        stops the run before anything is paid for, not after."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for name in (SAMPLES, FAILURES):
                self._open(name)
            free = shutil.disk_usage(self.folder).free
        except OSError as exc:
            raise DataError(f"cannot write here: {exc.strerror}", file=self.folder) from None
        if free < min_free_bytes:
            raise DataError(f"only {free / 2**20:.0f} MiB free on this disk; a run needs room "
                            "for its samples", file=self.folder)  # fmt: skip

    def _open(self, name: str) -> IO[bytes]:
        f = self._files.get(name)
        if f is None:
            _cut_torn_tail(self.folder / name)
            f = self._files[name] = (self.folder / name).open("ab")
        return f

    def check_compatible(
        self,
        manifest: Mapping[str, Any],
        keys: tuple[str, ...],
        defaults: Mapping[str, Any] | None = None,
        *,
        hint: str = "use a new run folder (out=, -o) to change it",
    ) -> None:
        """Refuse to resume a run whose ``keys`` settings differ from ``manifest``'s.

        ``defaults`` gives the value of a key that manifests written before it existed lack
        (for a dict, of each entry they lack). The error names the first setting that
        differs (``prompt.style`` within a dict), its old and its new value, and ends with
        ``hint`` (``{key}`` and ``{option}``, the key as a CLI option spells it, filled in).
        """
        old = self.read_manifest()
        for key in keys:
            default = (defaults or {}).get(key)
            before = old.get(key, default)
            if isinstance(before, dict) and isinstance(default, Mapping):
                before = {**default, **before}
            found = _difference(key, _plain(before), _plain(manifest.get(key)))
            if found is not None:
                name, was, now = found
                advice = hint.format(key=key, option=key.replace("_", "-"))
                raise ConfigError(f"this run was made with {name}={was!r}, not {now!r}; {advice}",
                                  file=self.manifest_path, field=key)  # fmt: skip

    def samples(self) -> Iterator[Sample]:
        """The stored samples."""
        return read_samples(self.folder / SAMPLES)

    def failures(self) -> Iterator[dict[str, Any]]:
        """The recorded failures (every attempt, in order)."""
        return read_records(self.folder / FAILURES)

    def _append(self, name: str, record: Mapping[str, Any]) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            f = self._open(name)
            f.write(orjson.dumps(record) + b"\n")
            f.flush()
        except OSError as exc:
            raise DataError(f"cannot write: {exc.strerror}", file=self.folder / name) from None

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


def _plain(value: Any) -> Any:
    """``value`` as JSON reads it back: tuples as lists, mappings as dicts."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _difference(name: str, before: Any, after: Any) -> tuple[str, Any, Any] | None:
    """The first setting that differs, as ``(dotted name, before, after)``, or ``None``."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(before.keys() | after.keys()):
            found = _difference(f"{name}.{key}", before.get(key), after.get(key))
            if found is not None:
                return found
        return None
    return None if before == after else (name, before, after)


class Run:
    """A finished or partial run, for reading: its manifest, samples and failures.

    ``kpit.pipeline.run`` returns one; ``Run("runs/demo")`` opens one from disk.
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
