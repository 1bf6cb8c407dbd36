"""Replies of every shape, replies without usage, secrets in a server URL and options that
can never work, through ``kpit generate`` against the loopback server (issue 23, items 1, 3,
11 and 17).

Before: a reply whose ``content`` was a list of parts or a number killed a worker silently
(requests paid and discarded, the others never sent, exit 0); a reply without ``usage``
cost $0 and let every request past ``--max-cost``; a base URL's query parameter outside a
fixed list of names (``?subscription-key=``, ``?code=``) was logged at ``-v``; a non-ASCII
``organization`` or ``timeout=0`` failed every request one by one.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from kpit.cli import cli

from ..helpers.openai_server import FakeOpenAI

KEY = "sk-reply-safety-0123456789"

Reshape = Callable[[dict[str, Any], str], None]


def _content(value: Any) -> Reshape:
    def reshape(reply: dict[str, Any], text: str) -> None:
        reply["choices"][0]["message"]["content"] = value

    return reshape


def _parts(reply: dict[str, Any], text: str) -> None:  # Mistral, vLLM, TGI
    half = len(text) // 2
    reply["choices"][0]["message"]["content"] = [{"type": "text", "text": text[:half]},
                                                 {"type": "text", "text": text[half:]}]  # fmt: skip


def _thinking(reply: dict[str, Any], text: str) -> None:  # a reasoning model's parts
    reply["choices"][0]["message"]["content"] = [
        {"type": "thinking", "thinking": [{"type": "text", "text": "Let me look."}]},
        {"type": "text", "text": text},
    ]


def _refusal(reply: dict[str, Any], text: str) -> None:
    message = reply["choices"][0]["message"]
    message["content"], message["refusal"] = None, "I can't help with that."


def _finish(reason: str, content: Any) -> Reshape:
    def reshape(reply: dict[str, Any], text: str) -> None:
        reply["choices"][0]["finish_reason"] = reason
        reply["choices"][0]["message"]["content"] = text[: len(text) // 3] if content else ""

    return reshape


def _no_choices(reply: dict[str, Any], text: str) -> None:
    del reply["choices"]


SHAPES: dict[str, tuple[Reshape, str | None]] = {
    "parts": (_parts, None),
    "thinking": (_thinking, None),
    "number": (_content(42), "malformed"),
    "object": (_content({"text": "hello"}), "malformed"),
    "image part": (_content([{"type": "image_url", "image_url": {"url": "x"}}]), "malformed"),
    "refusal": (_refusal, "refusal"),
    "length": (_finish("length", True), "length"),
    "content_filter": (_finish("content_filter", False), "content_filter"),
    "no choices": (_no_choices, "malformed"),
    "empty": (_content(""), "empty"),
    "null": (_content(None), "empty"),
    "ok": (lambda reply, text: None, None),
}
"""Each shape of reply, and the failure it is (``None``: a sample)."""


class ShapedServer(FakeOpenAI):
    """Gives each distinct prompt the next shape of :data:`SHAPES`, the same when asked
    again; the rest are ordinary replies."""

    def __init__(self) -> None:
        super().__init__()
        self.shape_of: dict[str, str] = {}

    def completion(self, body: dict[str, Any], content: str, finish: str = "stop") -> dict:
        reply = super().completion(body, content, finish)
        prompt = json.dumps(body["messages"], sort_keys=True)
        with self.lock:
            names = list(SHAPES)
            shape = self.shape_of.setdefault(prompt, names[len(self.shape_of) % len(names)])
        reshaped = copy.deepcopy(reply)
        SHAPES[shape][0](reshaped, content)
        return reshaped


@pytest.fixture
def shaped() -> Iterator[ShapedServer]:
    with ShapedServer() as fake:
        yield fake


def generate(server: FakeOpenAI, sample_root: Path, out: Path, *more: str) -> Result:
    args = ["generate", str(sample_root), "--generator", "openai", "--model", "gpt-4o",
            "--base-url", server.base_url, "-O", f"api_key={KEY}", "-O", "backoff=0.01",
            "-o", str(out), "--no-progress", *more]  # fmt: skip
    return CliRunner().invoke(cli, args)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- item 1: every shape of reply is one sample or one failure of its own request --------


@pytest.mark.parametrize("retries", ["0", "1"])
def test_every_shape_of_reply_is_a_sample_or_a_failure_of_its_own(
    shaped: ShapedServer, sample_root: Path, tmp_path: Path, retries: str
) -> None:
    out = tmp_path / "run"
    result = generate(shaped, sample_root, out, "--reply-retries", retries)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert sorted(shaped.shape_of.values()) == sorted(SHAPES)  # 12 requests, every shape
    samples, failures = lines(out / "samples.jsonl"), lines(out / "failures.jsonl")
    expected = Counter(reason for _, reason in SHAPES.values() if reason is not None)
    assert Counter(f["reason"] for f in failures) == expected
    assert len(samples) == sum(reason is None for _, reason in SHAPES.values())
    assert len({*(s["id"] for s in samples), *(f["key"] for f in failures)}) == 12
    assert all(f["usage"]["prompt_tokens"] > 0 for f in failures)  # paid, and charged
    assert not any("type" in json.dumps(s["turns"]) for s in samples)  # text, not parts
    session = json.loads((out / "manifest.json").read_text())["last_session"]
    assert session["samples"] == 3 and session["failures"] == 9
    assert session["interrupted"] is False and session["stopped"] is None
    sent = shaped.counts["chat"]
    assert sent == (12 if retries == "0" else 13)  # only the cut-off reply is asked again
    assert session["requests_sent"] == sent
    detail = {f["reason"]: f["detail"] for f in failures}
    assert "I can't help with that." in detail["refusal"]
    assert "content filter" in detail["content_filter"]


def test_every_shape_of_batch_reply_is_a_sample_or_a_failure_of_its_own(
    shaped: ShapedServer, sample_root: Path, tmp_path: Path
) -> None:
    """Before: a batch line whose content was a list of parts reached the parser as a list,
    and the batch's other results were lost with a traceback."""
    out = tmp_path / "run"
    result = generate(shaped, sample_root, out, "--reply-retries", "0", "--generator",
                      "openai-batch", "-O", "poll_interval=0.01")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(shaped.shape_of.values()) == sorted(SHAPES)
    samples, failures = lines(out / "samples.jsonl"), lines(out / "failures.jsonl")
    expected = Counter(reason for _, reason in SHAPES.values() if reason is not None)
    assert Counter(f["reason"] for f in failures) == expected
    assert len(samples) == 3 and not any("type" in json.dumps(s["turns"]) for s in samples)


