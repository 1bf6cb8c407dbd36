"""``--recipe paper``: what LLaVA-1.5's ``finetune.sh`` and the paper's Table 2 set, per machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpit.cli import cli
from kpit.errors import ConfigError

from ..helpers.cli_results import help_entries

pytest.importorskip("transformers", reason="the [test] extra installs transformers")

from kpit.train import LlavaDataset, TrainConfig
from kpit.train import trainer as trainer_module
from kpit.train.trainer import paper_gpu_settings

IMAGES = ("000000000785.jpg", "000000040083.jpg", "000000196141.jpg", "000000197388.jpg")


@pytest.mark.parametrize(
    ("capability", "expected"),
    [
        (None, {"tf32": False, "deepspeed": None}),  # the CPU: no TF32, no DeepSpeed
        ((7, 0), {"tf32": False, "deepspeed": "zero3"}),  # V100: no TF32
        ((7, 5), {"tf32": False, "deepspeed": "zero3"}),  # T4
        ((8, 0), {"tf32": True, "deepspeed": "zero3"}),  # A100, as the paper trained
        ((8, 6), {"tf32": True, "deepspeed": "zero3"}),
        ((9, 0), {"tf32": True, "deepspeed": "zero3"}),  # H100
    ],
)
def test_the_gpu_decision(capability: tuple[int, int] | None, expected: dict[str, object]) -> None:
    assert paper_gpu_settings(capability) == expected


def test_the_paper_recipe_on_the_cpu() -> None:
    paper = TrainConfig(output_dir="out", recipe="paper", use_cpu=True, bf16=False)
    assert paper.tf32 is False and paper.deepspeed is None
    assert paper.train_sampling_strategy == "group_by_length"
    assert paper.max_grad_norm == 0.0
    kpit_recipe = TrainConfig(output_dir="out", use_cpu=True, bf16=False)
    assert kpit_recipe.tf32 is None and kpit_recipe.deepspeed is None
    assert kpit_recipe.train_sampling_strategy == "random"
    given = TrainConfig(
        output_dir="out", recipe="paper", use_cpu=True, train_sampling_strategy="random"
    )
    assert given.train_sampling_strategy == "random"  # a flag given wins over the recipe


def test_the_paper_recipe_on_a_gpu_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The decision from the machine, the GPU given (no GPU is needed to check the wiring)."""
    monkeypatch.setattr(trainer_module, "_cuda_capability", lambda: (7, 0))
    monkeypatch.setattr(trainer_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="--deepspeed none"):  # no deepspeed installed
        TrainConfig(output_dir="out", recipe="paper", bf16=False)
    # --deepspeed none and --use_cpu both leave DeepSpeed out; so does the kpit recipe
    chosen = TrainConfig(output_dir="out", recipe="paper", deepspeed="none", bf16=False)
    assert chosen.deepspeed is None and chosen.tf32 is False
    assert TrainConfig(output_dir="out", recipe="paper", use_cpu=True).deepspeed is None
    assert TrainConfig(output_dir="out", bf16=False).deepspeed is None


def _data(tmp_path: Path) -> Path:
    records = [
        {
            "id": str(i),
            "image": image,
            "conversations": [
                {"from": "human", "value": "what is the person doing ?" + " really ?" * i},
                {"from": "gpt", "value": "the person is skiing on the snow ." * (i + 1)},
            ],
        }
        for i, image in enumerate(IMAGES)
    ]
    path = tmp_path / "data.json"
    path.write_text(json.dumps(records))
    return path


def test_batches_are_grouped_by_the_lengths_the_data_check_counted(
    tmp_path: Path, sample_root: Path, tiny_llava: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LLaVA's group_by_modality_length with every record imaged: transformers' sampler on
    kpit's own token counts, with no second pass over the samples."""
    from transformers import LlavaForConditionalGeneration
    from transformers.trainer_pt_utils import LengthGroupedSampler

    config = TrainConfig(
        output_dir=str(tmp_path / "out"),
        data=str(_data(tmp_path)),
        images=str(sample_root / "val2017"),
        model=str(tiny_llava),
        recipe="paper",
        use_cpu=True,
        bf16=False,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=1,
    )
    encoded: list[object] = []
    original = LlavaDataset.encode

    def counting(self: LlavaDataset, record: dict[str, object]) -> dict[str, object]:
        encoded.append(record.get("id"))
        return original(self, record)

    monkeypatch.setattr(LlavaDataset, "encode", counting)
    _processor, dataset = trainer_module._prepare_data(config)
    assert dataset.lengths is not None and len(dataset.lengths) == len(IMAGES)
    assert len(set(dataset.lengths)) == len(IMAGES)  # four different lengths
    scanned = len(encoded)  # the data check encodes one sample, to count the image tokens
    assert scanned == 1
    model = LlavaForConditionalGeneration.from_pretrained(str(tiny_llava))
    trainer = trainer_module._make_trainer(config, model, dataset, 0)
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, LengthGroupedSampler)
    assert sampler.lengths == dataset.lengths
    assert sorted(sampler) == list(range(len(IMAGES)))
    assert len(encoded) == scanned  # no second pass to measure the samples
    sizes = [int(dataset[i]["input_ids"].numel()) for i in range(len(dataset))]
    assert sizes == dataset.lengths  # the counted lengths are the encoded ones


@pytest.mark.parametrize(
    ("flag", "sources"),
    [
        ("--tf32", ("--tf32Trueinscripts/v1_5/finetune.sh",)),
        (
            "--train_sampling_strategy",
            ("--group_by_modality_lengthTrue(scripts/v1_5/finetune.sh)",),
        ),
        ("--deepspeed", ("thepaper'sTable2:DeepSpeedstage3", "scripts/v1_5/finetune.sh")),
        ("--recipe", ("scripts/v1_5/finetune.sh", "thepaper'sTable2")),
    ],
)
def test_kpit_train_help_names_each_settings_source(flag: str, sources: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, ["train", "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    block = help_entries(result.output)[flag]
    for source in sources:
        assert source in block
