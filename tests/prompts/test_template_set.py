"""A resume compares the set of templates each render resolved, by the name the renderer
asked for, with their hashes: an override added to or removed from ``--template-dir``, and a
template present in one session but not the other, are changes; runs whose manifests named
overrides by their absolute paths still resume."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import kpit
from kpit.cli import cli
from kpit.prompts.environment import PACKAGE_TEMPLATES

RULES = "common/rules.j2"


def _generate(sample_root: Path, out: Path, templates: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["generate", str(sample_root), "--tasks", "complex",
                                    "--template-dir", str(templates), "-o", str(out),
                                    "--no-progress", *args])  # fmt: skip


def _refused(result: Result) -> str:
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    assert "templates changed since this run began" in line
    return line


def _override(templates: Path, name: str, text: str) -> Path:
    path = templates / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_an_override_added_on_resume_is_a_change(sample_root: Path, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    out = tmp_path / "run"
    assert _generate(sample_root, out, templates, "--limit", "1").exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    packaged = manifest["template_hashes"][RULES]
    _override(templates, RULES, "Be brief.\n")
    assert RULES in _refused(_generate(sample_root, out, templates))
    assert not (out / "samples.jsonl").read_text().count("\n") > 1  # nothing more was stored
    # An override with the packaged file's text renders the same prompts: it resumes.
    _override(templates, RULES, (PACKAGE_TEMPLATES / RULES).read_text())
    resumed = _generate(sample_root, out, templates, "--limit", "2")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "manifest.json").read_text())["template_hashes"][RULES] == packaged


def test_an_override_removed_on_resume_is_a_change(sample_root: Path, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    rules = _override(templates, RULES, "Be brief.\n")
    out = tmp_path / "run"
    assert _generate(sample_root, out, templates, "--limit", "1").exit_code == 0
    hashes = json.loads((out / "manifest.json").read_text())["template_hashes"]
    assert RULES in hashes  # the override, under the name the renderer asked for
    assert not any(name.startswith("/") for name in hashes)
    rules.unlink()
    assert RULES in _refused(_generate(sample_root, out, templates))


def test_a_template_read_in_one_session_only_is_a_change(sample_root: Path, tmp_path: Path) -> None:
    """An override that includes an optional file: the file added later is a new template
    in the set, though every template both sessions read is the same."""
    templates = tmp_path / "templates"
    system = (PACKAGE_TEMPLATES / "complex" / "system.j2").read_text()
    _override(templates, "complex/system.j2",
              system + '\n{% include "local/notes.j2" ignore missing %}')  # fmt: skip
    out = tmp_path / "run"
    assert _generate(sample_root, out, templates, "--limit", "1").exit_code == 0
    _override(templates, "local/notes.j2", "Mention the weather.")
    line = _refused(_generate(sample_root, out, templates))
    assert "local/notes.j2 (new)" in line


def test_a_run_that_named_its_overrides_by_path_still_resumes(
    sample_root: Path, tmp_path: Path
) -> None:
    """Manifests written before templates were named by what the renderer asked for: an
    override under its absolute path, no per-task sets."""
    templates = tmp_path / "templates"
    rules = _override(templates, RULES, "Be brief.\n")
    out = tmp_path / "run"
    assert _generate(sample_root, out, templates, "--limit", "1").exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["task_templates"]
    manifest["template_hashes"][str(rules.resolve())] = manifest["template_hashes"].pop(RULES)
    (out / "manifest.json").write_text(json.dumps(manifest))
    resumed = _generate(sample_root, out, templates, "--limit", "2")
    assert resumed.exit_code == 0, resumed.output
    (out / "manifest.json").write_text(json.dumps(manifest))
    rules.unlink()
    assert RULES in _refused(_generate(sample_root, out, templates))


def test_a_recipe_file_and_its_override_share_a_name(sample_root: Path, tmp_path: Path) -> None:
    from kpit.prompts.environment import template_key

    templates = tmp_path / "templates"
    templates.mkdir()
    person = "paper/complex/person.j2"
    assert template_key("complex/person.j2", [PACKAGE_TEMPLATES / "paper"]) == person
    out = tmp_path / "run"
    first = _generate(sample_root, out, templates, "--limit", "1", "--recipe", "paper")
    assert first.exit_code == 0, first.output
    _override(templates, "complex/person.j2", (PACKAGE_TEMPLATES / person).read_text() + "!")
    line = _refused(_generate(sample_root, out, templates, "--recipe", "paper"))
    assert person in line and "(new)" not in line


def test_adding_a_task_is_no_change(sample_root: Path, tmp_path: Path) -> None:
    contexts = kpit.load_coco(sample_root, limit=1)
    out = tmp_path / "run"
    kpit.generate(contexts, "detail", out=out, progress=False)
    run = kpit.generate(contexts, "detail,complex", out=out, progress=False)
    assert isinstance(run, kpit.Run)
    assert set(run.manifest["task_templates"]) == {"detail", "complex"}
    run = kpit.generate(contexts, "complex", out=out, progress=False)  # fewer tasks: fine
    assert isinstance(run, kpit.Run)
    assert set(run.manifest["task_templates"]) == {"detail", "complex"}  # the other task's kept
    with pytest.raises(kpit.ConfigError, match="no such folder"):
        kpit.generate(contexts, "detail", out=out, template_dir=tmp_path / "missing")


def test_a_packaged_template_only_some_images_need_is_no_change(
    sample_root: Path, tmp_path: Path
) -> None:
    """A render that reads a file kpit ships for some images only: a session whose first
    image does not need it resolves a smaller set, and that is no change."""
    import dataclasses

    templates = tmp_path / "templates"
    user = (PACKAGE_TEMPLATES / "complex" / "user.j2").read_text()
    _override(templates, "complex/user.j2",
              user + '{% if "MARKER" in context %}{% include "detail/instructions.json" %}'
              "{% endif %}")  # fmt: skip
    first, second = list(kpit.load_coco(sample_root, limit=2))
    marked = dataclasses.replace(second, captions=("MARKER on the slope.",))
    out = tmp_path / "run"
    run = kpit.generate([first], "complex", out=out, template_dir=templates, progress=False)
    assert isinstance(run, kpit.Run)
    assert "detail/instructions.json" not in run.manifest["task_templates"]["complex"]
    run = kpit.generate([marked, first], "complex", out=out, template_dir=templates,
                        progress=False)  # fmt: skip
    assert isinstance(run, kpit.Run) and run.manifest["last_session"]["samples"] == 1
    assert "detail/instructions.json" in run.manifest["task_templates"]["complex"]


def test_an_edited_override_is_what_the_next_call_sends(sample_root: Path, tmp_path: Path) -> None:
    """In one process (a notebook), a template or an example file edited between two calls
    is read again: the prompts are made from the files the manifest hashes."""
    templates = tmp_path / "templates"
    examples = json.loads((PACKAGE_TEMPLATES / "complex" / "fewshot.json").read_text())
    contexts = kpit.load_coco(sample_root, limit=1)

    def sent() -> str:
        plan = kpit.plan_run(contexts, "complex", out=tmp_path / "run", template_dir=templates)
        return "\n".join(m.content for m in plan.examples[0].messages)

    _override(templates, "complex/fewshot.json", json.dumps(examples))
    _override(templates, RULES, "Be brief.\n")
    assert "Be brief." in sent()
    examples["examples"][0]["answer"] = "An EDITED answer."
    edited = [_override(templates, "complex/fewshot.json", json.dumps(examples)),
              _override(templates, RULES, "Be very brief.\n")]  # fmt: skip
    for path in edited:  # a second later, on a disk that keeps whole seconds only
        when = path.stat().st_mtime_ns + 10**9
        os.utime(path, ns=(when, when))
    text = sent()
    assert "An EDITED answer." in text and "Be very brief." in text
