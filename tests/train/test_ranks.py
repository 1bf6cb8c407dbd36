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

from ..conftest import SAMPLE

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
IMAGES = ("000000000785.jpg", "000000040083.jpg", "000000196141.jpg", "000000197388.jpg")
ANSWERS = ("the person is skiing on the snow .", "a man .", "she is sitting on a chair .")


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


def _command(launcher: list[str], out: Path, data: Path, images: Path, model: Path,
             *flags: str) -> list[str]:  # fmt: skip
    """``torchrun LAUNCHER ranks_run.py`` with kpit train's flags."""
    return [
        sys.executable, "-m", "torch.distributed.run", *launcher,
        str(HELPERS / "ranks_run.py"),
        "--data", str(data), "--images", str(images), "--model", str(model),
        "--output_dir", str(out), "--use_cpu", "true", "--bf16", "false",
        "--activation_checkpointing", "false", "--seed", "0",
        "--logging_steps", "1", "--gradient_accumulation_steps", "1", *flags,
    ]  # fmt: skip


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This checkout and the helpers on the path; one thread a rank."""
    paths = {"PYTHONPATH": f"{HELPERS}{os.pathsep}{HELPERS.parents[1]}", "OMP_NUM_THREADS": "1"}
    return os.environ | paths | (extra or {})


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
    launcher = ["--nproc_per_node", str(ranks), "--master_addr", "127.0.0.1",
                "--master_port", str(_free_port())]  # fmt: skip
    return subprocess.run(
        _command(launcher, out, data, images, model, *flags),
        capture_output=True,
        text=True,
        env=_env(env),
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


STEPS = ("--max_steps", "6", "--learning_rate", "1e-2")
"""The parity runs: 6 optimizer steps of a global batch of 4 over the 12 records."""


@pytest.fixture(scope="module")
def one_process(
    tiny_llava: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, list[float]]:
    """The data file, the saved model and the losses of one process with 4 samples a step
    (plain, no DeepSpeed)."""
    work = tmp_path_factory.mktemp("one-process")
    data, out = _data(work), work / "out"
    done = _launch(
        1, out, data, SAMPLE / "val2017", tiny_llava,
        "--per_device_train_batch_size", "4", *STEPS,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return data, out, _losses(out)


@pytest.mark.slow
@pytest.mark.parametrize("deepspeed", ["none", "zero2", "zero3"])
def test_two_ranks_reach_the_loss_of_one_process(
    deepspeed: str,
    one_process: tuple[Path, Path, list[float]],
    tiny_llava: Path,
    sample_root: Path,
    tmp_path: Path,
) -> None:
    """Global batch 4 either way (2 ranks x 2, 1 x 4), same seed, no dropout: same losses;
    ZeRO-3's saved weights are whole and answer through hf-llava."""
    if deepspeed != "none":
        pytest.importorskip("deepspeed", reason="the [test] extra installs deepspeed")
    data, single, reference = one_process
    out = tmp_path / "out"
    done = _launch(
        2, out, data, sample_root / "val2017", tiny_llava,
        "--per_device_train_batch_size", "2", "--deepspeed", deepspeed, *STEPS,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    losses = _losses(out)
    assert len(reference) == len(losses) == 6
    assert reference[-1] < reference[0]  # it learns
    assert losses == pytest.approx(reference, rel=1e-4)
    if deepspeed == "zero3":
        _assert_whole_and_answering(out, single, sample_root, tmp_path)


def _assert_whole_and_answering(out: Path, single: Path, sample_root: Path, work: Path) -> None:
    """The saved weights are whole: every one reloads (none missing, none empty) equal to
    those one process trained; hf-llava answers with them."""
    import torch
    from transformers import LlavaForConditionalGeneration

    import kpit
    from kpit.bench import answer_bench, build_bench

    model, info = LlavaForConditionalGeneration.from_pretrained(out, output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected or mismatched weight
    expected = LlavaForConditionalGeneration.from_pretrained(single).state_dict()
    weights = model.state_dict()
    assert weights.keys() == expected.keys() and len(weights) > 10
    for name, value in weights.items():
        assert value.shape == expected[name].shape and value.numel() > 0, name
        assert torch.allclose(value, expected[name], atol=1e-4), name
    bench = build_bench(list(kpit.load_coco(sample_root)), work / "bench", num_images=1)
    answers, failures = answer_bench(
        bench, work / "answers.jsonl", sample_root / "val2017", generator="hf-llava",
        model=str(out), generator_options={"max_new_tokens": 4, "device": "cpu"},
    )  # fmt: skip
    assert failures == {} and len(answers) == 3


@pytest.mark.slow
def test_two_nodes_on_loopback(tiny_llava: Path, sample_root: Path, tmp_path: Path) -> None:
    """Two torchrun processes started as two nodes of one process each, as on two machines."""
    data, endpoint = _data(tmp_path), f"127.0.0.1:{_free_port()}"
    nodes = [
        subprocess.Popen(
            _command(
                ["--nnodes", "2", "--nproc_per_node", "1", "--node_rank", str(node),
                 "--rdzv_endpoint", endpoint],
                tmp_path / "out", data, sample_root / "val2017", tiny_llava,
                "--per_device_train_batch_size", "2", "--max_steps", "3",
            ),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_env({"KPIT_TEST_IDS": str(tmp_path)}),
        )
        for node in (0, 1)
    ]  # fmt: skip
    done = [node.communicate(timeout=600) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], done[0][1][-3000:] + done[1][1][-3000:]
    assert done[0][0].strip().splitlines()[-1] == str(tmp_path / "out")  # node 0 holds rank 0
    assert len(_losses(tmp_path / "out")) == 3
    shares = [set((tmp_path / f"ids.rank{rank}.txt").read_text().split()) for rank in (0, 1)]
    assert [len(share) for share in shares] == [6, 6]  # 3 steps of 2 a node
    assert shares[0] | shares[1] == {str(i) for i in range(12)}  # one epoch, shared out


@pytest.mark.slow
def test_save_on_each_node_over_two_nodes_stops_before_training(
    tiny_llava: Path, sample_root: Path, tmp_path: Path
) -> None:
    """transformers 5 writes the weights on rank 0 alone, so a second node's writer would
    save a folder without weights after all the training: both nodes stop at the start."""
    data, endpoint = _data(tmp_path), f"127.0.0.1:{_free_port()}"
    outs = [tmp_path / f"node{node}" for node in (0, 1)]  # two nodes sharing no folder
    nodes = [
        subprocess.Popen(
            _command(
                ["--nnodes", "2", "--nproc_per_node", "1", "--node_rank", str(node),
                 "--rdzv_endpoint", endpoint],
                outs[node], data, sample_root / "val2017", tiny_llava,
                "--per_device_train_batch_size", "2", "--max_steps", "2",
                "--save-on-each-node", "true",
            ),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
        )
        for node in (0, 1)
    ]  # fmt: skip
    done = [node.communicate(timeout=600) for node in nodes]
    assert all(node.returncode != 0 for node in nodes)
    for _, err in done:
        assert "field 'save_on_each_node': ranks [0, 1] would each save the model" in err
        assert "training data:" not in err  # stopped before the data and the training
    assert not any(out.exists() for out in outs)
