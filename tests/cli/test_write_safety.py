"""Writes never follow a link planted in their way (issue 23, item 12).

Before: ``RUN/.lock`` replaced by a symbolic link truncated the link's target when a run
took the lock, and ``OUT.tmp -> victim`` made ``kpit export`` overwrite the victim.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import kpit
from kpit.cli import cli
from kpit.jsonl import write_json
from kpit.pipeline.store import RunLock

VICTIM_TEXT = "precious data that no kpit command may touch\n"


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_text(VICTIM_TEXT)
    return path


@pytest.fixture
def run_folder(sample_root: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["generate", str(sample_root), "--limit", "1", "--tasks",
                                      "detail", "-o", str(out), "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_generate_refuses_a_lock_file_that_is_a_symlink(
    sample_root: Path, run_folder: Path, victim: Path
) -> None:
    (run_folder / ".lock").unlink()
    os.symlink(victim, run_folder / ".lock")
    args = ["generate", str(sample_root), "--limit", "2", "--tasks", "detail", "-o",
            str(run_folder), "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert "symbolic link" in result.stderr and ".lock" in result.stderr
    assert "Traceback" not in result.output
    assert victim.read_text() == VICTIM_TEXT


def test_a_lock_file_with_a_second_name_is_refused(tmp_path: Path, victim: Path) -> None:
    os.link(victim, tmp_path / ".lock")
    with pytest.raises(kpit.ConfigError, match="hard link"), RunLock(tmp_path):
        pass
    assert victim.read_text() == VICTIM_TEXT


def test_export_refuses_a_planted_temporary_symlink(run_folder: Path, tmp_path: Path,
                                                    victim: Path) -> None:  # fmt: skip
    out = tmp_path / "llava.json"
    os.symlink(victim, tmp_path / "llava.json.tmp")
    result = CliRunner().invoke(cli, ["export", str(run_folder), "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert "llava.json.tmp" in result.stderr and "symbolic link" in result.stderr
    assert "Traceback" not in result.output
    assert victim.read_text() == VICTIM_TEXT and not out.exists()


def test_a_temporary_file_left_by_a_killed_writer_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "x.json"
    (tmp_path / "x.json.tmp").write_text("half a file from a kill")
    write_json(out, {"a": 1})
    assert out.read_text() == '{"a": 1}\n'
    assert not (tmp_path / "x.json.tmp").exists()


def test_an_output_that_is_a_symlink_is_replaced_not_its_target(tmp_path: Path,
                                                                 victim: Path) -> None:  # fmt: skip
    out = tmp_path / "x.json"
    os.symlink(victim, out)
    write_json(out, {"a": 1})
    assert victim.read_text() == VICTIM_TEXT
    assert not out.is_symlink() and out.read_text() == '{"a": 1}\n'


def test_an_output_file_lock_sits_beside_the_file(tmp_path: Path) -> None:
    with RunLock.for_file(tmp_path / "answers.jsonl") as lock:
        assert lock.path == tmp_path / ".answers.jsonl.lock"
        with pytest.raises(kpit.ConfigError, match=f"kpit process {os.getpid()}"):
            RunLock.for_file(tmp_path / "answers.jsonl").acquire()
