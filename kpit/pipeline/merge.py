"""Joining run folders: the shares of one run made on several machines, into one run.

``kpit generate --shard I/N`` runs one of N shares of a run's requests into its own folder
(:class:`~kpit.pipeline.shard.Shard`); :func:`merge_runs` (``kpit merge RUN1 RUN2 ... -o
RUN``) joins such folders into one run folder, as if one machine had made it:

- the runs must have one identity: the settings a resume must keep (seed, prompt options,
  the backend's identity, the recipe), the settings that shape or filter the data
  (filters, quality, excluded images), the same version of every template both used, and
  the same source (unless ``allow_new_source``). The shard is not part of it: shares of
  one run are what is merged. A difference is refused in one line naming the setting and
  the two runs; so is a run given twice (or a merged run with one of its sources), whose
  sessions would be counted twice;
- a sample stored in two runs (the same request key) is kept once, the first run's, and
  the duplicates are counted; a failure is kept only for a key that no run holds a sample
  of (every recorded attempt of it, in order);
- the manifest is the first run's with the tasks, templates and sessions of all: each
  session's record names the run it came from, the totals add every run's (what each
  paid, duplicates included, is counted once), and ``merged`` records the source runs with
  their shards, sessions, totals and counts. Its ``shard`` is ``None`` once the runs cover
  every share (``"1,2/3"`` for some shares only);
- the output is a new or empty folder, never one of the inputs; the run is written beside
  it and renamed into place, so a crash never leaves half a run. The inputs are only read
  (a run that a ``kpit generate`` is writing is refused, to be merged once it finished).

The merged run resumes like any other: ``kpit generate`` with its settings (and no
``--shard``, once it holds every share) sends what no share finished.
"""

from __future__ import annotations

import copy
import errno
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpit.errors import ConfigError
from kpit.jsonl import write_json, write_jsonl
from kpit.paths import check_output
from kpit.pipeline.sessions import add_totals, recover_sessions
from kpit.pipeline.setup import RESUME_DEFAULTS, RESUME_KEYS
from kpit.pipeline.shard import Shard
from kpit.pipeline.store import (
    FAILURES,
    LOCK,
    MANIFEST,
    SAMPLES,
    Run,
    SpendLedger,
    _difference,
    _plain,
)

__all__ = ["MergeResult", "check_same_identity", "merge_runs", "merged_shard"]

PathLike = str | os.PathLike[str]

IDENTITY_KEYS = (*(key for key in RESUME_KEYS if key != "shard"), "filters", "quality")
"""Manifest entries that runs joined into one must share (besides the excluded images, the
templates and the source)."""


@dataclass(slots=True)
class MergeResult:
    """What :func:`merge_runs` wrote.

    Attributes:
        folder: the merged run's folder.
        samples: the samples it holds.
        duplicates: samples left out because an earlier run holds one with the same id.
        failures: the failure records kept (of keys with no sample).
        failures_dropped: the failure records left out (their key has a sample).
        shard: the merged run's shard (``None``: every share).
        per_run: each source run's counts (as the manifest's ``merged.runs`` records them).
    """

    folder: Path
    samples: int = 0
    duplicates: int = 0
    failures: int = 0
    failures_dropped: int = 0
    shard: str | None = None
    per_run: list[dict[str, Any]] = field(default_factory=list)

    @property
    def run(self) -> Run:
        """The merged run."""
        return Run(self.folder)

    def to_text(self) -> str:
        """One line: what the merged run holds and what was left out."""
        share = "every share" if self.shard is None else f"shards {self.shard}"
        return (f"{self.folder}: {self.samples} samples from {len(self.per_run)} runs "
                f"({share}); {self.duplicates} duplicate samples dropped; {self.failures} "
                f"failure records kept, {self.failures_dropped} of keys with a sample "
                "dropped")  # fmt: skip


