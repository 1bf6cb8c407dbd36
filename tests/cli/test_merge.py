"""``kpit merge RUN1 RUN2 ... -o RUN`` and ``kpit export RUN1 RUN2 ...``: the shares of a run
made on several machines join into one run (or one export). Through the CLI, with the
template backend on the bundled sample and the loopback OpenAI server where spending and
failures matter."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import kpit
from kpit.cli import cli
from kpit.errors import ConfigError
from kpit.pipeline import merge_runs
from kpit.pipeline.store import RunLock

from ..helpers.openai_server import FakeOpenAI, default_content

KEY = "sk-test-SECRET-0123456789"


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, [*args])


def _generate(sample_root: Path, out: Path, *args: str) -> Result:
    result = _invoke("generate", str(sample_root), "--no-progress", "-o", str(out), *args)
    return result


def _openai(sample_root: Path, server: FakeOpenAI, out: Path, *args: str) -> Result:
    return _generate(sample_root, out, "--generator", "openai", "--model", "gpt-4o",
                     "--base-url", server.base_url, "-O", f"api_key={KEY}", *args)  # fmt: skip


def _ids(out: Path) -> list[str]:
    return [sample.id for sample in kpit.Run(out).samples()]


def _manifest(out: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    return manifest


def _digest(folder: Path) -> dict[str, str]:
    """Every file of a folder with its SHA-256: an input is only read."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def _refusal(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    (line,) = result.output.strip().splitlines()
    return line


@pytest.fixture
def shares(sample_root: Path, tmp_path: Path) -> list[Path]:
    """The bundled sample's run in three shares, each in its own folder."""
    out = []
    for index in (1, 2, 3):
        folder = tmp_path / f"share{index}"
        result = _generate(sample_root, folder, "--shard", f"{index}/3")
        assert result.exit_code == 0, result.output
        out.append(folder)
    return out


def test_the_shares_merge_into_the_whole_run(
    sample_root: Path, tmp_path: Path, shares: list[Path]
) -> None:
    assert _generate(sample_root, tmp_path / "whole").exit_code == 0
    before = [_digest(folder) for folder in shares]
    result = _invoke("merge", *map(str, shares), "-o", str(tmp_path / "merged"))
    assert result.exit_code == 0, result.output
    assert "12 samples from 3 runs (every share); 0 duplicate" in result.output
    merged = tmp_path / "merged"
    assert sorted(_ids(merged)) == sorted(_ids(tmp_path / "whole"))
    assert [_digest(folder) for folder in shares] == before  # the inputs are only read
    manifest = _manifest(merged)
    assert manifest["shard"] is None
    assert [s["run"] for s in manifest["sessions"]] == [str(f.resolve()) for f in shares]
    assert [r["shard"] for r in manifest["merged"]["runs"]] == ["1/3", "2/3", "3/3"]
    assert sum(r["samples"] for r in manifest["merged"]["runs"]) == 12
    assert manifest["tasks"] == ["complex", "conversation", "detail"]
    # the merged run is a run: it resumes unsharded, with nothing left to send
    again = _generate(sample_root, merged)
    assert again.exit_code == 0, again.output
    assert "0 new samples, 0 failures, 12 skipped" in again.output
    assert len(_manifest(merged)["sessions"]) == 4


def test_some_shares_merge_into_a_partial_run_that_merges_with_the_rest(
    tmp_path: Path, shares: list[Path]
) -> None:
    partial = tmp_path / "one-two"
    result = _invoke("merge", str(shares[0]), str(shares[1]), "-o", str(partial))
    assert result.exit_code == 0, result.output
    assert _manifest(partial)["shard"] == "1,2/3" and "(shards 1,2/3)" in result.output
    whole = tmp_path / "all"
    result = _invoke("merge", str(partial), str(shares[2]), "-o", str(whole))
    assert result.exit_code == 0, result.output
    assert _manifest(whole)["shard"] is None
    assert len(_ids(whole)) == 12
    assert len(_manifest(whole)["sessions"]) == 3  # each share's session, once


