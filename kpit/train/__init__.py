"""Fine-tuning LLaVA on kpit data (in progress: the data and its label masks)."""

from kpit.train.data import (
    IGNORE_INDEX,
    DataReport,
    LlavaDataset,
    SampleError,
    collate,
    conversation_text,
)

__all__ = [
    "IGNORE_INDEX",
    "DataReport",
    "LlavaDataset",
    "SampleError",
    "collate",
    "conversation_text",
]
