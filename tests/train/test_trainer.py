"""The trainer: a tiny LLaVA fine-tuned on real sample images on CPU, saved, reloaded, used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import kpit
from kpit.bench import answer_bench, build_bench
from kpit.cli import cli

pytest.importorskip("transformers", reason="the [test] extra installs transformers")

from kpit.train import DEEPSPEED_CONFIGS, TrainConfig, train

IMAGES = ("000000000785.jpg", "000000040083.jpg", "000000196141.jpg", "000000197388.jpg")


def _data(tmp_path: Path) -> Path:
    records = [
        {
            "id": str(i),
            "image": image,
            "task": "conversation" if i % 2 else "detail",
            "conversations": [
                {"from": "human", "value": "what is the person doing ?"},
                {"from": "gpt", "value": "the person is skiing on the snow ."},
            ],
        }
        for i, image in enumerate(IMAGES)
    ]
    path = tmp_path / "data.json"
    path.write_text(json.dumps(records))
    return path


def _cpu_config(
    out: Path, work: Path, sample_root: Path, model: Path, **overrides: object
) -> TrainConfig:
    """30 logged CPU steps of the tiny model on the four sample images."""
    settings: dict[str, object] = {
        "max_steps": 30,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 1,
        "logging_steps": 1,
        "use_cpu": True,
        "bf16": False,
        "activation_checkpointing": False,
        "disable_tqdm": True,
    }
    return TrainConfig(
        output_dir=str(out),
        data=str(_data(work)),
        images=str(sample_root / "val2017"),
        model=str(model),
        **(settings | overrides),
    )


def test_paper_defaults() -> None:
    config = TrainConfig(output_dir="out", use_cpu=True, bf16=False, activation_checkpointing=False)
    assert (config.per_device_train_batch_size, config.gradient_accumulation_steps) == (8, 2)
    assert config.learning_rate == 2e-5 and config.weight_decay == 0.0
    assert getattr(config.lr_scheduler_type, "value", config.lr_scheduler_type) == "cosine"
    assert config.num_train_epochs == 1
    assert config.warmup_steps == 0.03 and config.max_length == 2048
    assert config.freeze_vision_tower and not config.freeze_language_model
    for name in ("zero2", "zero3"):
        settings = json.loads(DEEPSPEED_CONFIGS[name].read_text())
        assert settings["zero_optimization"]["stage"] == int(name[-1])
    zero3 = json.loads(DEEPSPEED_CONFIGS["zero3"].read_text())
    assert zero3["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


@pytest.mark.slow
def test_overfit_save_reload_and_answer(
    tiny_llava: Path, sample_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    config = _cpu_config(out, tmp_path, sample_root, tiny_llava, learning_rate=1e-2)
    assert train(config) == out
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    losses = [entry["loss"] for entry in history if "loss" in entry]
    assert len(losses) == 30 and losses[-1] <= losses[0] / 2  # 30 steps overfit 4 images
    report = json.loads((out / "kpit_data_report.json").read_text())
    assert report["samples"] == 4 and report["trained_tokens"] > 0

    from transformers import AutoProcessor, LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration.from_pretrained(out)
    processor = AutoProcessor.from_pretrained(out)
    assert "ASSISTANT:" in processor.chat_template
    assert all(p.numel() > 0 for p in model.parameters())
    before = dict(LlavaForConditionalGeneration.from_pretrained(tiny_llava).named_parameters())
    after = dict(model.named_parameters())
    vision = next(n for n in after if "vision_tower" in n)
    language = next(n for n in after if "language_model" in n and "embed" in n)
    assert (after[vision] == before[vision]).all()  # the vision tower stayed frozen
    assert not (after[language] == before[language]).all()  # the language model learned

    bench = build_bench(list(kpit.load_coco(sample_root)), tmp_path / "bench", num_images=1)
    answers, failures = answer_bench(
        bench,
        tmp_path / "answers.jsonl",
        sample_root / "val2017",
        generator="hf-llava",
        model=str(out),
        generator_options={"max_new_tokens": 8, "device": "cpu"},
    )
    assert failures == {} and len(answers) == 3


@pytest.mark.slow
def test_the_cli_and_the_task_mix(tiny_llava: Path, sample_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--data",
            str(_data(tmp_path)),
            "--images",
            str(sample_root / "val2017"),
            "--model",
            str(tiny_llava),
            "--output_dir",
            str(out),
            "--max_steps",
            "2",
            "--per_device_train_batch_size",
            "2",
            "--use_cpu",
            "true",
            "--bf16",
            "false",
            "--activation_checkpointing",
            "false",
            "--tasks",
            "detail",
            "--deepspeed",
            "none",
            "--disable_tqdm",
            "true",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(str(out))
    assert json.loads((out / "kpit_data_report.json").read_text())["samples"] == 2  # detail only


def test_no_usable_data_is_a_clear_error(tiny_llava: Path, tmp_path: Path) -> None:
    config = TrainConfig(
        output_dir=str(tmp_path / "o"),
        data=str(_data(tmp_path)),
        images=str(tmp_path),
        model=str(tiny_llava),
        use_cpu=True,
        bf16=False,
    )
    with pytest.raises(kpit.ConfigError, match="no usable training sample"):
        train(config)


@pytest.mark.slow
def test_a_deepspeed_zero3_run_on_cpu(tmp_path: Path) -> None:
    """The shipped ZeRO-3 config, a few steps, the loss falls, the weights are saved whole."""
    import os
    import subprocess
    import sys

    pytest.importorskip("deepspeed", reason="the [test] extra installs deepspeed")
    here = Path(__file__).resolve().parents[1] / "helpers"
    import socket

    with socket.socket() as probe:  # a free port: runs side by side must not collide
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = os.environ | {
        "PYTHONPATH": f"{here}{os.pathsep}{here.parent.parent}",
        "KPIT_TEST_PORT": str(port),
    }
    done = subprocess.run(
        [sys.executable, str(here / "zero3_run.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    losses = result["losses"]
    assert len(losses) == 10 and losses[-1] < losses[0] * 0.8
    from transformers import LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration.from_pretrained(result["out"])  # no ZeRO here
    assert all(p.numel() > 0 for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) > 50_000


@pytest.mark.slow
def test_lora_adapters_merged_into_a_plain_checkpoint(
    tiny_llava: Path, sample_root: Path, tmp_path: Path
) -> None:
    pytest.importorskip("peft", reason="the [test] extra installs peft")
    out = tmp_path / "lora"
    config = _cpu_config(out, tmp_path, sample_root, tiny_llava, learning_rate=1e-1, lora_r=8)
    train(config)
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    losses = [entry["loss"] for entry in history if "loss" in entry]
    # adapters on a tiny random model, with its embeddings and head frozen, learn slowly
    assert losses[-1] < losses[0] - 0.1
    from transformers import LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration.from_pretrained(out)  # plain LLaVA: merged
    assert not any("lora" in name for name, _ in model.named_parameters())
