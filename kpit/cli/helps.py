"""What several commands share: ``--progress``, ``--help-options`` and whole summaries.

``--help-options`` lists the options (``-O KEY=VALUE``) of the backend or judge that the
command's chooser option (``--generator``, ``--judge``) names, then exits, as
``kpit generate --generator openai --help-options`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["WholeSummaryGroup", "help_options", "print_options", "progress_option"]

F = TypeVar("F", bound=Callable[..., Any])

progress_option = click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Show a progress bar (on stderr) while it runs.",
)
"""``--progress/--no-progress``: the bar that long commands show."""

_KINDS = {"generator": "--generator", "judge": "--judge"}


def print_options(ctx: click.Context, kind: str, name: str) -> None:
    """Print the options of the ``kind`` (``generator`` or ``judge``) called ``name``; exit."""
    from kpit import plugins
    from kpit.errors import KpitError
    from kpit.options import describe_options

    lookup = plugins.get_generator if kind == "generator" else plugins.get_judge
    try:
        chosen = lookup(name)
    except KpitError as exc:
        raise click.BadParameter(exc.message, ctx=ctx, param_hint=_KINDS[kind]) from None
    options = describe_options(chosen.Options)
    click.echo(f"options of the {name!r} {kind} (-O KEY=VALUE):")
    if not options:
        click.echo("  none")
    for info in options:
        default = "(secret)" if info.secret and info.default is not None else repr(info.default)
        click.echo(f"  {info.name}: {info.type} = {default}")
        click.echo(f"      {info.help}")
    ctx.exit(0)


def help_options(kind: str, param: str) -> tuple[Callable[[F], F], Callable[..., str]]:
    """The ``--help-options`` option for a command whose option named ``param`` chooses a
    ``kind`` (``generator`` or ``judge``), and the callback that the chooser option takes
    (it must be eager too: ``is_eager=True, callback=chosen``).

    ``--help-options`` may come before or after the chooser on the command line; without
    the chooser, its default's options are listed.
    """
    flag = f"kpit.help_options.{kind}"

    def asked(ctx: click.Context, _: click.Parameter, value: bool) -> None:
        if not value or ctx.resilient_parsing:
            return
        if param in ctx.params:
            print_options(ctx, kind, ctx.params[param])
        ctx.meta[flag] = True  # the chooser comes later on the command line

    def chosen(ctx: click.Context, _: click.Parameter, value: str) -> str:
        if ctx.meta.get(flag) and not ctx.resilient_parsing:
            print_options(ctx, kind, value)
        return value

    option = click.option(
        "--help-options",
        is_flag=True,
        is_eager=True,
        expose_value=False,
        callback=asked,
        help=f"List the chosen {_KINDS[kind]}'s options (-O KEY=VALUE) and exit.",
    )
    return option, chosen


class WholeSummaryGroup(click.Group):
    """A group whose ``--help`` gives each command's whole first sentence, wrapped, where
    click cuts it to the terminal's width with "..."."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The Commands section, each summary whole."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
