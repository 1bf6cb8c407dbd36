"""``kpit plugins``: what is installed."""

from __future__ import annotations

import click

from kpit import plugins as registry

__all__ = ["plugins"]


@click.command()
def plugins() -> None:
    """List the installed plugins, generators, judges, tasks and recipes."""
    click.echo("plugins:")
    for name, version in registry.loaded_plugins():
        click.echo(f"  {name}" + (f" ({version})" if version else ""))
    for title, found in (("generators", registry.generators()), ("judges", registry.judges()),
                         ("tasks", registry.tasks()), ("recipes", registry.recipes())):  # fmt: skip
        click.echo(f"{title}:")
        if not found:
            click.echo("  (none)")
        for name, cls in sorted(found.items()):
            description = getattr(cls, "description", "")
            click.echo(f"  {name:<16}{description}")
