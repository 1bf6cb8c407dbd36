"""A command imports what it needs when it needs it: ``openai`` only to call a server.

Importing ``openai`` takes about half a second (its typed models); every ``kpit`` command
registers the backends, so their modules must not import it when they load.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

_IMPORTS = """
import sys
from click.testing import CliRunner
from kpit.cli import cli
result = CliRunner().invoke(cli, {args!r})
assert result.exit_code == 0, result.output
print(sorted(m for m in ("openai", "httpx2", "httpx", "torch", "transformers")
             if m in sys.modules))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["generate", "--help"],
        ["generate", "{sample}", "--generator", "template", "-o", "{out}", "--limit", "1"],
        ["plugins"],
    ],
    ids=["help", "generate-help", "template", "plugins"],
)
def test_commands_that_do_not_call_a_server_do_not_import_openai(
    args: list[str], sample_root: Path, tmp_path: Path
) -> None:
    args = [a.format(sample=sample_root, out=tmp_path / "run") for a in args]
    done = subprocess.run([sys.executable, "-c", _IMPORTS.format(args=args)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_the_openai_backend_imports_it_when_it_makes_its_client() -> None:
    code = ("import sys\nfrom kpit.generators.openai import OpenAIGenerator\n"
            "backend = OpenAIGenerator('gpt-4o', api_key='k')\nbefore = 'openai' in sys.modules\n"
            "backend.client\nprint(before, 'openai' in sys.modules)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert done.stdout.split() == ["False", "True"]
