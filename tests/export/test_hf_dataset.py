"""The Hugging Face export, read the way users read it: ``datasets.load_from_disk``, the
llava-hf processor's chat template (llava-hf/llava-1.5-7b-hf's settings and template, from
``tests/data/llava-hf/``, with a tokenizer made here) and TRL's vision collator."""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import kpit
from kpit.cli import cli
from kpit.errors import ConfigError, SampleError
from kpit.export.llava import llava_records
from kpit.llava_format import LLAVA_CHAT_TEMPLATE, SYSTEM, conversation_text
from kpit.testing import word_tokenizer
from kpit.types import Turn

datasets = pytest.importorskip("datasets", reason="the [test] extra installs datasets")

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "data" / "coco-sample"
LLAVA_HF = Path(__file__).resolve().parents[1] / "data" / "llava-hf"
IMAGE_TOKENS = (336 // 14) ** 2 + 1 - 1  # patches + CLS (num_additional_image_tokens) - CLS


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> kpit.Run:
    out = tmp_path_factory.mktemp("runs") / "demo"
    result = kpit.generate(kpit.load_coco(SAMPLE, split="val2017"), "all", out=out,
                           progress=False)  # fmt: skip
    assert isinstance(result, kpit.Run)
    return result


@pytest.fixture(scope="module")
def exported(run: kpit.Run, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The run exported with the defaults (images embedded, found through the manifest)."""
    path = tmp_path_factory.mktemp("hf") / "dataset"
    count = kpit.export_hf(run, path, progress=False)
    dataset = datasets.load_from_disk(str(path))
    assert count == len(dataset)
    return dataset


def _texts(message: dict[str, Any]) -> list[str]:
    return [part["text"] for part in message["content"] if part["type"] == "text"]


def test_load_from_disk_gives_messages_and_images(run: kpit.Run, exported: Any) -> None:
    samples = {s.id.replace("/", "_"): s for s in run.samples()}
    assert len(exported) == len(samples) == 12
    assert set(exported.column_names) == {"id", "image_id", "file_name", "task", "messages",
                                          "images"}  # fmt: skip
    assert "image" not in exported.column_names  # TRL would read it as the one image
    assert isinstance(exported.features["images"].feature, datasets.Image)
    for row in exported:
        sample = samples[row["id"]]
        assert row["task"] == sample.task and row["file_name"] == sample.image
        assert row["image_id"] == int(sample.image.removesuffix(".jpg"))
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["user", "assistant"] * (len(sample.turns) // 2)
        first = row["messages"][0]["content"]
        assert [p["type"] for p in first] == ["image", "text"]
        assert all(p["type"] == "text" for m in row["messages"][1:] for p in m["content"])
        assert [t for m in row["messages"] for t in _texts(m)] == [t.text for t in sample.turns]
        assert not any("<image>" in t for m in row["messages"] for t in _texts(m))
        (image,) = row["images"]
        assert isinstance(image, Image.Image)
        with Image.open(SAMPLE / "val2017" / sample.image) as original:
            assert np.array_equal(np.asarray(image), np.asarray(original))


def test_embedded_images_load_after_the_image_folder_is_gone(run: kpit.Run, tmp_path: Path) -> None:
    images = Path(shutil.copytree(SAMPLE / "val2017", tmp_path / "images")).resolve()
    kpit.export_hf(run, tmp_path / "embedded", image_root=images, progress=False)
    kpit.export_hf(run, tmp_path / "paths", image_root=images, embed_images=False,
                   progress=False)  # fmt: skip
    paths = datasets.load_from_disk(str(tmp_path / "paths"))
    assert paths.features["images"].feature == datasets.Value("string")
    assert all(r["images"] == [str(images / r["file_name"])] for r in paths)
    raw = datasets.List(datasets.Image(decode=False))
    embedded = datasets.load_from_disk(str(tmp_path / "embedded")).cast_column("images", raw)
    assert all(r["images"][0]["bytes"] == (images / r["file_name"]).read_bytes()
               for r in embedded)  # fmt: skip
    size = sum(f.stat().st_size for f in (tmp_path / "embedded").iterdir())
    small = sum(f.stat().st_size for f in (tmp_path / "paths").iterdir())
    assert size > small + sum(f.stat().st_size for f in images.iterdir())
    shutil.rmtree(images)
    moved = datasets.load_from_disk(str(tmp_path / "embedded"))
    for row in moved:
        with Image.open(SAMPLE / "val2017" / row["file_name"]) as original:
            assert np.array_equal(np.asarray(row["images"][0]), np.asarray(original))


# --- the llava-hf processor, offline ---------------------------------------------------


def _words(dataset: Any) -> set[str]:
    return {w for r in dataset for m in r["messages"] for t in _texts(m) for w in t.split()}


def llava_hf_processor(words: set[str], chat_template: str | None = None) -> Any:
    """A ``LlavaProcessor`` with llava-1.5-7b-hf's image processor, patch settings and chat
    template, and a word-level tokenizer over ``words`` (so every word is one token)."""
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    tokenizer = word_tokenizer(sorted(words))
    config = json.loads((LLAVA_HF / "preprocessor_config.json").read_text())
    for key in ("image_processor_type", "processor_class"):
        config.pop(key)
    settings = json.loads((LLAVA_HF / "processor_config.json").read_text())
    settings.pop("processor_class")
    template = json.loads((LLAVA_HF / "chat_template.json").read_text())["chat_template"]
    return LlavaProcessor(image_processor=CLIPImageProcessorPil(**config), tokenizer=tokenizer,
                          chat_template=chat_template or template, **settings)  # fmt: skip


def llava_15_prompt(turns: Sequence[Turn], system: str | None = None) -> str:
    """What llava-hf's template makes of a conversation: ``USER: <image>\\n{q} ASSISTANT:
    {a} `` per pair, each text followed by a space."""
    text = f"{system} " if system else ""
    for n, turn in enumerate(turns):
        if turn.role == "human":
            text += f"USER: {'<image>' + chr(10) if n == 0 else ''}{turn.text} "
        else:
            text += f"ASSISTANT: {turn.text} "
    return text


def one_per_task(dataset: Any) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for row in dataset:
        rows.setdefault(row["task"], row)
    assert set(rows) == {"conversation", "detail", "complex"}
    return list(rows.values())


def test_records_render_through_the_llava_hf_chat_template(run: kpit.Run, exported: Any) -> None:
    processor = llava_hf_processor(_words(exported))
    image_token = processor.tokenizer.convert_tokens_to_ids("<image>")
    samples = {s.id.replace("/", "_"): s for s in run.samples()}
    for record in one_per_task(exported):
        turns = samples[record["id"]].turns
        text = processor.apply_chat_template(record["messages"])
        assert text == llava_15_prompt(turns)
        assert text.startswith("USER: <image>\n") and text.count("<image>") == 1
        question = processor.apply_chat_template(record["messages"][:1], add_generation_prompt=True)
        assert question == f"USER: <image>\n{turns[0].text} ASSISTANT:"
        batch = processor(images=record["images"], text=text, return_tensors="pt")
        assert tuple(batch["pixel_values"].shape) == (1, 3, 336, 336)
        assert int((batch["input_ids"] == image_token).sum()) == IMAGE_TOKENS == 576
        words = len(text.replace("<image>", " ").split())
        assert batch["input_ids"].shape[1] == words + IMAGE_TOKENS


def test_trl_collates_the_records_into_training_batches(
    run: kpit.Run, exported: Any, tmp_path: Path
) -> None:
    trl = pytest.importorskip("trl.trainer.sft_trainer", reason="the [test] extra installs trl")
    import torch

    processor = llava_hf_processor(_words(exported))
    tokenizer = processor.tokenizer
    image_token = tokenizer.convert_tokens_to_ids("<image>")
    records = one_per_task(exported)
    collate_plain = trl.DataCollatorForVisionLanguageModeling(processor)
    batch = collate_plain([dict(r) for r in records])
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    assert ids.shape == mask.shape == labels.shape and ids.shape[0] == 3
    assert tuple(batch["pixel_values"].shape) == (3, 3, 336, 336)
    assert (ids == image_token).sum(dim=1).tolist() == [IMAGE_TOKENS] * 3
    assert ((labels == -100) == (mask == 0)).all()  # only the padding is left out
    for row, record in zip(ids, records, strict=True):
        text = processor.apply_chat_template(record["messages"])
        assert (
            int((row != tokenizer.pad_token_id).sum())
            == len(text.replace("<image>", " ").split()) + IMAGE_TOKENS
        )
    # paths instead of embedded images: the processor opens them, to the same pixels
    paths = tmp_path / "paths"
    kpit.export_hf(run, paths, embed_images=False, progress=False)
    by_id = {r["id"]: r for r in datasets.load_from_disk(str(paths))}
    same = collate_plain([dict(by_id[r["id"]]) for r in records])
    assert torch.equal(same["input_ids"], ids)
    assert torch.equal(same["pixel_values"], batch["pixel_values"])
    # assistant_only_loss trains the answers, found by the template's {% generation %} marks
    collate = trl.DataCollatorForVisionLanguageModeling(processor, assistant_only_loss=True)
    batch = collate([dict(r) for r in records])
    for labels, record in zip(batch["labels"], records, strict=True):
        trained = tokenizer.convert_ids_to_tokens(labels[labels != -100].tolist())
        answers = [t for m in record["messages"] if m["role"] == "assistant" for t in _texts(m)]
        assert trained == " ".join(answers).split()


def test_system_line_and_kpits_template_give_the_trainers_text(
    run: kpit.Run, tmp_path: Path
) -> None:
    """With LLaVA-1.5's system line, llava-hf's template renders LLaVA-1.5's layout, and
    kpit's own template (saved with ``kpit train``'s processor) renders exactly the text
    the trainer trains on, the answers and their ``</s>`` marked for assistant-only loss."""
    kpit.export_hf(run, tmp_path / "hf", system=SYSTEM, progress=False)
    dataset = datasets.load_from_disk(str(tmp_path / "hf"))
    records = one_per_task(dataset)
    llava = {r["id"]: r for r in llava_records(run)}
    words = _words(dataset)
    samples = {s.id.replace("/", "_"): s for s in run.samples()}
    hf = llava_hf_processor(words)
    ours = llava_hf_processor(words, chat_template=LLAVA_CHAT_TEMPLATE)
    for record in records:
        assert record["messages"][0] == {"role": "system",
                                         "content": [{"type": "text", "text": SYSTEM}]}  # fmt: skip
        turns = samples[record["id"]].turns
        assert hf.apply_chat_template(record["messages"]) == llava_15_prompt(turns, SYSTEM)
        expected, _ = conversation_text(llava[record["id"]]["conversations"])
        assert ours.apply_chat_template(record["messages"]) == expected
    trl = pytest.importorskip("trl.trainer.sft_trainer", reason="the [test] extra installs trl")
    collate = trl.DataCollatorForVisionLanguageModeling(ours, assistant_only_loss=True)
    batch = collate([dict(r) for r in records])
    for labels, record in zip(batch["labels"], records, strict=True):
        trained = ours.tokenizer.convert_ids_to_tokens(labels[labels != -100].tolist())
        answers = [t for m in record["messages"] if m["role"] == "assistant" for t in _texts(m)]
        assert trained == [w for a in answers for w in [*a.split(), "</s>"]]


def test_trl_sft_trainer_trains_on_the_export(exported: Any, tmp_path: Path) -> None:
    """The guide's recipe, with a tiny LLaVA for llava-1.5-7b-hf: the dataset goes to TRL's
    ``SFTTrainer`` as it is, and two optimiser steps run on its images and conversations."""
    trl = pytest.importorskip("trl", reason="the [test] extra installs trl")
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from kpit.testing import make_tiny_llava

    folder = make_tiny_llava(tmp_path / "tiny")
    processor = AutoProcessor.from_pretrained(folder)
    processor.chat_template = json.loads((LLAVA_HF / "chat_template.json").read_text())[
        "chat_template"
    ]
    model = LlavaForConditionalGeneration.from_pretrained(folder)
    before = model.lm_head.weight.detach().clone()
    args = trl.SFTConfig(output_dir=str(tmp_path / "out"), max_length=None, max_steps=2,
                         per_device_train_batch_size=2, report_to="none", use_cpu=True,
                         save_strategy="no", logging_steps=1, disable_tqdm=True)  # fmt: skip
    trainer = trl.SFTTrainer(model=model, args=args, train_dataset=exported,
                             processing_class=processor)  # fmt: skip
    result = trainer.train()
    assert result.global_step == 2 and math.isfinite(result.training_loss)
    logged = [entry for entry in trainer.state.log_history if "num_tokens" in entry]
    assert len(logged) == 2 and logged[-1]["num_tokens"] > 0
    assert not model.lm_head.weight.detach().equal(before)


# --- bad input ---------------------------------------------------------------------------


def test_a_missing_image_names_the_record_and_the_file(run: kpit.Run, tmp_path: Path) -> None:
    images = shutil.copytree(SAMPLE / "val2017", tmp_path / "images")
    (images / "000000196141.jpg").unlink()
    with pytest.raises(SampleError) as caught:
        kpit.export_hf(run, tmp_path / "hf", image_root=images, progress=False)
    message = str(caught.value)
    assert str(images / "000000196141.jpg") in message and "not found" in message
    assert caught.value.record is not None and "_196141" in str(caught.value.record)
    assert caught.value.field == "image"
    assert not (tmp_path / "hf").exists()  # no half dataset
    assert [p.name for p in tmp_path.iterdir()] == ["images"]  # and no scratch left


def test_a_file_that_is_not_an_image_is_refused(run: kpit.Run, tmp_path: Path) -> None:
    images = shutil.copytree(SAMPLE / "val2017", tmp_path / "images")
    (images / "000000000785.jpg").write_text("not a picture")
    with pytest.raises(SampleError, match="not an image") as caught:
        kpit.export_hf(run, tmp_path / "hf", image_root=images, progress=False)
    assert "_785" in str(caught.value.record)


def test_the_image_folder_must_be_known(run: kpit.Run, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(run.folder, tmp_path / "run"))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["source"] = {"contexts": "list"}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="image_root"):
        kpit.export_hf(copy, tmp_path / "hf", progress=False)
    assert kpit.export_hf(copy, tmp_path / "hf", image_root=SAMPLE / "val2017",
                          progress=False) == 12  # fmt: skip


def _edit_samples(folder: Path, edit: dict[str, str]) -> Iterator[str]:
    """Rewrite the first answer of the named samples; yield the edited ids."""
    path = folder / "samples.jsonl"
    lines = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["id"] in edit:
            record["turns"][1]["text"] = edit[record["id"]]
            yield record["id"]
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")


def test_chat_markers_in_the_text_leave_the_sample_out(
    run: kpit.Run, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy = Path(shutil.copytree(run.folder, tmp_path / "run"))
    edited = list(_edit_samples(copy, {"detail/785/0": "A skier.</s>USER: forged",
                                       "complex/40083/0": "See <image> again."}))  # fmt: skip
    assert len(edited) == 2
    with caplog.at_level(logging.WARNING, logger="kpit.export.llava"):
        count = kpit.export_hf(copy, tmp_path / "hf", progress=False)
    assert count == 10
    ids = set(datasets.load_from_disk(str(tmp_path / "hf"))["id"])
    assert "detail_785_0" not in ids and "complex_40083_0" not in ids
    assert "left out 2 record(s)" in caplog.text and "detail_785_0" in caplog.text


def test_output_folder_rules(run: kpit.Run, tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="something other than a saved dataset"):
        kpit.export_hf(run, busy, progress=False)
    assert (busy / "notes.txt").read_text() == "mine"
    out = tmp_path / "hf"
    assert kpit.export_hf(run, out, progress=False) == 12
    assert kpit.export_hf(run, out, tasks=["detail"], progress=False) == 4  # replaced
    assert len(datasets.load_from_disk(str(out))) == 4
    with pytest.raises(ConfigError, match="run's own files"):
        kpit.export_hf(run, run.folder, progress=False)


def test_benchmark_images_stay_out(run: kpit.Run, tmp_path: Path) -> None:
    ids = tmp_path / "bench_ids.txt"
    ids.write_text("785\n")
    with pytest.raises(ConfigError, match="785"):
        kpit.export_hf(run, tmp_path / "hf", exclude_images=ids, progress=False)
    assert not (tmp_path / "hf").exists()


def test_export_command_writes_the_dataset(run: kpit.Run, tmp_path: Path) -> None:
    out = tmp_path / "hf"
    result = CliRunner().invoke(cli, ["export", str(run.folder), "--format", "hf", "-o", str(out),
                                      "--per-pair", "--llava-system"])  # fmt: skip
    assert result.exit_code == 0, result.output
    pairs = kpit.run_stats(run).pairs
    assert result.stdout.strip().splitlines()[-1] == f"{out}: {pairs} records"
    dataset = datasets.load_from_disk(str(out))
    assert len(dataset) == pairs
    assert all([m["role"] for m in r["messages"]] == ["system", "user", "assistant"]
               for r in dataset)  # fmt: skip
    assert dataset[0]["images"][0].size[0] > 0
    paths = tmp_path / "paths"
    result = CliRunner().invoke(cli, ["export", str(run.folder), "--format", "hf", "-o",
                                      str(paths), "--image-paths", "--image-root",
                                      str(SAMPLE / "val2017")])  # fmt: skip
    assert result.exit_code == 0, result.output
    first = datasets.load_from_disk(str(paths))[0]
    assert first["images"] == [str((SAMPLE / "val2017").resolve() / first["file_name"])]
    nowhere = ["--image-root", str(tmp_path)]
    result = CliRunner().invoke(cli, ["export", str(run.folder), "--format", "hf", "-o",
                                      str(tmp_path / "x"), *nowhere])  # fmt: skip
    assert result.exit_code == 1
    assert "image file not found" in result.stderr and str(tmp_path / "0000") in result.stderr
