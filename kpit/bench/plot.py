"""A bar chart of benchmark scores: models side by side, per category, with intervals."""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from kpit.bench._output import write_bytes
from kpit.bench.report import Score
from kpit.errors import ConfigError

__all__ = ["plot_scores"]

_COLOURS = (
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (204, 121, 167),
    (86, 180, 233),
    (213, 94, 0),
)


def plot_scores(results: Mapping[str, Mapping[str, Score]], path: str | os.PathLike[str]) -> Path:
    """Draw each model's mean x10 per category (with 95% intervals, and the reference's
    mean as a grey tick) and save the picture to ``path``."""
    categories = [
        c for c in ("conv", "detail", "complex", "all") if any(c in r for r in results.values())
    ]
    width, height, left, bottom, top = 200 + 180 * len(categories), 460, 60, 60, 50
    picture = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=14)
    plot_h = height - bottom - top

    def y(value: float) -> float:
        return height - bottom - plot_h * max(0.0, min(value, 100.0)) / 100

    for tick in range(0, 101, 20):
        draw.line((left, y(tick), width - 140, y(tick)), fill=(225, 225, 225))
        draw.text((left - 30, y(tick) - 8), str(tick), fill="black", font=font)
    group = (width - 140 - left) / max(1, len(categories))
    bar = group * 0.7 / max(1, len(results))
    for c, category in enumerate(categories):
        x0 = left + c * group + group * 0.15
        draw.text((x0, height - bottom + 10), category, fill="black", font=font)
        for m, scores in enumerate(results.values()):
            score = scores.get(category)
            if score is None or not score.n or math.isnan(score.model):
                continue
            colour = _COLOURS[m % len(_COLOURS)]
            bx = x0 + m * bar
            draw.rectangle((bx, y(score.model), bx + bar - 4, y(0)), fill=colour)
            mid = bx + (bar - 4) / 2
            draw.line((mid, y(score.model_ci[0]), mid, y(score.model_ci[1])), fill="black", width=2)
            if not math.isnan(score.reference):
                draw.line(
                    (bx, y(score.reference), bx + bar - 4, y(score.reference)),
                    fill=(110, 110, 110),
                    width=3,
                )
    for m, model in enumerate(results):
        draw.rectangle(
            (width - 130, top + 22 * m, width - 116, top + 22 * m + 14),
            fill=_COLOURS[m % len(_COLOURS)],
        )
        draw.text((width - 110, top + 22 * m - 1), model[:16], fill="black", font=font)
    draw.text(
        (left, 15),
        "model mean x10 (bars, 95% interval); reference mean x10 (grey line)",
        fill="black",
        font=font,
    )
    out = Path(path)
    image_format = Image.registered_extensions().get(out.suffix.lower())
    if image_format is None:
        raise ConfigError(f"cannot save the picture: no image format ends in {out.suffix!r} "
                          "(use .png)", file=out)  # fmt: skip
    encoded = io.BytesIO()
    try:
        picture.save(encoded, format=image_format)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"cannot save the picture: {exc}", file=out) from None
    write_bytes(out, encoded.getvalue())  # whole or not at all
    return out
