"""Export: LLaVA training JSON (per conversation and per pair); the Hugging Face dataset is
tested in test_hf_export.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import kpit
from kpit.cli import cli


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> kpit.Run:
    sample = Path(__file__).resolve().parents[2] / "examples" / "data" / "coco-sample"
    out = tmp_path_factory.mktemp("runs") / "demo"
    result = kpit.generate(kpit.load_coco(sample), "all", out=out, progress=False)
    assert isinstance(result, kpit.Run)
    return result


def test_llava_json_one_record_per_conversation(run: kpit.Run, tmp_path: Path) -> None:
    path = tmp_path / "llava.json"
    count = kpit.export_llava(run, path, image_prefix="coco/val2017/")
    records = json.loads(path.read_text())
    assert count == len(records) == 12
    samples = {s.id: s for s in run.samples()}
    for record in records:
        assert set(record) == {"id", "image", "conversations", "task"}
        assert record["image"].startswith("coco/val2017/0000")
        first, *rest = record["conversations"]
        assert first["from"] == "human" and first["value"].startswith("<image>\n")
        assert all("<image>" not in turn["value"] for turn in rest)
        assert [t["from"] for t in record["conversations"]] == ["human", "gpt"] * (
            len(record["conversations"]) // 2
        )
        sample = samples[record["id"].replace("_", "/")]
        assert [t["value"] for t in record["conversations"]][1:] == [t.text for t in sample.turns][
            1:
        ]
    assert len({r["id"] for r in records}) == len(records)


def test_llava_json_one_record_per_pair(run: kpit.Run, tmp_path: Path) -> None:
    path = tmp_path / "pairs.json"
    count = kpit.export_llava(run, path, per_pair=True)
    records = json.loads(path.read_text())
    pairs = sum(len(s.turns) // 2 for s in run.samples())
    assert count == len(records) == pairs == kpit.run_stats(run).pairs
    assert all(len(r["conversations"]) == 2 for r in records)
    assert all(r["conversations"][0]["value"].startswith("<image>\n") for r in records)
    assert len({r["id"] for r in records}) == len(records)
    only = kpit.export_llava(run, tmp_path / "detail.json", tasks=["detail"])
    assert only == 4


def test_export_and_stats_commands(run: kpit.Run, tmp_path: Path) -> None:
    out = tmp_path / "cli.json"
    result = CliRunner().invoke(cli, ["export", str(run.folder), "-o", str(out), "--per-pair",
                                      "--tasks", "complex,detail"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{out}: 8 records"
    result = CliRunner().invoke(cli, ["stats", str(run.folder)])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["task", "samples", "pairs"]
    assert any(line.startswith("conversation") and " 4 " in line for line in lines)
    assert "open failures: none" in result.stdout
    result = CliRunner().invoke(cli, ["export", str(tmp_path), "-o", str(out)])
    assert result.exit_code == 1 and "not a kpit run folder" in result.stderr