def test_a_run_of_only_unusable_shapes_fails_each_request_and_exits_3(
    server: FakeOpenAI, sample_root: Path, tmp_path: Path
) -> None:
    server.behaviour.content = lambda body: [{"type": "image_url"}]  # type: ignore[assignment,return-value]
    out = tmp_path / "run"
    result = generate(server, sample_root, out, "--reply-retries", "0")
    assert result.exit_code == 3, result.output
    failures = lines(out / "failures.jsonl")
    assert len(failures) == 12 == server.counts["chat"]
    assert {f["reason"] for f in failures} == {"malformed"}


# --- item 3: a reply without usage is charged an estimate ---------------------------------


def test_a_reply_without_usage_is_charged_an_estimate_and_the_budget_stops(
    server: FakeOpenAI, sample_root: Path, tmp_path: Path
) -> None:
    server.behaviour.usage = None  # as some servers send
    out = tmp_path / "run"
    # A request's reserve (the most it can cost) is about $0.06 here: the budget has room
    # for it while the replies' estimated costs are small, then stops the run.
    result = generate(server, sample_root, out, "--concurrency", "1", "--max-cost", "0.08",
                      "--price", "gpt-4o=10,10", "-O", "max_tokens=50")  # fmt: skip
    assert result.exit_code == 4, result.output
    assert "the budget of $0.08 is spent" in result.output
    assert 1 <= server.counts["chat"] < 12  # before: all 12, each counted as free
    samples = lines(out / "samples.jsonl")
    assert len(samples) == server.counts["chat"]
    for sample in samples:
        usage = sample["meta"]["usage"]
        assert usage["estimated"] is True and usage["prompt_tokens"] > 100
        assert usage["completion_tokens"] > 10
    session = json.loads((out / "manifest.json").read_text())["last_session"]
    charged = sum(s["meta"]["usage"]["prompt_tokens"] + s["meta"]["usage"]["completion_tokens"]
                  for s in samples) * 10 / 1e6  # fmt: skip
    assert session["cost_usd"] == pytest.approx(charged)
    assert session["usage_estimated"] == len(samples)


