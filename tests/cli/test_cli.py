"""The ``kpit`` command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from kpit.cli import cli

from ..conftest import PERSON_CATEGORY, WriteCoco, person_annotation


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_contexts_prints_the_paper_context(sample_root: Path) -> None:
    code, out, _ = run("contexts", str(sample_root), "--split", "val2017", "--limit", "2")
    assert code == 0
    assert out.count("# image ") == 2
    assert out.startswith("# image 785 (000000000785.jpg, 640x425)\nA woman in a red jacket")
    assert "person: [0.439, 0.105, 0.78, 0.921]" in out


def test_contexts_compact_for_one_image(sample_root: Path) -> None:
    code, out, _ = run("contexts", str(sample_root), "--image-id", "196141", "--style", "compact")
    assert code == 0
    assert out.count("# image ") == 1
    assert "then labelled keypoints: name x y):\n1. box ." in out and "\n5. box ." in out


def test_contexts_with_pose_notes(sample_root: Path) -> None:
    code, out, _ = run("contexts", str(sample_root), "--image-id", "785", "--pose-notes")
    assert code == 0
    assert "\n\nPose notes:\nThe first person: standing; facing the camera;" in out


def test_contexts_jsonl_reads_back(sample_root: Path) -> None:
    code, out, _ = run("contexts", str(sample_root), "--jsonl", "--min-people", "3")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["image_id"] for r in records] == [196141, 197388]
    assert len(records[1]["people"][0]["keypoints"]) == 17


def test_contexts_with_explicit_wholebody_file(sample_annotations: Path) -> None:
    path = sample_annotations / "coco_wholebody_val_v1.0.json"
    code, out, _ = run("contexts", "--keypoints", str(path), "--style", "compact", "--limit", "1")
    assert code == 0
    assert ", left big toe ." in out and ", right hand root ." in out


def test_bad_input_is_one_line_and_nonzero(write_coco: WriteCoco) -> None:
    bad = person_annotation(7, 1)
    bad["keypoints"] = [1, 2, 3]
    path = write_coco("kp.json", annotations=[bad], categories=[PERSON_CATEGORY])
    code, out, err = run("contexts", "--keypoints", str(path))
    assert code == 1
    assert out == ""
    assert err.strip().splitlines() == [
        f"Error: {path}: annotation 7: field 'keypoints': expected 51 values (17 points x 3), "
        "got 3 values"
    ]


def test_wrong_split_is_explained(sample_root: Path) -> None:
    code, _, err = run("contexts", str(sample_root), "--split", "train2014")
    assert code == 1 and "person_keypoints_train2014.json" in err and "Traceback" not in err


def test_python_dash_m_kpit(sample_root: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kpit", "contexts", str(sample_root), "--limit", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# image 785")
    version = subprocess.run(
        [sys.executable, "-m", "kpit", "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("kpit, version ")


def test_style_typo_fails_before_loading(tmp_path: Path) -> None:
    code, out, err = run(
        "contexts", "--keypoints", str(tmp_path / "missing.json"), "--style", "papr"
    )
    assert code != 0 and out == ""
    assert code == 2 and "does not exist" in err  # click checks the paths as it parses
    code, out, err = run("contexts", str(tmp_path), "--style", "papr")
    assert code == 1 and "unknown context style 'papr'" in err and out == ""


def test_prompts_show_prints_the_exact_messages(sample_root: Path) -> None:
    code, out, _ = run("prompts", "show", str(sample_root), "--task", "detail", "--image-id",
                       "785", "--style", "compact")  # fmt: skip
    assert code == 0
    assert out.startswith("=== system (~")
    assert out.count("=== user") == 2 and out.count("=== assistant") == 1
    assert "name x y):\n1. box .439 .105 .78 .921; nose .573 .191, " in out
    assert out.rstrip().endswith("tokens")
    assert "request detail/785/0: 4 messages" in out


def test_generate_dry_run_command(sample_root: Path, tmp_path: Path) -> None:
    code, out, _ = run("generate", str(sample_root), "-o", str(tmp_path / "run"), "--dry-run",
                       "--limit", "3")  # fmt: skip
    assert code == 0
    totals = next(line for line in out.splitlines() if line.startswith("all "))
    assert totals.split()[1] == "9"
    assert "first request: conversation/785/0" in out and "--- system ---" in out
    assert not (tmp_path / "run").exists()
    code, _, err = run("generate", str(sample_root), "-o", str(tmp_path / "r"), "--tasks", "x")
    assert code == 1 and "unknown task 'x'" in err
    code, _, err = run("generate", str(sample_root), "-o", str(tmp_path / "r"), "-O", "novalue")
    assert code == 2 and "KEY=VALUE" in err


WRITERS = [
    ("generate",),
    ("export",),
    ("show",),
    ("bench", "build"),
    ("bench", "answer"),
    ("bench", "judge"),
    ("bench", "report"),
]
READERS = [("contexts",), ("stats",), ("plugins",), ("prompts", "show")]


def test_every_command_that_writes_says_dash_o_output() -> None:
    for command in WRITERS:
        code, out, _ = run(*command, "--help")
        assert code == 0, command
        assert "-o, --output " in out, command
        assert "--out " not in out and "--out," not in out, command
    for command in READERS:
        code, out, _ = run(*command, "--help")
        assert code == 0 and "--out" not in out, command


def test_generate_still_takes_the_old_out(sample_root: Path, tmp_path: Path) -> None:
    code, out, err = run("generate", str(sample_root), "--out", str(tmp_path / "old"), "--limit",
                         "1", "--no-progress")  # fmt: skip
    assert code == 0, err
    assert out.startswith(f"run {tmp_path / 'old'}: 3 new samples")
    code, _, err = run("generate", str(sample_root), f"--out={tmp_path / 'eq'}", "--limit", "1",
                       "--no-progress")  # fmt: skip
    assert code == 0, err
    assert (tmp_path / "eq" / "samples.jsonl").exists()
    code, _, err = run("generate", str(sample_root), "--limit", "1")
    assert code == 2 and "Missing option '-o' / '--output'." in err


def test_bench_build_counts_with_num_images_and_the_old_images(
    sample_root: Path, tmp_path: Path
) -> None:
    code, out, _ = run("bench", "build", "--help")
    assert code == 0
    assert "--num-images INTEGER RANGE" in out and "--images" not in out
    for flag, folder in (("--num-images", "new"), ("--images", "old")):
        code, out, err = run("bench", "build", str(sample_root), flag, "2", "-o",
                             str(tmp_path / folder))  # fmt: skip
        assert code == 0, err
        assert out.strip() == f"{tmp_path / folder}: 6 questions on 2 images"
    new = json.loads((tmp_path / "new" / "manifest.json").read_text())
    old = json.loads((tmp_path / "old" / "manifest.json").read_text())
    assert new["image_ids"] == old["image_ids"] and len(new["image_ids"]) == 2
    code, _, err = run("bench", "build", str(sample_root), "--num-images", "0", "-o",
                       str(tmp_path / "zero"))  # fmt: skip
    assert code == 2 and "'--num-images'" in err and "'--images'" not in err


def test_bench_help_names_the_four_steps() -> None:
    code, out, _ = run("bench", "--help")
    assert code == 0
    description, _, listing = out.partition("Commands:")
    for step in ("build", "answer", "judge", "report"):
        assert step in description, step
        assert f"\n  {step} " in listing, step
    code, out, _ = run("--help")
    assert "bench     The HPAUB / LLaVA-Bench benchmark: build, answer, judge, report." in out
