"""Setting a run up: the tasks, the backend, the contexts to send, and the checks that let
an existing run folder be resumed.

:func:`set_up` checks :func:`~kpit.pipeline.run.generate`'s arguments at the boundary, picks
the recipe's tasks and prompt options, makes the backend, hashes every template file that
shapes the prompts (a template that fails to render fails here, before anything is sent),
writes nothing, and reads what an existing run has done: the requests to skip and the answers
already stored. Options that can never work (a task the backend cannot write, a missing
``template_dir``, an ``out`` that cannot be a run folder) are refused here, before anything
is sent. A run is resumed only with the settings, the source and the templates it was made
with (:data:`RESUME_KEYS`, :data:`SAME_RENDER`), and with the settings that shape or filter
its data (:data:`DATA_KEYS`) unless ``allow_changed`` names them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import platform
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any

from kpit import plugins
from kpit._checks import check_count, check_names, check_path, check_type, shown
from kpit._version import __version__
from kpit.coco.loader import CocoContexts
from kpit.errors import ConfigError
from kpit.exclusion import ExcludeImages, read_image_ids, source_paths
from kpit.generators.base import Generator
from kpit.names import did_you_mean, parse_names, split_names
from kpit.pipeline.quality import QualityConfig, sample_fingerprint
from kpit.pipeline.shard import Shard
from kpit.pipeline.store import RunStore
from kpit.plugins import resolve_recipe
from kpit.prompts.environment import PACKAGE_TEMPLATES, template_key, templates_read
from kpit.prompts.recipes import DEFAULT_RECIPE, Recipe
from kpit.prompts.tasks import PromptOptions, Task, request_key
from kpit.types import ChatRequest, ImageContext

__all__ = [
    "ALL_TASKS",
    "DATA_KEYS",
    "RESUME_DEFAULTS",
    "RESUME_KEYS",
    "SAME_RENDER",
    "Pending",
    "RecipeLike",
    "RunSetup",
    "check_contexts",
    "resolve_tasks",
    "set_up",
]

log = logging.getLogger(__name__)

ALL_TASKS = ("conversation", "detail", "complex")
"""The paper's three tasks, what ``tasks="all"`` means."""

RESUME_KEYS = ("seed", "prompt", "generator_identity", "recipe", "shard")
"""Manifest entries a resumed run must share with the run it continues (and the hashes of
the templates both use)."""

DATA_KEYS = ("filters", "quality", "exclude_images")
"""Manifest entries that shape or filter a run's data (the filter mode, the quality settings,
the images kept out): a resume with another value is refused unless ``allow_changed`` (the
CLI's ``--allow-changed``) names the entry; each session records its own values."""

RESUME_DEFAULTS: dict[str, Any] = {
    "recipe": DEFAULT_RECIPE,
    "filters": "reject",  # the only behaviour before filters= (and still the kpit recipe's)
    "quality": dataclasses.asdict(QualityConfig()),  # a rule added later: at its default
    "exclude_images": {"sources": [], "images": 0},
    "shard": None,  # the whole of the work
}
"""The values of resume keys (and :data:`DATA_KEYS`) that manifests written before them lack."""

_ALLOW_HINT = ("use a new run folder (out=, -o), or pass allow_changed=['{key}'] "
               "(--allow-changed {option}) to resume with it anyway")  # fmt: skip

RecipeLike = str | type[Recipe] | Recipe


def resolve_tasks(tasks: str | Sequence[str], recipe: RecipeLike = DEFAULT_RECIPE) -> list[Task]:
    """Task objects from names (a list, a comma-separated string, or ``"all"``), as
    ``recipe`` builds them."""
    chosen = resolve_recipe(recipe)
    names = split_names(tasks, what="task", field="tasks")
    if names == ["all"]:
        names = list(chosen.tasks) if chosen.tasks is not None else list(ALL_TASKS)
    return [_task(chosen, name) for name in parse_names(names, what="task", field="tasks")]


