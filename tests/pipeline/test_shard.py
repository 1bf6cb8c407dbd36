"""``--shard I/N`` (``shard=``): the I-th of N disjoint shares of a run's requests, chosen by
each request's key, the same on every machine and rerun. The N shares together are the whole
run (property-based over keys, and end to end with the template backend on the bundled
sample); the shard is part of the run's identity; a bad value is one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

import kpit
from kpit.cli import cli
from kpit.errors import ConfigError
from kpit.pipeline import Shard, shard_of
from kpit.prompts.tasks import request_key

from ..helpers.openai_server import FakeOpenAI

KEYS = st.text(min_size=1, max_size=40)


def _generate(sample_root: Path, out: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["generate", str(sample_root), "--no-progress", "-o",
                                    str(out), *args])  # fmt: skip


def _ids(out: Path) -> list[str]:
    return [sample.id for sample in kpit.Run(out).samples()]


def _manifest(out: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    return manifest


@given(key=KEYS, count=st.integers(min_value=1, max_value=64))
def test_each_key_is_in_exactly_one_share(key: str, count: int) -> None:
    holders = [index for index in range(1, count + 1) if Shard(index, count).holds(key)]
    assert holders == [shard_of(key, count)]


@given(keys=st.lists(KEYS, unique=True, max_size=60), count=st.integers(min_value=1, max_value=8))
def test_the_shares_of_a_set_of_keys_are_disjoint_and_make_the_whole(
    keys: list[str], count: int
) -> None:
    shares = [{k for k in keys if Shard(i, count).holds(k)} for i in range(1, count + 1)]
    assert set().union(*shares) == set(keys)
    assert sum(len(share) for share in shares) == len(keys)


def test_the_share_of_a_key_is_fixed_by_sha256_not_by_pythons_hash() -> None:
    """Pinned values: every machine (any PYTHONHASHSEED, any Python) agrees, and so does
    every later kpit, or runs sharded before could not be resumed or merged."""
    keys = ("conversation/785/0", "detail/785/0", "complex/785/0", "detail/40083/0")
    assert [shard_of(key, 3) for key in keys] == [3, 1, 2, 3]
    assert shard_of("conversation/785/0", 1000) == 729
    assert str(Shard.parse(" 2/3 ")) == "2/3"


@pytest.mark.parametrize("value", ["0/3", "4/3", "1/0", "a/b", "1", "1/3/5", "-1/3", ""])
def test_a_bad_shard_is_a_config_error_naming_it(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Shard.parse(value)
    assert caught.value.field == "shard"


@pytest.mark.parametrize("value", ["0/3", "4/3", "1/0", "a/b"])
def test_a_bad_shard_on_the_command_line_is_a_usage_error(
    sample_root: Path, tmp_path: Path, value: str
) -> None:
    result = _generate(sample_root, tmp_path / "run", "--shard", value)
    assert result.exit_code == 2, result.output
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert "--shard" in error and "not a shard" in error
    assert not (tmp_path / "run").exists()


def test_n_shares_are_disjoint_and_their_union_is_the_unsharded_run(
    sample_root: Path, tmp_path: Path
) -> None:
    whole = _generate(sample_root, tmp_path / "whole")
    assert whole.exit_code == 0, whole.output
    expected = _ids(tmp_path / "whole")
    assert len(expected) == len(set(expected)) > 3
    shares = []
    for index in (1, 2, 3):
        out = tmp_path / f"s{index}"
        result = _generate(sample_root, out, "--shard", f"{index}/3")
        assert result.exit_code == 0, result.output
        assert _manifest(out)["shard"] == f"{index}/3"
        shares.append(set(_ids(out)))
        assert all(shard_of(key, 3) == index for key in shares[-1])
    assert all(shares)  # each share holds some of the sample's 12 requests
    assert sum(map(len, shares)) == len(expected)
    assert set().union(*shares) == set(expected)
    assert _manifest(tmp_path / "whole")["shard"] is None


def test_a_share_is_chosen_by_key_not_by_position(sample_root: Path, tmp_path: Path) -> None:
    """The same share of fewer images is the share of the whole on those images."""
    assert _generate(sample_root, tmp_path / "all", "--shard", "2/3").exit_code == 0
    assert _generate(sample_root, tmp_path / "two", "--shard", "2/3", "--limit", "2").exit_code == 0
    some, every = set(_ids(tmp_path / "two")), set(_ids(tmp_path / "all"))
    assert some <= every
    images = {int(key.split("/")[1]) for key in _ids(tmp_path / "two")}
    assert {key for key in every if int(key.split("/")[1]) in images} == some


def test_a_run_resumed_with_another_shard_is_refused(sample_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _generate(sample_root, out, "--shard", "1/3").exit_code == 0
    before = (out / "manifest.json").read_bytes()
    for other, shown in (("2/3", "'2/3'"), ("1/2", "'1/2'"), (None, "None")):
        result = _generate(sample_root, out, *(("--shard", other) if other else ()))
        assert result.exit_code == 1, result.output
        (line,) = result.output.strip().splitlines()
        assert "field 'shard'" in line and f"shard='1/3', not {shown}" in line, line
    assert (out / "manifest.json").read_bytes() == before
    again = _generate(sample_root, out, "--shard", "1/3")  # its own shard resumes
    assert again.exit_code == 0, again.output
    assert "0 new samples" in again.output


def test_an_unsharded_run_is_not_resumed_as_a_share(sample_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _generate(sample_root, out, "--limit", "1").exit_code == 0
    result = _generate(sample_root, out, "--shard", "1/2")
    assert result.exit_code == 1 and "shard=None, not '1/2'" in result.output
    one = _generate(sample_root, out, "--shard", "1/1")  # one share of one: the whole run
    assert one.exit_code == 0, one.output
    assert _manifest(out)["shard"] is None


def test_the_python_api_takes_shard_and_a_dry_run_counts_the_share(
    sample_root: Path, tmp_path: Path
) -> None:
    contexts = kpit.load_coco(sample_root)
    whole = kpit.generate(contexts, out=tmp_path / "whole", dry_run=True, progress=False)
    plans = [kpit.generate(contexts, out=tmp_path / "x", dry_run=True, shard=Shard(i, 2))
             for i in (1, 2)]  # fmt: skip
    assert isinstance(whole, kpit.DryRun) and all(isinstance(p, kpit.DryRun) for p in plans)
    assert sum(p.total_requests for p in plans) == whole.total_requests  # type: ignore[union-attr]
    run = kpit.generate(contexts, out=tmp_path / "run", shard="2/2", progress=False)
    assert isinstance(run, kpit.Run) and run.manifest["shard"] == "2/2"
    keys = {
        request_key(t, c.image_id) for c in contexts for t in ("conversation", "detail", "complex")
    }
    assert {s.id for s in run.samples()} == {key for key in keys if shard_of(key, 2) == 2}
    with pytest.raises(ConfigError, match="not a shard"):
        kpit.generate(contexts, out=tmp_path / "bad", shard="3/2")
    with pytest.raises(ConfigError, match="expected a shard"):
        kpit.generate(contexts, out=tmp_path / "bad", shard=2)
    assert not (tmp_path / "bad").exists()


def test_bench_answer_shards_the_questions_and_the_shares_join(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    """``kpit bench answer --shard I/N``: each share answers its questions only (by the
    request key ``bench/QUESTION_ID``); the shares' files concatenated and answered without
    --shard ask nothing and hold every answer, in question order."""
    bench = tmp_path / "bench"
    built = CliRunner().invoke(cli, ["bench", "build", str(sample_root), "--split", "val2017",
                                     "--num-images", "4", "-o", str(bench)])  # fmt: skip
    assert built.exit_code == 0, built.output
    questions = [json.loads(line)["question_id"]
                 for line in (bench / "questions.jsonl").read_text().splitlines()]  # fmt: skip

    def answer(out: Path, *args: str) -> Result:
        return CliRunner().invoke(cli, ["bench", "answer", str(bench), "--images",
                                        str(sample_root / "val2017"), "--model", "gpt-4o",
                                        "--base-url", server.base_url, "-O", "api_key=sk-x",
                                        "-o", str(out), *args])  # fmt: skip

    shares = []
    for index in (1, 2, 3):
        out = tmp_path / f"answers{index}.jsonl"
        result = answer(out, "--shard", f"{index}/3")
        assert result.exit_code == 0, result.output
        ids = [json.loads(line)["question_id"] for line in out.read_text().splitlines()]
        assert all(shard_of(f"bench/{qid}", 3) == index for qid in ids)
        shares.append(ids)
    assert sorted(qid for ids in shares for qid in ids) == sorted(questions)
    assert server.counts["chat"] == len(questions)  # each question asked once
    joined = tmp_path / "answers.jsonl"
    joined.write_text("".join((tmp_path / f"answers{i}.jsonl").read_text() for i in (1, 2, 3)))
    result = answer(joined)
    assert result.exit_code == 0, result.output
    assert server.counts["chat"] == len(questions)  # nothing asked again
    assert [
        json.loads(line)["question_id"] for line in joined.read_text().splitlines()
    ] == questions
    bad = answer(tmp_path / "x.jsonl", "--shard", "4/3")
    assert bad.exit_code == 2 and "--shard" in bad.output
