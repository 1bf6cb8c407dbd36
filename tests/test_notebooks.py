"""The notebooks of ``examples/notebooks`` run top to bottom, and are committed stripped.

Each notebook is executed with ``nbclient`` on a kernel of this very Python (a kernelspec
written to a temporary folder on ``JUPYTER_PATH``, so no kernel installed by hand is used),
in a temporary folder laid out as ``examples/`` is: the notebook's folder beside ``data/``,
a copy of the bundled sample. Whatever the notebooks write lands there.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "examples" / "notebooks").glob("*.ipynb"))
KERNEL = "kpit-notebook-test"
CELL_TIMEOUT = 600  # seconds per cell; the whole notebook is bounded by the mark below


def test_the_three_journeys_are_there() -> None:
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    """Outputs are stripped in git: no outputs, no execution counts, no widget state."""
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {number} has outputs"
            assert cell.execution_count is None, f"{path.name}: cell {number} has a count"
        assert "execution" not in cell.metadata, f"{path.name}: cell {number} has timings"
    assert "widgets" not in notebook.metadata, f"{path.name}: widget state is saved"
    assert notebook.metadata.kernelspec.name == "python3"


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernelspec that runs ``sys.executable``, found first on ``JUPYTER_PATH``; and the
    interpreter's scripts (``kpit``) first on ``PATH``, as in an activated virtualenv."""
    from ipykernel.kernelspec import write_kernel_spec

    jupyter = tmp_path / "jupyter"
    write_kernel_spec(jupyter / "kernels" / KERNEL)
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter))
    scripts = Path(sys.executable).parent
    monkeypatch.setenv("PATH", f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}")
    return KERNEL


def _checked_shell_commands(notebook: nbformat.NotebookNode) -> None:
    """A failing ``!command`` only prints; make each such cell fail on a non-zero status."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and any(
            line.startswith("!") for line in cell.source.splitlines()
        ):
            cell.source += '\nassert _exit_code == 0, "the shell command failed"'


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, kernel: str) -> None:
    """Every cell runs without an error, and the pictures are shown inline."""
    shutil.copytree(REPO / "examples" / "data", tmp_path / "data")  # the repo stays untouched
    folder = tmp_path / "notebooks"
    folder.mkdir()
    notebook = nbformat.read(path, as_version=4)
    _checked_shell_commands(notebook)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name=kernel,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on the first error

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    warned = [o for o in outputs if "IProgress not found" in str(o.get("text", ""))]
    assert not warned, "tqdm's missing-ipywidgets warning shows"
    assert any("image/png" in o.get("data", {}) for o in outputs), "no picture shown"
    written = {p.relative_to(folder).parts[0] for p in folder.rglob("*")}
    assert written <= {"runs"}, f"written outside runs/: {sorted(written)}"