def _task(recipe: Recipe, name: str) -> Task:
    """``recipe``'s task called ``name``; the error for a typo suggests the nearest name."""
    try:
        return recipe.task(name)
    except ConfigError as exc:
        hint = did_you_mean(name, recipe.task_names())
        head, _, tail = exc.message.partition("; ")
        if not hint or not tail:
            raise
        raise ConfigError(f"{head}{hint} {tail}", field=exc.field) from None


def _make_generator(generator: str | Generator, model: str | None,
                    options: dict[str, Any]) -> Generator:  # fmt: skip
    if isinstance(generator, Generator):
        return generator
    return plugins.get_generator(generator)(model=model, **options)


@dataclass(slots=True)
class Pending:
    """A request the pipeline built, with what it needs to store the reply."""

    task: Task
    ctx: ImageContext
    request: ChatRequest


def _pending(
    contexts: Iterable[ImageContext],
    tasks: Sequence[Task],
    skip: set[str],
    seed: int,
    options: PromptOptions,
    on_skip: Callable[[], None],
    shard: Shard | None = None,
) -> Iterator[Pending]:
    for ctx in contexts:
        for task in tasks:
            key = request_key(task.name, ctx.image_id)
            if shard is not None and not shard.holds(key):
                continue  # another share's: neither sent nor counted here
            if key in skip:
                on_skip()
                continue
            yield Pending(task, ctx, task.build(ctx, key=key, seed=seed, options=options))


SAME_RENDER: dict[tuple[str, str], str] = {
    # source.j2 of kpit 0.1.0 before the compact rewrite (commit 57b4122): its paper branch is
    # the same text as today's (only the compact branch changed), so such a run resumes.
    ("common/source.j2", "a64932e571a74d9e"): "paper",
}
"""Earlier versions of kpit's templates, by name and hash, with the context style for which
they render the same text as today's: a run made with one in that style resumes."""


def _check_templates(
    store: RunStore,
    by_task: dict[str, dict[str, str]],
    sets: dict[str, dict[str, str]],
    options: PromptOptions,
) -> None:
    """The templates that made the run must be the ones this call renders: a template both
    use must not have changed (an earlier version listed in :data:`SAME_RENDER` for the
    run's style counts as the same), and a task both rendered must resolve the same set of
    templates (``sets``: an override added to or removed from ``template_dir``, a file of
    the user's read in one session only, is a change)."""
    old = store.read_manifest()
    before = _by_name(old.get("template_hashes", {}), options)
    now = _flat(by_task)
    changed = {name for name in before.keys() & now.keys()
               if before[name] != now[name]
               and SAME_RENDER.get((name, before[name])) != options.style}  # fmt: skip
    old_sets = old.get("task_templates") or {}  # none before kpit recorded each task's set
    user = Path(options.template_dir).resolve() if options.template_dir is not None else None
    for task, names in sets.items():
        earlier = old_sets.get(task)
        if isinstance(earlier, dict):
            added, gone = names.keys() - earlier.keys(), earlier.keys() - names.keys()
            changed |= {f"{name} (new)" for name in added if not _image_dependent(name, user)}
            changed |= {f"{name} (gone)" for name in gone if not _image_dependent(name, user)}
    if changed:
        raise ConfigError(f"templates changed since this run began: {', '.join(sorted(changed))}; "
                          "use a new run folder (out=, -o)", file=store.manifest_path,
                          field="template_hashes")  # fmt: skip


def _image_dependent(name: str, user: Path | None) -> bool:
    """Whether the template ``name`` is a file kpit or the recipe provides (or a ``--style``
    file): a render may read it for one image and not for another (the paper recipe's
    caption template, for an image without captions), so a set that has it and another
    that has not are no change by themselves (a change of the files that include it is)."""
    path = Path(name)
    if not path.is_absolute():
        return (PACKAGE_TEMPLATES / name).is_file()
    return path.is_file() and not (user is not None and path.is_relative_to(user))


