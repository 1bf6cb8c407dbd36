"""Names in records are joined to their folder safely: none leaves it."""

from __future__ import annotations

from pathlib import Path

import pytest

import kpit
from kpit.paths import safe_join


@pytest.mark.parametrize(
    "name",
    ["../secret.jpg", "a/../../secret.jpg", "/etc/passwd", "C:\\Windows\\win.ini",
     "\\\\server\\share\\x.jpg", "a\\..\\..\\x.jpg", "", "x\x00.jpg"],
)  # fmt: skip
def test_safe_join_refuses_names_that_leave_the_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(kpit.DataError) as info:
        safe_join(tmp_path, name, file="q.jsonl", record="question 3")
    assert (info.value.file, info.value.record, info.value.field) == ("q.jsonl", "question 3",
                                                                     "image")  # fmt: skip
    assert safe_join(tmp_path, "sub/a..b.jpg") == tmp_path / "sub" / "a..b.jpg"


def test_check_output_refuses_an_input_under_any_name(tmp_path: Path) -> None:
    import os

    from kpit.errors import ConfigError
    from kpit.paths import check_output

    source = tmp_path / "answers.jsonl"
    source.write_text("{}\n")
    os.link(source, tmp_path / "hard.jsonl")
    os.symlink(source, tmp_path / "soft.jsonl")
    (tmp_path / "bench").mkdir()
    for same in (source, tmp_path / "hard.jsonl", tmp_path / "soft.jsonl",
                 tmp_path / "bench" / ".." / "answers.jsonl",
                 tmp_path / "bench" / "questions.jsonl"):  # fmt: skip
        with pytest.raises(ConfigError, match=r"--output .* would write over an input"):
            check_output(same, [source, tmp_path / "bench"], option="--output")
    assert check_output(tmp_path / "new.jsonl", [source, None]) == tmp_path / "new.jsonl"
