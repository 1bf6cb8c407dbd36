"""Render an :class:`~kpit.types.ImageContext` as the text a teacher model reads.

Two packaged styles: ``paper`` (the paper's prompt: captions, ``category: [x1, y1, x2, y2]``
lines, each person's box and its ``(x, y, visibility)`` triples) and ``compact`` (the same
information in about half the tokens: numbers without the leading zero or brackets, one
line per person with the box and then the labelled keypoints by name, hidden ones marked,
unlabelled ones left out). A path to a ``.j2`` file renders with the user's own template.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import jinja2

from kpit.errors import TemplateError
from kpit.prompts.environment import record_read, template_environment
from kpit.types import Box, ImageContext, ObjectBox, Person

__all__ = ["CONTEXT_STYLES", "context_template", "render_context"]

CONTEXT_STYLES = ("paper", "compact")
"""The names of the packaged context styles."""


def format_box(box: Box) -> str:
    """``[x1, y1, x2, y2]`` with each value as Python prints it (LLaVA's formatting)."""
    return f"[{box.x1}, {box.y1}, {box.x2}, {box.y2}]"


def object_label(obj: ObjectBox) -> str:
    """An object's category, marked ``(crowd)`` for crowd regions."""
    return f"{obj.category} (crowd)" if obj.iscrowd else obj.category


def keypoint_triples(person: Person) -> str:
    """All keypoints as ``[(x, y, v), ...]`` in layout order (the paper's format)."""
    rows = person.keypoint_array.tolist()
    return "[" + ", ".join(f"({x}, {y}, {int(v)})" for x, y, v in rows) + "]"


def _compact_number(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    if text.startswith("0."):
        return text[1:]
    if text.startswith("-0."):
        return "-" + text[2:]
    return "0" if text == "-0" else text


_THOUSANDTHS = {k / 1000: _compact_number(k / 1000) for k in range(1001)}


def compact_number(value: float) -> str:
    """``value`` to three decimals without the leading zero or trailing zeros.

    ``0.25`` is ``.25``, ``0.0`` is ``0``, ``1.0`` is ``1``, ``-0.05`` is ``-.05``: in o200k
    tokens `` .25`` costs two where `` 0.25`` costs four.
    """
    try:  # kpit's coordinates are thousandths in [0, 1]: looked up, not formatted
        return _THOUSANDTHS[value]
    except KeyError:
        return _compact_number(value)


def compact_box(box: Box) -> str:
    """``x1 y1 x2 y2`` as :func:`compact_number` writes them."""
    return " ".join(map(compact_number, (box.x1, box.y1, box.x2, box.y2)))


def compact_keypoints(person: Person) -> str:
    """Labelled keypoints as ``name x y``, ``hidden`` after those labelled but not visible.

    Points are in layout order, separated by ``", "``; unlabelled points are left out, and a
    person with none says ``no keypoint labelled``.
    """
    parts = [f"{name} {compact_number(x)} {compact_number(y)}" + (" hidden" if hidden else "")
             for name, x, y, hidden in _labelled_points(person)]  # fmt: skip
    return ", ".join(parts) if parts else "no keypoint labelled"


def named_keypoints(person: Person) -> str:
    """Labelled keypoints as ``name (x, y)``; labelled-but-hidden ones end in ``hidden``."""
    parts = [f"{name} ({x}, {y}, hidden)" if hidden else f"{name} ({x}, {y})"
             for name, x, y, hidden in _labelled_points(person)]  # fmt: skip
    return ", ".join(parts) if parts else "no keypoints labelled"


def _labelled_points(person: Person) -> Iterator[tuple[str, float, float, bool]]:
    """Each labelled keypoint in layout order: its name in words, x, y, and whether it is
    labelled but not visible (visibility 1)."""
    rows = person.keypoint_array.tolist()
    for name, (x, y, v) in zip(person.layout.names, rows, strict=True):
        if v > 0:
            yield name.replace("_", " "), x, y, int(v) == 1


_FILTERS = {
    "box": format_box,
    "object_label": object_label,
    "keypoint_triples": keypoint_triples,
    "named_keypoints": named_keypoints,
    "compact_number": compact_number,
    "compact_box": compact_box,
    "compact_keypoints": compact_keypoints,
}


def context_template(
    style: str | os.PathLike[str], template_dir: str | os.PathLike[str] | None = None
) -> jinja2.Template:
    """The compiled template of a context style (a packaged name, a user name or a file).

    Raises:
        TemplateError: the style is unknown or its template does not compile.
    """
    env = template_environment(template_dir)
    for name, function in _FILTERS.items():
        env.filters.setdefault(name, function)
    path = Path(style)
    try:
        if path.suffix == ".j2" and path.is_file():
            record_read(path)
            return env.from_string(path.read_text(encoding="utf-8"))
        if style not in CONTEXT_STYLES and not _user_template_exists(style, template_dir):
            raise TemplateError(
                f"unknown context style {os.fspath(style)!r}; use one of "
                f"{', '.join(CONTEXT_STYLES)} or a path to a .j2 file",
                field="style",
            )
        return env.get_template(f"context/{style}.j2")
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"syntax error: {exc.message}", file=exc.filename or style, record=f"line {exc.lineno}"
        ) from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{type(exc).__name__}: {exc}", file=os.fspath(style)) from None


def _user_template_exists(
    style: str | os.PathLike[str], template_dir: str | os.PathLike[str] | None
) -> bool:
    return template_dir is not None and (Path(template_dir) / "context" / f"{style}.j2").is_file()


def _pose_notes(ctx: ImageContext) -> str:
    from kpit.pose.facts import pose_notes

    return pose_notes(ctx)


def render_context(
    ctx: ImageContext,
    style: str | os.PathLike[str] = "paper",
    *,
    template_dir: str | os.PathLike[str] | None = None,
    pose_notes: bool = False,
) -> str:
    """Render ``ctx`` as the text a teacher model sees.

    Args:
        ctx: the image context.
        style: ``"paper"``, ``"compact"``, the name of a template ``context/NAME.j2`` in
            ``template_dir``, or the path of a ``.j2`` file. Templates receive ``ctx`` and the
            filters ``box``, ``object_label``, ``keypoint_triples``, ``named_keypoints``,
            ``compact_number``, ``compact_box`` and ``compact_keypoints``.
        template_dir: a folder whose ``context/*.j2`` files override the packaged ones.
        pose_notes: append each person's pose facts in words, without numbers
            (:func:`kpit.pose.facts.pose_notes`); off by default, so the paper's setting stays as
            it was. Templates receive the notes as ``pose_notes`` (empty when off).

    Raises:
        TemplateError: the style is unknown or the template fails to render.
    """
    template = context_template(style, template_dir)
    notes = _pose_notes(ctx) if pose_notes else ""
    try:
        return template.render(ctx=ctx, pose_notes=notes).rstrip("\n")
    except jinja2.UndefinedError as exc:
        raise TemplateError(
            f"undefined variable: {exc.message}",
            file=os.fspath(style),
            record=f"image {ctx.image_id}",
        ) from None
    except Exception as exc:  # a user's template may fail in any way: say where
        raise TemplateError(
            f"rendering failed: {type(exc).__name__}: {exc}",
            file=os.fspath(style),
            record=f"image {ctx.image_id}",
        ) from None