def _by_name(hashes: Mapping[str, str], options: PromptOptions) -> dict[str, str]:
    """A manifest's template hashes by :func:`~kpit.prompts.environment.template_key`: runs
    made before kpit named templates so recorded an override in ``template_dir`` under its
    absolute path."""
    if options.template_dir is None:
        return dict(hashes)
    user = Path(options.template_dir).resolve()
    shared = [d for d in (options.recipe_dir, PACKAGE_TEMPLATES) if d is not None]
    named = {}
    for name, digest in hashes.items():
        path = Path(name)
        if path.is_absolute() and path.is_relative_to(user):
            name = template_key(path.relative_to(user).as_posix(), shared)
        named[name] = digest
    return named


def _flat(by_task: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    return {name: h for hashes in by_task.values() for name, h in hashes.items()}


def _templates_of(
    contexts: Iterable[ImageContext], tasks: Sequence[Task], options: PromptOptions, seed: int
) -> tuple[Iterable[ImageContext], dict[str, dict[str, str]], bool]:
    """The hashes of every file that shapes each task's prompts, the contexts to go on
    with, and whether the tasks rendered (not when there is no image: then the hashes are
    those of the files the tasks name).

    Each task builds its request for the first image while :func:`templates_read` watches,
    so its set holds whatever a render reads (includes, the context style, a ``--style``
    file, a recipe's files), by the name the renderer asked for, besides the files a task
    names itself (its examples and instructions). A template that fails to render fails
    here, before anything is sent.
    """
    by_task = {task.name: task.template_hashes(options) for task in tasks}
    pending = iter(contexts)
    first = next(pending, None)
    if first is None:
        return (), by_task, False
    for task in tasks:
        with templates_read() as reads:
            task.build(first, key=request_key(task.name, first.image_id), seed=seed,
                       options=options)  # fmt: skip
        by_task[task.name] |= reads
    return chain([first], pending), by_task, True


def _source(contexts: Iterable[ImageContext]) -> dict[str, Any]:
    files = getattr(contexts, "files", None)
    if files is None:
        return {"contexts": type(contexts).__name__}
    return {k: str(Path(v).resolve()) if v is not None else None
            for k, v in dataclasses.asdict(files).items()}  # fmt: skip


@dataclass(slots=True)
class RunSetup:
    """Everything a run needs before it sends anything: what to ask, whom, and where to store."""

    tasks: list[Task]
    prompt: PromptOptions
    backend: Generator
    store: RunStore
    manifest: dict[str, Any]
    contexts: Iterable[ImageContext]
    seed: int
    concurrency: int
    quality: QualityConfig
    filters: str = "reject"  # reject, flag or off
    total: int | None = None  # requests in all, when the number of images is known
    skip: set[str] = field(default_factory=set)  # keys already done
    seen: set[str] = field(default_factory=set)  # answer fingerprints of stored samples
    resuming: bool = False
    session: dict[str, Any] = field(default_factory=dict)  # this session's DATA_KEYS values
    shard: Shard | None = None  # the share of the requests this run sends (None: all)

    def pending(self, on_skip: Callable[[], None]) -> Iterator[Pending]:
        """The requests still to send (of :attr:`shard` only), built lazily; ``on_skip`` is
        called per done one."""
        return _pending(self.contexts, self.tasks, self.skip, self.seed, self.prompt, on_skip,
                        self.shard)  # fmt: skip


def set_up(
    contexts: Iterable[ImageContext],
    tasks: str | Sequence[str],
    generator: str | Generator,
    model: str | None,
    out: str | os.PathLike[str],
    *,
    concurrency: int = 8,
    limit: int | None = None,
    seed: int = 0,
    retry_failed: bool = False,
    style: str = "paper",
    pose_notes: bool = False,
    template_dir: str | os.PathLike[str] | None = None,
    fewshot: bool = True,
    quality: QualityConfig | None = None,
    generator_options: Mapping[str, Any] | None = None,
    exclude_images: ExcludeImages = None,
    allow_new_source: bool = False,
    recipe: RecipeLike = DEFAULT_RECIPE,
    filters: str | None = None,
    allow_changed: str | Sequence[str] | None = None,
    shard: str | Shard | None = None,
    writing: bool = True,
) -> RunSetup:
    """Check the arguments, make the backend, and read what an existing run has done.

    ``shard`` (``"I/N"`` or a :class:`Shard`) keeps the requests of one share only; it is
    part of the run's identity (a run is resumed with its own shard). The run folder is
    made last, once every check passed; ``writing=False`` (a dry run) makes nothing and does
    not ask that ``out`` be writable, only that it can be a run folder."""
    share = None if shard is None else Shard.parse(shard)
    if share is not None and share.count == 1:
        share = None  # 1/1 is the whole run
    contexts = _check_arguments(contexts, tasks, generator, model, out, concurrency=concurrency,
                                limit=limit, seed=seed, quality=quality,
                                generator_options=generator_options,
                                template_dir=template_dir)  # fmt: skip
    _check_out(Path(out), writing=writing)
    allowed = _allowed(allow_changed)
    chosen = resolve_recipe(recipe)
    task_objects = resolve_tasks(tasks, chosen)
    mode = chosen.filter_mode(filters)
    prompt = chosen.prompt_options(style, pose_notes,
                                   os.fspath(template_dir) if template_dir else None,
                                   fewshot)  # fmt: skip
    backend = _make_generator(generator, model, dict(generator_options or {}))
    excluded = read_image_ids(exclude_images)
    source = _source(contexts)
    contexts, total = _selected(contexts, limit, excluded, len(task_objects))
    store = RunStore(out)
    contexts, by_task, rendered = _templates_of(contexts, task_objects, prompt, seed)
    sets = by_task if rendered else {}  # the set of templates each task resolved
    _check_tasks_written(backend, task_objects)
    if share is not None:
        total = None  # how many requests the share holds is known only on the way
    setup = RunSetup(task_objects, prompt, backend, store, {}, contexts, seed, concurrency,
                     quality or QualityConfig(), mode, total, shard=share)  # fmt: skip
    exclusion = {"sources": source_paths(exclude_images), "images": len(excluded),
                 "ids": _fingerprint(excluded)}  # fmt: skip
    setup.manifest = _manifest(setup, chosen, by_task, sets, source, exclusion)
    setup.session = {key: setup.manifest[key] for key in DATA_KEYS}
    if store.orphaned():
        raise ConfigError("the folder holds samples but no manifest.json: it cannot be resumed "
                          "safely (the settings that made it are lost); use a new run folder",
                          file=store.folder)  # fmt: skip
    setup.resuming = store.exists()
    if setup.resuming:
        _check_resumable(setup, source, by_task, sets, allow_new_source=allow_new_source,
                         allowed=allowed)  # fmt: skip
        _skip_done(setup, retry_failed=retry_failed)
    if writing:  # every check passed: the folder is made (a folder that cannot be, named)
        _make_folder(store.folder)
    return setup


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot make the run folder: {exc.strerror}", file=folder,
                          field="out") from None  # fmt: skip


