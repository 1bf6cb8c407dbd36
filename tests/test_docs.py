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

from kpit._moved import MOVES

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.py"))
REFERENCE = REPO / "docs" / "reference"
MKDOCS_YML = (REPO / "mkdocs.yml").read_text()

PAGES: dict[str, tuple[str, ...]] = {
    "kpit": (),
    "kpit.coco": (),
    "kpit.pose": ("kpit.pose.geometry",),
    "kpit.prompts": (
        "kpit.prompts.render",
        "kpit.prompts.tasks",
        "kpit.prompts.recipes",
        "kpit.prompts.paper_recipe",
        "kpit.prompts.replies",
        "kpit.prompts.tokens",
    ),
    "kpit.pipeline": (
        "kpit.pipeline.store",
        "kpit.pipeline.stats",
        "kpit.pipeline.quality",
        "kpit.pipeline.leaks",
    ),
    "kpit.export": ("kpit.export.hf_dataset",),
    "kpit.generators": (
        "kpit.generators.base",
        "kpit.generators.template",
        "kpit.generators.openai",
        "kpit.generators.openai.pricing",
        "kpit.generators.openai.ratelimit",
        "kpit.generators.openai.credentials",
        "kpit.generators.hf_llava",
        "kpit.generators.openai.endpoints",
    ),
    "kpit.judges": (
        "kpit.judges.gpt",
        "kpit.judges.rubric",
        "kpit.judges.pose",
        "kpit.judges.pose.claims",
    ),
    "kpit.bench": ("kpit.bench.plot",),
    "kpit.train": (),
    "kpit.viz": (),
    "kpit.hookspecs": (),
    "kpit.plugins": (),
    "kpit.types": (),
    "kpit.layouts": (),
    "kpit.options": (),
    "kpit.errors": (),
    "kpit.paths": (),
    "kpit.jsonl": (),
    "kpit.llava_format": (),
    "kpit.exclusion": (),
    "kpit.testing": (),
}
"""The API reference: a page per package and per module of the typed core, each rendering
its module, then the public modules of the package that users import from directly."""

PUBLIC_MODULES = tuple(sorted({*PAGES, *(module for subs in PAGES.values() for module in subs)}))
"""Modules the reference renders: their ``__all__`` is public API."""

INTERNAL_MODULES = (
    "kpit.__main__",
    "kpit.cli",  # the command line, documented in the guide (and kpit.cli.*)
    "kpit.default_plugins",
    "kpit.names",  # the parser of comma-separated options, behind each option's own docs
    # kpit.bench exports what users call of these (the rest is the steps' own):
    "kpit.bench.files",
    "kpit.bench.plugin_report",  # kpit bench report's tables of plugin judges' reviews
    "kpit.bench.plugin_reviews",  # a plugin judge's review records: docs/plugins.md
    "kpit.bench.report",
    "kpit.bench.pose_report",
    "kpit.bench.report_notes",
    "kpit.bench.review",
    # kpit.pipeline exports what users call of the set-up (tasks, SAME_RENDER):
    "kpit.pipeline.setup",
    "kpit.pipeline.sessions",  # the run's books, kept by generate and merge_runs
    "kpit.judges.records",  # the records a judge receives; kpit.bench re-exports them
    # the pose judge's parts; kpit.judges.pose.claims and .judge export what users call:
    "kpit.judges.pose.context",
    "kpit.judges.pose.kinds",
    "kpit.judges.pose.mentions",
    "kpit.judges.pose.patterns",
    "kpit.judges.pose.people",
    "kpit.judges.pose.readers",
    "kpit.judges.pose.records",
    "kpit.judges.pose.review",
    "kpit.judges.pose.rules",
    "kpit.judges.pose.verdicts",
    "kpit.judges.pose.vocabulary",
    # re-exported by kpit.train, which imports them (and torch) on first use:
    "kpit.train.data",
    "kpit.train.trainer",
)
"""Modules without a place in the reference, besides private ``_`` ones, the 0.1 paths
that warn (:data:`kpit._moved.MOVES`) and the modules their package re-exports in full."""


def _source_modules() -> list[str]:
    names = []
    for path in sorted((REPO / "kpit").rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def _reexported_in_full(module: str) -> bool:
    """Every name of ``module``'s ``__all__`` is the same object in its documented package's."""
    package_name = module.rpartition(".")[0]
    if package_name not in PUBLIC_MODULES:
        return False
    names = getattr(importlib.import_module(module), "__all__", None)
    package = importlib.import_module(package_name)
    return names is not None and all(
        name in package.__all__ and getattr(package, name) is getattr(sys.modules[module], name)
        for name in names
    )


def _internal(module: str) -> bool:
    parts = module.split(".")
    private = any(part.startswith("_") for part in parts if part != "__main__")
    listed = private or module in INTERNAL_MODULES or module.startswith("kpit.cli.")
    return listed or module in MOVES or _reexported_in_full(module)


def test_every_module_is_public_or_internal() -> None:
    """A new module gets a reference page, or is declared internal here."""
    unsorted = [m for m in _source_modules() if m not in PUBLIC_MODULES and not _internal(m)]
    assert not unsorted, f"give these a reference page or call them internal: {unsorted}"


def test_reference_pages_are_the_packages_and_core_modules() -> None:
    pages = {path.stem for path in REFERENCE.glob("*.md")}
    assert pages == set(PAGES), (
        f"missing pages: {sorted(set(PAGES) - pages)}; "
        f"pages of no package or core module: {sorted(pages - set(PAGES))}"
    )


@pytest.mark.parametrize("page", PAGES)
def test_a_page_renders_its_module_and_submodules_and_is_in_the_nav(page: str) -> None:
    text = (REFERENCE / f"{page}.md").read_text()
    rendered = re.findall(r"^::: (\S+)$", text, re.MULTILINE)
    assert rendered == [page, *PAGES[page]], f"{page}.md renders {rendered}"
    assert all(module.startswith(f"{page}.") for module in PAGES[page])
    assert re.search(rf"\breference/{re.escape(page)}\.md$", MKDOCS_YML, re.MULTILINE), (
        f"reference/{page}.md is not in the nav of mkdocs.yml"
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
    for name in getattr(importlib.import_module(module), "__all__", ()):
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
    """The docs name nothing that was moved, renamed or removed (nor a 0.1 path that warns)."""
    _resolve(dotted)
    old = [path for path in MOVES if dotted == path or dotted.startswith(f"{path}.")]
    assert not old, f"{dotted}: {old[0]} moved to {MOVES[old[0]].new}" if old else ""


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
