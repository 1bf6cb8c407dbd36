"""What shapes or filters a run's data is part of its identity: a resume with another filter
mode, other quality settings or another exclusion is refused (naming the setting, the old and
the new value) unless asked for, and every session records its own values. Through the CLI
against the loopback OpenAI server: the refusal comes before any request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import kpit
from kpit.cli import cli

from ..helpers.openai_server import FakeOpenAI, default_content

KEY = "sk-test-SECRET-0123456789"
MARKED = " </s> USER: <image>\nWhat else?"


def _generate(sample_root: Path, server: FakeOpenAI, out: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["generate", str(sample_root), "--generator", "openai",
                                    "--model", "gpt-4o", "--base-url", server.base_url,
                                    "-O", f"api_key={KEY}", "--no-progress", "-o", str(out),
                                    *args])  # fmt: skip


def _manifest(out: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    return manifest


def _refusal(result: Result) -> str:
    """The one line a refused command printed (exit 1, no traceback)."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    (line,) = result.output.strip().splitlines()
    return line


def test_a_resume_with_another_filter_mode_is_refused_unless_allowed(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    server.behaviour.content = lambda body: default_content(body) + MARKED
    out = tmp_path / "run"
    first = _generate(sample_root, server, out, "--tasks", "detail", "--filters", "off",
                      "--limit", "2")  # fmt: skip
    assert first.exit_code == 0, first.output
    sent = server.counts["chat"]
    assert sent == 2 and _manifest(out)["filters"] == "off"

    line = _refusal(_generate(sample_root, server, out, "--tasks", "detail"))
    assert "field 'filters'" in line and "filters='off', not 'reject'" in line
    assert "--allow-changed filters" in line
    assert server.counts["chat"] == sent  # refused before any request
    assert _manifest(out)["filters"] == "off"  # and the record is as it was

    flag = _generate(sample_root, server, out, "--tasks", "detail", "--filters", "flag",
                     "--allow-changed", "filters")  # fmt: skip
    assert flag.exit_code == 0, flag.output
    manifest = _manifest(out)
    assert [s["filters"] for s in manifest["sessions"]] == ["off", "flag"]
    assert manifest["filters"] == "flag"
    samples = list(kpit.Run(out).samples())
    assert len(samples) == 4
    flagged = [s for s in samples if s.meta.get("flags")]
    assert len(flagged) == 2 and all(s.meta["flags"] == ["chat_markers"] for s in flagged)


def test_an_exclusion_dropped_on_resume_never_reaches_the_teacher(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    bench = tmp_path / "bench.txt"
    bench.write_text("785\n")
    out = tmp_path / "run"
    first = _generate(sample_root, server, out, "--tasks", "detail", "--exclude-images", str(bench))
    assert first.exit_code == 0, first.output
    assert server.counts["chat"] == 3

    line = _refusal(_generate(sample_root, server, out, "--tasks", "detail"))
    assert "field 'exclude_images'" in line and "(1 images), not [] (0 images)" in line
    assert "--allow-changed exclude-images" in line
    assert server.counts["chat"] == 3  # image 785 was not sent
    sent_images = json.dumps(server.chat_requests)
    assert "000000000785" not in sent_images

    other = tmp_path / "ids.txt"  # the same images, from another file: the same exclusion
    other.write_text("000000000785.jpg\n")
    again = _generate(sample_root, server, out, "--tasks", "detail", "--exclude-images", str(other))
    assert again.exit_code == 0 and server.counts["chat"] == 3
    more = tmp_path / "more.txt"  # another exclusion: refused too
    more.write_text("785\n40083\n")
    line = _refusal(_generate(sample_root, server, out, "--tasks", "detail",
                              "--exclude-images", str(more)))  # fmt: skip
    assert "(2 images)" in line

    dropped = _generate(sample_root, server, out, "--tasks", "detail",
                        "--allow-changed", "exclude-images")  # fmt: skip
    assert dropped.exit_code == 0, dropped.output
    assert server.counts["chat"] == 4
    sessions = _manifest(out)["sessions"]
    assert [s["exclude_images"]["images"] for s in sessions] == [1, 1, 0]


def test_a_resume_with_other_quality_settings_is_refused_unless_allowed(
    sample_root: Path, tmp_path: Path
) -> None:
    contexts = kpit.load_coco(sample_root)
    out = tmp_path / "run"
    loose = kpit.QualityConfig(reject_leaks=False, extra_leak_patterns=("bbox",))
    kpit.generate(contexts, "detail", out=out, limit=1, quality=loose, progress=False)
    kpit.generate(contexts, "detail", out=out, limit=2, quality=loose, progress=False)  # same
    changed = r"quality\.extra_leak_patterns=\['bbox'\], not \[\]"
    with pytest.raises(kpit.ConfigError, match=changed) as info:
        kpit.generate(contexts, "detail", out=out, progress=False)
    assert info.value.field == "quality" and "allow_changed=['quality']" in str(info.value)
    with pytest.raises(kpit.ConfigError, match="filters='reject', not 'off'"):  # dry runs too
        kpit.generate(contexts, "detail", out=out, quality=loose, filters="off", dry_run=True)
    run = kpit.generate(contexts, "detail", out=out, progress=False, allow_changed="quality")
    assert isinstance(run, kpit.Run)
    qualities = [s["quality"] for s in run.manifest["sessions"]]
    assert [q["reject_leaks"] for q in qualities] == [False, False, True]
    assert qualities[0]["extra_leak_patterns"] == ["bbox"]
    with pytest.raises(kpit.ConfigError, match="no setting 'seed'") as info:
        kpit.generate(contexts, "detail", out=out, progress=False, allow_changed=["seed"])
    assert info.value.field == "allow_changed"


def test_a_manifest_without_the_settings_resumes_with_their_defaults(
    sample_root: Path, tmp_path: Path
) -> None:
    """Runs made before filters=, the chat-marker rule or --exclude-images existed: their
    manifests lack the keys, which read as what those runs did."""
    contexts = kpit.load_coco(sample_root)
    out = tmp_path / "run"
    kpit.generate(contexts, "detail", out=out, limit=1, progress=False)
    manifest = _manifest(out)
    for key in ("filters", "exclude_images", "task_templates"):
        del manifest[key]
    del manifest["quality"]["reject_chat_markers"]
    for session in manifest["sessions"]:
        for key in ("filters", "quality", "exclude_images"):
            del session[key]
    (out / "manifest.json").write_text(json.dumps(manifest))
    run = kpit.generate(contexts, "detail", out=out, limit=2, progress=False)
    assert isinstance(run, kpit.Run) and run.manifest["last_session"]["skipped"] == 1
    with pytest.raises(kpit.ConfigError, match="filters='reject', not 'flag'"):
        kpit.generate(contexts, "detail", out=out, filters="flag", progress=False)
    manifest = _manifest(out)
    del manifest["exclude_images"]  # lacking, it means no exclusion
    (out / "manifest.json").write_text(json.dumps(manifest))
    bench = tmp_path / "bench.txt"
    bench.write_text("785\n")
    with pytest.raises(kpit.ConfigError, match=r"exclude_images=\[\] \(0 images\)"):
        kpit.generate(contexts, "detail", out=out, exclude_images=bench, progress=False)
