"""Paid bench answers and reviews are never lost, doubled or written over an input (issue 23,
items 5, 6, 7 and 16), through the command line against the loopback server.

Before: ``kpit bench answer`` wrote nothing until its end (SIGTERM after 4 paid answers left
no file; an unwritable ``-o`` was found after every request was paid, with a traceback); a
spent budget printed "2 answers, 0 unanswered" with exit 0; two ``kpit bench judge`` runs into
one output paid twice; ``bench judge --answers a.jsonl -o a.jsonl`` and ``bench answer ... -o
BENCH/questions.jsonl`` wrote over their inputs with exit 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kpit.cli import cli
from kpit.cli.generate import EXIT_INTERRUPTED, EXIT_STOPPED

from ..conftest import LLAVA_BENCH, REPO, SAMPLE
from ..helpers.cli_results import one_clear_line
from ..helpers.openai_server import FakeOpenAI
from ..helpers.waiting import HANG, count_lines, wait_for_exit, wait_for_lines

KEY = "sk-bench-SECRET-0123456789abcdef"
QUESTIONS = 12
"""Questions of the benchmark built from the bundled sample: 4 images x 3 categories."""


@pytest.fixture(scope="module")
def hpaub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A benchmark of the bundled sample's 4 images (12 questions), built once."""
    folder = tmp_path_factory.mktemp("bench") / "hpaub"
    result = CliRunner().invoke(cli, ["bench", "build", str(SAMPLE), "--num-images", "4",
                                      "-o", str(folder)])  # fmt: skip
    assert result.exit_code == 0, result.output
    return folder


def _judge_replies(server: FakeOpenAI) -> None:
    def content(body: dict[str, object]) -> str:
        return "8 7\nThe reference is a little more precise."

    server.behaviour.content = content


def _server_options(server: FakeOpenAI) -> list[str]:
    return ["--base-url", server.base_url, "-O", f"api_key={KEY}", "-O", "backoff=0.01"]


BUDGET = "0.005"
JUDGE_BUDGET = "0.01"
"""Dollars at $1 a million tokens: room for a few requests, not for all (a judge's
requests are larger)."""


def _answer_args(hpaub: Path, out: Path, server: FakeOpenAI, *more: str) -> list[str]:
    return ["bench", "answer", str(hpaub), "--images", str(SAMPLE / "val2017"), "--model",
            "gpt-4o", "-o", str(out), *_server_options(server), *more]  # fmt: skip


def _judge_args(hpaub: Path, answers: Path, out: Path, server: FakeOpenAI, *more: str) -> list[str]:
    return ["bench", "judge", str(hpaub), "--answers", str(answers), "-o", str(out),
            *_server_options(server), *more]  # fmt: skip


def _invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args)


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    """``kpit ARGS`` in a child process (this worktree's kpit)."""
    env = os.environ | {"PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "kpit", *args], env=env,
                            stderr=subprocess.PIPE)  # fmt: skip


@contextlib.contextmanager
def _running(args: list[str], server: FakeOpenAI) -> Iterator[subprocess.Popen[bytes]]:
    """``kpit ARGS`` in a child process; on leaving, the server's held replies go and the
    child, if it still runs (a failed test), is killed."""
    process = _start(args)
    try:
        yield process
    finally:
        server.release()
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=HANG)


def _write_answers(hpaub: Path, out: Path, model: str = "model-a") -> Path:
    """An answer to each of the benchmark's questions."""
    lines = []
    for line in (hpaub / "questions.jsonl").read_text().splitlines():
        qid = json.loads(line)["question_id"]
        text = f"{model} answers {qid}: a person stands."
        record = {
            "question_id": qid,
            "text": text,
            "answer_id": f"{model}-{qid}",
            "model_id": model,
        }
        lines.append(json.dumps(record))
    out.write_text("\n".join(lines) + "\n")
    return out


def _terminate_after_four(
    args: list[str], written: Path, server: FakeOpenAI
) -> tuple[int | None, bytes]:
    """Run a command whose 5th reply the server holds; once 4 lines are in ``written`` and
    the 5th request is in flight, send SIGTERM. The process's exit status and stderr."""
    with _running(args, server) as process:
        wait_for_lines(written, 4, process=process)
        server.wait_for_requests(5)
        process.send_signal(signal.SIGTERM)
        stderr = wait_for_exit(process)
        return process.returncode, stderr


