"""The training tests' shared fixture: a real tiny LLaVA, made once per test module."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..helpers.tiny_llava import make_tiny_llava


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ``LlavaForConditionalGeneration`` saved with its processor, from a config."""
    return make_tiny_llava(tmp_path_factory.mktemp("tiny-llava"))
