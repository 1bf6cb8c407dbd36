"""The run store: append-only records, torn lines, and compatibility checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import kpit
from kpit.store import FAILURES, SAMPLES, Run, RunStore, read_records


def test_records_are_flushed_line_by_line(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.add_sample({"key": "a", "task": "detail"})
    # readable before close: a crash now loses nothing written
    assert [r["key"] for r in read_records(tmp_path / "run" / SAMPLES)] == ["a"]
    store.add_failure({"key": "b", "reason": "timeout"})
    store.close()
    assert store.done_keys() == {"a", "b"}
    assert store.done_keys(include_failures=False) == {"a"}


def test_a_torn_last_line_is_skipped_then_cut(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / SAMPLES).write_bytes(b'{"key": "a"}\n{"key": "b", "tur')
    assert [r["key"] for r in read_records(folder / SAMPLES)] == ["a"]
    with RunStore(folder) as store:
        store.add_sample({"key": "c"})
    lines = (folder / SAMPLES).read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "c"]


def test_a_bad_line_in_the_middle_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / FAILURES
    path.write_text('{"key": "a"}\nnot json\n{"key": "c"}\n')
    with pytest.raises(kpit.DataError) as info:
        list(read_records(path))
    assert (info.value.file, info.value.record) == (str(path), "line 2")
    path.write_text('{"nokey": 1}\n')
    with pytest.raises(kpit.DataError, match="key"):
        list(read_records(path))


def test_manifest_is_atomic_and_compatibility_is_checked(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.write_manifest({"seed": 0, "generator": {"name": "template"}})
    assert not list((tmp_path / "run").glob("*.tmp"))
    store.check_compatible({"seed": 0, "generator": {"name": "template"}}, ("seed", "generator"))
    with pytest.raises(kpit.ConfigError, match="seed=0") as info:
        store.check_compatible({"seed": 1}, ("seed",))
    assert info.value.field == "seed"


def test_run_requires_a_manifest(tmp_path: Path) -> None:
    with pytest.raises(kpit.DataError, match="not a kpit run folder"):
        Run(tmp_path)


def test_open_failures_drop_keys_that_later_succeeded(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.write_manifest({})
    store.add_failure({"key": "a", "task": "detail", "reason": "timeout"})
    store.add_failure({"key": "b", "task": "detail", "reason": "timeout"})
    store.add_failure({"key": "b", "task": "detail", "reason": "parse"})
    store.add_sample({"key": "a", "task": "detail"})
    store.close()
    assert [(f["key"], f["reason"]) for f in Run(tmp_path).open_failures()] == [("b", "parse")]
