"""Public names are documented, and the examples run as written."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import kpit

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.py"))


@pytest.mark.parametrize("name", [n for n in kpit.__all__ if n != "__version__"])
def test_public_name_has_docstring_and_reference_entry(name: str) -> None:
    obj = getattr(kpit, name)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        assert inspect.getdoc(obj), f"{name} has no docstring"
    assert f"`{name}" in (REPO / "docs" / "api.md").read_text(), f"{name} is not in docs/api.md"


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
