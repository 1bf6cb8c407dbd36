"""Options of ``kpit generate`` that can never work are refused before the first request,
with one line naming the option or the path: an output that cannot be a run folder, a task
the backend cannot write, a ``template_dir`` that does not exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import kpit
from kpit import plugins
from kpit.cli import cli
from kpit.prompts.tasks import ConversationTask

from ..helpers.openai_server import FakeOpenAI

KEY = "sk-test-SECRET-0123456789"


def _generate(sample_root: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["generate", str(sample_root), "--no-progress", *args])


def _openai(server: FakeOpenAI) -> list[str]:
    return ["--generator", "openai", "--model", "gpt-4o", "--base-url", server.base_url,
            "-O", f"api_key={KEY}"]  # fmt: skip


def _one_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    (line,) = result.output.strip().splitlines()
    return line


class ActivityTask(ConversationTask):
    """The example plugin's task: one question about the main activity."""

    name = "activity"
    template_folder = "conversation"
    min_pairs = max_pairs = 1

    def parse(self, reply: str, request: kpit.ChatRequest) -> tuple[kpit.Turn, ...]:
        return super().parse(reply, request)[:2]


class ActivityPlugin:
    @kpit.hookimpl
    def kpit_register_tasks(self, register: Any) -> None:
        register(ActivityTask)


@pytest.fixture
def activity() -> None:
    """The ``activity`` task registered (the conftest guard unregisters it)."""
    plugins.get_plugin_manager().register(ActivityPlugin(), name="activity-test")


def test_an_output_under_a_file_is_refused_before_any_request(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a folder")
    out = blocker / "run"
    line = _one_line(_generate(sample_root, *_openai(server), "-o", str(out)))
    assert line.startswith(f"Error: {out}: field 'out': ") and f"{blocker} is a file" in line
    assert ".lock" not in line
    # A folder the system will not make (Linux's /proc, whoever runs the test):
    line = _one_line(_generate(sample_root, *_openai(server), "-o", "/proc/kpit-run"))
    assert line.startswith("Error: /proc/kpit-run: field 'out': cannot make the run folder")
    assert server.counts["chat"] == 0


def test_generate_into_an_existing_file_names_it(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    out = tmp_path / "run.json"
    out.write_text("{}")
    options = {"base_url": server.base_url, "api_key": KEY}
    for dry_run in (False, True):
        with pytest.raises(kpit.ConfigError, match="a file, not a folder") as info:
            kpit.generate(kpit.load_coco(sample_root), "detail", "openai", "gpt-4o", out=out,
                          generator_options=options, progress=False, dry_run=dry_run)  # fmt: skip
        assert (info.value.file, info.value.field) == (str(out), "out")
        assert "\n" not in str(info.value)
    assert server.counts["chat"] == 0 and out.read_text() == "{}"


def test_a_task_the_backend_cannot_write_is_refused_before_anything_is_done(
    activity: None, sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    line = _one_line(_generate(sample_root, "--tasks", "detail,activity", "-o", str(out)))
    assert "field 'tasks'" in line and "the 'template' generator cannot write 'activity'" in line
    assert "conversation, detail, complex" in line
    assert not out.exists()  # no run folder, no failure recorded per request
    # A model backend writes it: one question about each image.
    done = _generate(sample_root, *_openai(server), "--tasks", "activity", "-o", str(out))
    assert done.exit_code == 0, done.output
    assert server.counts["chat"] == 4
    samples = list(kpit.Run(out).samples())
    assert len(samples) == 4 and all(len(s.turns) == 2 for s in samples)


def test_a_template_dir_that_does_not_exist_is_refused(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    options = {"base_url": server.base_url, "api_key": KEY}
    contexts = kpit.load_coco(sample_root)
    missing = tmp_path / "my-templates"
    with pytest.raises(kpit.ConfigError, match="no such folder") as info:
        kpit.generate(contexts, "detail", "openai", "gpt-4o", out=tmp_path / "run",
                      template_dir=missing, generator_options=options)  # fmt: skip
    assert (info.value.file, info.value.field) == (str(missing), "template_dir")
    missing.write_text("a file")
    with pytest.raises(kpit.ConfigError, match="not a folder"):
        kpit.generate(contexts, "detail", "openai", "gpt-4o", out=tmp_path / "run",
                      template_dir=missing, generator_options=options)  # fmt: skip
    assert server.counts["chat"] == 0 and not (tmp_path / "run").exists()
