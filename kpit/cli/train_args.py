"""``kpit train``'s flags: every ``TrainConfig`` field, spelled as the rest of the CLI spells
options (``--use-cpu``; ``--use_cpu`` works too), with a help that puts kpit's own options
first and groups the training arguments by where their defaults come from."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
from typing import Any

from kpit.errors import ConfigError

__all__ = ["GROUPS", "parse_train_args", "train_help"]

USAGE = "kpit train --data JSON --images DIR --model MODEL --output-dir OUT [options]"

GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "training with the paper's Table 2 as defaults (each help names its source)",
        ("per_device_train_batch_size", "gradient_accumulation_steps", "learning_rate",
         "lr_scheduler_type", "warmup_steps", "num_train_epochs", "weight_decay", "deepspeed"),
    ),
    (
        "LLaVA-1.5's own set-up (its scripts/v1_5/finetune.sh and DeepSpeed configs)",
        ("bf16", "activation_checkpointing", "tf32", "train_sampling_strategy", "max_grad_norm"),
    ),
    ("defaults that are kpit's choice", ("report_to", "remove_unused_columns", "save_strategy")),
)  # fmt: skip
"""The training arguments' groups after kpit's own options, in the order ``--help`` shows
them; every other ``TrainingArguments`` field follows with transformers' default."""

OWN = "kpit train's options"
REST = "the other arguments of transformers' TrainingArguments (transformers' defaults)"
OUTPUT_HELP = (
    "Where the model, its processor, the chat template, trainer_state.json and "
    "kpit_data_report.json are saved (--output works too)."
)
REPEATABLE = ("exclude_images",)
"""Options that may be given several times, their values joined with commas."""


_METAVARS: dict[Any, str] = {int: "N", float: "NUMBER"}


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--use-cpu, --use_cpu [true|false]``: every spelling, then the value once; a default
    shown where there is one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.nargs == 0 or action.default in ("", None):
            return action.help
        return super()._get_help_string(action)

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings or action.nargs == 0:
            return super()._format_action_invocation(action)
        value = self._format_args(action, self._get_default_metavar_for_optional(action))
        return f"{', '.join(action.option_strings)} {value}"


def _dashed_first(action: argparse.Action) -> None:
    """The dashed spelling first, as the rest of the CLI writes options; booleans take
    ``true|false``; a ``--no-X`` flag says what it is the same as."""
    strings = action.option_strings
    action.option_strings = sorted(strings, key=lambda s: "_" in s)
    if getattr(action.type, "__name__", "") == "string_to_bool":
        action.metavar = "true|false"
    elif action.metavar is None and not action.choices and action.nargs != 0:
        action.metavar = _METAVARS.get(action.type, action.dest.upper())
        if len(action.metavar) > 10:
            action.metavar = "VALUE"
    if isinstance(action, argparse._StoreFalseAction) and strings[0].startswith("--no_"):
        action.help = f"The same as --{strings[0][5:].replace('_', '-')} false."


def _parser() -> Any:
    """``HfArgumentParser(TrainConfig)``, its options regrouped for ``--help``."""
    try:
        from transformers import HfArgumentParser, TrainingArguments
    except ImportError:
        raise ConfigError(
            "training needs torch and transformers: pip install 'kpit[train]'", field="model"
        ) from None
    from kpit.train.trainer import TrainConfig

    parser = HfArgumentParser(
        TrainConfig, prog="kpit train", usage=USAGE, formatter_class=_Formatter, add_help=False
    )
    theirs = {f.name for f in dataclasses.fields(TrainingArguments)}
    own = ["output_dir"] + [
        f.name for f in dataclasses.fields(TrainConfig) if f.init and f.name not in theirs
    ]
    by_dest: dict[str, list[argparse.Action]] = {}
    for action in parser._actions:
        _dashed_first(action)
        if action.dest == "output_dir":
            action.help, action.metavar = OUTPUT_HELP, "OUT"
        by_dest.setdefault(action.dest, []).append(action)
    groups = [(OWN, tuple(own)), *GROUPS]
    placed = {name for _, names in groups for name in names}
    rest = [dest for dest in by_dest if dest not in placed]
    parser._action_groups = []
    for title, names in [*groups, (REST, tuple(rest))]:
        group = parser.add_argument_group(title)
        group._group_actions = [action for name in names for action in by_dest[name]]
    parser._action_groups[0]._group_actions.insert(
        0, parser.add_argument("-h", "--help", action="help", help="Show this help.")
    )
    return parser


def train_help() -> str:
    """``kpit train --help``: kpit's own options, then the training arguments by group."""
    return str(_parser().format_help())


def _normalised(args: list[str]) -> list[str]:
    """The command line as ``HfArgumentParser`` reads it: ``--output`` is ``--output-dir``,
    ``--no-bf16`` is ``--bf16 false`` (bf16 defaults to unset, so no ``--no_bf16`` exists),
    and a repeatable option's values are joined into one, comma-separated."""
    out: list[str] = []
    repeated: dict[str, list[str]] = {}
    words = iter(args)
    for word in words:
        flag, equals, value = word.partition("=")
        name = flag[2:].replace("-", "_") if flag.startswith("--") else None
        if name in REPEATABLE:
            given = value if equals else next(words, None)
            if given is None:  # the last word, with no value: argparse says so
                out.append(word)
            else:
                repeated.setdefault(name, []).append(given)
        elif word in ("--no_bf16", "--no-bf16"):
            out += ["--bf16", "false"]
        elif word == "--output":  # DESIGN.md spells it --output as well
            out.append("--output_dir")
        else:
            out.append(word)
    for name, values in repeated.items():
        out += [f"--{name}", ",".join(values)]
    return out


def parse_train_args(args: list[str]) -> Any:
    """The ``TrainConfig`` of ``kpit train ARGS``, or ``None`` where ``-h``/``--help`` asks for
    the help. An option kpit train does not take is a ``ConfigError`` naming it."""
    if any(a in ("-h", "--help") for a in args):
        return None
    parser = _parser()
    config, unknown = parser.parse_args_into_dataclasses(
        args=_normalised(args), return_remaining_strings=True
    )
    if unknown:
        flag = next((word for word in unknown if word.startswith("-")), unknown[0])
        known = [s for action in parser._actions for s in action.option_strings]
        close = difflib.get_close_matches(flag.partition("=")[0], known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"kpit train takes no {flag}{hint}; see kpit train --help")
    return config
