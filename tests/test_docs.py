"""Public names are documented, the API reference covers every public module, and the
examples run as written.

The reference (docs/reference/, built by mkdocstrings) renders what griffe reads from the
source, so the docstring checks read the source with griffe too: a name griffe cannot see,
or a method that only inherits its docstring at run time, would be blank on the site.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import griffe
import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.py"))
REFERENCE = REPO / "docs" / "reference"
MKDOCS_YML = (REPO / "mkdocs.yml").read_text()

PUBLIC_MODULES = (
    "kpit",
    "kpit.bench",
    "kpit.bench.plot",
    "kpit.judges.pose.claims",
    "kpit.coco.loader",
    "kpit.errors",
    "kpit.export.llava",
    "kpit.export.hf_dataset",
    "kpit.generators.base",
    "kpit.generators.hf_llava",
    "kpit.generators.openai",
    "kpit.generators.openai.credentials",
    "kpit.generators.openai.pricing",
    "kpit.generators.openai.ratelimit",
    "kpit.generators.template",
    "kpit.hookspecs",
    "kpit.jsonl",
    "kpit.judges",
    "kpit.judges.gpt",
    "kpit.judges.pose.judge",
    "kpit.judges.rubric",
    "kpit.layouts",
    "kpit.pipeline.leaks",
    "kpit.llava_format",
    "kpit.options",
    "kpit.exclusion",
    "kpit.prompts.paper_recipe",
    "kpit.paths",
    "kpit.pipeline.run",
    "kpit.plugins",
    "kpit.pose.facts",
    "kpit.pose.geometry",
    "kpit.prompts.environment",
    "kpit.pipeline.quality",
    "kpit.prompts.recipes",
    "kpit.prompts.render",
    "kpit.prompts.replies",
    "kpit.pipeline.stats",
    "kpit.pipeline.store",
    "kpit.prompts.tasks",
    "kpit.testing",
    "kpit.prompts.tokens",
    "kpit.train",
    "kpit.types",
    "kpit.viz",
)
"""Modules with a page in the API reference: their ``__all__`` is public API."""

INTERNAL_MODULES = (
    "kpit.__main__",
    "kpit.cli",  # the command line, documented in the guide (and kpit.cli.*)
    "kpit.default_plugins",
    "kpit.generators",  # a namespace: its modules have pages
    # re-exported in full by their package, which has the page:
    "kpit.bench.answer",
    "kpit.bench.build",
    "kpit.bench.files",
    "kpit.bench.review",
    "kpit.bench.report",
    "kpit.generators.openai.batch",
    "kpit.generators.openai.chat",
    "kpit.judges.base",
    "kpit.train.data",
    "kpit.train.trainer",
)
"""Modules without a page of their own (besides private ``_`` ones)."""


def _source_modules() -> list[str]:
    names = []
    for path in sorted((REPO / "kpit").rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def _internal(module: str) -> bool:
    parts = module.split(".")
    private = any(part.startswith("_") for part in parts if part != "__main__")
    return private or module in INTERNAL_MODULES or module.startswith("kpit.cli.")


def test_every_module_is_public_or_internal() -> None:
    """A new module gets a reference page, or is declared internal here."""
    unsorted = [m for m in _source_modules() if m not in PUBLIC_MODULES and not _internal(m)]
    assert not unsorted, f"give these a reference page or call them internal: {unsorted}"


def test_reference_pages_are_the_public_modules() -> None:
    pages = {path.stem for path in REFERENCE.glob("*.md")}
    assert pages == set(PUBLIC_MODULES), (
        f"missing pages: {sorted(set(PUBLIC_MODULES) - pages)}; "
        f"pages of no public module: {sorted(pages - set(PUBLIC_MODULES))}"
    )


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_public_module_has_a_reference_page_in_the_nav(module: str) -> None:
    page = REFERENCE / f"{module}.md"
    assert re.search(rf"^::: {re.escape(module)}$", page.read_text(), re.MULTILINE), (
        f"{page.name} does not render {module}"
    )
    assert re.search(rf"\breference/{re.escape(module)}\.md$", MKDOCS_YML, re.MULTILINE), (
        f"reference/{module}.md is not in the nav of mkdocs.yml"
    )


@pytest.fixture(scope="module")
def source() -> griffe.Module:
    """The kpit package as griffe reads it from the source, as mkdocstrings does."""
    package = griffe.load("kpit", search_paths=[str(REPO)], docstring_parser="google")
    assert isinstance(package, griffe.Module)
    return package


def _has_docstring(obj: griffe.Object | griffe.Alias) -> bool:
    return obj.docstring is not None and bool(obj.docstring.value.strip())


def _undocumented(module: str, source: griffe.Module) -> list[str]:
    loaded = source if module == source.path else source[module.removeprefix(source.path + ".")]
    missing = []
    if not _has_docstring(loaded):
        missing.append(f"{module} (the module)")
    for name in importlib.import_module(module).__all__:
        try:
            member = loaded[name]
            target = member.final_target if isinstance(member, griffe.Alias) else member
        except (KeyError, griffe.AliasResolutionError):
            missing.append(f"{module}.{name} (griffe cannot find it: the reference leaves it out)")
            continue
        if not _has_docstring(target):
            missing.append(f"{module}.{name}")
        if not target.is_class:
            continue
        for attribute, child in target.members.items():
            if attribute.startswith("_") or child.is_alias:
                continue
            callable_ = child.is_function or "property" in child.labels
            if callable_ and not _has_docstring(child):
                missing.append(f"{module}.{name}.{attribute}")
    return missing


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_public_names_have_docstrings(module: str, source: griffe.Module) -> None:
    """Everything in ``__all__``, and the public methods and properties of its classes."""
    missing = _undocumented(module, source)
    assert not missing, "no docstring: " + ", ".join(missing)


def test_the_docstring_check_sees_a_missing_docstring(tmp_path: Path) -> None:
    """The check above fails where it should: a class, a method and a constant without one."""
    package = tmp_path / "kpit_probe"
    package.mkdir()
    (package / "__init__.py").write_text(
        '"""A probe."""\n\n__all__ = ["LIMIT", "Thing", "helper"]\n\n'
        "LIMIT = 3\n\n\nclass Thing:\n    def run(self) -> None:\n        pass\n\n\n"
        'def helper() -> None:\n    """Documented."""\n'
    )
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    try:
        probe = griffe.load("kpit_probe", search_paths=[str(tmp_path)])
        assert isinstance(probe, griffe.Module)
        assert _undocumented("kpit_probe", probe) == [
            "kpit_probe.LIMIT",
            "kpit_probe.Thing",
            "kpit_probe.Thing.run",
        ]
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("kpit_probe", None)


DOC_PAGES = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]
DOTTED = {name for page in DOC_PAGES for name in re.findall(r"`(kpit(?:\.\w+)+)", page.read_text())}


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(dotted)


@pytest.mark.parametrize("dotted", sorted(DOTTED))
def test_every_dotted_name_in_the_docs_exists(dotted: str) -> None:
    """The docs name nothing that was moved, renamed or removed."""
    _resolve(dotted)


@pytest.mark.slow
@pytest.mark.timeout(660)
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=600,  # only a hang: an example on a busy machine may take minutes
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
