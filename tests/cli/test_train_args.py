"""``kpit train``'s command line speaks the rest of the CLI's dialect: its usage names it, its
own options come first, the training arguments are grouped by their defaults' source, dashed
and underscore spellings both work, ``--exclude-images`` repeats as in ``generate``."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from kpit.cli import cli

from ..helpers.cli_results import one_clear_line

pytest.importorskip("transformers", reason="the [test] extra installs transformers")

from kpit.cli.train_args import GROUPS, _normalised, parse_train_args, train_help
from kpit.train.trainer import TrainConfig, _precision


def _groups(text: str) -> list[tuple[str, list[str]]]:
    """``--help``'s groups in order: each title and the first spelling of each option in it."""
    groups: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            groups.append((line[:-1], []))
        elif groups and re.match(r"  -", line):
            groups[-1][1].append(line.split()[0].rstrip(","))
    return groups


def test_the_help_is_kpit_train_s_with_its_own_options_first() -> None:
    result = CliRunner().invoke(cli, ["train", "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert result.output.startswith("usage: kpit train --data JSON --images DIR --model MODEL")
    groups = _groups(result.output)
    titles = [title for title, _ in groups]
    assert titles[0] == "kpit train's options"
    assert titles[1].startswith("training with the paper's Table 2")
    assert titles[1:-1] == [title for title, _ in GROUPS]
    own = groups[0][1]
    assert own[:5] == ["-h", "--output-dir", "--data", "--images", "--model"]
    assert {"--tasks", "--recipe", "--exclude-images", "--on-bad-sample", "--lora-r"} <= set(own)
    assert result.output.index("--data") < 600  # near the top, not around line 629
    table2 = dict(groups)[titles[1]]
    assert table2[:3] == ["--per-device-train-batch-size", "--gradient-accumulation-steps",
                          "--learning-rate"]  # fmt: skip
    entries = re.split(r"\n  (?=-)", result.output.split(f"{titles[1]}:", 1)[1].split("\n\n")[0])
    for entry in entries[1:]:  # every Table 2 option names where its default comes from
        assert "Table 2" in " ".join(entry.split()), entry


def test_every_field_is_one_option_once_with_both_spellings() -> None:
    shown = [flag for _, flags in _groups(train_help()) for flag in flags]
    assert len(shown) == len(set(shown))
    fields = [f.name for f in dataclasses.fields(TrainConfig) if f.init]
    for name in fields:
        assert f"--{name.replace('_', '-')}" in shown, name
    assert "  --use-cpu, --use_cpu [true|false]" in train_help()


def _parsed(args: list[str]) -> Any:
    config = parse_train_args(["--output-dir", "out", "--use-cpu", "true", *args])
    assert config is not None
    return config


@pytest.mark.parametrize(
    ("dashed", "underscored", "field", "value"),
    [
        (["--max-steps", "3"], ["--max_steps", "3"], "max_steps", 3),
        (["--learning-rate", "1e-3"], ["--learning_rate", "1e-3"], "learning_rate", 1e-3),
        (["--per-device-train-batch-size=2"], ["--per_device_train_batch_size=2"],
         "per_device_train_batch_size", 2),
        (["--on-bad-sample", "raise"], ["--on_bad_sample", "raise"], "on_bad_sample", "raise"),
        (["--no-bf16"], ["--no_bf16"], "bf16", False),
        (["--no-activation-checkpointing"], ["--no_activation_checkpointing"],
         "activation_checkpointing", False),
        (["--freeze-projector", "true"], ["--freeze_projector"], "freeze_projector", True),
    ],
)  # fmt: skip
def test_dashed_and_underscore_spellings_are_the_same_option(
    dashed: list[str], underscored: list[str], field: str, value: object
) -> None:
    for config in (_parsed(dashed), _parsed(underscored)):
        assert getattr(config, field) == value
        assert not config.bf16_auto or field != "bf16"
    default = _parsed([])
    assert getattr(default, field) != value or (field == "bf16" and default.bf16_auto)


def test_use_cpu_and_output_dir_either_way() -> None:
    config = parse_train_args(["--output_dir", "a", "--use_cpu", "true"])
    assert (config.output_dir, config.use_cpu) == ("a", True)
    assert parse_train_args(["--output", "b", "--use-cpu"]).output_dir == "b"


def test_exclude_images_repeats_as_in_generate() -> None:
    config = _parsed(["--exclude-images", "hpaub/", "--exclude_images=ids.txt",
                      "--exclude-images=runs/x,more.txt"])  # fmt: skip
    assert config.exclude_images == "hpaub/,ids.txt,runs/x,more.txt"
    assert _parsed(["--exclude-images", "hpaub/"]).exclude_images == "hpaub/"


WORDS = st.sampled_from(["--max-steps", "3", "--use_cpu=true", "--data", "x.json", "-h2"])


@given(st.lists(WORDS), st.lists(st.text(alphabet="abc/,.", min_size=1, max_size=5), max_size=4))
def test_only_the_repeatable_option_is_rewritten(
    words: list[str], excluded: list[str]
) -> None:  # fmt: skip
    args = [*words]
    for n, value in enumerate(excluded):
        args += ["--exclude-images" if n % 2 else "--exclude_images", value]
    expected = words + (["--exclude_images", ",".join(excluded)] if excluded else [])
    assert _normalised(args) == expected


def test_an_unknown_option_is_one_line_with_the_nearest_spelling(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["train", "--output-dir", str(tmp_path), "--lerning-rate", "1"]
    )
    one_clear_line(result, "kpit train takes no --lerning-rate", "did you mean --learning-rate?")


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        ({"use_cpu": True}, "fp32 (--bf16 not given, so chosen from the machine: --use-cpu true)"),
        ({"use_cpu": True, "bf16": False}, "fp32 (as given: --bf16 false)"),
        ({"use_cpu": True, "bf16": True}, "bf16 (as given: --bf16 true)"),
    ],
)
def test_the_precision_line_says_what_decided_it(settings: dict[str, Any], line: str) -> None:
    assert _precision(TrainConfig(output_dir="out", **settings)) == line


def test_exclude_images_without_a_value_is_argparse_s_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["train", "--output-dir", str(tmp_path), "--exclude-images"])
    assert result.exit_code == 2
    assert "argument --exclude-images/--exclude_images: expected one argument" in result.output