# --- item 5: answers appended as they come, kept on SIGTERM, resumed, budgets stop loudly ---


def test_sigterm_keeps_the_paid_answers_and_a_rerun_pays_only_for_the_rest(
    hpaub: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    server.behaviour.hold_after = 4  # the 5th reply waits: SIGTERM lands with it in flight
    out = tmp_path / "answers.jsonl"
    code, stderr = _terminate_after_four(_answer_args(hpaub, out, server, "--concurrency", "1"),
                                   out, server)  # fmt: skip
    assert code == EXIT_INTERRUPTED, stderr.decode()[-2000:]
    assert b"every answer finished is saved" in stderr and b"Traceback" not in stderr
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(kept) == 4 and len({a["question_id"] for a in kept}) == 4
    sent = server.counts["chat"]
    result = _invoke(_answer_args(hpaub, out, server))
    assert result.exit_code == 0, result.output
    assert f"{QUESTIONS} answers, 0 unanswered" in result.stdout
    assert server.counts["chat"] - sent == QUESTIONS - 4  # the 4 paid answers are not asked again
    ids = [json.loads(line)["question_id"] for line in out.read_text().splitlines()]
    assert ids == sorted(ids) and len(ids) == QUESTIONS  # rewritten in question order at the end


def test_a_torn_last_answer_is_cut_and_asked_again(
    hpaub: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    out = tmp_path / "answers.jsonl"
    assert _invoke(_answer_args(hpaub, out, server)).exit_code == 0
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:-1]) + lines[-1][:25])  # a kill -9 in the middle of a write
    sent = server.counts["chat"]
    result = _invoke(_answer_args(hpaub, out, server))
    assert result.exit_code == 0, result.output
    assert server.counts["chat"] - sent == 1
    assert [json.loads(line)["question_id"] for line in out.read_text().splitlines()] == list(
        range(QUESTIONS)
    )


