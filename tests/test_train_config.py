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

from kpit.cli import cli


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
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
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
