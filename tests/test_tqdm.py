"""``import kpit`` in a Jupyter kernel without ipywidgets: plain bars, no IProgress warning."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("ipykernel")

# As a kernel looks to tqdm: ipykernel's shell loaded (tqdm.autonotebook checks for it).
KERNEL = "import ipykernel.zmqshell, IPython\n"
CHECK = "import tqdm.auto\nprint({c.__module__ for c in tqdm.auto.tqdm.__mro__})\n"


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True,
                          text=True, timeout=120, check=True)  # fmt: skip


def test_kpit_chooses_the_plain_bar_without_the_warning() -> None:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("ipywidgets is installed: tqdm.auto draws widgets, and never warns")
    bare = _run(KERNEL + CHECK)
    assert "IProgress not found" in bare.stderr  # what a notebook showed before
    assert "tqdm.std" in bare.stdout and "tqdm.notebook" not in bare.stdout
    quiet = _run(KERNEL + "import kpit\n" + CHECK)
    assert "IProgress not found" not in quiet.stderr, quiet.stderr
    assert "tqdm.std" in quiet.stdout and "tqdm.notebook" not in quiet.stdout  # plain text
