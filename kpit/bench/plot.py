"""A bar chart of benchmark scores: models side by side, per category (under the llava
protocol with intervals and the reference's mean)."""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from kpit.bench._output import write_bytes
from kpit.bench.report import Score
from kpit.errors import ConfigError

__all__ = ["legend_labels", "plot_scores"]

_COLOURS = (
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (204, 121, 167),
    (86, 180, 233),
    (213, 94, 0),
)


_SUBTITLES = {
    "llava": "model mean x10 (bars, 95% interval); reference mean x10 (grey line)",
    "paper": "model mean x10, pooled over every pairing (bars); All = mean of the categories",
}
"""What the chart draws under each protocol, said above it."""


def legend_labels(models: Sequence[str], width: int = 24) -> list[str]:
    """Short, distinct names for ``models`` (model ids, often paths), in order.

    Each is its id's last path part (``out/loop/trained`` gives ``trained``), or as many
    trailing parts as tell it from the others (``a/trained``, ``b/trained``); one longer than
    ``width`` keeps its start and end around an ellipsis, with as much of the end as keeps
    the labels distinct. Labels that still coincide get a number (``#2``).
    """
    parts = [[p for p in m.replace("\\", "/").split("/") if p not in ("", ".")] or [m]
             for m in models]  # fmt: skip
    labels = [p[-1] for p in parts]
    for depth in range(2, max((len(p) for p in parts), default=1) + 1):
        twins = {label for label in labels if labels.count(label) > 1}
        if not twins:
            break
        labels = ["/".join(p[-depth:]) if label in twins else label
                  for p, label in zip(parts, labels, strict=True)]  # fmt: skip
    short = labels
    for tail in range(8, width - 3):
        short = [_middle(label, width, tail) for label in labels]
        if len(set(short)) == len(set(labels)):
            break
    out: list[str] = []
    for label in short:
        name, n = label, 1
        while name in out:
            n += 1
            name = f"{label} #{n}"
        out.append(name)
    return out


def _middle(text: str, width: int, tail: int) -> str:
    """``text`` cut to ``width`` characters around an ellipsis, keeping ``tail`` at the end."""
    if len(text) <= width:
        return text
    return text[: width - tail - 3] + "..." + text[-tail:]


def plot_scores(
    results: Mapping[str, Mapping[str, Score]],
    path: str | os.PathLike[str],
    *,
    protocol: str = "llava",
) -> Path:
    """Draw each model's mean x10 per category and save the picture to ``path``.

    Under the ``llava`` protocol (the default), each bar has its 95% interval and the
    reference's mean as a grey line; under ``paper``, the bars are the pooled scores of
    :func:`kpit.bench.paper_scores` alone (that protocol has no reference and no
    interval). The subtitle says which; the legend names each model by
    :func:`legend_labels`.
    """
    if protocol not in _SUBTITLES:
        raise ConfigError(f"unknown protocol {protocol!r} (llava or paper)", field="protocol")
    categories = [
        c for c in ("conv", "detail", "complex", "all") if any(c in r for r in results.values())
    ]
    font = ImageFont.load_default(size=14)
    labels = legend_labels(list(results))
    legend = 40 + max((int(font.getlength(label)) for label in labels), default=0)
    width, height, left, bottom, top = 60 + legend + 180 * len(categories), 460, 60, 60, 50
    width = max(width, left + int(font.getlength(_SUBTITLES[protocol])) + 20)
    picture = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(picture)
    plot_h = height - bottom - top
    right = width - legend

    def y(value: float) -> float:
        return height - bottom - plot_h * max(0.0, min(value, 100.0)) / 100

    for tick in range(0, 101, 20):
        draw.line((left, y(tick), right, y(tick)), fill=(225, 225, 225))
        draw.text((left - 30, y(tick) - 8), str(tick), fill="black", font=font)
    group = (right - left) / max(1, len(categories))
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
            if protocol == "paper":
                continue
            mid = bx + (bar - 4) / 2
            draw.line((mid, y(score.model_ci[0]), mid, y(score.model_ci[1])), fill="black", width=2)
            if not math.isnan(score.reference):
                draw.line(
                    (bx, y(score.reference), bx + bar - 4, y(score.reference)),
                    fill=(110, 110, 110),
                    width=3,
                )
    for m, label in enumerate(labels):
        draw.rectangle(
            (right + 10, top + 22 * m, right + 24, top + 22 * m + 14),
            fill=_COLOURS[m % len(_COLOURS)],
        )
        draw.text((right + 30, top + 22 * m - 1), label, fill="black", font=font)
    draw.text((left, 15), _SUBTITLES[protocol], fill="black", font=font)
    out = Path(path)
    image_format = Image.registered_extensions().get(out.suffix.lower())
    if image_format is None:
        raise ConfigError(f"cannot save the picture: no image format ends in {out.suffix!r} "
                          "(use .png)", file=out)  # fmt: skip
    encoded = io.BytesIO()
    described: dict[str, Any] = {}
    if image_format == "PNG":  # what the chart draws, in the file too
        described["pnginfo"] = PngInfo()
        described["pnginfo"].add_text("Description", _SUBTITLES[protocol])
    try:
        picture.save(encoded, format=image_format, **described)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"cannot save the picture: {exc}", file=out) from None
    write_bytes(out, encoded.getvalue())  # whole or not at all
    return out
