"""Public names are documented, and the examples run as written."""

from __future__ import annotations

import importlib
import inspect
import re
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


API_MD = (REPO / "docs" / "api.md").read_text()
PUBLIC_MODULES = (
    "kpit.bench",
    "kpit.claims",
    "kpit.errors",
    "kpit.generators.openai",
    "kpit.judges",
    "kpit.judges.pose",
    "kpit.leaks",
    "kpit.llava_format",
    "kpit.options",
    "kpit.paper_recipe",
    "kpit.recipes",
    "kpit.replies",
    "kpit.testing",
    "kpit.train",
)


@pytest.mark.parametrize(
    ("module", "name"),
    [(m, n) for m in PUBLIC_MODULES for n in importlib.import_module(m).__all__],
)
def test_public_module_names_are_in_the_reference(module: str, name: str) -> None:
    obj = getattr(importlib.import_module(module), name)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        assert inspect.getdoc(obj), f"{module}.{name} has no docstring"
    assert f"`{name}" in API_MD or f"{module}.{name}" in API_MD, f"{module}.{name} undocumented"


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(dotted)


@pytest.mark.parametrize("dotted", sorted(set(re.findall(r"`(kpit(?:\.\w+)+)", API_MD))))
def test_every_dotted_name_in_the_reference_exists(dotted: str) -> None:
    """The reference names nothing that was moved, renamed or removed."""
    _resolve(dotted)


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
