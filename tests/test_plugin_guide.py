"""docs/plugins.md runs as written: its package is built from the page's code blocks,
installed with pip (no network) and used through the command line, command by command."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import kpit
from kpit import plugins
from kpit.cli import cli

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "plugins.md"
PACKAGE = "kpit-my-plugin"

_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
_PATH = re.compile(r"^(?:# |\{# )(?P<path>[\w./-]+\.(?:toml|py|j2))(?: #\})?\n")


def blocks() -> list[tuple[str, str]]:
    """Every fenced code block of the guide: ``(language, text)``."""
    return [(m.group(1), m.group(2)) for m in _BLOCK.finditer(GUIDE.read_text())]


def test_every_block_is_a_file_a_command_or_an_output() -> None:
    """Nothing in the guide escapes the run below: each block is a file of the package
    (its first line names it), commands, or text the page shows."""
    for language, text in blocks():
        assert language in ("toml", "python", "jinja", "bash", "text"), (language, text[:80])
        if language in ("toml", "python", "jinja"):
            assert _PATH.match(text), f"a {language} block names no file: {text[:80]!r}"


def _commands(text: str) -> list[list[str]]:
    joined = text.replace("\\\n", " ")
    lines = [line.split("  #")[0].strip() for line in joined.splitlines()]
    return [shlex.split(line) for line in lines if line and not line.startswith("#")]


def _run(args: list[str], cwd: Path, site: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
                   "NO_COLOR": "1"}  # fmt: skip
    environment.pop("KPIT_LOAD_PLUGINS", None)
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=environment,
                          check=False, timeout=600)  # fmt: skip  # the timeout: only a hang


def _pip_install(folder: Path, site: Path) -> list[str]:
    """pip as the guide's ``pip install ./folder``, offline: no index, no build isolation."""
    return [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
            "--no-build-isolation", "--target", str(site), str(folder)]  # fmt: skip


def _run_blocks(found: list[tuple[str, str]], work: Path, site: Path) -> list[str]:
    """Run every command of the ``bash`` blocks in ``work``, in order; their outputs."""
    outputs: list[str] = []
    for language, text in found:
        if language != "bash":
            continue
        for args in _commands(text):
            if args[:2] == ["pip", "install"]:
                args = _pip_install(work / args[-1], site)  # ./folder, or -e folder
            elif args[0] == "kpit":
                args = [sys.executable, "-m", "kpit", *args[1:]]
            elif args[0] == "python":
                args = [sys.executable, *args[1:]]
            done = _run(args, work, site)
            assert done.returncode == 0, f"{shlex.join(args)}:\n{done.stdout}\n{done.stderr}"
            assert "Traceback" not in done.stderr, done.stderr
            outputs.append(done.stdout)
    return outputs


@pytest.mark.slow
def test_the_example_plugin_s_readme_runs_as_written(tmp_path: Path) -> None:
    work, site = tmp_path / "work", tmp_path / "site"
    (work / "examples").mkdir(parents=True)
    (work / "examples" / "data").symlink_to(REPO / "examples" / "data")
    example = REPO / "examples" / "kpit-plugin-example"  # copied: pip builds in the tree
    shutil.copytree(example, work / "examples" / example.name,
                    ignore=shutil.ignore_patterns("build", "*.egg-info"))  # fmt: skip
    readme = REPO / "examples" / "kpit-plugin-example" / "README.md"
    found = [(m.group(1), m.group(2)) for m in _BLOCK.finditer(readme.read_text())]
    assert [language for language, _ in found] == ["bash"]
    outputs = _run_blocks(found, work, site)
    assert "caption-baseline (kpit-caption-baseline 0.1.0)" in outputs[1]
    assert outputs[-1].startswith("| model | answers | sentences | words |")
    assert (work / "runs" / "captions" / "samples.jsonl").is_file()


