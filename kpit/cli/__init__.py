"""The ``kpit`` command line: one module per command group, all under :func:`main`."""

from __future__ import annotations

import logging
from typing import Any

import click

from kpit._version import __version__
from kpit.cli.helps import WholeSummaryGroup
from kpit.errors import KpitError

__all__ = ["cli", "main"]


class _KpitGroup(WholeSummaryGroup):
    """A group that turns :class:`KpitError` into one clear line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KpitError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_KpitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kpit")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """kpit: keypoint-integrated instruction tuning for vision-language models."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _register_commands() -> None:
    from kpit.cli.bench import bench
    from kpit.cli.contexts import contexts
    from kpit.cli.generate import generate
    from kpit.cli.plugins import plugins
    from kpit.cli.prompts import prompts
    from kpit.cli.runs import export, merge, stats
    from kpit.cli.show import show
    from kpit.cli.train import train

    for command in (contexts, generate, export, merge, stats, show, prompts, plugins, bench, train):
        cli.add_command(command)


_register_commands()


def main() -> None:
    """Entry point of the ``kpit`` console script."""
    cli(prog_name="kpit")
