"""A tiny LLaVA (CLIP tower + Llama) with its tokenizer and processor, built offline.

The builder lives in :mod:`kpit.testing` (the examples use it too); this module keeps the
tests' import path. Nothing is downloaded: the configs, the word-level tokenizer and the
processor are made there and saved with ``save_pretrained``, so the code under test loads
them the way it loads ``llava-hf/llava-1.5-7b-hf``.

:func:`train_tiny_llava` fits such a model to a few fixed question-answer pairs, so that
its greedy choices are clear (no two logits nearly tied), which a test comparing two ways
of decoding needs; the answering benchmark uses it too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from kpit.testing import _SPECIAL as SPECIAL
from kpit.testing import TINY_WORDS, make_tiny_llava

WORDS = list(TINY_WORDS)

__all__ = ["PAIRS", "SPECIAL", "WORDS", "make_tiny_llava", "train_tiny_llava"]

PAIRS: tuple[tuple[str, str, str], ...] = (
    ("000000000785.jpg", "what is the person doing ?", "the woman is skiing on the snow ."),
    ("000000000785.jpg", "how are the legs of the woman in this picture ?",
     "her knees are bent ."),
    ("000000040083.jpg", "what is the person doing ?",
     "the man is standing on the street with an umbrella in his right arm ."),
    ("000000040083.jpg", "who ?", "a man ."),
    ("000000196141.jpg", "what is the person doing ?", "she is sitting on a chair ."),
    ("000000196141.jpg", "is the person on the left facing the camera with her arms raised ?",
     "no , her arms are straight and she is facing left ."),
    ("000000197388.jpg", "what is the person doing ?",
     "the batter is swinging the bat at the ball and the catcher is holding it ."),
    ("000000197388.jpg", "how many people are in the picture ?", "three ."),
)  # fmt: skip
"""(image of the bundled sample, question, answer): answers of 3 to 15 words, questions of 2
to 13, in the tiny vocabulary; each image has a short and a long question."""


def train_tiny_llava(
    folder: str | Path,
    images: str | Path,
    pairs: Sequence[tuple[str, str, str]] = PAIRS,
    *,
    steps: int = 80,
    learning_rate: float = 3e-3,
    seed: int = 0,
    device: str = "cpu",
) -> Path:
    """Train the LLaVA saved in ``folder`` on ``pairs`` (full batch, AdamW), and save it back.

    The text and the trained spans come from kpit's own training data code
    (:class:`kpit.train.LlavaDataset`), so the model learns the format that the ``hf-llava``
    backend asks in. Deterministic for a given ``seed`` on one machine. Trains in float32
    on ``device``.
    """
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from kpit.train.data import LlavaDataset, collate

    folder = Path(folder)
    records = [{"id": str(n), "image": image, "conversations": [
        {"from": "human", "value": question}, {"from": "gpt", "value": answer}]}
        for n, (image, question, answer) in enumerate(pairs)]  # fmt: skip
    data = folder / "tiny_pairs.json"
    data.write_text(json.dumps(records), encoding="utf-8")
    processor = AutoProcessor.from_pretrained(folder)
    dataset = LlavaDataset(data, images, processor, on_error="raise")
    batch = collate([dataset[n] for n in range(len(dataset))], processor.tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration.from_pretrained(folder, dtype=torch.float32)
    model.to(device).train()
    batch = {key: value.to(device) for key, value in batch.items()}
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    for _ in range(steps):
        loss = model(**batch).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
    model.eval()
    model.save_pretrained(folder)
    return folder