@pytest.mark.slow
def test_the_guide_builds_installs_and_runs_its_plugin(tmp_path: Path) -> None:
    work, site = tmp_path / "work", tmp_path / "site"
    work.mkdir()
    (work / "examples").symlink_to(REPO / "examples")  # "from a kpit checkout"
    written = set()
    for language, text in blocks():
        found = _PATH.match(text)
        if language in ("toml", "python", "jinja") and found:
            path = work / PACKAGE / found.group("path")
            assert path not in written, f"{path} is written twice"
            written.add(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text[found.end() :] if language == "jinja" else text)
    outputs = _run_blocks(blocks(), work, site)
    listed = next(out for out in outputs if out.startswith("plugins:"))
    assert "my-plugin (kpit-my-plugin 0.1.0)" in listed
    shown = next(text for language, text in blocks() if language == "text"
                 and text.startswith("generators:"))  # fmt: skip
    for line in shown.splitlines()[1:]:
        assert line in listed.splitlines(), f"not in `kpit plugins`: {line!r}"
    for name, can in (("overlap", "pairwise"), ("length", "single-answer"),
                      ("activity", "prompts: conversation/"), ("brief", "version 1")):  # fmt: skip
        row = next(line for line in listed.splitlines() if line.startswith(f"  {name} "))
        assert "kpit-my-plugin" in row and can in row, row
    samples = [json.loads(line) for line in
               (work / "runs" / "captions" / "samples.jsonl").read_text().splitlines()]  # fmt: skip
    assert sorted(s["task"] for s in samples) == ["activity"] * 4 + ["detail"] * 4
    manifest = json.loads((work / "runs" / "brief" / "manifest.json").read_text())
    assert manifest["recipe"] == "brief"  # and its own system message, as package data:
    assert any(key.endswith("kpit_my_plugin/prompts/complex/system.j2")
               for key in manifest["template_hashes"])  # fmt: skip
    report = next(out for out in outputs if "## Judge reviews of kind 'length'" in out)
    assert "| references | 12 |" in report and "judge overlap/word-overlap-1" in report, report
    show = next(out for out in outputs if out.startswith("question 0 ("))
    assert "judge length: words " in show
    tested = next(out for out in outputs if " passed" in out)
    assert "1 passed" in tested


class PlainText(kpit.Generator):
    """Replies with plain text to every task: what the guide warns about."""

    name = "plain-text-test"

    async def complete(self, request: kpit.ChatRequest) -> kpit.Reply:
        ctx = request.meta["context"]  # each image's own captions: no two replies alike
        return kpit.Reply(request.key, text=" ".join(ctx.captions) + " " + " ".join(ctx.captions))


class PlainTextPlugin:
    @kpit.hookimpl
    def kpit_register_generators(self, register):  # type: ignore[no-untyped-def]
        register(PlainText)


def test_plain_text_where_a_task_parses_pairs_fails_those_requests_as_the_guide_says(
    tmp_path: Path,
) -> None:
    """The guide's "The reply each task parses": conversation and complex replies that hold
    no question fail, the run goes on and exits 0; a run where every request fails exits 3."""
    plugins.get_plugin_manager().register(PlainTextPlugin(), name="plain-text-test")
    sample = REPO / "examples" / "data" / "coco-sample"
    run = tmp_path / "run"
    args = ["generate", str(sample), "--tasks", "all", "--generator", "plain-text-test"]
    result = CliRunner().invoke(cli, [*args, "-o", str(run), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"run {run}: 4 new samples, 8 failures, 0 skipped" in result.output
    reasons = sorted({"{reason}: {detail}".format(**json.loads(line)) for line in
                      (run / "failures.jsonl").read_text().splitlines()})  # fmt: skip
    assert reasons == ["parse: no question and answer found in the reply",
                       "parse: no question/answer pairs found in the reply"]  # fmt: skip
    guide = " ".join(GUIDE.read_text().split())
    for reason in reasons:
        assert f"`{reason}`" in guide
    assert "its exit status is 3 only when every request it sent failed" in guide
    every = CliRunner().invoke(cli, ["generate", str(sample), "--tasks", "conversation",
                                     "--generator", "plain-text-test", "-o",
                                     str(tmp_path / "every"), "--no-progress"])  # fmt: skip
    assert every.exit_code == 3, every.output
