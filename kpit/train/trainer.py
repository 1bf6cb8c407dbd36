"""Fine-tune LLaVA on kpit data: a thin layer over ``transformers``' ``Trainer``.

:class:`TrainConfig` is ``TrainingArguments`` with the paper's Table 2 as defaults (batch 8
per device, gradient accumulation 2, learning rate 2e-5, cosine decay, warm-up 3%, one
epoch, no weight decay) and, from LLaVA's own training script rather than Table 2, bf16,
activation checkpointing and 2,048 tokens; bf16 is chosen from the machine unless set. kpit's
own fields and every default it changes have help text, so ``kpit train`` takes every field
as a flag and ``kpit train --help`` says where each default comes from. ``TrainConfig`` is
made before the model, so a DeepSpeed ZeRO-3 config applies when the model is built.
DeepSpeed only comes in through config files: ``--deepspeed zero2|zero3`` picks the ones
kpit ships (16-bit weights gathered on save; gradient clipping from ``max_grad_norm``).

``--recipe paper`` adds what LLaVA-1.5's ``scripts/v1_5/finetune.sh`` sets and kpit does
not: no gradient clipping, ``--tf32 True`` where the GPU has TF32 (compute capability 8.0
or newer), ``--group_by_modality_length True`` (for data where every record has an image,
as kpit's has, that is grouping by length: transformers' ``group_by_length`` sampler on the
token lengths :meth:`LlavaDataset.scan` already counted) and, on a machine with GPUs,
DeepSpeed ZeRO-3 (the paper's Table 2: "DeepSpeed stage 3").
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpit.errors import ConfigError, DataError
from kpit.exclusion import check_disjoint, read_image_ids
from kpit.jsonl import write_json
from kpit.llava_format import LLAVA_CHAT_TEMPLATE
from kpit.names import split_names
from kpit.train import _ranks
from kpit.train.data import LlavaDataset, collate

__all__ = ["DEEPSPEED_CONFIGS", "TrainConfig", "paper_gpu_settings", "train"]

log = logging.getLogger(__name__)

DEEPSPEED_CONFIGS = {
    name: Path(__file__).parent / "deepspeed" / f"{name}.json" for name in ("zero2", "zero3")
}
"""The DeepSpeed configs kpit ships, by name."""


def _cuda_bf16() -> bool:
    """Whether a CUDA GPU with native bf16 (Ampere or newer) is there; ``False`` without torch."""
    try:
        import torch
    except ImportError:  # pragma: no cover - the train extra is not installed
        return False
    if not torch.cuda.is_available():
        return False
    try:  # torch >= 2.4 counts emulated bf16 (pre-Ampere) as supported unless told not to
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # pragma: no cover - an older torch without the argument
        return bool(torch.cuda.is_bf16_supported())


def _cuda_capability() -> tuple[int, int] | None:
    """The first CUDA GPU's compute capability, or ``None`` without one (or without torch)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - the train extra is not installed
        return None
    if not torch.cuda.is_available():
        return None
    major, minor = torch.cuda.get_device_capability()
    return int(major), int(minor)


def paper_gpu_settings(capability: tuple[int, int] | None) -> dict[str, Any]:
    """What ``--recipe paper`` sets from the machine, given its GPU's compute capability.

    ``capability`` is ``None`` where training runs on the CPU (no CUDA GPU, or ``--use_cpu``).
    TF32 is on where the GPU has it (Ampere, 8.0, or newer; LLaVA's ``--tf32 True``), off
    elsewhere (transformers refuses it there); DeepSpeed ZeRO-3 wherever there is a GPU (the
    paper's Table 2), none on the CPU.
    """
    if capability is None:
        return {"tf32": False, "deepspeed": None}
    return {"tf32": tuple(capability) >= (8, 0), "deepspeed": "zero3"}


try:  # transformers is optional: the config exists only where it is installed
    from transformers import TrainingArguments as _Base
