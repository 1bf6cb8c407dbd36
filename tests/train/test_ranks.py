"""Training on several ranks: two processes under ``torchrun`` on CPU (gloo), as on GPUs.

Each run is the real ``kpit train`` (tests/helpers/ranks_run.py, with test hooks) started
by the real launcher; a free port per run; the timeout only catches a hang.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("transformers", reason="the [test] extra installs transformers")

from ..helpers.tiny_llava import make_tiny_llava

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
IMAGES = ("000000000785.jpg", "000000040083.jpg", "000000196141.jpg", "000000197388.jpg")
ANSWERS = ("the person is skiing on the snow .", "a man .", "she is sitting on a chair .")


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


def _data(folder: Path, count: int = 12) -> Path:
    """``count`` records over the four sample images, ids 0 to count-1."""
    records = [
        {
            "id": str(i),
            "image": IMAGES[i % len(IMAGES)],
            "conversations": [
                {"from": "human", "value": "what is the person doing ?"},
                {"from": "gpt", "value": ANSWERS[i % len(ANSWERS)]},
            ],
        }
        for i in range(count)
    ]
    path = folder / "data.json"
    path.write_text(json.dumps(records))
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _launch(
    ranks: int,
    out: Path,
    data: Path,
    images: Path,
    model: Path,
    *flags: str,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``torchrun --nproc_per_node RANKS ranks_run.py`` with kpit train's flags."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(ranks),
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
        str(HELPERS / "ranks_run.py"),
        "--data", str(data), "--images", str(images), "--model", str(model),
        "--output_dir", str(out), "--use_cpu", "true", "--bf16", "false",
        "--activation_checkpointing", "false", "--seed", "0",
        "--logging_steps", "1", "--gradient_accumulation_steps", "1", *flags,
    ]  # fmt: skip
    environment = os.environ | {
        "PYTHONPATH": f"{HELPERS}{os.pathsep}{HELPERS.parents[1]}",
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=environment | (env or {}),
        timeout=600,
        check=False,
    )


def _losses(out: Path) -> list[float]:
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    return [entry["loss"] for entry in history if "loss" in entry]


@pytest.mark.slow
def test_two_ranks_each_train_a_disjoint_share_and_save_once(
    tiny_llava: Path, sample_root: Path, tmp_path: Path
) -> None:
    """2 ranks x 2 per device over 12 records: 3 steps an epoch; 2 epochs; exit 0."""
    out = tmp_path / "out"
    done = _launch(
        2, out, _data(tmp_path), sample_root / "val2017", tiny_llava,
        "--per_device_train_batch_size", "2", "--num_train_epochs", "2",
        env={"KPIT_TEST_IDS": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.strip().splitlines()[-1] == str(out)  # one line, from rank 0
    assert done.stderr.count("training data: 12 samples") == 1  # logged by rank 0 alone
    assert json.loads((out / "kpit_data_report.json").read_text())["samples"] == 12
    assert (out / "model.safetensors").is_file() and (out / "chat_template.jinja").is_file()
    assert len(_losses(out)) == 6
    seen = {rank: (tmp_path / f"ids.rank{rank}.txt").read_text().split() for rank in (0, 1)}
    assert [len(ids) for ids in seen.values()] == [12, 12]  # 6 a rank in each of 2 epochs
    every = {str(i) for i in range(12)}
    for epoch in (0, 1):
        shares = [set(seen[rank][6 * epoch : 6 * epoch + 6]) for rank in (0, 1)]
        assert [len(share) for share in shares] == [6, 6]  # none twice on a rank
        assert not shares[0] & shares[1]  # none on both ranks
        assert shares[0] | shares[1] == every  # none missed
    assert Counter(seen[0] + seen[1]) == Counter({i: 2 for i in every})


@pytest.mark.slow
def test_a_data_error_on_one_rank_stops_every_rank(
    tiny_llava: Path, sample_root: Path, tmp_path: Path
) -> None:
    done = _launch(
        2, tmp_path / "out", _data(tmp_path), sample_root / "val2017", tiny_llava,
        "--per_device_train_batch_size", "2", "--max_steps", "2",
        env={"KPIT_TEST_BREAK_RANK": "1"},
    )  # fmt: skip
    assert done.returncode != 0
    assert "id 7: a record only this rank sees" in done.stderr  # rank 1's own error
    assert "field 'data': rank 1 stopped:" in done.stderr  # rank 0 stops too, naming rank 1
    assert not (tmp_path / "out" / "model.safetensors").exists()


@pytest.mark.slow
def test_two_ranks_reach_the_loss_of_one_process(
    tiny_llava: Path, sample_root: Path, tmp_path: Path
) -> None:
    """Global batch 4 either way (2 ranks x 2, 1 x 4), same seed, no dropout: same losses."""
    data = _data(tmp_path)
    steps = ("--max_steps", "6", "--learning_rate", "1e-2")
    runs = {}
    for ranks, batch in ((1, "4"), (2, "2")):
        out = tmp_path / f"ranks{ranks}"
        done = _launch(
            ranks, out, data, sample_root / "val2017", tiny_llava,
            "--per_device_train_batch_size", batch, *steps,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-4000:]
        runs[ranks] = _losses(out)
    assert len(runs[1]) == len(runs[2]) == 6
    assert runs[1][-1] < runs[1][0]  # it learns
    assert runs[2] == pytest.approx(runs[1], rel=1e-3)