def test_duplicates_are_counted_and_the_first_runs_kept(
    sample_root: Path, tmp_path: Path, shares: list[Path]
) -> None:
    assert _generate(sample_root, tmp_path / "whole").exit_code == 0
    merged = tmp_path / "merged"
    result = _invoke("merge", str(shares[0]), str(tmp_path / "whole"), "-o", str(merged))
    assert result.exit_code == 0, result.output
    first = {s.id: s.meta["created"] for s in kpit.Run(shares[0]).samples()}
    assert f"{len(first)} duplicate samples dropped" in result.output
    kept = {s.id: s.meta["created"] for s in kpit.Run(merged).samples()}
    assert len(kept) == 12 and all(kept[key] == created for key, created in first.items())
    assert _manifest(merged)["merged"]["duplicates"] == len(first)
    assert _manifest(merged)["shard"] is None  # the whole run covers every share


def test_failures_are_kept_only_for_keys_without_a_sample_and_spending_adds_up(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    def broken_conversations(body: dict[str, Any]) -> str:
        system = str(body["messages"][0].get("content", ""))
        return "no" if "Design a conversation" in system else default_content(body)

    server.behaviour.content = broken_conversations
    one, two, again = tmp_path / "one", tmp_path / "two", tmp_path / "again"
    assert (
        _openai(sample_root, server, one, "--shard", "1/2", "--reply-retries", "0").exit_code == 0
    )
    server.behaviour.content = default_content
    assert _openai(sample_root, server, two, "--shard", "2/2").exit_code == 0
    failed = {r["key"] for r in kpit.Run(one).failures()}
    assert failed and all(key.startswith("conversation/") for key in failed)

    kept = tmp_path / "kept"
    assert _invoke("merge", str(one), str(two), "-o", str(kept)).exit_code == 0
    assert {r["key"] for r in kpit.Run(kept).failures()} == failed
    assert {r["key"] for r in kpit.Run(kept).open_failures()} == failed

    # the failed share run again, unsharded elsewhere: its samples replace the failures
    assert _openai(sample_root, server, again, "--tasks", "conversation").exit_code == 0
    merged = tmp_path / "merged"
    result = _invoke("merge", str(one), str(two), str(again), "-o", str(merged))
    assert result.exit_code == 0, result.output
    assert list(kpit.Run(merged).failures()) == []
    assert f"{len(failed)} of keys with a sample dropped" in result.output
    assert failed <= set(_ids(merged))

    totals = [_manifest(run)["totals"] for run in (one, two, again)]
    merged_totals = _manifest(merged)["totals"]
    for name in ("requests_sent", "prompt_tokens", "completion_tokens"):
        assert merged_totals[name] == sum(t[name] for t in totals) > 0, name
    assert merged_totals["requests_sent"] == server.counts["chat"]
    # resumed, the merged run charges nothing twice: what no session counted is nothing
    resumed = _openai(sample_root, server, merged)
    assert resumed.exit_code == 0, resumed.output
    assert _manifest(merged)["totals"]["prompt_tokens"] == merged_totals["prompt_tokens"]


@pytest.mark.parametrize(
    ("args", "named"),
    [(("--seed", "1"), "seed is 0 in"), (("--style", "compact"), "prompt.style is 'paper' in"),
     (("--filters", "off"), "filters is 'reject' in"), (("--recipe", "paper"), "recipe is")],
)  # fmt: skip
def test_runs_of_different_identities_are_refused(
    sample_root: Path, tmp_path: Path, shares: list[Path], args: tuple[str, ...], named: str
) -> None:
    other = tmp_path / "other"
    assert _generate(sample_root, other, "--shard", "2/3", *args).exit_code == 0
    line = _refusal(_invoke("merge", str(shares[0]), str(other), "-o", str(tmp_path / "m")))
    assert "runs of different identities" in line and named in line, line
    assert str(shares[0]) in line and str(other) in line
    assert not (tmp_path / "m").exists()
    line = _refusal(_invoke("export", str(shares[0]), str(other), "-o", str(tmp_path / "x.json")))
    assert "runs of different identities" in line and named in line, line
    assert not (tmp_path / "x.json").exists()


def test_a_different_source_is_refused_unless_allowed(
    sample_root: Path, tmp_path: Path, shares: list[Path]
) -> None:
    copy = shutil.copytree(sample_root, tmp_path / "coco-elsewhere")  # another machine's copy
    other = tmp_path / "other"
    assert _generate(copy, other, "--shard", "2/3").exit_code == 0
    line = _refusal(_invoke("merge", str(shares[0]), str(other), "-o", str(tmp_path / "m")))
    assert "runs of different sources" in line and "--allow-new-source" in line
    result = _invoke("merge", str(shares[0]), str(other), "-o", str(tmp_path / "m"),
                     "--allow-new-source")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _manifest(tmp_path / "m")["source"] == _manifest(shares[0])["source"]
    sources = [r["source"]["images"] for r in _manifest(tmp_path / "m")["merged"]["runs"]]
    assert sources[1] == str((copy / "val2017").resolve())


def test_runs_split_into_different_numbers_of_shares_are_refused(
    sample_root: Path, tmp_path: Path, shares: list[Path]
) -> None:
    half = tmp_path / "half"
    assert _generate(sample_root, half, "--shard", "1/2").exit_code == 0
    line = _refusal(_invoke("merge", str(shares[0]), str(half), "-o", str(tmp_path / "m")))
    assert "different numbers of shares" in line and str(half) in line


def test_the_output_is_never_an_input_nor_a_folder_holding_anything(
    tmp_path: Path, shares: list[Path]
) -> None:
    inputs = [str(s) for s in shares]
    for out, why in ((shares[0], "would write over an input"),
                     (shares[1] / "inside", "would write over an input")):  # fmt: skip
        assert why in _refusal(_invoke("merge", *inputs, "-o", str(out)))
    held = tmp_path / "held"
    assert _invoke("merge", *inputs[:1], "-o", str(held)).exit_code == 0
    assert "already holds a run" in _refusal(_invoke("merge", *inputs, "-o", str(held)))
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    assert "already holds files" in _refusal(_invoke("merge", *inputs, "-o", str(stray)))
    assert (stray / "notes.txt").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _invoke("merge", *inputs, "-o", str(empty)).exit_code == 0
    assert len(_ids(empty)) == 12
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left


def test_a_run_being_written_is_refused(tmp_path: Path, shares: list[Path]) -> None:
    with RunLock(shares[1]):  # a kpit generate writing the share now
        line = _refusal(_invoke("merge", *map(str, shares), "-o", str(tmp_path / "m")))
    assert "being written" in line and str(shares[1]) in line
    assert _invoke("merge", *map(str, shares), "-o", str(tmp_path / "m")).exit_code == 0


def test_the_python_api(tmp_path: Path, shares: list[Path]) -> None:
    result = merge_runs(shares, tmp_path / "m")
    assert (result.samples, result.duplicates, result.shard) == (12, 0, None)
    assert len(list(result.run.samples())) == 12
    assert kpit.merge_runs is merge_runs
    with pytest.raises(ConfigError, match="not one"):
        merge_runs(shares[0], tmp_path / "n")  # type: ignore[arg-type]


def test_export_takes_several_runs_as_one(
    sample_root: Path, tmp_path: Path, shares: list[Path]
) -> None:
    assert _generate(sample_root, tmp_path / "whole").exit_code == 0
    assert (
        _invoke("export", str(tmp_path / "whole"), "-o", str(tmp_path / "whole.json")).exit_code
        == 0
    )
    result = _invoke("export", *map(str, shares), "-o", str(tmp_path / "shares.json"))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{tmp_path / 'shares.json'}: 12 records"

    def records(name: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = json.loads((tmp_path / name).read_text())
        return sorted(found, key=lambda r: str(r["id"]))

    assert records("shares.json") == records("whole.json")
    both = _invoke(
        "export", str(shares[0]), str(tmp_path / "whole"), "-o", str(tmp_path / "b.json")
    )
    assert both.exit_code == 0, both.output
    count = len(_ids(shares[0]))
    assert f"12 records; left out {count} record(s): {count} duplicate sample(s)" in both.output
    assert f"kept from {shares[0]}" in both.output
    refused = _invoke("export", *map(str, shares), "-o", str(shares[1] / "samples.jsonl"))
    assert "would overwrite the run's own files" in _refusal(refused)


def test_the_guides_commands_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commands of the guide's "Several machines" section, from a folder that has the
    repository's examples, one after the other."""
    root = Path(__file__).resolve().parents[2]
    guide = (root / "docs" / "guide.md").read_text()
    section = guide.split("### Several machines: shards and merge", 1)[1]
    block = section.split("```\n", 2)[1]
    commands = [line.split() for line in block.splitlines() if line.startswith("kpit ")]
    assert [c[1] for c in commands] == ["generate"] * 3 + ["merge", "export"]
    (tmp_path / "examples").symlink_to(root / "examples")
    monkeypatch.chdir(tmp_path)
    for command in commands:
        result = _invoke(*command[1:], *(["--no-progress"] if command[1] == "generate" else []))
        assert result.exit_code == 0, (command, result.output)
    assert len(_ids(tmp_path / "runs" / "merged")) == 12
    assert len(json.loads((tmp_path / "runs" / "shares.json").read_text())) == 12


def test_export_hf_takes_several_runs_each_with_its_own_images(
    sample_root: Path, tmp_path: Path, shares: list[Path]
) -> None:
    pytest.importorskip("datasets")
    copy = shutil.copytree(sample_root, tmp_path / "coco-elsewhere")  # another machine's copy
    other = tmp_path / "other"
    assert _generate(copy, other, "--shard", "3/3").exit_code == 0
    out = tmp_path / "ds"
    result = _invoke("export", str(shares[0]), str(shares[1]), str(other), "--format", "hf",
                     "--image-paths", "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"{out}: 12 records")  # after datasets' progress
    import datasets

    rows = datasets.load_from_disk(str(out))
    by_id = {row["id"]: row["images"][0] for row in rows}
    third = {s.id.replace("/", "_") for s in kpit.Run(other).samples()}
    assert third and all(by_id[i].startswith(str(copy.resolve())) for i in third)
    assert all(str(copy) not in path for i, path in by_id.items() if i not in third)


def test_an_unreadable_input_leaves_no_half_run(tmp_path: Path, shares: list[Path]) -> None:
    samples = shares[2] / "samples.jsonl"
    lines = samples.read_text().splitlines(keepends=True)
    samples.write_text(lines[0] + "{not json\n" + "".join(lines[1:]))  # a bad line, not a torn tail
    out = tmp_path / "merged"
    line = _refusal(_invoke("merge", *map(str, shares), "-o", str(out)))
    assert "samples.jsonl" in line and "line 2" in line, line
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_output_that_is_a_file_or_a_link_is_refused(tmp_path: Path, shares: list[Path]) -> None:
    file = tmp_path / "file"
    file.write_text("mine")
    usage = _invoke("merge", str(shares[0]), "-o", str(file))
    assert usage.exit_code == 2 and "is a file" in usage.output
    with pytest.raises(ConfigError, match="is a file"):
        merge_runs([shares[0]], file)
    empty = tmp_path / "empty"
    empty.mkdir()
    link = tmp_path / "link"
    link.symlink_to(empty)
    assert "symbolic link" in _refusal(_invoke("merge", str(shares[0]), "-o", str(link)))
    assert file.read_text() == "mine" and link.is_symlink() and not any(empty.iterdir())


def test_a_run_given_twice_or_with_its_merge_is_refused(tmp_path: Path, shares: list[Path]) -> None:
    """Their sessions, and what those spent, would count twice."""
    line = _refusal(_invoke("merge", str(shares[0]), str(shares[0]), "-o", str(tmp_path / "m")))
    assert "hold the same session" in line and "given twice" in line
    partial = tmp_path / "partial"
    assert _invoke("merge", str(shares[0]), str(shares[1]), "-o", str(partial)).exit_code == 0
    line = _refusal(_invoke("merge", str(partial), str(shares[1]), "-o", str(tmp_path / "m")))
    assert str(partial) in line and str(shares[1]) in line and "count twice" in line
    assert not (tmp_path / "m").exists()
