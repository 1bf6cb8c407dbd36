"""The export of a task name with a typo is an error, not an empty file.

Each test here failed before its fix: what a hostile or careless input did then is said in
the test's docstring.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import kpit
from kpit.cli import cli


def test_export_of_an_unknown_task_is_an_error(sample_root: Path, tmp_path: Path) -> None:
    """Before: ``--tasks convo`` exported 0 records and exited 0."""
    run = tmp_path / "run"
    kpit.generate(kpit.load_coco(sample_root, limit=1), "conversation", out=run, progress=False)
    result = CliRunner().invoke(cli, ["export", str(run), "--tasks", "convo", "-o",
                                      str(tmp_path / "x.json")])  # fmt: skip
    assert result.exit_code == 1
    assert "no task 'convo'" in result.stderr and "'conversation'" in result.stderr
    with pytest.raises(kpit.ConfigError, match="no task 'detail'"):
        kpit.export_llava(run, tmp_path / "y.json", tasks=["detail"])  # not in this run
    assert kpit.export_llava(run, tmp_path / "z.json", tasks="conversation") == 1
