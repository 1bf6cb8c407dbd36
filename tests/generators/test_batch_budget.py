"""``openai-batch`` with a budget: a batch holds only what fits, at batch prices, and the rest
waits for the next session; and a batch's output is read line by line on ``\\n`` alone.

Against the loopback server's files and batches endpoints, through the command line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import kpit
from kpit.cli import cli

from ..helpers.openai_server import FakeOpenAI, default_content

KEY = "sk-kpit-batch-0123456789abcdef"
PRICE = 1000.0  # dollars per million tokens: about $1 a request at batch prices


def batch(sample_root: Path, server: FakeOpenAI, out: Path, *options: str) -> list[str]:
    return ["generate", str(sample_root), "--generator", "openai-batch", "--model", "gpt-4o",
            "--base-url", server.base_url, "-O", "poll_interval=0.01", "-O", "backoff=0.01",
            "-O", "max_tokens=100", "--price", f"gpt-4o={PRICE:g},{PRICE:g}", "--no-progress",
            "-o", str(out), *options]  # fmt: skip


def invoke(args: list[str]) -> Any:
    return CliRunner(env={"OPENAI_API_KEY": KEY}).invoke(cli, args)


def batches(out: Path) -> list[dict[str, Any]]:
    state: list[dict[str, Any]] = json.loads((out / "openai-batch" / "state.json").read_text())[
        "batches"
    ]
    return state


def paid(out: Path) -> float:
    """What the stored samples cost at batch prices (half the price)."""
    total = 0
    for line in (out / "samples.jsonl").read_text().splitlines():
        usage = json.loads(line)["meta"]["usage"]
        total += usage["prompt_tokens"] + usage["completion_tokens"]
    return total * PRICE / 2 / 1e6


def test_a_batch_holds_only_what_the_budget_has_room_for(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = invoke(batch(sample_root, server, out, "--max-cost", "10"))
    assert result.exit_code == 4, result.output
    assert "wait for the next session" in result.output
    (first,) = batches(out)
    assert 0 < len(first["keys"]) < 12  # not the whole job
    assert paid(out) <= 10.0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["totals"]["cost_usd"] == round(paid(out), 6)
    # The next session, with room for everything, submits the rest, and only the rest.
    result = invoke(batch(sample_root, server, out, "--max-cost", "1000"))
    assert result.exit_code == 0, result.output
    second = batches(out)[1]
    assert sorted(first["keys"] + second["keys"]) == sorted(
        json.loads(line)["id"] for line in (out / "samples.jsonl").read_text().splitlines()
    )
    assert len(first["keys"] + second["keys"]) == 12 and server.counts["batch"] == 2


def test_batches_not_collected_yet_keep_their_share_of_the_budget(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    """Submitted without waiting, then collected with the same budget: the batch in flight
    holds its reserve, so nothing more is submitted past the budget."""
    out = tmp_path / "run"
    result = invoke(batch(sample_root, server, out, "--max-cost", "10", "-O", "wait=false"))
    assert result.exit_code == 4, result.output
    assert "batches submitted" in result.output and "wait for the next session" in result.output
    submitted = len(batches(out)[0]["keys"])
    result = invoke(batch(sample_root, server, out, "--max-cost", "10"))
    assert result.exit_code == 4, result.output
    assert len(batches(out)) == 1 and server.counts["batch"] == 1
    assert sum(1 for _ in (out / "samples.jsonl").open()) == submitted
    assert paid(out) <= 10.0


def test_a_reply_holding_line_separators_is_read_whole(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    """U+2028, U+2029, NEL and the other characters ``str.splitlines`` splits on, written
    raw in the output file as the Batch API writes UTF-8: each record stays one line."""
    odd = "\u2028\u2029\x85\x1c\x1d\x1e\x0b\x0c"
    server.behaviour.content = lambda body: default_content(body).replace("they", f"they{odd}", 1)
    run_batch = server.run_batch

    def raw_output(entry: dict[str, Any]) -> None:
        run_batch(entry)
        lines = server.files[entry["output_file_id"]].decode().split("\n")
        raw = "\n".join(json.dumps(json.loads(line), ensure_ascii=False) for line in lines)
        server.files[entry["output_file_id"]] = raw.encode()

    server.run_batch = raw_output  # type: ignore[method-assign]
    out = tmp_path / "run"
    result = invoke(batch(sample_root, server, out, "--tasks", "conversation", "--limit", "2"))
    assert result.exit_code == 0, result.output
    samples = list(kpit.Run(out).samples())
    assert len(samples) == 2 and server.counts["batch"] == 1
    assert all(odd in s.turns[1].text for s in samples)


@given(
    st.lists(st.fixed_dictionaries({"custom_id": st.text(), "response": st.text()}), max_size=5),
    st.sampled_from(["\n", "\r\n"]),
)
def test_batch_output_is_split_on_newlines_only(records: list[dict[str, str]], end: str) -> None:
    from kpit.generators.openai.batch import _output_records

    text = end.join(json.dumps(r, ensure_ascii=False) for r in records)
    assert _output_records(text + end) == records
    assert _output_records(text + end + "not json" + end + "[1]") == records
