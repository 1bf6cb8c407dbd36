"""Fine-tuning LLaVA on kpit data: the data with exact label masks, and a thin trainer.

``import kpit.train`` stays light: :class:`TrainConfig` and :func:`train` need ``torch`` and
``transformers`` (``pip install 'kpit[train]'``) and are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kpit.errors import SampleError
from kpit.llava_format import conversation_text
from kpit.train.data import IGNORE_INDEX, DataReport, LlavaDataset, collate

if TYPE_CHECKING:
    from kpit.train.trainer import DEEPSPEED_CONFIGS, TrainConfig, train

__all__ = [
    "DEEPSPEED_CONFIGS",
    "IGNORE_INDEX",
    "DataReport",
    "LlavaDataset",
    "SampleError",
    "TrainConfig",
    "collate",
    "conversation_text",
    "train",
]

_LAZY = ("DEEPSPEED_CONFIGS", "TrainConfig", "train")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from kpit.train import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'kpit.train' has no attribute {name!r}")
