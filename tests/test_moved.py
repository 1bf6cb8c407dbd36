"""kpit 0.1's module paths still import, warn, and give the same objects as the new ones.

Each alias in :data:`kpit._moved.MOVES` warns with a :class:`DeprecationWarning` that names
the new path, and keeps every name the 0.1 module exported. kpit's own code never imports an
alias, and a plugin written against 0.1's paths still registers and runs.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import kpit
from kpit import plugins
from kpit._moved import MOVES, REMOVED_IN

REPO = Path(__file__).resolve().parent.parent
OLD_PATHS = sorted(MOVES)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _fresh_import(old: str) -> tuple[ModuleType, list[warnings.WarningMessage]]:
    """Import ``old`` as if for the first time, recording the warnings it gives."""
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    return module, caught


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, check=False,
        timeout=300,
    )  # fmt: skip


def test_the_aliases_are_the_modules_at_the_old_paths() -> None:
    """One alias module per entry of MOVES, each naming itself, and none besides."""
    aliases = sorted(
        _module_name(path)
        for path in (REPO / "kpit").glob("*.py")
        if "from kpit._moved import moved" in path.read_text()
    )
    assert aliases == OLD_PATHS
    for old in OLD_PATHS:
        source = (REPO / "kpit" / f"{old.removeprefix('kpit.')}.py").read_text()
        assert "moved(__name__)" in source
        assert f":mod:`{MOVES[old].new}`" in source.split('"""')[1], f"{old}'s docstring"


