"""``kpit train``: fine-tune LLaVA on kpit data (every ``TrainConfig`` field is a flag)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from kpit.errors import ConfigError

__all__ = ["train"]


@click.command(
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": [],
    }
)
@click.pass_context
def train(ctx: click.Context) -> None:
    """Fine-tune LLaVA: kpit train --data kp.json --images DIR --model M --output_dir OUT
    [--deepspeed zero3|zero2|none|PATH] [--tasks detail] [--recipe paper] [any TrainConfig
    field, e.g. --max_steps 30 --learning_rate 1e-3 --use_cpu true]."""
    try:
        from transformers import HfArgumentParser

        from kpit.train.trainer import TrainConfig
        from kpit.train.trainer import train as run_training
    except ImportError:
        raise ConfigError(
            "training needs torch and transformers: pip install 'kpit[train]'", field="model"
        ) from None
    args = list(ctx.args)
    if "--output" in args:  # DESIGN.md spells it --output as well
        args[args.index("--output")] = "--output_dir"
    # bf16 defaults to unset, so HfArgumentParser adds no --no_bf16: keep the flag working
    for flag in ("--no_bf16", "--no-bf16"):
        while flag in args:
            where = args.index(flag)
            args[where : where + 1] = ["--bf16", "false"]
    parser = HfArgumentParser(TrainConfig)
    if any(a in ("-h", "--help") for a in args):
        click.echo(parser.format_help())
        return
    (config,) = parser.parse_args_into_dataclasses(args=args)
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
