"""Every command of ``docs/bench.md`` runs as written, block after block, in one folder.

The folder holds what the page assumes: ``coco/`` (val2014 made of the bundled sample's four
images under nine ids each, so that 30 images can be drawn, and train2017 the sample
itself), LLaVA-Bench COCO's three files (``tests/data/llava-bench-coco``, their images
standing in from the sample), the checkpoints the page names (``llava-hf/llava-1.5-7b-hf``,
``out/full`` ...) as tiny random LLaVAs (:func:`kpit.testing.make_tiny_llava`, each word of
its vocabulary an end token so that every answer is one word long), and ``v-star.jsonl``
(V*'s answers come from V*'s own code). OpenAI and vLLM are a loopback server
(``OPENAI_BASE_URL``; the page's ``http://localhost:8000/v1`` is its address, and ``vllm
serve`` starts nothing). The blocks run through bash, whose ``kpit`` is this process
(:func:`_run_block`); ``kpit train`` lines are left to the training tests (``tests/train``).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from kpit.cli import cli

from ..conftest import LLAVA_BENCH, REPO, SAMPLE
from ..helpers.openai_server import FakeOpenAI, default_content

pytest.importorskip("transformers", reason="the [test] extra installs transformers")

DOC = REPO / "docs" / "bench.md"
CHECKPOINTS = ("llava-hf/llava-1.5-7b-hf", "out/full", "out/conversation", "out/detail",
               "out/complex")  # fmt: skip
COPIES = 9  # 36 val2014 images: 32 once the 4 of train2017 are left out, as --disjoint-from does


def _blocks() -> list[str]:
    """The page's command blocks (plain or bash), each with its continuation lines joined."""
    found = re.findall(r"^```(\w*)\n(.*?)^```$", DOC.read_text(encoding="utf-8"), re.S | re.M)
    return [body for language, body in found
            if language in ("", "bash") and re.search(r"^\s*kpit ", body, re.M)]  # fmt: skip


def _split(source: Path, split: str, coco: Path, copies: int) -> None:
    """The sample's annotation files as ``split``, each image under ``copies`` ids."""
    images = coco / split
    images.mkdir(parents=True, exist_ok=True)
    for kind in ("captions", "instances", "person_keypoints"):
        data = json.loads((source / "annotations" / f"{kind}_val2017.json").read_text())
        new_images, new_annotations = [], []
        for copy in range(copies):
            shift = copy * 10_000_000
            for image in data["images"]:
                name = (f"COCO_{split}_{image['id'] + shift:012d}.jpg" if split == "val2014"
                        else image["file_name"])  # fmt: skip
                new_images.append(image | {"id": image["id"] + shift, "file_name": name})
                if not (images / name).exists():
                    (images / name).symlink_to(source / "val2017" / image["file_name"])
            new_annotations += [a | {"id": a["id"] + shift, "image_id": a["image_id"] + shift}
                                for a in data["annotations"]]  # fmt: skip
        data |= {"images": new_images, "annotations": new_annotations}
        (coco / "annotations" / f"{kind}_{split}.json").write_text(json.dumps(data))


def _tiny_checkpoints(folder: Path) -> None:
    from transformers import AutoTokenizer, GenerationConfig

    from kpit.testing import TINY_WORDS, make_tiny_llava

    model = make_tiny_llava(folder / "tiny-llava")
    vocabulary = AutoTokenizer.from_pretrained(model).get_vocab()
    config = GenerationConfig.from_pretrained(model)
    config.eos_token_id = sorted(vocabulary[word] for word in TINY_WORDS if word in vocabulary)
    config.save_pretrained(model)
    for name in CHECKPOINTS:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(model, target_is_directory=True)