def test_a_spent_budget_stops_answering_says_so_and_exits_4(
    hpaub: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    out = tmp_path / "answers.jsonl"
    budget = ["--price", "gpt-4o=1,1", "--concurrency", "1", "--max-cost", BUDGET]
    result = _invoke(_answer_args(hpaub, out, server, *budget))
    assert result.exit_code == EXIT_STOPPED, result.output
    sent = server.counts["chat"]
    assert 1 <= sent < QUESTIONS and count_lines(out) == sent
    assert f"{sent} answers, {QUESTIONS - sent} unanswered" in result.stdout
    assert "stopped early: the budget of $" in result.stderr
    assert f"{QUESTIONS - sent} questions not asked" in result.stderr
    # The answers already in the output count against the same budget: nothing more is sent.
    result = _invoke(_answer_args(hpaub, out, server, *budget))
    assert result.exit_code == EXIT_STOPPED, result.output
    assert server.counts["chat"] == sent
    result = _invoke(_answer_args(hpaub, out, server, "--max-cost", "100"))
    assert result.exit_code == 0, result.output
    assert server.counts["chat"] == QUESTIONS and count_lines(out) == QUESTIONS


def test_answers_of_another_model_in_the_output_are_never_dropped(
    hpaub: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    """Before: rerunning with another ``--model`` into the same ``-o`` rewrote the file with
    the new model's answers only, losing every paid answer of the first."""
    out = tmp_path / "answers.jsonl"
    assert _invoke(_answer_args(hpaub, out, server)).exit_code == 0
    before, sent = out.read_bytes(), server.counts["chat"]
    args = _answer_args(hpaub, out, server)
    args[args.index("gpt-4o")] = "gpt-4o-mini"
    result = _invoke(args)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
    assert "holds an answer of 'gpt-4o'" in result.stderr and "line 1" in result.stderr
    assert out.read_bytes() == before and server.counts["chat"] == sent


@pytest.mark.parametrize("command", ["answer", "judge"])
def test_an_unwritable_output_is_one_line_before_any_request(
    command: str, hpaub: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    out = blocker / "out.jsonl"
    answers = _write_answers(hpaub, tmp_path / "answers.jsonl")
    args = (_answer_args(hpaub, out, server) if command == "answer"
            else _judge_args(hpaub, answers, out, server))  # fmt: skip
    result = _invoke(args)
    one_clear_line(result, str(out), "cannot write")
    assert server.counts["chat"] == 0


# --- item 5 for the judge, and item 6: one writer per output --------------------------------


def test_sigterm_keeps_the_paid_reviews_and_a_rerun_pays_only_for_the_rest(
    hpaub: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    _judge_replies(server)
    server.behaviour.hold_after = 4
    answers = _write_answers(hpaub, tmp_path / "answers.jsonl")
    out = tmp_path / "reviews.jsonl"
    cache = tmp_path / "reviews.jsonl.cache.jsonl"
    code, stderr = _terminate_after_four(_judge_args(hpaub, answers, out, server, "--concurrency",
                                               "1"), cache, server)  # fmt: skip
    assert code == EXIT_INTERRUPTED, stderr.decode()[-2000:]
    assert count_lines(out) == 4  # what is done is in the reviews too
    sent = server.counts["chat"]
    result = _invoke(_judge_args(hpaub, answers, out, server))
    assert result.exit_code == 0, result.output
    assert server.counts["chat"] - sent == QUESTIONS - 4
    assert count_lines(out) == QUESTIONS


def test_two_judges_into_one_output_pay_once(
    hpaub: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    """The first judge holds its third reply; a second judge (through another server, so
    that nothing of it waits) is refused before it sends anything."""
    _judge_replies(server)
    server.behaviour.hold_after = 2
    answers = _write_answers(hpaub, tmp_path / "answers.jsonl")
    out = tmp_path / "reviews.jsonl"
    with _running(_judge_args(hpaub, answers, out, server, "--concurrency", "1"),
                  server) as first:  # fmt: skip
        server.wait_for_requests(3)  # the first judge holds the output, a reply in flight
        with FakeOpenAI() as other:
            _judge_replies(other)
            second = _invoke(_judge_args(hpaub, answers, out, other))
            assert other.counts["chat"] == 0  # before: 12 more reviews paid for
        one_clear_line(second, f"kpit process {first.pid}", "two writers")
        server.release()
        stderr = wait_for_exit(first)
    assert first.returncode == 0, stderr.decode()[-2000:]
    assert server.counts["chat"] == QUESTIONS  # 12 reviews, 12 requests (24 before)
    assert count_lines(out) == QUESTIONS


def test_two_answer_runs_into_one_output_pay_once(
    hpaub: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    server.behaviour.hold_after = 1
    out = tmp_path / "answers.jsonl"
    with _running(_answer_args(hpaub, out, server, "--concurrency", "1"), server) as first:
        server.wait_for_requests(2)
        with FakeOpenAI() as other:
            second = _invoke(_answer_args(hpaub, out, other))
            assert other.counts["chat"] == 0
        one_clear_line(second, f"kpit process {first.pid}")
        server.release()
        stderr = wait_for_exit(first)
    assert first.returncode == 0, stderr.decode()[-2000:]
    assert server.counts["chat"] == QUESTIONS
    assert count_lines(out) == QUESTIONS


def test_a_spent_judge_budget_leaves_the_rest_unasked_not_failed(
    hpaub: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    _judge_replies(server)
    answers = _write_answers(hpaub, tmp_path / "answers.jsonl")
    out = tmp_path / "reviews.jsonl"
    budget = ["--concurrency", "1", "-O", "prices=gpt-4o=1,1", "-O", f"max_cost={JUDGE_BUDGET}"]
    result = _invoke(_judge_args(hpaub, answers, out, server, *budget))
    assert result.exit_code == EXIT_STOPPED, result.output
    sent = server.counts["chat"]
    assert 1 <= sent < QUESTIONS
    assert f"{sent} reviews, 0 without scores" in result.stdout
    assert f"{QUESTIONS - sent} reviews not asked" in result.stderr
    assert not (tmp_path / "reviews.failures.jsonl").exists()  # unasked is not unreadable
    # The reviews already had count against the same budget: nothing more is sent.
    result = _invoke(_judge_args(hpaub, answers, out, server, *budget))
    assert result.exit_code == EXIT_STOPPED, result.output
    assert server.counts["chat"] == sent
    result = _invoke(_judge_args(hpaub, answers, out, server))
    assert result.exit_code == 0, result.output
    assert server.counts["chat"] == QUESTIONS


# --- item 7: no command writes over its inputs ----------------------------------------------


def _llava_bench(tmp_path: Path) -> dict[str, Path]:
    """Copies of LLaVA-Bench's files (so that a wrong write harms only the copies)."""
    names = {"questions": "qa90_questions.jsonl", "context": "caps_boxes_coco2014_val_80.jsonl",
             "references": "qa90_gpt4_answer.jsonl"}  # fmt: skip
    copies = {}
    for key, name in names.items():
        copies[key] = tmp_path / name
        shutil.copy(LLAVA_BENCH / name, copies[key])
    return copies


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
def test_judge_never_writes_over_its_answers(how: str, server: FakeOpenAI, tmp_path: Path) -> None:
    files = _llava_bench(tmp_path)
    answers = tmp_path / "a.jsonl"
    lines = [json.loads(line) for line in files["references"].read_text().splitlines()]
    answers.write_text("".join(json.dumps(r | {"model_id": "model-a"}) + "\n" for r in lines))
    before = answers.read_bytes()
    out = {"same": answers, "symlink": tmp_path / "link.jsonl",
           "hardlink": tmp_path / "hard.jsonl"}[how]  # fmt: skip
    if how == "symlink":
        out.symlink_to(answers)
    elif how == "hardlink":
        os.link(answers, out)
    args = ["bench", "judge", "--questions", str(files["questions"]), "--context",
            str(files["context"]), "--references", str(files["references"]), "--answers",
            str(answers), "-o", str(out), *_server_options(server)]  # fmt: skip
    result = _invoke(args)
    one_clear_line(result, "would write over an input", str(answers))
    assert answers.read_bytes() == before
    assert server.counts["chat"] == 0


@pytest.mark.parametrize("input_name", ["questions.jsonl", "references.jsonl", "context.jsonl"])
def test_answer_never_writes_over_the_benchmark(
    input_name: str, hpaub: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    bench = tmp_path / "hpaub"
    shutil.copytree(hpaub, bench)
    before = (bench / input_name).read_bytes()
    result = _invoke(_answer_args(bench, bench / input_name, server))
    one_clear_line(result, "would write over an input", input_name)
    assert (bench / input_name).read_bytes() == before
    assert server.counts["chat"] == 0
    # Beside the benchmark's files (not over one) is fine.
    result = _invoke(_answer_args(bench, bench / "answers.jsonl", server))
    assert result.exit_code == 0, result.output


def test_the_pose_judge_never_writes_over_its_answers(hpaub: Path, tmp_path: Path) -> None:
    answers = _write_answers(hpaub, tmp_path / "answers.jsonl")
    before = answers.read_bytes()
    link = tmp_path / "link.jsonl"
    link.symlink_to(answers)
    result = _invoke(["bench", "judge", str(hpaub), "--answers", str(answers), "--judge", "pose",
                      "-o", str(link)])  # fmt: skip
    one_clear_line(result, "would write over an input")
    assert answers.read_bytes() == before


def test_answer_never_writes_over_an_image_it_sends(
    hpaub: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    images = tmp_path / "images"
    shutil.copytree(SAMPLE / "val2017", images)
    name = json.loads((hpaub / "questions.jsonl").read_text().splitlines()[0])["image"]
    before = (images / name).read_bytes()
    args = ["bench", "answer", str(hpaub), "--images", str(images), "--model", "gpt-4o", "-o",
            str(images / name), *_server_options(server)]  # fmt: skip
    result = _invoke(args)
    one_clear_line(result, "would write over an input", name)
    assert (images / name).read_bytes() == before and server.counts["chat"] == 0
    # Beside the images (not over one) is fine.
    args[args.index("-o") + 1] = str(images / "answers.jsonl")
    assert _invoke(args).exit_code == 0