def test_a_counted_usage_is_not_marked_estimated(
    server: FakeOpenAI, sample_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = generate(server, sample_root, out, "--limit", "1", "--tasks", "detail")
    assert result.exit_code == 0, result.output
    (sample,) = lines(out / "samples.jsonl")
    assert "estimated" not in sample["meta"]["usage"]


# --- item 11: the whole query of a base URL is secret ------------------------------------


def test_no_query_parameter_of_the_base_url_shows_anywhere(
    server: FakeOpenAI, sample_root: Path, tmp_path: Path
) -> None:
    secrets = ("SECRET1", "SECRET2", "SECRET3", "SECRET4", "sE5")
    query = (f"subscription-key={secrets[0]}&code={secrets[1]}&x-api-key={secrets[2]}"
             f"&client_secret={secrets[3]}&auth={secrets[4]}")  # fmt: skip
    out = tmp_path / "run"
    server.behaviour.script.extend(["500", "ok", "400"])  # a retry, then an error that stops
    command = [sys.executable, "-m", "kpit", "-vv", "generate", str(sample_root),
               "--generator", "openai", "--model", "gpt-4o", "--base-url",
               f"{server.base_url}?{query}", "-O", "backoff=0.01", "--concurrency", "1",
               "--limit", "1", "-o", str(out), "--no-progress"]  # fmt: skip
    env = os.environ | {"OPENAI_API_KEY": KEY}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    shown = done.stdout + done.stderr
    assert done.returncode == 1, shown  # the 400 stops the run, with one line
    assert "HTTP Request" in shown and "subscription-key=***" in shown  # the logs did run
    assert "400" in shown and "Traceback" not in shown
    for path in out.rglob("*"):
        if path.is_file():
            shown += path.read_text(errors="replace")
    for secret in secrets:
        assert secret not in shown
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["generator"]["base_url"].endswith("/v1?subscription-key=***&code=***"
                                                      "&x-api-key=***&client_secret=***"
                                                      "&auth=***")  # fmt: skip
    # The parameters still went to the server, every time.
    assert all(query in path for path in server.paths) and len(server.paths) == 3


# --- item 17: options that can never work stop before the first request -------------------


@pytest.mark.parametrize(
    ("option", "named"),
    [
        ("organization=Société", "organization"),
        ("project=prøject", "project"),
        ("organization=org\r\nX-Evil: 1", "organization"),
        ("timeout=0", "timeout"),
        ("timeout=-5", "timeout"),
        ("max_retries=-1", "max_retries"),
        ("backoff=-1", "backoff"),
        ("max_cost=nan", "max_cost"),
    ],
)
def test_an_option_that_can_never_work_is_refused_before_any_request(
    server: FakeOpenAI, sample_root: Path, tmp_path: Path, option: str, named: str
) -> None:
    out = tmp_path / "run"
    result = generate(server, sample_root, out, "-O", option)
    assert result.exit_code == 1, result.output
    assert named in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert server.counts["chat"] == 0 and not server.paths