def _v_star(folder: Path) -> None:
    """V*'s answers to the benchmark's questions, in LLaVA's answer fields."""
    lines = (folder / "hpaub" / "questions.jsonl").read_text().splitlines()
    answers = [{"question_id": json.loads(line)["question_id"], "model_id": "v-star",
                "text": "The person stands facing the camera.", "answer_id": f"v{n}"}
               for n, line in enumerate(lines)]  # fmt: skip
    (folder / "v-star.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers))


def _world(folder: Path) -> None:
    (folder / "coco" / "annotations").mkdir(parents=True)
    _split(SAMPLE, "val2014", folder / "coco", COPIES)
    _split(SAMPLE, "train2017", folder / "coco", 1)
    for name in ("qa90_questions.jsonl", "caps_boxes_coco2014_val_80.jsonl",
                 "qa90_gpt4_answer.jsonl"):  # fmt: skip
        shutil.copy(LLAVA_BENCH / name, folder / name)
    stand_in = sorted((SAMPLE / "val2017").glob("*.jpg"))
    for n, line in enumerate((LLAVA_BENCH / "qa90_questions.jsonl").read_text().splitlines()):
        image = folder / "coco" / "val2014" / json.loads(line)["image"]
        if not image.exists():
            image.symlink_to(stand_in[n % len(stand_in)])
    (folder / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    _tiny_checkpoints(folder)


_REPLIES = itertools.count()


def _content(body: dict[str, Any]) -> str:
    """The loopback's replies: a judge's scores, else a teacher's or a model's reply, each
    its own (the nine copies of an image have one context; the duplicate filter would
    refuse the same reply twice)."""
    if "[Assistant 1]" in json.dumps(body.get("messages", [])):
        return "8 6\nAssistant 1 answers more precisely."
    return default_content(body).replace("In scene ", f"In scene {next(_REPLIES)}, ", 1)


def _run_block(script: str, where: Path) -> list[tuple[list[str], Result]]:
    """Run ``script`` with bash in ``where``; each ``kpit`` command it runs is run here, in
    this process (through click's test runner), in the order bash reaches it. bash asks
    through a pipe (the command's words, quoted by ``printf %q``) and waits for the exit
    status on another."""
    ask_read, ask_write = os.pipe()
    status_read, status_write = os.pipe()
    prelude = ("vllm() { :; }\n"  # the server is the loopback, already running
               f'kpit() {{ printf "%q " "$@" >&{ask_write}; echo >&{ask_write}; '
               f"read -r status <&{status_read}; return $status; }}\n")  # fmt: skip
    with (where / ".bash.log").open("w") as log:
        shell = subprocess.Popen(["bash", "-e", "-c", prelude + script], cwd=where,
                                 stdout=log, stderr=subprocess.STDOUT,
                                 pass_fds=(ask_write, status_read))  # fmt: skip
    os.close(ask_write)
    os.close(status_read)
    ran = []
    try:
        with os.fdopen(ask_read) as asks, os.fdopen(status_write, "w") as statuses:
            for line in asks:
                args = shlex.split(line)
                os.chdir(where)
                result = CliRunner().invoke(cli, args)
                assert result.exit_code == 0, (args, result.output[-3000:], result.exception)
                ran.append((args, result))
                statuses.write(f"{result.exit_code}\n")
                statuses.flush()
    finally:
        if shell.poll() is None and ran and ran[-1][1].exit_code != 0:
            shell.kill()
        status = shell.wait(timeout=60)
    assert status == 0, (script, (where / ".bash.log").read_text())
    return ran


@pytest.mark.slow  # some forty commands: a tiny LLaVA answers 90 questions, five times
@pytest.mark.timeout(1800)
def test_every_command_of_the_bench_page_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _world(tmp_path)
    blocks = _blocks()
    assert len(blocks) >= 9
    monkeypatch.chdir(tmp_path)
    with FakeOpenAI() as server:
        server.behaviour.content = _content
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback")
        ran = []
        for body in blocks:
            script = "\n".join(line for line in body.replace("\\\n", " ").splitlines()
                               if not line.lstrip().startswith("kpit train "))  # fmt: skip
            script = re.sub(r"http://(localhost|127\.0\.0\.1):8000/v1", server.base_url, script)
            where = tmp_path
            if "--disjoint-from" in script:  # a benchmark of its own, beside the first
                where = tmp_path / "disjoint"
                where.mkdir()
                (where / "coco").symlink_to(tmp_path / "coco", target_is_directory=True)
            if "v-star.jsonl" in script:
                _v_star(tmp_path)
            ran += _run_block(script, where)
    assert len(ran) >= 40
    everything = "".join(result.stdout for _, result in ran)
    # Table 4: answers named by --model-id and by their folder, reported against the baseline.
    table4 = (tmp_path / "table4.md").read_text()
    for row in ("full", "conversation", "detail", "complex"):
        assert f"| {row} | 60.00 | 60.00 | 60.00 | 60.00 | -25.00% |" in table4
    assert "| llava-1.5-7b | 80.00 | 80.00 | 80.00 | 80.00 | - |" in table4
    assert f"Judge: gpt/gpt-4o at {server.base_url}" in table4
    # the rerun of out/full's answers (the Table 4 loop after the pairwise block) asked nothing
    assert "full.jsonl: 90 answers, 0 unanswered (model_id 'full'; 90 served from the cache)" in (
        everything
    )
    # the shares joined, answered once more: nothing asked
    joined = "answers.jsonl: 90 answers, 0 unanswered (model_id 'gpt-4o'; 90 served from the cache)"
    assert joined in everything
    progress = "".join(result.stderr for _, result in ran)
    assert "answer: 100%" in progress and "judge: 100%" in progress
    table5 = (tmp_path / "table5.md").read_text()
    assert "| v-star |" in table5 and "| Qwen2-VL-72B-Instruct |" in table5
    assert "| llava-1.5-7b | 80.00" in everything  # the sample's flow, reported
