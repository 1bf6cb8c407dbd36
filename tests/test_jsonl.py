"""The one JSON-lines reader and the one atomic writer."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kpit
from kpit.jsonl import atomic_writer, read_jsonl, write_json, write_jsonl

# Derandomized and without an example database: the same examples on every run, no flakes.
PROPERTY = settings(derandomize=True, database=None, max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip

JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
RECORD = st.dictionaries(st.text(), JSON_VALUE, max_size=5)


@PROPERTY
@given(st.lists(RECORD, max_size=8), st.booleans())
def test_records_written_read_back_equal(
    tmp_path: Path, records: list[dict[str, Any]], ascii_only: bool
) -> None:
    path = tmp_path / "records.jsonl"
    assert write_jsonl(path, records, ensure_ascii=ascii_only) == len(records)
    assert [record for _, record in read_jsonl(path)] == records
    assert [n for n, _ in read_jsonl(path)] == list(range(1, len(records) + 1))


@PROPERTY
@given(st.lists(RECORD, min_size=1, max_size=6), st.data())
def test_a_bad_line_names_the_file_and_its_number(
    tmp_path: Path, records: list[dict[str, Any]], data: st.DataObject
) -> None:
    bad = data.draw(st.integers(0, len(records)))
    lines = [json.dumps(r) for r in records]
    lines.insert(bad, data.draw(st.sampled_from(["not json", "[1, 2]", '{"a": ', "7"])))
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(kpit.DataError) as info:
        list(read_jsonl(path))
    assert (info.value.file, info.value.record) == (str(path), f"line {bad + 1}")
    assert info.value.message.startswith(("invalid JSON: ", "not a JSON object"))


def test_blank_lines_are_skipped_and_numbers_are_the_file_s(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'\n{"a": 1}\r\n  \n{"b": "\xe2\x80\xa8"}\n')  # a raw U+2028 inside a string
    assert list(read_jsonl(path)) == [(2, {"a": 1}), (4, {"b": "\u2028"})]


def test_json_s_leniency_and_exact_integers_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_text('{"score": NaN}\n{"id": 123456789012345678901234567890}\n{"s": "\\ud800"}\n')
    (_, nan), (_, big), (_, lone) = read_jsonl(path)
    assert nan["score"] != nan["score"]
    assert big["id"] == 123456789012345678901234567890
    assert lone["s"] == "\ud800"


def test_a_line_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "\xe9"}\n')
    with pytest.raises(kpit.DataError, match="invalid JSON: not UTF-8") as info:
        list(read_jsonl(path))
    assert info.value.record == "line 2"


def test_a_missing_file_is_an_error_unless_allowed(tmp_path: Path) -> None:
    with pytest.raises(kpit.DataError, match="cannot read: No such file") as info:
        list(read_jsonl(tmp_path / "missing.jsonl"))
    assert info.value.file == str(tmp_path / "missing.jsonl")
    assert list(read_jsonl(tmp_path / "missing.jsonl", missing_ok=True)) == []


def test_a_torn_last_line_is_skipped_only_when_allowed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2, "tur')
    with pytest.raises(kpit.DataError) as info:
        list(read_jsonl(path))
    assert info.value.record == "line 2"
    with caplog.at_level(logging.WARNING, logger="kpit.jsonl"):
        assert list(read_jsonl(path, torn_tail_ok=True)) == [(1, {"a": 1})]
    assert "torn last line" in caplog.text
    path.write_bytes(b'{"a": 1}\n{"b": 2, "tur\n')  # ended by its newline: not torn, but bad
    with pytest.raises(kpit.DataError):
        list(read_jsonl(path, torn_tail_ok=True))


class _Unserialisable:
    """Not JSON: :func:`json.dumps` fails on it."""


def test_a_failing_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    write_jsonl(path, [{"n": 1}, {"n": 2}])
    before = path.read_bytes()
    records: list[dict[str, Any]] = [{"n": 3}, {"n": 4}, {"n": _Unserialisable()}]  # line 3 fails
    with pytest.raises(TypeError):
        write_jsonl(path, records)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.jsonl"]

    def broken() -> Any:
        yield {"n": 5}
        raise RuntimeError("the source failed midway")

    with pytest.raises(RuntimeError, match="midway"):
        write_jsonl(path, broken())
    assert path.read_bytes() == before
    with pytest.raises(TypeError):
        write_json(path, {"n": _Unserialisable()})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.jsonl"]


def test_the_writers_make_the_folder_and_replace_the_file(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "data.json"
    write_json(path, {"é": [1, 2]}, indent=1, ensure_ascii=False)
    assert path.read_text(encoding="utf-8") == '{\n "é": [\n  1,\n  2\n ]\n}\n'
    write_json(path, [])
    assert json.loads(path.read_text()) == []
    with atomic_writer(path) as f:
        f.write("text")
        assert path.read_text() == "[]\n"  # the old file until the block ends
    assert path.read_text() == "text"


def test_non_ascii_is_written_as_utf8_unless_escaped(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    write_jsonl(path, [{"t": "café"}])
    assert path.read_bytes() == '{"t": "café"}\n'.encode()
    write_jsonl(path, [{"t": "café"}], ensure_ascii=True)
    assert path.read_bytes() == b'{"t": "caf\\u00e9"}\n'
