"""A tiny random LLaVA (CLIP tower + Llama) with its tokenizer and processor, built offline.

The builder lives in :mod:`kpit.testing` (the examples use it too); this module keeps the
tests' import path. Nothing is downloaded: the configs, the word-level tokenizer and the
processor are made there and saved with ``save_pretrained``, so the code under test loads
them the way it loads ``llava-hf/llava-1.5-7b-hf``.
"""

from __future__ import annotations

from kpit.testing import _SPECIAL as SPECIAL
from kpit.testing import TINY_WORDS, make_tiny_llava

WORDS = list(TINY_WORDS)

__all__ = ["SPECIAL", "WORDS", "make_tiny_llava"]
