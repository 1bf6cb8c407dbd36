"""``kpit train``: fine-tune LLaVA on kpit data (every ``TrainConfig`` field is a flag)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

__all__ = ["train"]


@click.command(
    short_help="Fine-tune LLaVA on LLaVA JSON data.",
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": [],
    },
)
@click.pass_context
def train(ctx: click.Context) -> None:
    """Fine-tune LLaVA: kpit train --data kp.json --images DIR --model M --output-dir OUT
    [--deepspeed zero3|zero2|none|PATH] [--tasks detail] [--recipe paper] [any TrainConfig
    field, e.g. --max-steps 30 --learning-rate 1e-3 --use-cpu true]; kpit train --help."""
    from kpit.cli.train_args import parse_train_args, train_help
    from kpit.train.trainer import train as run_training

    config = parse_train_args(list(ctx.args))
    if config is None:
        click.echo(train_help())
        return
    out = run_training(config)
    if config.process_index == 0:  # one line for the run, not one per rank
        click.echo(out)
    _finish(config)


def _finish(config: Any) -> None:
    """Close the process group; end a rank of several here, its files all written.

    After a good run on several ranks (DeepSpeed's most often), the interpreter's teardown
    sometimes aborts a rank (``terminate called without an active exception``: a thread of the
    communication layer destroyed while running) or keeps it spinning for minutes; the
    launcher then reports the run failed. Such a rank flushes its output and exits 0 at
    once instead: every file is written and closed, and every rank has passed the barrier
    after the save.
    """
    several = config.world_size > 1
    config.distributed_state.destroy_process_group()
    if several:  # seen with DeepSpeed most, and once with plain DDP on CPU
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
