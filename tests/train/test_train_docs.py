"""docs/train.md's commands: a block that runs on this machine runs as written; a block that
needs GPUs or several machines says so on its first line, and its launcher and ``kpit train``
flags are each checked against the parser that reads them."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers", reason="the [test] extra installs transformers")

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "train.md"
EXAMPLE_MARKS = ("# on a machine with GPUs", "# on several machines")
"""The first line of a block that needs GPUs (COCO, LLaVA-1.5-7B) or several machines."""
PLACEHOLDERS = {"NODE": "0"}
"""Words the examples leave to the reader, with a value their parser takes."""


def _blocks(language: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return [body for lang, body in re.findall(r"^```(\w*)\n(.*?)^```$", text, re.S | re.M)
            if lang == language]  # fmt: skip


def _examples() -> list[str]:
    return [body for body in _blocks("bash") if body.startswith(EXAMPLE_MARKS)]


def _runnable() -> list[str]:
    return [body for body in _blocks("bash") if not body.startswith(EXAMPLE_MARKS)]


def _commands(body: str) -> list[list[str]]:
    lines = body.replace("\\\n", " ").splitlines()
    commands = [shlex.split(line, comments=True) for line in lines]
    return [[PLACEHOLDERS.get(word, word) for word in command if "..." not in word]
            for command in commands if command]  # fmt: skip


def _split(command: list[str]) -> tuple[list[str], list[str]]:
    """A launcher's own arguments (up to the module it starts) and ``kpit train``'s."""
    for marker in ("kpit.cli.train_main", "train"):
        if marker in command:
            at = command.index(marker)
            return command[1 : at + 1], command[at + 1 :]
    return command[1:], []


def _parse_launcher(name: str, args: list[str]) -> None:
    """``args`` through the launcher's own parser (which exits 2 on a flag it lacks)."""
    if name == "torchrun":
        from torch.distributed.run import get_args_parser

        get_args_parser().parse_args(args)
    elif name == "accelerate":
        from accelerate.commands.launch import launch_command_parser

        assert args[0] == "launch"
        launch_command_parser().parse_args(args[1:])
    elif name == "deepspeed":
        from deepspeed.launcher.runner import parse_args

        parse_args(args)
    else:
        assert name in ("kpit", "pip"), name


def test_every_block_runs_here_or_says_it_needs_gpus_or_machines() -> None:
    assert len(_examples()) >= 4 and len(_runnable()) >= 1
    for body in _runnable():  # what test_the_blocks_that_run_here_run_as_written runs
        assert "coco/" not in body and "llava-hf/" not in body, body


def test_the_examples_flags_are_the_launchers_and_kpit_train_s() -> None:
    pytest.importorskip("deepspeed", reason="the [test] extra installs deepspeed")
    from kpit.cli.train_args import parse_train_args

    trained = 0
    for body in _examples():
        for command in _commands(body):
            launcher, flags = _split(command)
            _parse_launcher(command[0], launcher)
            if launcher[-1:] in (["kpit.cli.train_main"], ["train"]):
                assert parse_train_args(flags) is not None, command
                trained += 1
    assert trained >= 9


def test_the_accelerate_config_is_one_accelerate_reads() -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    (body,) = _blocks("yaml")
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"node-{os.getpid()}.yaml"
    path.write_text(body)
    try:
        config = load_config_from_file(str(path))
    finally:
        path.unlink()
    assert (config.num_machines, config.machine_rank, config.num_processes) == (2, 0, 16)
    assert config.distributed_type.value == "MULTI_GPU"


@pytest.mark.slow
def test_the_blocks_that_run_here_run_as_written(tmp_path: Path) -> None:
    pytest.importorskip("deepspeed", reason="the [test] extra installs deepspeed")
    (tmp_path / "examples").symlink_to(REPO / "examples")
    bin_dir = str(Path(sys.executable).parent)  # kpit, torchrun and python of this environment
    env = os.environ | {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
    }
    for body in _runnable():
        done = subprocess.run(
            ["bash", "-e", "-c", body], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=600, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    from kpit.train.trainer import _empty_weights

    out = tmp_path / "out" / "cpu"
    assert done.stdout.strip().splitlines()[-1] == "out/cpu"  # printed once, by rank 0
    assert _empty_weights(out) == []  # ZeRO-3's weights gathered whole
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert history[-1]["step"] == 2