def _allowed(allow_changed: str | Sequence[str] | None) -> set[str]:
    """The :data:`DATA_KEYS` a resume may change (``exclude-images`` as the CLI spells it)."""
    if allow_changed is None:
        return set()
    names = split_names(allow_changed, what="setting", field="allow_changed")
    names = [name.replace("-", "_") for name in names]
    return set(parse_names(names, what="setting", field="allow_changed", known=DATA_KEYS))


def _check_tasks_written(backend: Generator, tasks: Sequence[Task]) -> None:
    """Refuse a task that the backend cannot write (:attr:`Generator.supported_tasks`):
    every one of its requests would fail."""
    supported = backend.supported_tasks
    for task in tasks:
        if supported is not None and task.name not in supported:
            raise ConfigError(f"the {backend.name!r} generator cannot write {task.name!r} data "
                              f"(it writes {', '.join(supported)}); use a model backend",
                              field="tasks")  # fmt: skip


def _fingerprint(ids: set[int]) -> str:
    """A short SHA-256 of a set of image ids."""
    text = ",".join(map(str, sorted(ids)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _selected(
    contexts: Iterable[ImageContext], limit: int | None, excluded: set[int], tasks: int
) -> tuple[Iterable[ImageContext], int | None]:
    """The first ``limit`` contexts without the excluded images, and how many requests they
    make with ``tasks`` tasks (``None`` when that is known only on the way)."""
    total = None
    if isinstance(contexts, Sized):
        images = len(contexts) if limit is None else min(len(contexts), limit)
        total = images * tasks
    if limit is not None:
        contexts = islice(contexts, limit)
    if excluded:
        contexts = _without(contexts, excluded)
        total = None  # how many the exclusion removes is known only on the way
    return contexts, total


def _manifest(
    setup: RunSetup,
    recipe: Recipe,
    by_task: dict[str, dict[str, str]],
    sets: dict[str, dict[str, str]],
    source: dict[str, Any],
    exclusion: dict[str, Any],
) -> dict[str, Any]:
    """The run's ``manifest.json``: the settings that made it, and what resuming checks."""
    prompt, backend = setup.prompt, setup.backend
    return {
        "kpit_version": __version__,
        "python": platform.python_version(),
        "generator": backend.settings(),
        "generator_identity": backend.identity(),
        "prompt": {"style": prompt.style, "pose_notes": prompt.pose_notes,
                   "template_dir": prompt.template_dir, "fewshot": prompt.fewshot},
        "template_hashes": _flat(by_task),
        "task_templates": sets,
        "recipe": recipe.name,
        "recipe_version": recipe.version,
        "filters": setup.filters,
        "seed": setup.seed,
        "tasks": [t.name for t in setup.tasks],
        "source": source,
        "quality": dataclasses.asdict(setup.quality),
        "concurrency": setup.concurrency,
        "exclude_images": exclusion,
        "shard": None if setup.shard is None else str(setup.shard),
    }  # fmt: skip


def _check_resumable(
    setup: RunSetup,
    source: dict[str, Any],
    by_task: dict[str, dict[str, str]],
    sets: dict[str, dict[str, str]],
    *,
    allow_new_source: bool,
    allowed: set[str],
) -> None:
    """The existing run was made with this call's settings, source and templates, and with
    the same :data:`DATA_KEYS` but those in ``allowed``."""
    store = setup.store
    store.check_compatible(setup.manifest, RESUME_KEYS, RESUME_DEFAULTS)
    old = store.read_manifest()
    old_source = old.get("source")
    if old_source is not None and old_source != source and not allow_new_source:
        raise ConfigError(f"this run was made from {old_source}, not {source}; pass "
                          "allow_new_source=True (--allow-new-source) to add images from "
                          "another dataset to it", file=store.manifest_path,
                          field="source")  # fmt: skip
    keys = tuple(key for key in ("filters", "quality") if key not in allowed)
    store.check_compatible(setup.manifest, keys, RESUME_DEFAULTS, hint=_ALLOW_HINT)
    if "exclude_images" not in allowed:
        _check_exclusion(store, old, setup.manifest["exclude_images"])
    _check_templates(store, by_task, sets, setup.prompt)
    if isinstance(old.get("task_templates"), dict):  # the run's other tasks keep theirs
        setup.manifest["task_templates"] = old["task_templates"] | sets


def _check_exclusion(store: RunStore, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """The run keeps out the images it kept out (compared by their ids; a manifest made
    before the ids were recorded, by their number)."""
    before = old.get("exclude_images") or RESUME_DEFAULTS["exclude_images"]
    if "ids" in before:
        same = before["ids"] == new["ids"]
    else:
        same = before.get("images", 0) == new["images"]
    if not same:
        hint = _ALLOW_HINT.format(key="exclude_images", option="exclude-images")
        raise ConfigError(f"this run was made with exclude_images={before.get('sources', [])!r} "
                          f"({before.get('images', 0)} images), not {new['sources']!r} "
                          f"({new['images']} images); {hint}", file=store.manifest_path,
                          field="exclude_images")  # fmt: skip


def _skip_done(setup: RunSetup, *, retry_failed: bool) -> None:
    """Skip the requests the run has stored (its failures too, unless ``retry_failed``), and
    remember the answers it holds."""
    for sample in setup.store.samples():
        setup.skip.add(sample.id)
        setup.seen.add(sample_fingerprint(sample))
    if not retry_failed:
        setup.skip.update(r["key"] for r in setup.store.failures())


def _check_arguments(
    contexts: Any,
    tasks: Any,
    generator: Any,
    model: Any,
    out: Any,
    *,
    concurrency: Any,
    limit: Any,
    seed: Any,
    quality: Any,
    generator_options: Any,
    template_dir: Any,
) -> Iterable[ImageContext]:
    """The arguments of :func:`~kpit.pipeline.run.generate` checked at the boundary: one
    ConfigError naming the argument, not a traceback from deep inside or a silent empty run."""
    checked = check_contexts(contexts)
    check_names(tasks, "tasks")
    check_type(generator, "generator", (str, Generator), "a backend's name or a Generator")
    check_type(model, "model", (str, type(None)), "a model name")
    check_path(out, "out", what="a run folder")
    check_count(concurrency, "concurrency", minimum=1)
    check_count(limit, "limit", optional=True)
    check_count(seed, "seed", minimum=-(2**63))
    check_type(quality, "quality", (QualityConfig, type(None)), "a kpit.QualityConfig")
    check_type(generator_options, "generator_options", (Mapping, type(None)), "a dict of options")
    check_path(template_dir, "template_dir", optional=True, what="a folder of templates")
    if template_dir is not None and not Path(template_dir).is_dir():
        what = "not a folder" if Path(template_dir).exists() else "no such folder"
        raise ConfigError(f"{what}: template_dir must be a folder of templates",
                          file=template_dir, field="template_dir")  # fmt: skip
    return checked


def _check_out(out: Path, *, writing: bool) -> None:
    """``out`` can be a run folder: a folder (or none yet), not under a file, and when
    ``writing``, on a writable disk; checked without writing, before anything is sent."""
    if out.exists() and not out.is_dir():
        raise ConfigError("a file, not a folder: a run folder is a folder (its manifest, "
                          "samples and failures)", file=out, field="out")  # fmt: skip
    existing = next(p for p in (out.absolute(), *out.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"cannot make the run folder here: {existing} is a file",
                          file=out, field="out")  # fmt: skip
    if not writing:
        return
    read_only = os.statvfs(existing).f_flag & os.ST_RDONLY
    if read_only or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write here: {existing} is "
                          f"{'on a read-only disk' if read_only else 'not writable'}",
                          file=out, field="out")  # fmt: skip


def _without(contexts: Iterable[ImageContext], excluded: set[int]) -> Iterator[ImageContext]:
    """``contexts`` without the excluded images (benchmark images never reach a teacher)."""
    for ctx in contexts:
        if ctx.image_id in excluded:
            log.debug("image %s is excluded", ctx.image_id)
            continue
        yield ctx


def check_contexts(contexts: Any) -> Iterable[ImageContext]:
    """``contexts`` as image contexts: a path or a string is an error, and so is an item
    that is not an :class:`ImageContext` (checked at once for a collection, as the items
    come for a generator)."""
    if isinstance(contexts, CocoContexts):
        return contexts
    if isinstance(contexts, (str, bytes, os.PathLike)):
        raise ConfigError(f"expected image contexts, not a path {shown(contexts)}: load them "
                          "with kpit.load_coco(path) first", field="contexts")  # fmt: skip
    if isinstance(contexts, ImageContext):
        raise ConfigError("expected image contexts, not one ImageContext: pass [context]",
                          field="contexts")  # fmt: skip
    if isinstance(contexts, Mapping) or not isinstance(contexts, Iterable):
        raise ConfigError(f"expected image contexts (such as kpit.load_coco(...)), not "
                          f"{shown(contexts)}", field="contexts")  # fmt: skip
    if isinstance(contexts, Sized) and not isinstance(contexts, Iterator):
        for item in contexts:
            _check_context(item)
        return contexts
    return _checked(contexts)


def _check_context(item: Any) -> None:
    if not isinstance(item, ImageContext):
        raise ConfigError(f"expected image contexts, found {shown(item)} among them",
                          field="contexts")  # fmt: skip


def _checked(contexts: Iterable[Any]) -> Iterator[ImageContext]:
    for item in contexts:
        _check_context(item)
        yield item
