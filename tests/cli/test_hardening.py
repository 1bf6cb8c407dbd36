"""Commands against careless input: no image outside its folder, no silent empty result.

Each test here failed before its fix: what a hostile or careless input did then is said in
the test's docstring.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from kpit.cli import cli

from ..conftest import PERSON_CATEGORY, WriteCoco, person_annotation


def test_kpit_show_refuses_a_file_name_outside_the_image_folder(
    write_coco: WriteCoco, tmp_path: Path
) -> None:
    """Before: ``kpit show`` opened ``../secret.png`` and drew it into the picture."""
    (tmp_path / "images").mkdir()
    Image.new("RGB", (200, 100)).save(tmp_path / "secret.png")
    keypoints = write_coco(
        "kp.json",
        images=[{"id": 7, "file_name": "../secret.png", "width": 200, "height": 100}],
        annotations=[person_annotation(1, 7)],
        categories=[PERSON_CATEGORY],
    )
    out = tmp_path / "out.png"
    result = CliRunner().invoke(cli, ["show", "--keypoints", str(keypoints), "--images",
                                      str(tmp_path / "images"), "-o", str(out)])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "image 7" in result.stderr and "'file_name'" in result.stderr
    assert "outside the image folder" in result.stderr and not out.exists()


def test_generate_of_a_missing_image_id_is_an_error(sample_root: Path, tmp_path: Path) -> None:
    """Before: ``--image-id`` of an image no file lists ran nothing and exited 0."""
    runner = CliRunner()
    result = runner.invoke(cli, ["generate", str(sample_root), "--image-id", "999999", "-o",
                                 str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 1 and "no image 999999" in result.stderr
    assert not (tmp_path / "run").exists()
    result = runner.invoke(cli, ["generate", str(sample_root), "--image-id", "785",
                                 "--min-people", "9", "-o", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 1 and "left out by the other options" in result.stderr
