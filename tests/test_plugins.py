"""Plugins: registration hooks, the entry-point group, and a real installed plugin package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import pluggy
import pytest

import kpit
from kpit import plugins
from kpit.generators.template import TemplateGenerator
from kpit.judges.gpt import GPTJudge
from kpit.prompts.tasks import DetailTask

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_PLUGIN = REPO / "examples" / "kpit-plugin-example"


class EchoGenerator(kpit.Generator):
    """Replies with the last message, for the plugin round trip."""

    name = "echo-test"
    description = "echoes the request"

    async def complete(self, request: kpit.ChatRequest) -> kpit.Reply:
        return kpit.Reply(request.key, text=f"An echo for {request.key}, long enough. " * 5)


class ShortDetail(DetailTask):
    name = "short-detail"
    template_folder = "detail"
    min_answer_chars = 20


class TestPlugin:
    @kpit.hookimpl
    def kpit_register_generators(self, register):  # type: ignore[no-untyped-def]
        register(EchoGenerator)

    @kpit.hookimpl
    def kpit_register_tasks(self, register):  # type: ignore[no-untyped-def]
        register(ShortDetail)


@pytest.fixture
def test_plugin() -> Iterator[TestPlugin]:
    plugin = TestPlugin()
    pm = plugins.get_plugin_manager()
    pm.register(plugin, name="test-plugin")
    try:
        yield plugin
    finally:
        pm.unregister(plugin)


def test_builtins_register_through_the_hooks() -> None:
    assert "kpit.default_plugins" in dict(plugins.loaded_plugins())
    assert set(plugins.tasks()) >= {"conversation", "detail", "complex"}
    assert "template" in plugins.generators()
    assert plugins.judges()["gpt"] is GPTJudge


def test_register_generate_unregister(
    test_plugin: TestPlugin, sample_root: Path, tmp_path: Path
) -> None:
    assert plugins.get_generator("echo-test") is EchoGenerator
    contexts = kpit.load_coco(sample_root)
    run = kpit.generate(
        contexts, "short-detail", "echo-test", out=tmp_path / "run", limit=2, progress=False
    )
    samples = list(run.samples())
    assert [s.task for s in samples] == ["short-detail", "short-detail"]
    assert samples[0].turns[1].text.startswith("An echo")
    plugins.get_plugin_manager().unregister(test_plugin)
    assert "echo-test" not in plugins.generators()
    assert "short-detail" not in plugins.tasks()
    plugins.get_plugin_manager().register(test_plugin, name="test-plugin")  # for the fixture


def test_a_class_without_a_name_is_refused() -> None:
    class Nameless:
        @kpit.hookimpl
        def kpit_register_generators(self, register):  # type: ignore[no-untyped-def]
            register(object)

    pm = plugins.get_plugin_manager()
    plugin = Nameless()
    pm.register(plugin)
    try:
        with pytest.raises(kpit.ConfigError, match="no string 'name'"):
            plugins.generators()
    finally:
        pm.unregister(plugin)


class FakeTemplate(EchoGenerator):
    name = "template"


class OverridePlugin:
    @kpit.hookimpl
    def kpit_register_generators(self, register):  # type: ignore[no-untyped-def]
        register(FakeTemplate)


def test_a_plugin_wins_a_name_clash_with_a_builtin() -> None:
    pm = plugins.get_plugin_manager()
    plugin = OverridePlugin()
    pm.register(plugin, name="override")  # after the built-ins, like any installed plugin
    try:
        with pytest.warns(RuntimeWarning) as caught:
            assert plugins.get_generator("template") is FakeTemplate
        assert [str(w.message) for w in caught] == [
            "kpit generator 'template' from plugin 'override' "
            "(tests.test_plugins.FakeTemplate) overrides the built-in one "
            "(kpit.generators.template.TemplateGenerator)"
        ]
    finally:
        pm.unregister(plugin)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plugins.get_generator("template") is TemplateGenerator


def test_between_two_plugins_the_earlier_registered_wins(test_plugin: TestPlugin) -> None:
    class OtherEcho(EchoGenerator):
        pass

    class Other:
        @kpit.hookimpl
        def kpit_register_generators(self, register):  # type: ignore[no-untyped-def]
            register(OtherEcho)

    pm = plugins.get_plugin_manager()
    other = Other()
    pm.register(other, name="other")
    try:
        with pytest.warns(RuntimeWarning, match="registered twice") as caught:
            assert plugins.get_generator("echo-test") is EchoGenerator
        assert str(caught[0].message) == (
            "kpit generator 'echo-test' registered twice: tests.test_plugins.EchoGenerator "
            "from plugin 'test-plugin' wins over tests.test_plugins."
            "test_between_two_plugins_the_earlier_registered_wins.<locals>.OtherEcho "
            "from plugin 'other'"
        )
    finally:
        pm.unregister(other)


def test_a_hook_wrapper_is_ignored_with_a_warning(test_plugin: TestPlugin) -> None:
    class Wrapper:
        @kpit.hookimpl(wrapper=True)
        def kpit_register_generators(self, register):  # type: ignore[no-untyped-def]
            register(FakeTemplate)  # never runs
            return (yield)

    pm = plugins.get_plugin_manager()
    wrapper = Wrapper()
    pm.register(wrapper, name="wrapper")
    try:
        with pytest.warns(RuntimeWarning, match="'wrapper': a hook wrapper on kpit_register_gen"):
            found = plugins.generators()
        assert found["template"] is TemplateGenerator and found["echo-test"] is EchoGenerator
    finally:
        pm.unregister(wrapper)


def test_a_misspelled_hook_in_a_builtin_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "kpit_test_bad_builtin.py").write_text(
        "import kpit\n\n@kpit.hookimpl\ndef kpit_register_generator(register):\n    pass\n"
    )
    monkeypatch.syspath_prepend(tmp_path)
    monkeypatch.setattr(
        plugins, "DEFAULT_PLUGINS", (*plugins.DEFAULT_PLUGINS, "kpit_test_bad_builtin")
    )
    with pytest.raises(
        pluggy.PluginValidationError, match="unknown hook 'kpit_register_generator'"
    ):
        plugins.get_plugin_manager.__wrapped__()  # a fresh manager, not the cached one


def _kpit(*args: str, pythonpath: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = os.environ | {"PYTHONPATH": str(pythonpath)} | env
    return subprocess.run(
        [sys.executable, "-m", "kpit", *args],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=600,  # only a hang
    )


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin package, installed by pip into a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("source") / EXAMPLE_PLUGIN.name  # pip builds in the tree
    shutil.copytree(EXAMPLE_PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,  # only a hang
    )
    assert done.returncode == 0, done.stderr
    return target


def test_installed_plugin_package_lists_and_generates(
    installed_example: Path, sample_root: Path, tmp_path: Path
) -> None:
    listed = _kpit("plugins", pythonpath=installed_example)
    assert listed.returncode == 0, listed.stderr
    assert "caption-baseline (kpit-caption-baseline 0.1.0)" in listed.stdout
    rows = {line.split()[0]: line for line in listed.stdout.splitlines() if line.startswith("  ")}
    for name, can in (("captions", "text only"), ("activity", "prompts: conversation/"),
                      ("overlap", "pairwise"), ("length", "single-answer")):  # fmt: skip
        assert "kpit-caption-baseline" in rows[name] and can in rows[name], rows[name]
    assert rows["template"].split()[1] == "kpit"  # the built-ins' package
    run = tmp_path / "run"
    done = _kpit(
        "generate",
        str(sample_root),
        "--tasks",
        "activity,detail",
        "--generator",
        "captions",
        "--out",
        str(run),
        "--no-progress",
        pythonpath=installed_example,
    )
    assert done.returncode == 0, done.stderr
    samples = list(kpit.Run(run).samples())
    assert len(samples) == 8
    activity = [s for s in samples if s.task == "activity"]
    assert activity[0].turns[0].text == "What is the main activity in the image?"


def test_kpit_load_plugins_limits_what_loads(installed_example: Path) -> None:
    listed = _kpit("plugins", pythonpath=installed_example, KPIT_LOAD_PLUGINS="")
    assert listed.returncode == 0
    assert "caption-baseline" not in listed.stdout and "template" in listed.stdout
    listed = _kpit("plugins", pythonpath=installed_example, KPIT_LOAD_PLUGINS="caption-baseline")
    assert "captions" in listed.stdout


def test_a_broken_plugin_only_warns(tmp_path: Path) -> None:
    dist = tmp_path / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[kpit]\nbroken = broken_module\n")
    (tmp_path / "broken_module.py").write_text("raise ImportError('missing dependency xyz')\n")
    listed = _kpit("plugins", pythonpath=tmp_path)
    assert listed.returncode == 0
    assert "kpit plugin 'broken' (broken_module) failed to load" in listed.stderr
    assert "missing dependency xyz" in listed.stderr
    assert "template" in listed.stdout


def test_a_plugin_whose_hooks_do_not_fit_is_refused(tmp_path: Path) -> None:
    dist = tmp_path / "odd_plugins-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: odd-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[kpit]\nmisspelled = misspelled_hook\nwrong-argument = wrong_argument\n"
        "optional = optional_hook\n"
    )
    header = "import kpit\nfrom kpit.prompts.tasks import DetailTask\n"
    modules = {
        "misspelled_hook": """
            class Extra(DetailTask):
                name = "misspelled-task"

            @kpit.hookimpl
            def kpit_register_generator(register):
                pass

            @kpit.hookimpl
            def kpit_register_tasks(register):
                register(Extra)
            """,
        "wrong_argument": """
            @kpit.hookimpl
            def kpit_register_tasks(registry):
                pass
            """,
        "optional_hook": """
            class Optional(DetailTask):
                name = "optional-task"

            @kpit.hookimpl(optionalhook=True)
            def kpit_register_widgets(register):
                pass

            @kpit.hookimpl
            def kpit_register_tasks(register):
                register(Optional)
            """,
    }
    for module, body in modules.items():
        (tmp_path / f"{module}.py").write_text(header + textwrap.dedent(body))
    listed = _kpit("plugins", pythonpath=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert (
        "kpit plugin 'misspelled' (misspelled_hook) refused: unknown hook "
        "'kpit_register_generator' (did you mean 'kpit_register_generators'?); kpit's hooks "
        "are kpit_register_generators, kpit_register_judges, kpit_register_recipes, "
        "kpit_register_tasks"
    ) in listed.stderr
    assert "kpit plugin 'wrong-argument' (wrong_argument) refused: " in listed.stderr
    assert "Argument(s) {'registry'} are declared in the hookimpl" in listed.stderr
    loaded = listed.stdout.split("generators:")[0]
    assert "misspelled" not in loaded and "wrong-argument" not in loaded
    assert "optional (odd-plugins 1.0)" in loaded  # optionalhook=True: not checked
    assert "misspelled-task" not in listed.stdout  # refused whole, the good hook too
    assert "optional-task" in listed.stdout and "template" in listed.stdout


def test_an_unknown_plugin_name_in_kpit_load_plugins_warns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: a misspelled entry loaded nothing, silently."""
    monkeypatch.setenv("KPIT_LOAD_PLUGINS", "caption-baselin")
    plugins.get_plugin_manager.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="'caption-baselin', which no installed"):
            plugins.get_plugin_manager()
    finally:
        plugins.get_plugin_manager.cache_clear()
    monkeypatch.setenv("KPIT_LOAD_PLUGINS", "")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            plugins.get_plugin_manager()  # empty: none wanted, nothing to warn about
    finally:
        plugins.get_plugin_manager.cache_clear()


