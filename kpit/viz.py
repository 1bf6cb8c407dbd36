"""Pictures of image contexts: object boxes, skeletons, keypoints and pose facts.

:func:`show` draws what a context says over the image (or over a blank canvas of the image's
size when no image file is at hand): each object box with its category, each person's box,
number, skeleton and keypoints (visible points filled, occluded points hollow), and, when
asked, the pose facts of every person in a panel beside the picture.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from kpit.errors import ConfigError, DataError
from kpit.types import Box, ImageContext, Person

__all__ = ["draw", "show"]

PathLike = str | os.PathLike[str]

# Distinct, colour-blind-friendly colours for people (Okabe-Ito), grey for objects.
_PERSON_COLOURS = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
)
_OBJECT_COLOUR = (160, 160, 160)
_PANEL_WIDTH = 420


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _pixels(box: Box, width: int, height: int) -> tuple[float, float, float, float]:
    return box.x1 * width, box.y1 * height, box.x2 * width, box.y2 * height


def _label(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    colour: tuple[int, int, int],
    size: int,
) -> None:
    font = _font(size)
    left, top, right, bottom = draw.textbbox(xy, text, font=font)
    draw.rectangle((left - 2, top - 1, right + 2, bottom + 1), fill=colour)
    draw.text(xy, text, fill=(0, 0, 0), font=font)


def _draw_person(
    draw: ImageDraw.ImageDraw, person: Person, number: int, width: int, height: int, scale: float
) -> None:
    colour = _PERSON_COLOURS[(number - 1) % len(_PERSON_COLOURS)]
    line = max(1, round(2 * scale))
    x1, y1, x2, y2 = _pixels(person.box, width, height)
    draw.rectangle((x1, y1, x2, y2), outline=colour, width=line)
    points = person.keypoint_array
    for a, b in person.layout.skeleton:
        if points[a, 2] > 0 and points[b, 2] > 0:
            start = (points[a, 0] * width, points[a, 1] * height)
            end = (points[b, 0] * width, points[b, 1] * height)
            draw.line((start, end), fill=colour, width=line + 1)
    radius = max(2.0, 3.5 * scale)
    for x, y, v in points.tolist():
        if v <= 0:
            continue
        cx, cy = x * width, y * height
        ellipse = (cx - radius, cy - radius, cx + radius, cy + radius)
        if v >= 2:
            draw.ellipse(ellipse, fill=colour, outline=(0, 0, 0))
        else:  # labelled but occluded: hollow
            draw.ellipse(ellipse, fill=None, outline=colour, width=line)
    _label(draw, (x1 + 2, y1 + 2), str(number), colour, max(10, round(14 * scale)))


def draw(
    ctx: ImageContext,
    image: Image.Image | PathLike | None = None,
    *,
    facts: bool | Sequence[str] = False,
    objects: bool = True,
) -> Image.Image:
    """Draw ``ctx`` and return the picture.

    Args:
        ctx: the context to draw.
        image: the image (a PIL image or a file path); ``None`` draws on a blank canvas of
            the context's size.
        facts: ``True`` adds a panel with each person's pose facts; a sequence of strings
            adds those lines instead (one per person, numbered as in the picture).
        objects: draw the object boxes.

    Raises:
        DataError: the image file cannot be opened.
    """
    width, height = ctx.width, ctx.height
    if image is None:
        picture = Image.new("RGB", (width, height), (245, 245, 245))
    elif isinstance(image, Image.Image):
        picture = image.convert("RGB")
    else:
        try:
            with Image.open(image) as opened:
                picture = opened.convert("RGB")
        except OSError as exc:
            raise DataError(
                f"cannot open the image: {exc}", file=image, record=f"image {ctx.image_id}"
            ) from None
    if picture.size != (width, height):
        picture = picture.resize((width, height))
    scale = max(width, height) / 640
    canvas = ImageDraw.Draw(picture)
    if objects:
        for obj in ctx.objects:
            box = _pixels(obj.box, width, height)
            canvas.rectangle(box, outline=_OBJECT_COLOUR, width=max(1, round(scale)))
            label = f"{obj.category} (crowd)" if obj.iscrowd else obj.category
            _label(
                canvas,
                (box[0] + 2, box[3] - 14 * scale - 4),
                label,
                _OBJECT_COLOUR,
                max(9, round(12 * scale)),
            )
    for number, person in enumerate(ctx.people, start=1):
        _draw_person(canvas, person, number, width, height, scale)
    if facts is False:
        return picture
    lines = list(facts) if not isinstance(facts, bool) else _fact_lines(ctx)
    return _with_panel(picture, lines)


def _fact_lines(ctx: ImageContext) -> list[str]:
    from kpit.pose.facts import pose_facts

    return [
        f"{n}. " + "; ".join(f.text for f in pose_facts(person, ctx))
        for n, person in enumerate(ctx.people, start=1)
    ]


def _wrap(text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: int) -> list[str]:
    words, lines, current = text.split(), [], ""
    for word in words:
        trial = f"{current} {word}".strip()
        if font.getlength(trial) <= width or not current:
            current = trial
        else:
            lines.append(current)
            current = word
    return [*lines, current] if current else lines


def _with_panel(picture: Image.Image, lines: Sequence[str]) -> Image.Image:
    font = _font(13)
    wrapped = [
        (n, part) for n, line in enumerate(lines) for part in _wrap(line, font, _PANEL_WIDTH - 24)
    ]
    line_height = 17
    height = max(picture.height, 16 + line_height * (len(wrapped) + len(lines)))
    out = Image.new("RGB", (picture.width + _PANEL_WIDTH, height), (255, 255, 255))
    out.paste(picture, (0, 0))
    canvas = ImageDraw.Draw(out)
    y, previous = 8, 0
    for n, part in wrapped:
        if n != previous:
            y += line_height // 2
            previous = n
        colour = _PERSON_COLOURS[n % len(_PERSON_COLOURS)]
        canvas.rectangle((picture.width + 6, y + 2, picture.width + 10, y + 14), fill=colour)
        canvas.text((picture.width + 16, y), part, fill=(0, 0, 0), font=font)
        y += line_height
    return out


def show(
    ctx: ImageContext,
    path: PathLike,
    image: Image.Image | PathLike | None = None,
    *,
    facts: bool | Sequence[str] = False,
    objects: bool = True,
) -> Path:
    """Draw ``ctx`` (see :func:`draw`) and save the picture to ``path``; return the path."""
    picture = draw(ctx, image, facts=facts, objects=objects)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        picture.save(out)
    except (ValueError, OSError) as exc:  # an unknown extension, an unwritable folder
        raise ConfigError(f"cannot save the picture: {exc}", file=out) from None
    return out
