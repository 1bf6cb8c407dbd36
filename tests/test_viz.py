"""Pictures of contexts, from Python and from ``kpit show``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import kpit
from kpit.cli import cli


@pytest.fixture
def contexts(sample_root: Path) -> kpit.CocoContexts:
    return kpit.load_coco(sample_root)


def _colour_at(picture: Image.Image, x: float, y: float) -> tuple[int, ...]:
    return picture.getpixel((round(x), round(y)))  # type: ignore[return-value]


def test_draws_keypoints_where_they_are(contexts: kpit.CocoContexts) -> None:
    ctx = contexts.get(785)
    blank = kpit.draw(ctx)
    assert blank.size == (ctx.width, ctx.height)
    nose = ctx.people[0].keypoint("nose")
    # a visible point is a filled dot in the person's colour, on the light grey canvas
    assert _colour_at(blank, nose.x * ctx.width, nose.y * ctx.height) == (230, 159, 0)
    assert _colour_at(blank, 5, 5) == (245, 245, 245)


def test_occluded_points_are_hollow() -> None:
    array = np.zeros((17, 3))
    array[0] = [0.5, 0.5, 1]  # an occluded nose, alone
    array[9] = [0.25, 0.5, 2]  # a visible left wrist, alone
    person = kpit.Person(kpit.Box(0.1, 0.1, 0.9, 0.9), array, image_size=(640, 640))
    ctx = kpit.ImageContext(1, "a.jpg", 640, 640, people=(person,))
    picture = kpit.draw(ctx)
    assert _colour_at(picture, 320, 320) == (245, 245, 245)  # hollow: the canvas shows through
    assert _colour_at(picture, 322, 320) == (230, 159, 0)  # its ring
    assert _colour_at(picture, 160, 320) == (230, 159, 0)  # filled


def test_draws_on_the_real_image_and_adds_a_facts_panel(contexts: kpit.CocoContexts,
                                                       tmp_path: Path) -> None:  # fmt: skip
    ctx = contexts.get(196141)
    out = kpit.show(ctx, tmp_path / "sub" / "ctx.png", contexts.image_path(ctx), facts=True)
    picture = Image.open(out)
    assert picture.width > ctx.width and picture.height >= ctx.height
    photo = np.asarray(picture)[:, : ctx.width]
    assert photo.std() > 30  # the photograph, not a blank canvas
    panel = np.asarray(picture)[:, ctx.width :]
    assert (panel < 100).any()  # text was written in the panel


def test_custom_fact_lines_and_bad_image(contexts: kpit.CocoContexts, tmp_path: Path) -> None:
    ctx = contexts.get(785)
    picture = kpit.draw(ctx, facts=["1. my own words"])
    assert picture.width > ctx.width
    missing = tmp_path / "nope.jpg"
    with pytest.raises(kpit.DataError, match="cannot open the image") as info:
        kpit.draw(ctx, missing)
    assert info.value.file == str(missing) and info.value.record == "image 785"


def test_kpit_show_command(sample_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "785.png"
    result = CliRunner().invoke(
        cli, ["show", str(sample_root), "--split", "val2017", "--image-id", "785", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    assert Image.open(out).size[0] > 640

    result = CliRunner().invoke(cli, ["show", str(sample_root), "--image-id", "1", "-o", str(out)])
    assert result.exit_code == 1 and "no image 1 in the annotation files" in result.stderr


def test_unsaveable_picture_is_a_clear_error(contexts: kpit.CocoContexts, tmp_path: Path) -> None:
    with pytest.raises(kpit.ConfigError, match="cannot save the picture"):
        kpit.show(contexts[0], tmp_path / "x.unknownext")
