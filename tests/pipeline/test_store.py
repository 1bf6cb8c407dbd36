"""The run store: append-only records, torn lines, and compatibility checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import kpit
from kpit.pipeline.store import FAILURES, SAMPLES, Run, RunStore, read_records, read_samples


def _sample(key: str, task: str = "detail") -> kpit.Sample:
    return kpit.Sample(key, "x.jpg", task, (kpit.Turn("human", "q?"), kpit.Turn("gpt", "a.")))


def test_records_are_flushed_line_by_line(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.add_sample(_sample("a"))
    # readable before close: a crash now loses nothing written
    assert [s.id for s in read_samples(tmp_path / "run" / SAMPLES)] == ["a"]
    store.add_failure({"key": "b", "reason": "timeout"})
    store.close()
    assert [r["key"] for r in store.failures()] == ["b"]


def test_samples_are_stored_as_sample_dicts_and_read_back(tmp_path: Path) -> None:
    sample = kpit.Sample("detail/1/0", "x.jpg", "detail", (kpit.Turn("human", "q?"),
                         kpit.Turn("gpt", "a.")), {"image_id": 1, "model": "m"})  # fmt: skip
    with RunStore(tmp_path) as store:
        store.add_sample(sample)
    line = json.loads((tmp_path / SAMPLES).read_text())
    assert set(line) == {"id", "image", "task", "turns", "meta"}
    (back,) = RunStore(tmp_path).samples()
    assert back.meta.pop("created") > 0  # type: ignore[attr-defined]
    assert back == sample


def test_samples_written_by_kpit_0_1_still_read(tmp_path: Path) -> None:
    flat = {"key": "detail/785/0", "task": "detail", "image_id": 785, "image": "785.jpg",
            "turns": [{"role": "human", "text": "q?"}, {"role": "gpt", "text": "a."}],
            "model": "gpt-4o", "usage": {"prompt_tokens": 3}, "created": 1.0}  # fmt: skip
    (tmp_path / SAMPLES).write_text(json.dumps(flat) + "\n")
    (sample,) = read_samples(tmp_path / SAMPLES)
    assert (sample.id, sample.image, sample.task) == ("detail/785/0", "785.jpg", "detail")
    assert sample.turns[1] == kpit.Turn("gpt", "a.")
    assert sample.meta == {"image_id": 785, "model": "gpt-4o", "usage": {"prompt_tokens": 3},
                           "created": 1.0}  # fmt: skip


def test_a_sample_line_missing_a_field_names_the_line(tmp_path: Path) -> None:
    (tmp_path / SAMPLES).write_text('{"id": "a", "image": "x.jpg", "task": "detail"}\n')
    with pytest.raises(kpit.DataError, match="turns") as info:
        list(read_samples(tmp_path / SAMPLES))
    assert info.value.record == "line 1"


def test_a_torn_last_line_is_skipped_then_cut(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / SAMPLES).write_bytes(b'{"key": "a"}\n{"key": "b", "tur')
    assert [r["key"] for r in read_records(folder / SAMPLES)] == ["a"]
    with RunStore(folder) as store:
        store.add_sample(_sample("c"))
    lines = (folder / SAMPLES).read_text().splitlines()
    assert [json.loads(line).get("id", json.loads(line).get("key")) for line in lines] == ["a", "c"]


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
    store.add_sample(_sample("a"))
    store.close()
    assert [(f["key"], f["reason"]) for f in Run(tmp_path).open_failures()] == [("b", "parse")]
