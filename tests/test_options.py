"""Typed backend options: parsed once, bad keys and values named, secrets never recorded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

import kpit
from kpit.cli import cli
from kpit.generators.hf_llava import HFLlavaGenerator
from kpit.generators.openai import OpenAIBatchGenerator, OpenAIGenerator
from kpit.generators.template import TemplateGenerator
from kpit.judges.gpt import GPTJudge
from kpit.options import describe_options, option, parse_options, public_options


@dataclass(frozen=True)
class Options:
    rate: float = option(1.0, "A rate.", minimum=0)
    count: int = option(2, "A count.")
    flag: bool = option(True, "A switch.")
    name: str | None = option(None, "A name.")
    extra: dict[str, int] | None = option(None, "A mapping.")
    mode: str = option("a", "A mode.", choices=("a", "b"))
    key: str | None = option(None, "A secret.", secret=True)


def test_values_are_converted_from_strings_and_json() -> None:
    parsed = parse_options(Options, {"rate": "0.5", "count": "3", "flag": "false",
                                     "extra": '{"k": 1}', "key": 12345})  # fmt: skip
    assert (parsed.rate, parsed.count, parsed.flag, parsed.extra) == (0.5, 3, False, {"k": 1})
    assert parsed.key == "12345"  # -O api_key=12345 arrives as a number; a key is a string
    assert parse_options(Options, {"count": None}).count == 2  # None: not given


@pytest.mark.parametrize(
    ("given", "field", "words"),
    [
        ({"cont": 1}, "cont", "did you mean count"),
        ({"count": "lots"}, "count", "whole number"),
        ({"count": 1.5}, "count", "whole number"),
        ({"flag": "maybe"}, "flag", "true or false"),
        ({"rate": -1}, "rate", "at least 0"),
        ({"extra": "[1]"}, "extra", "JSON object"),
        ({"mode": "c"}, "mode", "one of a, b"),
        ({"name": True}, "name", "string"),
    ],
)
def test_a_bad_key_or_value_is_one_error_naming_the_option(
    given: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(kpit.ConfigError, match=words) as info:
        parse_options(Options, given, owner="generator 'x'")
    assert info.value.field == field


def test_public_options_leave_secrets_out_and_describe_lists_help() -> None:
    parsed = parse_options(Options, {"key": "sk-secret", "name": "n"})
    public = public_options(parsed)
    assert "key" not in public and public["name"] == "n"
    described = {o.name: o for o in describe_options(Options)}
    assert described["rate"].help == "A rate." and described["rate"].default == 1.0
    assert described["key"].secret and described["extra"].type == "dict[str, int] | None"


def test_every_builtin_backend_declares_typed_options() -> None:
    for backend in (TemplateGenerator, OpenAIGenerator, OpenAIBatchGenerator, HFLlavaGenerator):
        infos = describe_options(backend.Options)
        assert infos and all(info.help for info in infos), backend.name
    with pytest.raises(kpit.ConfigError, match="did you mean temperature") as info:
        OpenAIGenerator("gpt-4o", temprature=0.1)
    assert info.value.field == "temprature"
    with pytest.raises(kpit.ConfigError, match="whole number"):
        OpenAIGenerator("gpt-4o", max_retries="lots")
    with pytest.raises(kpit.ConfigError, match="unreadable prices"):
        OpenAIGenerator("gpt-4o", prices="gpt-4o=cheap")
    judge = GPTJudge(api_key="k")
    assert judge.backend.params == {"temperature": 0.2, "max_tokens": 1024}  # LLaVA's judge
    assert GPTJudge(api_key="k", temperature=0).backend.params["temperature"] == 0


def test_the_manifest_records_parsed_options_without_secrets(
    sample_root: Path, tmp_path: Path
) -> None:
    contexts = kpit.load_coco(sample_root, limit=1)
    run = kpit.generate(contexts, "detail", out=tmp_path / "run", progress=False,
                        generator_options={"min_confidence": "0.5"})  # fmt: skip
    assert isinstance(run, kpit.Run)
    assert run.manifest["generator"]["options"] == {"seed": None, "min_confidence": 0.5}
    backend = OpenAIGenerator("gpt-4o", api_key="sk-abcdefghijkl",
                              base_url="http://user:pw@127.0.0.1:9/v1")  # fmt: skip
    settings = json.dumps(backend.settings())
    assert "sk-abcdefghijkl" not in settings and "pw@" not in settings and "api_key" not in settings


def test_help_options_lists_a_backends_options_whatever_the_order() -> None:
    runner = CliRunner()
    for args in (["--generator", "openai", "--help-options"], ["--help-options", "--generator",
                                                                "openai"]):  # fmt: skip
        result = runner.invoke(cli, ["generate", *args])
        assert result.exit_code == 0, result.output
        assert "max_retries: int = 6" in result.output and "rpm: float | None" in result.output
    result = runner.invoke(cli, ["generate", "--help-options"])
    assert result.exit_code == 0 and "'template' generator" in result.output
    result = runner.invoke(cli, ["generate", "--generator", "nope", "--help-options"])
    assert result.exit_code == 2 and "unknown generator 'nope'" in result.output
    result = runner.invoke(cli, ["generate", "--help"])
    assert "--help-options" in result.output


def test_a_misspelled_option_stops_the_command_before_any_work(
    sample_root: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(cli, ["generate", str(sample_root), "-o", str(tmp_path / "r"),
                                      "-O", "min_confidnce=0.5"])  # fmt: skip
    assert result.exit_code == 1
    assert "min_confidnce" in result.output and "did you mean min_confidence" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "r").exists()
