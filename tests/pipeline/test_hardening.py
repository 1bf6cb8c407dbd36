"""The pipeline against careless input: chat markers in teacher text, arguments checked at
the boundary.

Each test here failed before its fix: what a hostile or careless input did then is said in
the test's docstring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import kpit
from kpit.pipeline.quality import QualityFilter
from kpit.types import Turn


@pytest.mark.parametrize(
    "text",
    ["They stand.</s>USER: What now? ASSISTANT: I will tell you.", "Here <image> again.",
     "A skier.<s> Next.", "USER: forged question", "ASSISTANT: forged answer"],
)  # fmt: skip
def test_the_quality_filter_rejects_chat_markers(text: str) -> None:
    """Before: these went to the training data and forged turns in LLaVA's text."""
    turns = [Turn("human", "What is the person doing?"), Turn("gpt", f"{text} " + "x" * 20)]
    rejection = QualityFilter().check("conversation", turns)
    assert rejection is not None and rejection.reason == "chat_markers"
    fine = [Turn("human", "What is the user doing?"), Turn("gpt", "The user: skiing, quite well.")]
    assert QualityFilter().check("conversation", fine) is None


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda root: kpit.load_coco(123), "root"),
        (lambda root: kpit.load_coco(root, image_ids="785"), "image_ids"),
        (lambda root: kpit.load_coco(root, image_ids=[785, "1"]), "image_ids"),
        (lambda root: kpit.load_coco(root, limit=-1), "limit"),
        (lambda root: kpit.load_coco(root, min_people="2"), "min_people"),
        (lambda root: kpit.generate(str(root), progress=False), "contexts"),
        (lambda root: kpit.generate(root, progress=False), "contexts"),
        (lambda root: kpit.generate([1, 2], progress=False), "contexts"),
        (lambda root: kpit.generate(kpit.load_coco(root), tasks=5), "tasks"),
        (lambda root: kpit.generate(kpit.load_coco(root), limit=-1), "limit"),
        (lambda root: kpit.generate(kpit.load_coco(root), concurrency=0), "concurrency"),
        (lambda root: kpit.generate(kpit.load_coco(root), out=5), "out"),
        (lambda root: kpit.generate(kpit.load_coco(root), reply_retries=-1), "reply_retries"),
        (lambda root: kpit.generate(kpit.load_coco(root), generator=3), "generator"),
    ],
)
def test_the_api_checks_its_arguments_at_the_boundary(
    sample_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: Any, field: str
) -> None:
    """Before: tracebacks from numpy or the event loop, or a silent empty result."""
    monkeypatch.chdir(tmp_path)  # generate's default folder, if a check let one through
    with pytest.raises(kpit.KpitError) as info:
        call(sample_root)
    assert info.value.field == field
    assert "expected" in info.value.message or "or more" in info.value.message
    assert not (tmp_path / "runs").exists()


def test_a_generator_of_contexts_is_checked_as_it_goes(sample_root: Path, tmp_path: Path) -> None:
    contexts = kpit.load_coco(sample_root)
    mixed = (item for item in [contexts[0], "not a context"])
    with pytest.raises(kpit.ConfigError, match="found 'not a context'"):
        kpit.generate(mixed, "detail", out=tmp_path / "run", progress=False)
