"""Exports of a run folder: LLaVA training JSON and Hugging Face datasets."""

from kpit.export.llava import (
    LeftOut,
    export_hf,
    export_llava,
    llava_records,
)

__all__ = [
    "LeftOut",
    "export_hf",
    "export_llava",
    "llava_records",
]