except ImportError:  # pragma: no cover - the train extra is not installed
    _Base = object


@dataclass
class TrainConfig(_Base):  # type: ignore[misc]
    """Training settings: ``transformers.TrainingArguments`` with the paper's defaults."""

    data: str = field(default="", metadata={"help": "LLaVA JSON training data (kpit export)."})
    images: str = field(default="", metadata={"help": "The folder the records' images are in."})
    model: str = field(
        default="llava-hf/llava-1.5-7b-hf",
        metadata={"help": "A LLaVA checkpoint: a hub id or a local folder."},
    )
    tasks: str = field(
        default="",
        metadata={
            "help": "Train only on these tasks (comma-separated: conversation,detail,complex); "
            "the paper's ablation (Table 4) trains on one at a time; empty means all."
        },
    )
    max_length: int = field(
        default=2048,
        metadata={
            "help": "The longest sample, in tokens; longer ones are left out (see "
            "--on-bad-sample). Default 2048, from LLaVA's own training script "
            "(--model_max_length 2048 in scripts/v1_5/finetune.sh), not the paper's Table 2."
        },
    )
    freeze_vision_tower: bool = field(default=True, metadata={"help": "Keep CLIP frozen."})
    freeze_projector: bool = field(default=False, metadata={"help": "Keep the projector frozen."})
    freeze_language_model: bool = field(
        default=False, metadata={"help": "Keep the language model frozen."}
    )
    lora_r: int = field(
        default=0,
        metadata={
            "help": "Train LoRA adapters of this rank on the language model instead of all its "
            "weights (needs peft); 0 trains the weights themselves."
        },
    )
    exclude_images: str = field(
        default="",
        metadata={
            "help": "Benchmark images that must not be trained on: a benchmark folder, a run "
            "folder, a file of image ids or names (repeatable, or comma-separated); a record "
            "on one of them stops training before it starts, naming how many and which."
        },
    )
    lora_alpha: int = field(default=32, metadata={"help": "LoRA's scaling numerator."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on LoRA's input."})
    on_bad_sample: str = field(
        default="skip",
        metadata={
            "help": "skip (count and report) or raise, for a missing image, an over-long sample "
            "or one with nothing to train."
        },
    )
    # Defaults kpit changes, each saying where it comes from: the paper's Table 2 for the
    # optimisation, LLaVA's own training script (scripts/v1_5/finetune.sh) for bf16 and
    # activation checkpointing, kpit itself for the rest.
    per_device_train_batch_size: int = field(
        default=8,
        metadata={
            "help": "Samples per device in a step. Default 8, the paper's Table 2 "
            '("batch size 8", which kpit reads as per device, an assumption: 8 x 2 GPUs x 2 '
            "accumulation steps = 32 per optimizer step; keep that product on other hardware)."
        },
    )
    gradient_accumulation_steps: int = field(
        default=2,
        metadata={
            "help": "Steps whose gradients add up before each optimizer step. Default 2, the "
            "paper's Table 2."
        },
    )
    learning_rate: float = field(
        default=2e-5,
        metadata={"help": "The peak learning rate. Default 2e-5, the paper's Table 2."},
    )
    lr_scheduler_type: str = field(
        default="cosine",
        metadata={
            "help": "The learning rate schedule after the warm-up. Default cosine, the paper's "
            "Table 2."
        },
    )
    warmup_steps: float = field(
        default=0.03,
        metadata={
            "help": "Linear warm-up: below 1 a fraction of all steps (as transformers 5 reads "
            "it), else a number of steps. Default 0.03, the paper's Table 2 (warm-up ratio 0.03)."
        },
    )
    num_train_epochs: float = field(
        default=1.0,
        metadata={"help": "Passes over the data. Default 1, the paper's Table 2."},
    )
    weight_decay: float = field(
        default=0.0,
        metadata={
            "help": "The optimizer's weight decay. Default 0, the paper's Table 2 (no weight "
            "decay)."
        },
    )
    bf16: bool | None = field(
        default=None,
        metadata={
            "help": "bf16 mixed precision: true or false (--no-bf16 is --bf16 false). Unset, it "
            "is chosen from the machine and logged: true where a CUDA GPU does bf16 natively "
            "(Ampere or newer) and neither --use-cpu nor --fp16 is set, else false. bf16 is "
            "from LLaVA's own training script (scripts/v1_5/finetune.sh), not the paper's "
            "Table 2.",
            "nargs": "?",  # a bare --bf16 still means true
            "const": True,
        },
    )
    activation_checkpointing: bool = field(
        default=True,
        metadata={
            "help": "Recompute activations in the backward pass instead of keeping them "
            "(gradient checkpointing, as transformers 5 names it): less memory, slower steps. "
            "Default true, from LLaVA's own training script (--gradient_checkpointing True in "
            "scripts/v1_5/finetune.sh), not the paper's Table 2."
        },
    )
    report_to: str = field(
        default="none",
        metadata={
            "help": "Where to report metrics (wandb, tensorboard, ...). Default none, kpit's "
            "choice: the loss history is saved in trainer_state.json either way."
        },
    )
    remove_unused_columns: bool = field(
        default=False,
        metadata={
            "help": "Let Trainer drop batch fields the model's forward does not take. Default "
            "false, kpit's choice: kpit's collate builds exactly the model's inputs "
            "(input_ids, attention_mask, labels, pixel_values)."
        },
    )
    save_strategy: str = field(
        default="no",
        metadata={
            "help": "When to save checkpoints during training (no, steps, epoch, best). Default "
            "no, kpit's choice: the final model, processor and chat template are saved at the "
            "end in any case."
        },
    )
    recipe: str = field(
        default="kpit",
        metadata={
            "help": "kpit or paper: which recipe's training defaults apply where a flag is not "
            "given. paper is faithful to LLaVA-1.5's own set-up: no gradient clipping (LLaVA's "
            "DeepSpeed configs, scripts/zero2.json and zero3.json, set none), TF32 where the GPU "
            "has it and length-grouped batches (both from scripts/v1_5/finetune.sh), DeepSpeed "
            "ZeRO-3 on a machine with GPUs (the paper's Table 2); see --tf32, "
            "--train-sampling-strategy and --deepspeed. kpit clips at 1.0 and sets none of them."
        },
    )
    tf32: bool | None = field(
        default=None,
        metadata={
            "help": "TF32 matrix products (Ampere or newer CUDA GPUs). Unset: on for --recipe "
            "paper where the GPU has it (compute capability 8.0 or newer), as LLaVA-1.5 trained "
            "(--tf32 True in scripts/v1_5/finetune.sh); off on the CPU and for --recipe kpit.",
            "nargs": "?",
            "const": True,
        },
    )
    train_sampling_strategy: str | None = field(
        default=None,
        metadata={
            "help": "The order of training samples: random, sequential, group_by_length or "
            "batch_rebalance. Unset: group_by_length for --recipe paper, from LLaVA-1.5's "
            "--group_by_modality_length True (scripts/v1_5/finetune.sh), which for data where "
            "every record has an image (kpit's) is grouping by length; the lengths are the "
            "token counts kpit's data check already made, not a second pass. random for "
            "--recipe kpit.",
            "choices": ["random", "sequential", "group_by_length", "batch_rebalance"],
        },
    )
    deepspeed: dict[str, Any] | str | None = field(
        default=None,
        metadata={
            "help": "DeepSpeed: zero3 or zero2 (the configs kpit ships), none, or a JSON config "
            "file. Unset: zero3 for --recipe paper on a machine with GPUs (the paper's Table 2: "
            "DeepSpeed stage 3; LLaVA's --deepspeed ./scripts/zero3.json in "
            "scripts/v1_5/finetune.sh), none on the CPU and for --recipe kpit."
        },
    )
    max_grad_norm: float | None = field(
        default=None,
        metadata={
            "help": "Clip gradients to this norm (0 turns clipping off). Unset: 1.0 "
            "(transformers' default) for --recipe kpit, 0 for --recipe paper, as LLaVA-1.5 "
            "trained: its DeepSpeed configs set no gradient_clipping, so DeepSpeed clipped "
            "nothing."
        },
    )
    # Not a flag: True where bf16 was left unset and chosen from the machine in __post_init__.
    bf16_auto: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.bf16 is None:  # unset: bf16 where a CUDA GPU does it natively, else fp32
            self.bf16 = not self.use_cpu and not self.fp16 and _cuda_bf16()
            self.bf16_auto = True
            log.info("bf16 not set: chose %s from the machine", self.bf16)
        if self.recipe not in ("kpit", "paper"):
            raise ConfigError(f"must be kpit or paper, not {self.recipe!r}", field="recipe")
        self._apply_recipe()
        chosen: Any = getattr(self, "deepspeed", None)
        if isinstance(chosen, str):
            name = chosen.strip()
            if name in ("", "none"):
                self.deepspeed = None
            elif name in DEEPSPEED_CONFIGS:
                self.deepspeed = str(DEEPSPEED_CONFIGS[name])
        if self.on_bad_sample not in ("skip", "raise"):
            raise ConfigError("must be skip or raise", field="on_bad_sample")
        if self.max_grad_norm is None:
            self.max_grad_norm = 0.0 if self.recipe == "paper" else 1.0
        super().__post_init__()

    def _apply_recipe(self) -> None:
        """Fill the unset fields the recipe decides: sampling order, TF32 and DeepSpeed."""
        paper = self.recipe == "paper"
        if self.train_sampling_strategy is None:
            self.train_sampling_strategy = "group_by_length" if paper else "random"
        if not paper:
            return
        settings = paper_gpu_settings(None if self.use_cpu else _cuda_capability())
        if self.tf32 is None:
            self.tf32 = settings["tf32"]
        if self.deepspeed is None and settings["deepspeed"]:
            if importlib.util.find_spec("deepspeed") is None:
                raise ConfigError(
                    "--recipe paper trains with DeepSpeed ZeRO-3 on a GPU machine (the paper's "
                    "Table 2): pip install deepspeed, or give --deepspeed none",
                    field="deepspeed",
                )
            self.deepspeed = settings["deepspeed"]
        log.info(
            "recipe paper: tf32 %s, deepspeed %s, sampling %s",
            self.tf32, self.deepspeed, self.train_sampling_strategy,
        )  # fmt: skip

    @property
    def task_list(self) -> list[str] | None:
        """The tasks to train on, or ``None`` for all."""
        return split_names(self.tasks, what="task", field="tasks") or None


def _precision(config: TrainConfig) -> str:
    """The weights' precision in training and why: the flags given, or what the machine has."""
    chosen = "bf16" if config.bf16 else "fp16" if config.fp16 else "fp32"
    if not config.bf16_auto:
        given = f"--bf16 {str(bool(config.bf16)).lower()}" + (" --fp16 true" if config.fp16 else "")
        return f"{chosen} (as given: {given})"
    why = "a CUDA GPU with native bf16" if config.bf16 else "no CUDA GPU with native bf16"
    if config.use_cpu or config.fp16:
        why = "--use-cpu true" if config.use_cpu else "--fp16 true"
    return f"{chosen} (--bf16 not given, so chosen from the machine: {why})"


def _freeze(model: Any, config: TrainConfig) -> dict[str, int]:
    """Freeze the parts the config says; return trainable parameter counts per part."""
    parts = {
        "vision_tower": config.freeze_vision_tower,
        "multi_modal_projector": config.freeze_projector,
        "language_model": config.freeze_language_model,
    }
    counts = dict.fromkeys(parts, 0)
    for name, parameter in model.named_parameters():
        part = next((p for p in parts if p in name), "language_model")
        if parts[part]:
            parameter.requires_grad = False
        elif parameter.requires_grad:
            counts[part] += parameter.numel()
    return counts


def _empty_weights(folder: Path) -> list[str]:
    """Names of the saved tensors with no elements (ZeRO-3 saved without gathering).

    The files are read directly: a reload with ``from_pretrained`` in a process where
    ZeRO-3 is active would partition the weights again and look empty anyway.
    """
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return ["(no safetensors file)"]
    empty = []
    for path in files:
        with safe_open(str(path), framework="pt") as f:
            for name in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                if 0 in f.get_slice(name).get_shape():  # a scalar's shape is [] and fine
                    empty.append(name)
    return empty


def _with_lora(model: Any, config: TrainConfig) -> Any:
    """LoRA adapters on the language model's projections; the projector stays trainable."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ConfigError(
            "lora_r > 0 needs peft: pip install 'kpit[train]'", field="lora_r"
        ) from None
    # peft matches a string of target modules against the whole module name
    targets = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
    saved = None if config.freeze_projector else ["multi_modal_projector"]
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        modules_to_save=saved,
    )
    return get_peft_model(model, lora)


def _check_excluded(config: TrainConfig) -> None:
    """Stop before training when a record's image is one of the excluded (benchmark) images."""
    sources = split_names(config.exclude_images, what="image source", field="exclude_images")
    excluded = read_image_ids(sources)
    if not excluded:
        return
    try:
        records = json.loads(Path(config.data).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read the training data: {exc}", file=config.data) from None
    if not isinstance(records, list):
        raise DataError("not a LLaVA JSON list of records", file=config.data)
    images = (
        (f"id {r.get('id')}", r["image"]) for r in records if isinstance(r, dict) and r.get("image")
    )
    check_disjoint(images, excluded, file=config.data)


def _prepare_data(config: TrainConfig) -> tuple[Any, LlavaDataset]:
    """The processor and the scanned dataset; stops when no sample is usable."""
    from transformers import AutoProcessor

    _check_excluded(config)
    processor = AutoProcessor.from_pretrained(config.model)
    dataset = LlavaDataset(
        config.data,
        config.images,
        processor,
        max_length=config.max_length,
        tasks=config.task_list,
        on_error=config.on_bad_sample,
    )
    dataset.scan()
    if not len(dataset):
        raise ConfigError(f"no usable training sample; {dataset.report.to_text()}", field="data")
    return processor, dataset


def _data_summary(prepared: tuple[Any, LlavaDataset]) -> dict[str, Any]:
    """What every rank must agree on: the report and which records train."""
    report = prepared[1].report
    return {
        "samples": report.samples,
        "tokens": report.tokens,
        "trained_tokens": report.trained_tokens,
        "skipped": dict(report.skipped),
        "ids": hashlib.sha256(
            json.dumps([r.get("id") for r in prepared[1].records]).encode()
        ).hexdigest(),
    }


def _quiet_replica(config: TrainConfig) -> None:
    """On a rank that does not log, no progress bars and no kpit log lines below errors."""
    if config.should_log:
        return
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    logging.getLogger("kpit").setLevel(logging.ERROR)


def _make_trainer(config: TrainConfig, model: Any, dataset: LlavaDataset, pad: int) -> Any:
    """``transformers.Trainer`` on the dataset; grouping by length uses the scanned lengths.

    transformers' own ``group_by_length`` sampler takes lengths only from a ``datasets``
    column; for any other dataset it encodes every sample (images included) once more to
    measure it. kpit's data check has counted each sample's tokens already, so those are
    passed instead.
    """
    from transformers import Trainer
    from transformers.trainer_pt_utils import LengthGroupedSampler

    class _Trainer(Trainer):  # type: ignore[misc]
        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            data = self.train_dataset if train_dataset is None else train_dataset
            lengths = getattr(data, "lengths", None)
            if self.args.train_sampling_strategy != "group_by_length" or lengths is None:
                return super()._get_train_sampler(train_dataset)
            size = self.args.train_batch_size * self.args.gradient_accumulation_steps
            return LengthGroupedSampler(size, lengths=list(lengths))

    return _Trainer(
        model=model,
        args=config,
        train_dataset=dataset,
        data_collator=lambda batch: collate(batch, pad),
    )


def train(config: TrainConfig) -> Path:
    """Fine-tune ``config.model`` on ``config.data``; save model and processor; return the folder.

    Before training, the data is checked and reported (samples, tokens, the share of
    trained tokens, skips). After training, the model, the processor and a chat template
    in LLaVA-1.5's format are saved together; the saved safetensors files are then read
    (not reloaded as a model) to check that no weight is empty.

    On several ranks (``torchrun``, ``accelerate launch``, ``deepspeed``), every rank checks
    the data the same way and they must agree (an error on one stops all); each trains on
    its share; the first rank (``should_save``) alone writes the model, the processor and
    the report, every rank waits for that, and the saved weights are checked there after
    the save, the outcome shared so that every rank stops with the same error. Logs and
    progress bars come from the ranks that log (``should_log``: the first rank, or each
    node's first with ``--log_on_each_node``).
    """
    try:
        import torch
        from transformers import LlavaForConditionalGeneration
    except ImportError:
        raise ConfigError(
            "training needs torch and transformers: pip install 'kpit[train]'", field="model"
        ) from None
    if not config.data or not config.images:
        raise ConfigError("give data (LLaVA JSON) and images (the image folder)", field="data")
    _ = config.device  # starts the process group of a multi-rank run (once)
    _ranks.one_writer(config)
    _quiet_replica(config)
    processor, dataset = _ranks.agreed(lambda: _prepare_data(config), _data_summary, field="data")
    report = dataset.report
    log.warning("training data: %s", report.to_text())
    _ranks.join_deepspeed(config)
    dtype = torch.bfloat16 if config.bf16 else torch.float32
    model = LlavaForConditionalGeneration.from_pretrained(config.model, dtype=dtype)
    trainable = _freeze(model, config)
    if config.lora_r:
        model = _with_lora(model, config)
    log.warning("trainable parameters: %s", trainable)
    log.warning("precision: %s", _precision(config))
    if config.activation_checkpointing:
        model.enable_input_require_grads()
    pad = processor.tokenizer.pad_token_id
    if pad is None:
        pad = processor.tokenizer.eos_token_id
    trainer = _make_trainer(config, model, dataset, pad)
    trainer.train()
    out = Path(config.output_dir)
    if config.lora_r:  # save a plain LLaVA checkpoint: the adapters merged into the weights
        trainer.model = trainer.model.merge_and_unload()
    trainer.save_model(str(out))  # every rank: ZeRO-3 gathers the weights; should_save writes
    trainer.save_state()  # trainer_state.json, with the loss history (the first rank)
    if config.should_save:
        processor.chat_template = LLAVA_CHAT_TEMPLATE
        processor.save_pretrained(str(out))
        summary = {
            "samples": report.samples,
            "tokens": report.tokens,
            "trained_tokens": report.trained_tokens,
            "skipped": dict(report.skipped),
        }
        write_json(out / "kpit_data_report.json", summary, indent=2)
    trainer.accelerator.wait_for_everyone()  # the save is whole before anything reads it
    found = _ranks.gather(_empty_weights(out) if config.should_save else [])
    empty: list[str] = next((names for names in found if names), [])
    if empty:
        raise ConfigError(
            f"the saved model has empty weights ({empty[0]}...): with ZeRO-3, "
            "16-bit weights must be gathered on save",
            field="deepspeed",
        )
    return out
