"""Nothing a user pays for is lost, doubled or mixed: one writer per run folder, duplicates
read once, budgets per run, orphaned folders refused, clear errors before paying, exit codes,
SIGTERM like Ctrl-C."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import kpit
from kpit.cli import cli
from kpit.layouts import COCO_17
from kpit.pipeline import SAME_RENDER
from kpit.pipeline.store import SAMPLES, RunStore, read_samples
from kpit.prompts.environment import template_environment

from ..helpers.openai_server import FakeOpenAI
from ..helpers.slow_run import SCRIPT as SLOW_RUN
from ..helpers.waiting import HANG, count_lines, wait_for_exit, wait_for_lines

HERE = Path(__file__).resolve().parents[1]
KEY = "sk-test-SECRET-0123456789"


def _start_slow_run(out: Path) -> subprocess.Popen[bytes]:
    """The slow run, once it has stored 5 samples; it holds its requests from the 10th on."""
    env = os.environ | {"PYTHONPATH": str(HERE.parent)}
    process = subprocess.Popen([sys.executable, str(SLOW_RUN), str(out), "--hold-after", "10"],
                               env=env, stderr=subprocess.PIPE)  # fmt: skip
    wait_for_lines(out / SAMPLES, 5, process=process)
    return process


def test_a_second_writer_is_refused_and_a_killed_one_leaves_no_lock(tmp_path: Path) -> None:
    from ..helpers.slow_run import SlowTemplate, contexts

    out = tmp_path / "run"
    process = _start_slow_run(out)
    try:
        with pytest.raises(kpit.ConfigError, match=f"kpit process {process.pid}"):
            kpit.generate(contexts(), "all", SlowTemplate(), out=out, progress=False,
                          quality=kpit.QualityConfig(reject_duplicates=False))  # fmt: skip
    finally:
        process.kill()  # SIGKILL: no clean-up at all
        process.communicate(timeout=HANG)
    stored = count_lines(out / SAMPLES)
    keys = [s.id for s in read_samples(out / SAMPLES, unique=False)]
    assert len(keys) == len(set(keys)) == stored  # the refused writer stored nothing
    env = os.environ | {"PYTHONPATH": str(HERE.parent)}
    done = subprocess.run([sys.executable, str(SLOW_RUN), str(out)], env=env,
                          capture_output=True, timeout=HANG, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-2000:]  # the lock died with its process
    assert len(list(read_samples(out / SAMPLES))) == 120


def test_sigterm_stops_like_ctrl_c(tmp_path: Path) -> None:
    out = tmp_path / "run"
    process = _start_slow_run(out)
    process.send_signal(signal.SIGTERM)
    stderr = wait_for_exit(process)
    assert process.returncode != 0 and b"KeyboardInterrupt" in stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["last_session"]["interrupted"] is True
    stored = count_lines(out / SAMPLES)
    assert 5 <= stored < 120


def test_duplicates_in_an_old_folder_are_read_counted_and_exported_once(
    sample_root: Path, tmp_path: Path
) -> None:
    run = kpit.generate(kpit.load_coco(sample_root), out=tmp_path / "run", progress=False)
    assert isinstance(run, kpit.Run)
    lines = (run.folder / SAMPLES).read_text().splitlines()
    with (run.folder / SAMPLES).open("a") as f:  # two writers of an older kpit did this
        f.write("\n".join(lines[:3]) + "\n")
    assert len(list(run.samples())) == 12
    assert kpit.run_stats(run).duplicates == 3
    assert "duplicates: 3 samples stored twice" in kpit.run_stats(run).to_text()
    assert kpit.export_llava(run, tmp_path / "llava.json") == 12


def test_a_folder_without_its_manifest_is_refused(sample_root: Path, tmp_path: Path) -> None:
    contexts = kpit.load_coco(sample_root)
    run = kpit.generate(contexts, out=tmp_path / "run", progress=False)
    assert isinstance(run, kpit.Run)
    (run.folder / "manifest.json").unlink()
    with pytest.raises(kpit.ConfigError, match="samples but no manifest"):
        kpit.generate(contexts, out=run.folder, progress=False)
    assert count_lines(run.folder / SAMPLES) == 12  # nothing redone or appended


def test_a_complete_last_record_without_its_newline_is_kept(tmp_path: Path) -> None:
    sample = kpit.Sample("a", "x.jpg", "detail", (kpit.Turn("human", "q"), kpit.Turn("gpt", "a")))
    (tmp_path / SAMPLES).write_text(json.dumps(sample.to_dict()))  # no newline at the end
    with RunStore(tmp_path) as store:
        store.add_sample(kpit.Sample("b", "x.jpg", "detail", sample.turns))
    assert [s.id for s in read_samples(tmp_path / SAMPLES)] == ["a", "b"]


def test_export_refuses_to_overwrite_the_run_or_a_folder(sample_root: Path, tmp_path: Path) -> None:
    run = kpit.generate(kpit.load_coco(sample_root, limit=1), out=tmp_path / "run",
                        progress=False)  # fmt: skip
    assert isinstance(run, kpit.Run)
    before = (run.folder / SAMPLES).read_bytes()
    runner = CliRunner()
    for target in (run.folder / SAMPLES, run.folder / "manifest.json"):
        result = runner.invoke(cli, ["export", str(run.folder), "-o", str(target)])
        assert result.exit_code == 1 and "overwrite the run's own files" in result.output
    result = runner.invoke(cli, ["export", str(run.folder), "-o", str(tmp_path)])
    assert result.exit_code == 1 and "is a folder" in result.output
    assert (run.folder / SAMPLES).read_bytes() == before


def test_resuming_on_another_dataset_is_refused_unless_asked(
    sample_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    kpit.generate(kpit.load_coco(sample_root, limit=1), out=out, progress=False)
    other = kpit.load_coco(keypoints=sample_root / "annotations" / "person_keypoints_val2017.json",
                           limit=2)  # fmt: skip
    with pytest.raises(kpit.ConfigError, match="this run was made from") as info:
        kpit.generate(other, out=out, progress=False)
    assert info.value.field == "source"
    run = kpit.generate(other, out=out, progress=False, allow_new_source=True)
    assert isinstance(run, kpit.Run)
    sources = [s["source"] for s in run.manifest["sessions"]]
    assert len(sources) == 2 and sources[0] != sources[1]  # every session's source is kept


def test_an_unwritable_run_folder_stops_before_anything_is_paid(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    (out / SAMPLES).mkdir(parents=True)  # cannot be opened for appending, even by root
    options = {"base_url": server.base_url, "api_key": KEY}
    with pytest.raises(kpit.DataError, match="cannot write here") as info:
        kpit.generate(kpit.load_coco(sample_root), "all", "openai", "gpt-4o", out=out,
                      progress=False, generator_options=options)  # fmt: skip
    assert info.value.file == str(out) and server.counts["chat"] == 0
    store = RunStore(tmp_path / "other")
    with pytest.raises(kpit.DataError, match="MiB free on this disk"):
        store.open_for_writing(min_free_bytes=2**62)  # a full disk, as the check sees it


def test_exit_codes_for_a_run_that_all_failed_or_stopped_on_its_budget(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    runner = CliRunner()
    base = ["generate", str(sample_root), "--generator", "openai", "--model", "gpt-4o",
            "--base-url", server.base_url, "-O", f"api_key={KEY}", "-O", "backoff=0.01",
            "-O", "max_retries=0", "--reply-retries", "0", "--no-progress"]  # fmt: skip
    server.behaviour.rates = {"500": 1.0}
    result = runner.invoke(cli, [*base, "-o", str(tmp_path / "failed")])
    assert result.exit_code == 3 and "every request failed" in result.output
    server.behaviour.rates = {}
    result = runner.invoke(cli, [*base, "-o", str(tmp_path / "budget"), "--concurrency", "1",
                                 "--max-cost", "0.001", "--price", "gpt-4o=1000,1000"])  # fmt: skip
    assert result.exit_code == 4 and "the budget of $0.00 is spent" in result.output


def test_failures_keep_a_bounded_excerpt_of_a_huge_reply(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    server.behaviour.content = lambda body: "x" * 100_000  # no question, no answer: unparseable
    options: dict[str, Any] = {"base_url": server.base_url, "api_key": KEY}
    run = kpit.generate(kpit.load_coco(sample_root, limit=1), "complex", "openai", "gpt-4o",
                        out=tmp_path / "run", progress=False, reply_retries=0,
                        generator_options=options)  # fmt: skip
    assert isinstance(run, kpit.Run)
    (failure,) = run.failures()
    assert len(failure["reply"]) == 4000 and failure["reply_chars"] == 100_000


def _resume_refused(contexts: Any, out: Path, **options: Any) -> str:
    with pytest.raises(kpit.ConfigError, match="templates changed since this run began") as info:
        kpit.generate(contexts, "complex", out=out, progress=False, **options)
    return str(info.value)


def test_a_resume_is_refused_when_any_file_that_shaped_the_prompts_changed(
    sample_root: Path, tmp_path: Path
) -> None:
    contexts = kpit.load_coco(sample_root, limit=1)
    packaged = Path(kpit.__file__).parent / "prompts" / "templates"
    # An include (common/rules.j2, read by complex/system.j2), overridden by a user folder:
    mine = tmp_path / "templates"
    (mine / "common").mkdir(parents=True)
    (mine / "common" / "rules.j2").write_text((packaged / "common" / "rules.j2").read_text())
    run = kpit.generate(contexts, "complex", out=tmp_path / "a", progress=False, template_dir=mine)
    assert isinstance(run, kpit.Run)
    rules = hashlib.sha256((mine / "common" / "rules.j2").read_bytes()).hexdigest()[:16]
    assert run.manifest["template_hashes"]["common/rules.j2"] == rules  # by the name asked for
    assert "context/paper.j2" in run.manifest["template_hashes"]  # the context style, too
    (mine / "common" / "rules.j2").write_text("Be brief.\n")
    assert "rules.j2" in _resume_refused(contexts, tmp_path / "a", template_dir=mine)
    # A context style given as a file:
    style = tmp_path / "style.j2"
    style.write_text("{{ ctx.captions | join(' ') }}")
    kpit.generate(contexts, "complex", out=tmp_path / "b", progress=False, style=str(style))
    style.write_text("{{ ctx.captions | first }}")
    assert "style.j2" in _resume_refused(contexts, tmp_path / "b", style=str(style))
    # A recipe's file (the paper recipe's person message), overridden by a user folder:
    paper = tmp_path / "paper-templates"
    (paper / "complex").mkdir(parents=True)
    person = packaged / "paper" / "complex" / "person.j2"
    (paper / "complex" / "person.j2").write_text(person.read_text())
    kpit.generate(contexts, "complex", out=tmp_path / "c", progress=False, recipe="paper",
                  template_dir=paper)  # fmt: skip
    (paper / "complex" / "person.j2").write_text(person.read_text() + "{# changed #}")
    assert "person.j2" in _resume_refused(contexts, tmp_path / "c", recipe="paper",
                                          template_dir=paper)  # fmt: skip
    (paper / "complex" / "person.j2").write_text(person.read_text())  # as it was: resumes
    again = kpit.generate(contexts, "complex", out=tmp_path / "c", progress=False,
                          recipe="paper", template_dir=paper)  # fmt: skip
    assert isinstance(again, kpit.Run) and again.manifest["last_session"]["skipped"] == 1


def test_a_paper_style_run_made_before_the_compact_rewrite_resumes(
    sample_root: Path, tmp_path: Path
) -> None:
    """common/source.j2 before the compact rewrite (commit 57b4122, copied in
    tests/data/templates) renders the paper style's text exactly as today's, so a run made
    with it resumes in that style; in the compact style, whose explanation changed, it is
    refused."""
    old_file = HERE / "data" / "templates" / "source-57b4122.j2"
    old_hash = hashlib.sha256(old_file.read_bytes()).hexdigest()[:16]
    assert SAME_RENDER[("common/source.j2", old_hash)] == "paper"
    env = template_environment()
    names = list(COCO_17.names)
    for notes in (False, True):
        values = {"keypoint_names": names, "pose_notes": notes}
        new = env.get_template("common/source.j2")
        old = env.from_string(old_file.read_text(encoding="utf-8"))
        assert old.render(style="paper", **values) == new.render(style="paper", **values)
        assert old.render(style="compact", **values) != new.render(style="compact", **values)

    contexts = kpit.load_coco(sample_root, limit=2)
    for style in ("paper", "compact"):
        out = tmp_path / style
        kpit.generate(contexts, "complex", out=out, progress=False, style=style, limit=1)
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["template_hashes"]["common/source.j2"] != old_hash
        manifest["template_hashes"]["common/source.j2"] = old_hash  # as kpit 0.1.0 wrote it then
        (out / "manifest.json").write_text(json.dumps(manifest))
    run = kpit.generate(contexts, "complex", out=tmp_path / "paper", progress=False)
    assert isinstance(run, kpit.Run) and len(list(run.samples())) == 2  # resumed: one more
    assert "common/source.j2" in _resume_refused(contexts, tmp_path / "compact", style="compact")