@pytest.mark.parametrize("old", OLD_PATHS)
def test_importing_an_old_path_warns_naming_the_new_one(old: str, tmp_path: Path) -> None:
    """In a fresh interpreter, where the warning points at the line that imports the alias."""
    importer = tmp_path / "plugin_of_0_1.py"
    importer.write_text(f"import {old}\n")
    code = textwrap.dedent(f"""
        import json, sys, warnings
        sys.path.insert(0, {str(tmp_path)!r})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import plugin_of_0_1
        print(json.dumps([[w.category.__name__, str(w.message), w.filename, w.lineno]
                          for w in caught]))
        """)  # fmt: skip
    done = _python(code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    caught = json.loads(done.stdout)
    deprecations = [w for w in caught if w[0] == "DeprecationWarning"]
    new = MOVES[old].new
    assert deprecations == [
        [
            "DeprecationWarning",
            f"{old} moved to {new} in kpit 0.2.0: import from {new} "
            f"(the old path is removed in kpit {REMOVED_IN})",
            str(importer),
            1,
        ]
    ]


@pytest.mark.parametrize("old", OLD_PATHS)
def test_an_old_path_gives_the_new_modules_objects(old: str) -> None:
    """Every name the new module exports, and every name the 0.1 module exported."""
    move = MOVES[old]
    alias, caught = _fresh_import(old)
    assert [str(w.message).split(" ")[:4] for w in caught] == [[old, "moved", "to", move.new]]
    new = importlib.import_module(move.new)
    homes = [new, *map(importlib.import_module, move.also)]
    for name in new.__all__:
        assert getattr(alias, name) is getattr(new, name), f"{old}.{name}"
    assert alias.__all__ == list(move.names)
    for name in move.names:
        home = next((m for m in homes if hasattr(m, name)), None)
        assert home is not None, f"{old}.{name} (kpit 0.1) is in none of {move.new}, {move.also}"
        assert getattr(alias, name) is getattr(home, name), f"{old}.{name}"
    namespace: dict[str, object] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        exec(f"from {old} import *", namespace)
    assert set(move.names) <= set(namespace)
    assert set(move.names) <= set(dir(alias))
    with pytest.raises(AttributeError, match=f"module '{old}' has no attribute 'no_such_name'"):
        alias.no_such_name  # noqa: B018


def _kpit_modules() -> list[str]:
    """Every module of kpit but the aliases and ``__main__`` (which runs the CLI)."""
    names = (_module_name(path) for path in sorted((REPO / "kpit").rglob("*.py")))
    return [name for name in names if name not in MOVES and not name.endswith("__main__")]


def test_kpit_and_its_modules_import_no_alias(tmp_path: Path) -> None:
    """Importing kpit and every module of it gives no deprecation and loads no alias."""
    code = textwrap.dedent(f"""
        import importlib, json, sys, warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import kpit
            for name in {_kpit_modules()!r}:
                try:
                    importlib.import_module(name)
                except ModuleNotFoundError as exc:  # an optional dependency not installed
                    if (exc.name or "").startswith("kpit"):
                        raise
        print(json.dumps({{
            "warnings": [str(w.message) for w in caught if "kpit 0.2.0" in str(w.message)],
            "aliases": sorted(set({OLD_PATHS!r}) & set(sys.modules)),
        }}))
        """)  # fmt: skip
    done = _python(code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"warnings": [], "aliases": []}


def _imported_modules(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


@pytest.mark.parametrize("folder", ["kpit", "tests", "benchmarks", "examples"])
def test_no_code_of_kpit_imports_an_old_path(folder: str) -> None:
    """Not even inside a function: kpit, its tests, benchmarks and examples use the new paths."""
    this_file = Path(__file__).resolve()
    offenders = [
        f"{path.relative_to(REPO)}: {name}"
        for path in sorted((REPO / folder).rglob("*.py"))
        if path.resolve() != this_file
        for name in _imported_modules(ast.parse(path.read_text(), str(path)))
        if name in MOVES
    ]
    assert not offenders


PLUGIN_OF_0_1 = '''
"""A plugin as written for kpit 0.1: its imports name the old module paths."""

import kpit
from kpit.recipes import Recipe
from kpit.render import render_context
from kpit.tasks import DetailTask, PromptTask


class ContextEcho(kpit.Generator):
    """Replies with the context it was sent, rendered again by kpit.render."""

    name = "context-echo-0-1"

    async def complete(self, request):
        context = request.meta["context"]
        return kpit.Reply(request.key, text=render_context(context, style="compact"))


class ShortDetail(DetailTask):
    name = "short-detail-0-1"
    template_folder = "detail"
    min_answer_chars = 20


class OldRecipe(Recipe):
    name = "old-recipe-0-1"
    description = "kpit's prompts under another name"
    filters = "off"


@kpit.hookimpl
def kpit_register_generators(register):
    register(ContextEcho)


@kpit.hookimpl
def kpit_register_tasks(register):
    register(ShortDetail)


@kpit.hookimpl
def kpit_register_recipes(register):
    register(OldRecipe)


ASSERT_A_PROMPT_TASK = issubclass(ShortDetail, PromptTask)
'''


@pytest.fixture
def plugin_of_0_1(tmp_path: Path) -> Iterator[ModuleType]:
    """The plugin above, imported (with its warnings) and registered, unregistered after."""
    (tmp_path / "kpit_plugin_of_0_1.py").write_text(PLUGIN_OF_0_1)
    sys.path.insert(0, str(tmp_path))
    for old in ("kpit.recipes", "kpit.render", "kpit.tasks"):
        sys.modules.pop(old, None)  # so that each warns again
    try:
        with pytest.warns(DeprecationWarning) as caught:
            module = importlib.import_module("kpit_plugin_of_0_1")
        moves = sorted(str(w.message).split(" ")[0] for w in caught)
        assert moves == ["kpit.recipes", "kpit.render", "kpit.tasks"]
        pm = plugins.get_plugin_manager()
        pm.register(module, name="plugin-of-0-1")
        try:
            yield module
        finally:
            pm.unregister(module)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("kpit_plugin_of_0_1", None)


def test_a_plugin_written_for_0_1_still_works(
    plugin_of_0_1: ModuleType, sample_root: Path, tmp_path: Path
) -> None:
    assert plugin_of_0_1.ASSERT_A_PROMPT_TASK
    assert plugins.get_generator("context-echo-0-1") is plugin_of_0_1.ContextEcho
    assert plugins.get_recipe("old-recipe-0-1") is plugin_of_0_1.OldRecipe
    contexts = list(kpit.load_coco(sample_root))
    run = kpit.generate(
        contexts, "short-detail-0-1", "context-echo-0-1", out=tmp_path / "run", limit=2,
        recipe="old-recipe-0-1", progress=False,
    )  # fmt: skip
    assert isinstance(run, kpit.Run)
    samples = list(run.samples())
    assert [s.task for s in samples] == ["short-detail-0-1"] * 2
    by_image = {ctx.file_name: ctx for ctx in contexts}
    for sample in samples:
        expected = kpit.render_context(by_image[sample.image], style="compact")
        assert sample.turns[1].text == expected.strip()
    assert run.manifest["recipe"] == "old-recipe-0-1"