def test_kpit_plugins_names_each_class_s_package_and_what_it_can_do(
    test_plugin: TestPlugin,
) -> None:
    """Before: a name and a description only."""
    from click.testing import CliRunner

    from kpit.cli import cli

    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines()
            if line.startswith("  ") and len(line.split()) > 2}  # fmt: skip
    assert rows["echo-test"][1:4] == ["test-plugin", "text", "only"]  # registered by hand
    assert rows["short-detail"][1:3] == ["test-plugin", "prompts:"]
    assert rows["short-detail"][3] == "detail/"
    assert rows["openai"][1:4] == ["kpit", "reads", "images"]
    assert rows["template"][1:6] == ["kpit", "text", "only;", "tasks:", "conversation,"]
    assert rows["gpt"][1:3] == ["kpit", "pairwise"]
    assert rows["pose"][1:3] == ["kpit", "single-answer"]
    assert rows["paper"][1:5] == ["kpit", "version", "1;", "tasks:"]
    assert rows["kpit"][1:5] == ["kpit", "version", "2;", "every"]
    registered = {r.name: r for r in plugins.registrations("generator")}
    assert (registered["echo-test"].plugin, registered["echo-test"].package) == (
        "test-plugin", "test-plugin")  # fmt: skip
    assert registered["echo-test"].cls is EchoGenerator
    with pytest.raises(kpit.ConfigError, match="did you mean 'judge'"):
        plugins.registrations("judges")


