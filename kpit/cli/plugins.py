"""``kpit plugins``: what is installed, which package registered it, and what it can do."""

from __future__ import annotations

from typing import Any

import click

from kpit import plugins as registry

__all__ = ["abilities", "plugins"]

_HEADER = ("name", "package", "can", "description")
_SECTIONS = (("generators", "generator"), ("judges", "judge"), ("tasks", "task"),
             ("recipes", "recipe"))  # fmt: skip


@click.command()
def plugins() -> None:
    """List the installed plugins and each generator, judge, task and recipe.

    Each comes with the package that registered it ("kpit" for the built-ins) and what it
    can do: whether a generator reads images (and which tasks it writes), whether a judge
    reviews one answer or a pair, which prompts a task renders and which tasks a recipe
    has."""
    click.echo("plugins:")
    for name, version in registry.loaded_plugins():
        click.echo(f"  {name}" + (f" ({version})" if version else ""))
    for title, kind in _SECTIONS:
        found = registry.registrations(kind)
        click.echo(f"{title}:")
        if not found:
            click.echo("  (none)")
            continue
        rows = [(entry.name, entry.package, abilities(kind, entry.cls),
                 str(getattr(entry.cls, "description", "") or "")) for entry in found]  # fmt: skip
        widths = [max(len(row[i]) for row in [*rows, _HEADER]) + 2 for i in range(3)]
        for row in [_HEADER, *rows]:
            cells = "".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            click.echo(f"  {cells}{row[3]}".rstrip())


def abilities(kind: str, cls: type[Any]) -> str:
    """What a registered class of ``kind`` can do, in a few words."""
    if kind == "generator":
        reads = "reads images" if getattr(cls, "accepts_images", False) else "text only"
        only = getattr(cls, "supported_tasks", None)
        return reads + (f"; tasks: {', '.join(only)}" if only else "")
    if kind == "judge":
        return "single-answer" if getattr(cls, "single_answer", False) else "pairwise"
    if kind == "task":
        if "template_folder" in dir(cls):  # a PromptTask: Jinja templates under prompts/
            folder = cls.__dict__.get("template_folder") or getattr(cls, "template_folder", None)
            return f"prompts: {folder if isinstance(folder, str) else cls.name}/"
        return "builds its own requests"
    own = getattr(cls, "tasks", None)
    return f"version {getattr(cls, 'version', '?')}; " + (
        f"tasks: {', '.join(own)}" if own else "every task"
    )
