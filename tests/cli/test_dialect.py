"""One dialect across the commands: every option has help, ``kpit --help`` gives whole
summaries, ``--help-options`` wherever a backend or judge is chosen, a benchmark folder
given for a run folder is one line, and ``kpit show`` draws each image named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from PIL import Image

from kpit.bench import build_bench
from kpit.cli import cli
from kpit.coco import load_coco

from ..helpers.cli_results import one_clear_line


def _commands(
    command: click.Command, path: tuple[str, ...] = ("kpit",)
) -> Iterator[tuple[str, click.Command]]:
    """Every command of the ``kpit`` group, by its full name; not ``kpit train``, whose
    options are argparse's (it takes every TrainConfig field)."""
    yield " ".join(path), command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            if path == ("kpit",) and name == "train":
                continue
            yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(cli))


def _undocumented(command: click.Command) -> list[str]:
    return [
        "/".join(param.opts)
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden and not (param.help or "").strip()
    ]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_help(name: str) -> None:
    command = COMMANDS[name]
    assert (command.help or "").strip(), f"{name} has no help"
    assert _undocumented(command) == [], f"{name}: options without help"


def test_the_walk_sees_every_command_and_a_missing_help() -> None:
    assert {"kpit bench answer", "kpit bench judge", "kpit export", "kpit prompts show"} <= set(
        COMMANDS
    )
    assert "kpit train" not in COMMANDS

    @click.command()
    @click.option("--bare")
    @click.option("--told", help="Told.")
    def probe(bare: str, told: str) -> None:
        """A probe."""

    assert _undocumented(probe) == ["--bare"]


@pytest.mark.parametrize("group", [(), ("bench",), ("prompts",)])
def test_help_gives_whole_summaries(group: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*group, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    listed = " ".join(result.stdout.split("Commands:\n", 1)[1].split())
    command = COMMANDS[" ".join(("kpit", *group))]
    assert isinstance(command, click.Group)
    for sub in command.commands.values():
        whole = " ".join(sub.get_short_help_str(limit=100_000).split())
        assert whole in listed, f"{sub.name}: {whole!r} cut short"


@pytest.mark.parametrize(
    ("args", "first", "option"),
    [
        (["bench", "answer", "--generator", "hf-llava", "--help-options"], "'hf-llava' generator",
         "batch_size: int = 8"),
        (["bench", "answer", "--help-options", "--generator", "hf-llava"], "'hf-llava' generator",
         "batch_size: int = 8"),
        (["bench", "answer", "--help-options"], "'openai' generator", "base_url:"),
        (["bench", "judge", "--judge", "pose", "--help-options"], "'pose' judge",
         "min_stability: float = 0.75"),
        (["bench", "judge", "--help-options"], "'gpt' judge", "api_key: str | None = None"),
        (["generate", "--generator", "template", "--help-options"], "'template' generator", ""),
        (["bench", "build", "--generator", "openai", "--help-options"], "'openai' generator",
         "base_url:"),
    ],
)  # fmt: skip
def test_help_options_lists_the_chosen_backend_or_judge(
    args: list[str], first: str, option: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-shown")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"options of the {first} (-O KEY=VALUE):\n")
    assert option in result.stdout
    assert "sk-never-shown" not in result.stdout


def test_every_command_that_chooses_a_backend_or_judge_lists_its_options() -> None:
    for name, command in _commands(cli):
        chosen = {p.name for p in command.params} & {"generator", "judge_name"}
        flags = {opt for p in command.params for opt in p.opts}
        assert not chosen or "--help-options" in flags, f"{name}: no --help-options"


def test_help_options_names_an_unknown_judge() -> None:
    result = CliRunner().invoke(cli, ["bench", "judge", "--judge", "nosuch", "--help-options"])
    assert result.exit_code == 2
    assert "--judge" in result.stderr and "nosuch" in result.stderr


@pytest.fixture(scope="module")
def bench_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sample = Path(__file__).resolve().parents[2] / "examples" / "data" / "coco-sample"
    folder = tmp_path_factory.mktemp("bench") / "hpaub"
    build_bench(list(load_coco(sample)), folder, num_images=1, seed=0)
    return folder


@pytest.mark.parametrize(
    "args",
    [
        ["stats", "{bench}"],
        ["stats", "{bench}/"],
        ["export", "{bench}", "-o", "{tmp}/out.json"],
        ["merge", "{bench}", "-o", "{tmp}/merged"],
        ["generate", "{sample}", "-o", "{bench}"],
    ],
)
def test_a_benchmark_folder_is_not_a_run_folder(
    args: list[str], bench_folder: Path, sample_root: Path, tmp_path: Path
) -> None:
    given = [a.format(bench=bench_folder, tmp=tmp_path, sample=sample_root) for a in args]
    result = CliRunner().invoke(cli, given)
    one_clear_line(result, f"{bench_folder} is a benchmark folder, not a run folder")
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "merged").exists()


def test_the_benchmark_s_own_run_is_a_run_folder(bench_folder: Path) -> None:
    result = CliRunner().invoke(cli, ["stats", str(bench_folder / "run")])
    assert result.exit_code == 0, result.output
    assert "samples" in result.stdout


def test_show_draws_each_image_named(sample_root: Path, tmp_path: Path) -> None:
    args = ["show", str(sample_root), "--image-id", "785", "--image-id", "196141"]
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "ctx.png")])
    assert result.exit_code == 0, result.output
    drawn = [tmp_path / "ctx-785.png", tmp_path / "ctx-196141.png"]
    assert result.stdout.split() == [str(path) for path in drawn]
    sizes = []
    for path in drawn:
        with Image.open(path) as picture:
            sizes.append(picture.size)
    assert sizes[0] != sizes[1]  # two images (640x425 and 640x480), not one drawn twice
    assert not (tmp_path / "ctx.png").exists()
    result = CliRunner().invoke(cli, ["show", str(sample_root), "--image-id", "785", "-o",
                                      str(tmp_path / "one.png")])  # fmt: skip
    assert result.exit_code == 0 and (tmp_path / "one.png").is_file()