_GENERATE = ["generate", "{sample}", "-o", "{out}", "--generator"]
_JUDGE = ["bench", "judge", "{sample}", "--answers", "{sample}/README.md", "-o", "{out}", "--judge"]


@pytest.mark.parametrize(
    ("args", "wrong", "meant"),
    [
        ([*_GENERATE, "templat"], "generator 'templat'", "template"),
        ([*_GENERATE, "template", "--tasks", "detial"], "task 'detial'", "detail"),
        ([*_GENERATE, "template", "--recipe", "papr"], "recipe 'papr'", "paper"),
        (
            [*_GENERATE, "template", "--recipe", "paper", "--tasks", "detai"],
            "task 'detai'",
            "detail",
        ),
        ([*_JUDGE, "pos"], "judge 'pos'", "pose"),
    ],
    ids=["generator", "task", "recipe", "recipe-task", "judge"],
)
def test_an_unknown_name_gets_did_you_mean(
    args: list[str], wrong: str, meant: str, sample_root: Path, tmp_path: Path
) -> None:
    """Before: the installed names, without the nearest one."""
    from click.testing import CliRunner

    from kpit.cli import cli

    given = [a.format(sample=sample_root, out=tmp_path / "out") for a in args]
    result = CliRunner().invoke(cli, given)
    assert result.exit_code == 1, result.output
    assert f"{wrong}; did you mean {meant!r}?" in result.output


def test_an_unknown_name_from_python_gets_did_you_mean(test_plugin: TestPlugin) -> None:
    with pytest.raises(kpit.ConfigError, match=r"did you mean 'echo-test'\? installed: "):
        plugins.get_generator("echo-tset")
    with pytest.raises(kpit.ConfigError, match=r"unknown judge 'zzz'; installed: gpt, pose"):
        plugins.get_judge("zzz")  # nothing alike: no suggestion
    with pytest.raises(kpit.ConfigError, match="did you mean 'short-detail'"):
        plugins.get_task("short-detial")
