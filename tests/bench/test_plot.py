"""The chart of ``kpit bench report --plot``: what it says it draws, and its legend."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from kpit.bench.plot import legend_labels, plot_scores
from kpit.bench.report import Score


def test_labels_are_the_last_folder_and_tell_twins_apart() -> None:
    ids = ["/runs/loop/trained", "/runs/other/trained", "llava-hf/llava-1.5-7b-hf", "gpt-4o"]
    assert legend_labels(ids) == ["loop/trained", "other/trained", "llava-1.5-7b-hf", "gpt-4o"]


def test_long_ids_sharing_their_first_16_characters_get_distinct_labels() -> None:
    ids = ["checkpoints/llava-1.5-7b-keypoints-full-step-1000",
           "checkpoints/llava-1.5-7b-keypoints-full-step-2000"]  # fmt: skip
    labels = legend_labels(ids)
    assert len(set(labels)) == 2 and all(len(label) <= 24 for label in labels)
    assert labels[0].startswith("llava-1.5-7b") and labels[0].endswith("1000")
    assert ids[0][:16] == ids[1][:16]


@given(st.lists(st.text(min_size=1, max_size=60), min_size=1, max_size=8, unique=True))
def test_distinct_ids_always_get_distinct_labels(ids: list[str]) -> None:
    labels = legend_labels(ids)
    assert len(labels) == len(ids) and len(set(labels)) == len(ids)


def _scores(model: float, reference: float, ci: tuple[float, float]) -> dict[str, Score]:
    return {c: Score(30, 0, model, reference, 100 * model / reference, ci, (90.0, 110.0))
            for c in ("conv", "detail", "complex", "all")}  # fmt: skip


def test_the_llava_chart_draws_and_says_intervals_and_the_reference(tmp_path: Path) -> None:
    path = plot_scores({"a/model": _scores(60.0, 80.0, (50.0, 70.0))}, tmp_path / "c.png")
    with Image.open(path) as chart:
        said = chart.text["Description"]
        grey = (110, 110, 110) in {colour for _, colour in chart.convert("RGB").getcolors(1 << 16)}
    assert "95% interval" in said and "grey line" in said and grey
