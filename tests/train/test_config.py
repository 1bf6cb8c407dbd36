"""The training config: a light ``import kpit.train``, and ``TrainConfig`` as a class."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

import kpit
from kpit.cli import cli

from ..helpers.cli_results import help_entries


def test_import_kpit_train_does_not_import_torch_or_transformers() -> None:
    """``kpit.train``'s heavy names come on first use, in a fresh process to be sure."""
    script = (
        "import json, sys\n"
        "import kpit.train\n"
        "light = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\n"
        "config = kpit.train.TrainConfig\n"
        "name = f'{config.__module__}.{config.__qualname__}'\n"
        "print(json.dumps({'on_import': light, 'TrainConfig': name}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["on_import"] == []
    assert result["TrainConfig"] == "kpit.train.trainer.TrainConfig"


def _trainer() -> ModuleType:
    """``kpit.train.trainer``, or a skip where the [train] extra is missing."""
    pytest.importorskip("transformers", reason="the [test] extra installs transformers")
    from kpit.train import trainer

    return trainer


def test_bf16_is_chosen_from_the_machine_unless_set(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trainer = _trainer()
    import torch

    with caplog.at_level(logging.INFO, logger="kpit.train.trainer"):
        config = trainer.TrainConfig(output_dir=str(tmp_path))
    assert config.bf16 is trainer._cuda_bf16() and config.bf16_auto
    if not torch.cuda.is_available():  # a machine without a GPU: no bf16, and no error
        assert config.bf16 is False
    assert f"bf16 not set: chose {config.bf16}" in caplog.text
    explicit = trainer.TrainConfig(output_dir=str(tmp_path), bf16=False)
    assert explicit.bf16 is False and not explicit.bf16_auto


def test_bf16_unset_is_off_on_the_cpu_even_with_a_bf16_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = _trainer()
    monkeypatch.setattr(trainer, "_cuda_bf16", lambda: True)
    assert trainer.TrainConfig(output_dir=str(tmp_path), use_cpu=True).bf16 is False


@pytest.mark.parametrize(
    ("flags", "bf16", "auto"),
    [
        ([], None, True),
        (["--bf16", "false"], False, False),
        (["--no_bf16"], False, False),
        (["--bf16", "true", "--use_cpu", "true"], True, False),
        (["--bf16", "--use_cpu", "true"], True, False),  # a bare --bf16 means true
    ],
)
def test_kpit_train_bf16_flags(
    flags: list[str], bf16: bool | None, auto: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = _trainer()
    seen = []

    def fake_train(config: object) -> Path:  # the parsed config, without training
        seen.append(config)
        return tmp_path

    monkeypatch.setattr(trainer, "train", fake_train)
    result = CliRunner().invoke(cli, ["train", "--output_dir", str(tmp_path), *flags])
    assert result.exit_code == 0, result.output
    (config,) = seen
    expected = trainer._cuda_bf16() if bf16 is None else bf16
    assert (config.bf16, config.bf16_auto) == (expected, auto)


OVERRIDDEN = (
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "num_train_epochs",
    "weight_decay",
    "bf16",
    "activation_checkpointing",
    "report_to",
    "remove_unused_columns",
    "save_strategy",
)


@pytest.mark.parametrize("name", OVERRIDDEN)
def test_every_changed_default_is_explained_in_kpit_train_help(name: str) -> None:
    import dataclasses

    from transformers import TrainingArguments

    trainer = _trainer()
    ours = {f.name: f for f in dataclasses.fields(trainer.TrainConfig)}[name]
    theirs = {f.name: f for f in dataclasses.fields(TrainingArguments)}[name]
    assert ours.metadata["help"] != theirs.metadata.get("help")  # kpit's own text, not theirs
    said = ours.metadata["help"]
    sources = ("the paper's Table 2", "LLaVA's own training script", "kpit's choice")
    assert any(source in said for source in sources)  # where the default comes from
    result = CliRunner().invoke(cli, ["train", "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    blocks = help_entries(result.output)
    assert f"--{name}" in blocks
    assert "".join(said.replace("%%", "%").split()) in blocks[f"--{name}"]


def test_the_paper_recipe_trains_without_gradient_clipping_as_llava_did() -> None:
    """LLaVA's DeepSpeed configs set no gradient_clipping; kpit's own recipe clips at 1.0."""
    pytest.importorskip("deepspeed")
    from kpit.train import TrainConfig

    kpit_config = TrainConfig(output_dir="out", deepspeed="zero3", use_cpu=True)
    paper = TrainConfig(output_dir="out", deepspeed="zero3", use_cpu=True, recipe="paper")
    assert kpit_config.hf_deepspeed_config.config["gradient_clipping"] == 1.0
    assert paper.hf_deepspeed_config.config["gradient_clipping"] == 0.0  # DeepSpeed: off
    chosen = TrainConfig(output_dir="out", recipe="paper", max_grad_norm=0.5, use_cpu=True)
    assert chosen.max_grad_norm == 0.5  # a flag given wins over the recipe
    with pytest.raises(kpit.ConfigError, match="kpit or paper"):
        TrainConfig(output_dir="out", recipe="llava", use_cpu=True)


def test_the_trainer_and_the_answer_backend_share_llava_1_5s_format() -> None:
    from kpit.llava_format import SYSTEM, conversation_text, llava_prompt

    assert SYSTEM.startswith("A chat between a curious user and")  # conv_vicuna_v1
    text, spans = conversation_text([{"from": "human", "value": "Who runs?"},
                                     {"from": "gpt", "value": "The batter."}])  # fmt: skip
    asked = llava_prompt("Who runs?")
    assert text == asked + " The batter.</s>"  # what hf-llava sends, then what is trained
    assert [text[a:b] for a, b in spans] == ["The batter.</s>"]
