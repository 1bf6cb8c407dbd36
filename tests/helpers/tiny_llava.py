"""A tiny random LLaVA (CLIP tower + Llama) with its tokenizer and processor, built offline.

Nothing is downloaded: the configs, the word-level tokenizer and the processor are made
here and saved with ``save_pretrained``, so the code under test loads them the way it
loads ``llava-hf/llava-1.5-7b-hf``.
"""

from __future__ import annotations

from pathlib import Path

WORDS = [
    "the",
    "a",
    "an",
    "person",
    "people",
    "man",
    "woman",
    "is",
    "are",
    "standing",
    "sitting",
    "walking",
    "running",
    "skiing",
    "holding",
    "swinging",
    "bat",
    "ball",
    "skis",
    "snow",
    "field",
    "street",
    "left",
    "right",
    "arm",
    "arms",
    "leg",
    "legs",
    "knee",
    "knees",
    "elbow",
    "bent",
    "straight",
    "raised",
    "camera",
    "facing",
    "image",
    "picture",
    "what",
    "how",
    "why",
    "who",
    "where",
    "which",
    "doing",
    "does",
    "do",
    "in",
    "on",
    "at",
    "of",
    "with",
    "and",
    "to",
    "they",
    "their",
    "he",
    "she",
    "his",
    "her",
    "it",
    "this",
    "that",
    "yes",
    "no",
    "two",
    "three",
    "one",
    "catcher",
    "batter",
    "player",
    "stall",
    "umbrella",
    "chair",
    "?",
    ".",
    ",",
]
SPECIAL = ("<unk>", "<s>", "</s>", "<pad>", "<image>")


def make_tiny_llava(
    folder: Path, image_size: int = 30, patch_size: int = 15, *, hidden: int = 32, layers: int = 2
) -> Path:
    """Save a random ``LlavaForConditionalGeneration`` and its processor to ``folder``.

    Tiny by default; ``hidden`` and ``layers`` size the language model (LLaVA-1.5-7B's
    width is 4096, its depth 32).
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    vocab = {token: i for i, token in enumerate([*SPECIAL, *WORDS, "USER:", "ASSISTANT:"])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=image_size,
            patch_size=patch_size,
        ),
        text_config=LlamaConfig(
            vocab_size=len(vocab),
            hidden_size=hidden,
            intermediate_size=2 * hidden,
            num_hidden_layers=layers,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=256,
            bos_token_id=1,
            eos_token_id=2,
            pad_token_id=3,
        ),
        image_token_index=vocab["<image>"],
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