def _runs(runs: Sequence[Run | PathLike]) -> list[Run]:
    if isinstance(runs, (str, os.PathLike, Run)):
        raise ConfigError("expected a list of run folders, not one", field="runs")
    out = [run if isinstance(run, Run) else Run(run) for run in runs]
    if not out:
        raise ConfigError("no run folder given", field="runs")
    return out


def check_same_identity(runs: Sequence[Run | PathLike], *, allow_new_source: bool = False) -> None:
    """Refuse runs that cannot be one run (see the module's note): one
    :class:`~kpit.errors.ConfigError` naming the first setting that differs and the two
    runs."""
    checked = _runs(runs)
    first = checked[0]
    base = first.manifest
    for run in checked[1:]:
        _check_pair(first, base, run, run.manifest, allow_new_source=allow_new_source)
    merged_shard([run.manifest.get("shard") for run in checked], [r.folder for r in checked])


def _identity(manifest: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key in IDENTITY_KEYS:
        default = RESUME_DEFAULTS.get(key)
        value = manifest.get(key, default)
        if isinstance(value, dict) and isinstance(default, Mapping):
            value = {**default, **value}
        out[key] = _plain(value)
    excluded = manifest.get("exclude_images") or RESUME_DEFAULTS["exclude_images"]
    out["exclude_images"] = excluded.get("ids", excluded.get("images", 0))
    return out


def _check_pair(a: Run, first: Mapping[str, Any], b: Run, other: Mapping[str, Any], *,
                allow_new_source: bool) -> None:  # fmt: skip
    mine, theirs = _identity(first), _identity(other)
    for key in (*IDENTITY_KEYS, "exclude_images"):
        found = _difference(key, mine[key], theirs[key])
        if found is not None:
            name, was, now = found
            raise ConfigError(f"runs of different identities: {name} is {was!r} in {a.folder} "
                              f"but {now!r} in {b.folder}; only runs made with the same "
                              "settings join into one", field=key)  # fmt: skip
    hashes, others = first.get("template_hashes") or {}, other.get("template_hashes") or {}
    for name in sorted(hashes.keys() & others.keys()):
        if hashes[name] != others[name]:
            raise ConfigError(f"runs of different identities: the template {name} differs "
                              f"between {a.folder} and {b.folder}; only runs made with the "
                              "same templates join into one", field="template_hashes")  # fmt: skip
    if not allow_new_source and first.get("source") != other.get("source"):
        raise ConfigError(f"runs of different sources: {a.folder} was made from "
                          f"{first.get('source')}, {b.folder} from {other.get('source')}; pass "
                          "allow_new_source=True (--allow-new-source) when they are the same "
                          "images in other places", field="source")  # fmt: skip


def _shares(value: Any, folder: Path) -> tuple[set[int], int] | None:
    """A manifest's shard as ``(shares, count)``; ``None`` for the whole run."""
    if value is None:
        return None
    text = str(value)
    indexes, _, count = text.partition("/")
    try:
        shards = [Shard.parse(f"{i}/{count}") for i in indexes.split(",")]
    except ConfigError:
        raise ConfigError(f"not a shard: {text!r}", file=folder / MANIFEST, field="shard") from None
    return {s.index for s in shards}, shards[0].count


def merged_shard(shards: Sequence[Any], folders: Sequence[Path]) -> str | None:
    """The shard of runs joined into one: ``None`` when one of them is whole or together
    they hold every share, else the shares they hold (``"1,3/4"``).

    Raises:
        ConfigError: runs split into different numbers of shares (naming two).
    """
    held: set[int] = set()
    count: int | None = None
    source: Path | None = None
    for shard, folder in zip(shards, folders, strict=True):
        found = _shares(shard, folder)
        if found is None:
            return None
        shares, n = found
        if count is not None and n != count:
            raise ConfigError(f"runs split into different numbers of shares: {source} is a "
                              f"share of {count}, {folder} of {n}; merge the shares of one "
                              "split", field="shard")  # fmt: skip
        count, source = n, folder
        held |= shares
    assert count is not None
    if len(held) == count:
        return None
    return f"{','.join(map(str, sorted(held)))}/{count}"


def _check_idle(run: Run) -> None:
    """Refuse a run that a ``kpit generate`` is writing now (its lock is held), without
    writing to it: the lock file is opened for reading only, if it is there at all."""
    import fcntl

    path = run.folder / LOCK
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return  # no lock file (or none to read): no writer that kpit knows of
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        raise ConfigError("this run is being written (a kpit generate holds its lock); merge "
                          "it once that finished", file=run.folder) from None  # fmt: skip
    finally:
        os.close(fd)


def _check_out(out: Path, runs: Sequence[Run]) -> None:
    """The output is no input (under any name), and a new or empty folder."""
    check_output(out, [run.folder for run in runs])
    if out.is_symlink():
        raise ConfigError("is a symbolic link; the merged run goes to a new or empty folder "
                          "(never through a link)", file=out, field="output")  # fmt: skip
    if out.exists():
        if not out.is_dir():
            raise ConfigError("is a file; the merged run goes to a new or empty folder",
                              file=out, field="output")  # fmt: skip
        if any(out.iterdir()):
            what = "a run" if (out / MANIFEST).exists() else "files"
            raise ConfigError(f"already holds {what}; the merged run goes to a new or empty "
                              "folder", file=out, field="output")  # fmt: skip


def merge_runs(
    runs: Sequence[Run | PathLike], out: PathLike, *, allow_new_source: bool = False
) -> MergeResult:
    """Join run folders of one identity into the new run folder ``out``.

    Args:
        runs: the run folders (or :class:`~kpit.pipeline.store.Run` objects), in order: of
            a sample stored in several, the first run's is kept.
        out: the merged run's folder: new, or an empty folder.
        allow_new_source: join runs made from the same images in different places (each
            machine's copy of COCO); the merged run records the first run's source.

    Returns:
        A :class:`MergeResult` with the merged :class:`~kpit.pipeline.store.Run` and its counts.

    Raises:
        ConfigError: the runs differ in identity or in their number of shares, one is being
            written, or ``out`` is one of them or holds anything.
        DataError: a run folder is not one, or cannot be read.
    """
    checked = _runs(runs)
    target = Path(out)
    _check_out(target, checked)
    for run in checked:
        _check_idle(run)
    check_same_identity(checked, allow_new_source=allow_new_source)
    manifests = [run.manifest for run in checked]
    _check_distinct(checked, manifests)
    result = MergeResult(target)
    keys: set[str] = set()
    with _staging(target) as staging:  # streamed: only the keys are held in memory
        write_jsonl(staging / SAMPLES, _unique_samples(checked, keys, result))
        write_jsonl(staging / FAILURES, _open_failures(checked, keys, result))
        manifest = _merged_manifest(checked, manifests, result)
        write_json(staging / MANIFEST, manifest, indent=2, sort_keys=True)
    result.shard = manifest["shard"]
    return result


def _session_ids(manifest: Mapping[str, Any]) -> set[str]:
    sessions = manifest.get("sessions") or [manifest.get("last_session") or {}]
    return {str(s["id"]) for s in sessions if isinstance(s, Mapping) and s.get("id")}


def _check_distinct(runs: Sequence[Run], manifests: Sequence[Mapping[str, Any]]) -> None:
    """Refuse a run given twice, or a merged run with one of its own sources: their
    sessions (and what they spent) would be counted twice."""
    owner: dict[str, Path] = {}
    for run, manifest in zip(runs, manifests, strict=True):
        for session in sorted(_session_ids(manifest)):
            if session in owner:
                raise ConfigError(f"{owner[session]} and {run.folder} hold the same session "
                                  f"{session} (one run given twice, or a merged run with one "
                                  "of its sources): its spending would count twice; give "
                                  "each run once", field="runs")  # fmt: skip
            owner[session] = run.folder


def _unique_samples(runs: Sequence[Run], keys: set[str],
                    result: MergeResult) -> Iterator[dict[str, Any]]:  # fmt: skip
    for run in runs:
        kept = duplicates = 0
        for sample in run.samples():
            if sample.id in keys:
                duplicates += 1
                continue
            keys.add(sample.id)
            kept += 1
            yield sample.to_dict()
        result.samples += kept
        result.duplicates += duplicates
        result.per_run.append({"run": str(run.folder.resolve()), "samples": kept,
                               "duplicates": duplicates})  # fmt: skip


def _open_failures(runs: Sequence[Run], keys: set[str],
                   result: MergeResult) -> Iterator[dict[str, Any]]:  # fmt: skip
    for run, counts in zip(runs, result.per_run, strict=True):
        kept = dropped = 0
        for record in run.failures():
            if record["key"] in keys:
                dropped += 1
                continue
            kept += 1
            yield record
        counts.update(failures=kept, failures_dropped=dropped)
        result.failures += kept
        result.failures_dropped += dropped


def _merged_manifest(runs: Sequence[Run], manifests: Sequence[dict[str, Any]],
                     result: MergeResult) -> dict[str, Any]:  # fmt: skip
    """The first run's manifest with every run's tasks, templates, sessions and totals."""
    manifest = copy.deepcopy(manifests[0])
    manifest.pop("last_session", None)
    sessions: list[dict[str, Any]] = []
    totals: dict[str, Any] = {}
    for run, old, counts in zip(runs, manifests, result.per_run, strict=True):
        recovered, spent = recover_sessions(run.store, old, SpendLedger(run.folder))
        sessions += [{"run": counts["run"], **session} for session in recovered]  # a merged
        # run's sessions keep the run they came from
        totals = add_totals(totals, spent)
        counts.update(shard=old.get("shard"), source=old.get("source"),
                      sessions=[s.get("id") for s in recovered], totals=spent)  # fmt: skip
    manifest["tasks"] = sorted({task for m in manifests for task in m.get("tasks") or ()})
    manifest["template_hashes"] = _union(m.get("template_hashes") for m in manifests)
    manifest["task_templates"] = _union(m.get("task_templates") for m in manifests)
    manifest["shard"] = merged_shard([m.get("shard") for m in manifests],
                                     [run.folder for run in runs])  # fmt: skip
    manifest["created"] = min((str(m["created"]) for m in manifests if m.get("created")),
                              default=time.strftime("%Y-%m-%dT%H:%M:%S%z"))  # fmt: skip
    manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    manifest["sessions"], manifest["totals"] = sessions, totals
    manifest["merged"] = {"at": manifest["updated"], "runs": result.per_run,
                          "samples": result.samples, "duplicates": result.duplicates,
                          "failures": result.failures,
                          "failures_dropped": result.failures_dropped}  # fmt: skip
    return manifest


def _union(dicts: Iterator[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for value in dicts:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if isinstance(item, Mapping) and isinstance(out.get(key), dict):
                    out[key] = out[key] | dict(item)
                else:
                    out.setdefault(key, copy.deepcopy(item))
    return out


@contextmanager
def _staging(out: Path) -> Iterator[Path]:
    """A new folder beside ``out`` to write the run in, renamed to ``out`` (new or empty)
    when the block ends well, removed otherwise."""
    parent = out.absolute().parent
    staging = parent / f".{out.name}.merging-{uuid.uuid4().hex[:12]}"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
    except OSError as exc:
        raise ConfigError(f"cannot write here: {exc.strerror}", file=out,
                          field="output") from None  # fmt: skip
    try:
        yield staging
        os.replace(staging, out)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise ConfigError("already holds files (written meanwhile); the merged run goes "
                              "to a new or empty folder", file=out,
                              field="output") from None  # fmt: skip
        raise ConfigError(f"cannot write here: {exc.strerror}", file=out,
                          field="output") from None  # fmt: skip
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
