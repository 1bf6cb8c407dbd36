"""``kpit train`` on two CPU ranks under ``accelerate launch`` and the ``deepspeed`` launcher.

tests/train/test_ranks.py runs the ranks under ``torchrun``; here the same script
(tests/helpers/ranks_run.py, the real CLI with its test hooks) starts under the two other
launchers a user would type: every run exits 0, saves a whole model once and trains on both
ranks (each rank records the sample ids it trains on). A free port per run; the timeout only
catches a hang.

All six pairs of launcher and DeepSpeed setting (none, zero2, zero3) pass; CI runs four, about
half a minute each on two busy cores: ZeRO-3 under both launchers (the stage whose
``deepspeed.zero.Init`` saw a world of one before kpit joined DeepSpeed to the running process
group), no DeepSpeed under ``accelerate`` (its own process group) and ZeRO-2 under the
``deepspeed`` launcher. ZeRO-2 under ``accelerate`` takes the same path as ZeRO-3 there, and
no DeepSpeed under the ``deepspeed`` launcher is plain DDP as under ``torchrun``
(test_ranks.py runs none, zero2 and zero3 there).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers", reason="the [test] extra installs transformers")

from .test_ranks import HELPERS, _data, _env, _free_port, _losses

LAUNCHERS = {
    # accelerate's --cpu starts one process (it spreads CPU processes only through mpirun);
    # --multi_gpu with kpit's --use_cpu true starts two, talking over gloo
    "accelerate": [
        "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_ip", "127.0.0.1", "--main_process_port", "{port}",
    ],
    # --num_gpus 2 on a machine without GPUs: two ranks on DeepSpeed's CPU accelerator
    "deepspeed": [
        "-m", "deepspeed.launcher.runner", "--num_gpus", "2",
        "--master_addr", "127.0.0.1", "--master_port", "{port}",
    ],
}  # fmt: skip


def _launch(launcher: str, deepspeed: str, work: Path, model: Path, images: Path) -> Path:
    """Two ranks x 2 samples a step, 3 steps over 12 records (one epoch, shared out)."""
    out = work / "out"
    command = [
        sys.executable, *(a.format(port=_free_port()) for a in LAUNCHERS[launcher]),
        str(HELPERS / "ranks_run.py"),
        "--data", str(_data(work)), "--images", str(images), "--model", str(model),
        "--output_dir", str(out), "--use_cpu", "true", "--bf16", "false",
        "--activation_checkpointing", "false", "--seed", "0", "--logging_steps", "1",
        "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1",
        "--max_steps", "3", "--deepspeed", deepspeed,
    ]  # fmt: skip
    env = _env({"KPIT_TEST_IDS": str(work), "HF_HOME": str(work / "hf")})
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=600, check=False, cwd=work
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-4000:]
    return out


def _assert_whole(out: Path) -> None:
    """Every saved weight reloads, none missing, none empty (ZeRO-3 gathered them)."""
    from transformers import LlavaForConditionalGeneration

    from kpit.train.trainer import _empty_weights

    assert _empty_weights(out) == []
    model, info = LlavaForConditionalGeneration.from_pretrained(out, output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected or mismatched weight
    weights = model.state_dict()
    assert len(weights) > 10 and all(value.numel() > 0 for value in weights.values())
    assert (out / "chat_template.jinja").is_file() and (out / "kpit_data_report.json").is_file()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("launcher", "deepspeed"),
    [
        ("accelerate", "none"),
        ("accelerate", "zero3"),
        ("deepspeed", "zero2"),
        ("deepspeed", "zero3"),
    ],
)
def test_two_ranks_under_the_launcher_train_and_save_a_whole_model(
    launcher: str, deepspeed: str, tiny_llava: Path, sample_root: Path, tmp_path: Path
) -> None:
    if deepspeed != "none" or launcher == "deepspeed":
        pytest.importorskip("deepspeed", reason="the [test] extra installs deepspeed")
    out = _launch(launcher, deepspeed, tmp_path, tiny_llava, sample_root / "val2017")
    assert len(_losses(out)) == 3
    _assert_whole(out)
    shares = [set((tmp_path / f"ids.rank{rank}.txt").read_text().split()) for rank in (0, 1)]
    assert [len(share) for share in shares] == [6, 6]  # 3 steps of 2 samples on each rank
    assert shares[0] | shares[1] == {str(i) for i in range(12)}  # disjoint, none missed
