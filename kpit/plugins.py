"""The plugin manager: built-in backends, tasks, judges and recipes, and plugins from entry points.

The manager is made on first use. It registers kpit's built-in plugins, then every
``kpit`` entry point of the installed packages; the environment variable
``KPIT_LOAD_PLUGINS`` (a comma-separated list of entry-point names, possibly empty) limits
which of those load, for reproducible runs; a name no installed package provides (a typo)
is a ``RuntimeWarning`` listing the installed ones.

A broken plugin must not break kpit. An entry point that fails to import, or whose hook
implementations do not fit kpit's hooks, is refused whole with a ``RuntimeWarning``
naming the plugin and the hook, and kpit goes on without it. Not fitting means a function
marked ``@kpit.hookimpl`` that no hook has (a misspelling such as
``kpit_register_generator``: pluggy's ``check_pending``; ``optionalhook=True`` exempts
one), or an argument its hook does not pass. A function left unmarked is not a hook
implementation at all, and nothing can notice its name. The same fault in kpit's own
plugins is a bug in kpit and raises ``pluggy.PluginValidationError``. A plugin
registered by hand (``get_plugin_manager().register(...)``, as tests do) is not checked:
call ``check_pending()`` on the manager after registering it.

A name clash between a built-in class and a plugin's goes to the plugin, with a
``RuntimeWarning`` naming both, however late the plugin was registered:
``_collect()`` calls the built-ins' hook implementations first, one at a time, and the
later registration of a name wins. (Between two plugins, pluggy's call order decides: the
later registered plugin is called first, so the earlier one wins, again with a warning.)
"""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.metadata
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from kpit import hookspecs
from kpit.errors import ConfigError
from kpit.names import close_names, did_you_mean, split_names

if TYPE_CHECKING:
    from kpit.generators.base import Generator
    from kpit.judges.base import Judge
    from kpit.prompts.recipes import Recipe
    from kpit.prompts.tasks import Task

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "Registration",
    "generators",
    "get_generator",
    "get_judge",
    "get_plugin_manager",
    "get_recipe",
    "get_task",
    "judges",
    "loaded_plugins",
    "recipes",
    "registrations",
    "resolve_recipe",
    "tasks",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "kpit"
"""The entry-point group plugins declare (``[project.entry-points.kpit]``)."""

DEFAULT_PLUGINS = ("kpit.default_plugins",)
"""Modules of kpit's own plugins, registered before any third-party one; a third-party
plugin's class still wins a name clash with theirs."""

T = TypeVar("T")
_VERSIONS: dict[str, str] = {}  # entry-point name -> "distribution version"
_DISTRIBUTIONS: dict[str, str] = {}  # entry-point name -> distribution name


@functools.cache
def get_plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager, made on first use."""
    pm = pluggy.PluginManager("kpit")
    pm.add_hookspecs(hookspecs)
    for module in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(module), name=module)
    pm.check_pending()  # a misspelled hook in kpit's own plugins is kpit's bug: raise
    _load_entry_points(pm)
    return pm


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    wanted = os.environ.get("KPIT_LOAD_PLUGINS")
    allowed = None if wanted is None else set(split_names(wanted, what="plugin"))
    entry_points = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    if allowed is not None:
        installed = sorted({ep.name for ep in entry_points})
        for name in sorted(allowed - set(installed)):
            hint = did_you_mean(name, installed)
            warnings.warn(
                f"KPIT_LOAD_PLUGINS names {name!r}, which no installed package provides"
                f"{hint} (installed kpit plugins: {', '.join(installed) or 'none'})",
                RuntimeWarning,
                stacklevel=2,
            )
    for entry_point in entry_points:
        if allowed is not None and entry_point.name not in allowed:
            continue
        if pm.has_plugin(entry_point.name):
            continue
        try:
            plugin = entry_point.load()
        except Exception as exc:  # a broken plugin must not break kpit
            warnings.warn(
                f"kpit plugin {entry_point.name!r} ({entry_point.value}) failed to load: "
                f"{type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        problem = _register_checked(pm, plugin, entry_point.name)
        if problem is not None:  # nor must one whose hooks do not fit
            warnings.warn(
                f"kpit plugin {entry_point.name!r} ({entry_point.value}) refused: {problem}",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        if entry_point.dist is not None:
            _VERSIONS[entry_point.name] = f"{entry_point.dist.name} {entry_point.dist.version}"
            _DISTRIBUTIONS[entry_point.name] = entry_point.dist.name
        log.debug("loaded kpit plugin %s", entry_point.name)


def _register_checked(pm: pluggy.PluginManager, plugin: object, name: str) -> str | None:
    """Register ``plugin``; if its hooks do not fit kpit's, unregister it and say why."""
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:  # an argument that its hook does not pass
        if pm.get_name(plugin) is not None:  # pluggy < 1.7 leaves it half registered
            pm.unregister(plugin)
        return " ".join(str(exc).split())
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        if exc.plugin is not plugin:  # not this plugin's fault: kpit's own
            raise
        known = sorted(hook for hook, caller in vars(pm.hook).items()
                       if not hook.startswith("_") and caller.has_spec())  # fmt: skip
        unknown = sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()
                         if not caller.has_spec())  # fmt: skip
        pm.unregister(plugin)
        hints = []
        for hook in unknown:
            close = close_names(hook, known)
            hints.append(f"{hook!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return f"unknown hook {', '.join(hints)}; kpit's hooks are {', '.join(known)}"
    return None


def loaded_plugins() -> list[tuple[str, str | None]]:
    """Names of the registered plugins, with their distribution's version when known."""
    pm = get_plugin_manager()
    return [(name, _VERSIONS.get(name)) for name, plugin in pm.list_name_plugin() if plugin]


def _qualname(cls: type[Any]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _registrar(kind: str, plugin: str, added: list[type[Any]]) -> Callable[[type[Any]], None]:
    """The ``register`` callback one plugin's hook implementation receives."""

    def register(cls: type[Any]) -> None:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{cls!r} from plugin {plugin!r} has no string 'name' attribute",
                              field=kind)  # fmt: skip
        added.append(cls)

    return register


def _collect(hook: pluggy.HookCaller, kind: str) -> dict[str, type[Any]]:
    """The classes the implementations of ``hook`` register, by name."""
    return {name: cls for name, (cls, _) in _collect_with_plugins(hook, kind).items()}


def _collect_with_plugins(hook: pluggy.HookCaller, kind: str) -> dict[str, tuple[type[Any], str]]:
    """The classes the implementations of ``hook`` register, by name, with the name of the
    plugin that registered each.

    Each implementation is called on its own, so that a clash can name the plugins: the
    built-ins' first, then the others in pluggy's call order (the last registered first).
    The later registration of a name wins, so an installed plugin beats a built-in.
    """
    found: dict[str, tuple[type[Any], str]] = {}  # name -> (class, plugin name)
    impls = []
    for impl in reversed(hook.get_hookimpls()):  # pluggy's call order
        if impl.wrapper or impl.hookwrapper:  # there is no result here to wrap
            warnings.warn(f"kpit plugin {impl.plugin_name!r}: a hook wrapper on {hook.name} "
                          "has no effect, ignored", RuntimeWarning, stacklevel=3)  # fmt: skip
        else:
            impls.append(impl)
    impls.sort(key=lambda impl: impl.plugin_name not in DEFAULT_PLUGINS)  # stable
    for impl in impls:
        plugin = impl.plugin_name
        added: list[type[Any]] = []
        given = {"register": _registrar(kind, plugin, added)}  # passed as pluggy would
        optional = {arg: given[arg] for arg in impl.kwargnames if arg in given}
        impl.function(*(given[arg] for arg in impl.argnames), **optional)
        for cls in added:
            name = cls.name
            if name in found and found[name][0] is not cls:
                loser, loser_plugin = found[name]
                if loser_plugin in DEFAULT_PLUGINS and plugin not in DEFAULT_PLUGINS:
                    message = (f"kpit {kind} {name!r} from plugin {plugin!r} ({_qualname(cls)}) "
                               f"overrides the built-in one ({_qualname(loser)})")  # fmt: skip
                else:
                    message = (f"kpit {kind} {name!r} registered twice: {_qualname(cls)} from "
                               f"plugin {plugin!r} wins over {_qualname(loser)} from plugin "
                               f"{loser_plugin!r}")  # fmt: skip
                warnings.warn(message, RuntimeWarning, stacklevel=3)
            found[name] = (cls, plugin)
    return found


def generators() -> dict[str, type[Generator]]:
    """Every registered generator class, by name."""
    return _collect(get_plugin_manager().hook.kpit_register_generators, "generator")


def judges() -> dict[str, type[Judge]]:
    """Every registered judge class, by name."""
    return _collect(get_plugin_manager().hook.kpit_register_judges, "judge")


def tasks() -> dict[str, type[Task]]:
    """Every registered task class, by name."""
    return _collect(get_plugin_manager().hook.kpit_register_tasks, "task")


def recipes() -> dict[str, type[Recipe]]:
    """Every registered recipe class, by name."""
    return _collect(get_plugin_manager().hook.kpit_register_recipes, "recipe")


def _get(registry: dict[str, type[T]], name: str, kind: str) -> type[T]:
    try:
        return registry[name]
    except KeyError:
        known = ", ".join(sorted(registry)) or "none"
        hint = did_you_mean(name, registry) if isinstance(name, str) else ""
        raise ConfigError(f"unknown {kind} {name!r}{hint or ';'} installed: {known}",
                          field=kind) from None  # fmt: skip


_HOOKS = {
    "generator": "kpit_register_generators",
    "judge": "kpit_register_judges",
    "task": "kpit_register_tasks",
    "recipe": "kpit_register_recipes",
}


@dataclass(frozen=True, slots=True)
class Registration:
    """One registered class, for ``kpit plugins``.

    Attributes:
        name: what users select it by (``--generator``, ``--judge``, ``--tasks``, ``--recipe``).
        cls: the class.
        plugin: the plugin that registered it (an entry-point name, or the name a plugin
            was registered by hand with).
        package: the distribution that provides the plugin: ``kpit`` for the built-ins,
            the entry point's distribution for an installed plugin, else the plugin's name.
    """

    name: str
    cls: type[Any]
    plugin: str
    package: str


def registrations(kind: str) -> list[Registration]:
    """Every registered class of ``kind`` (``generator``, ``judge``, ``task`` or ``recipe``),
    by name, with the plugin and package that registered it."""
    if kind not in _HOOKS:
        raise ConfigError(f"unknown kind {kind!r}{did_you_mean(kind, _HOOKS)}; kinds: "
                          f"{', '.join(_HOOKS)}", field="kind")  # fmt: skip
    hook = getattr(get_plugin_manager().hook, _HOOKS[kind])
    found = _collect_with_plugins(hook, kind)
    return [Registration(name, cls, plugin, _package_of(plugin))
            for name, (cls, plugin) in sorted(found.items())]  # fmt: skip


def _package_of(plugin: str) -> str:
    """The distribution that provides ``plugin``: ``kpit`` for kpit's own."""
    if plugin in DEFAULT_PLUGINS:
        return "kpit"
    return _DISTRIBUTIONS.get(plugin, plugin)


def get_generator(name: str) -> type[Generator]:
    """The generator class called ``name``; :class:`ConfigError` lists the installed ones."""
    return _get(generators(), name, "generator")


def get_judge(name: str) -> type[Judge]:
    """The judge class called ``name``."""
    return _get(judges(), name, "judge")


def get_task(name: str) -> type[Task]:
    """The task class called ``name``."""
    return _get(tasks(), name, "task")


def get_recipe(name: str) -> type[Recipe]:
    """The recipe class called ``name``."""
    return _get(recipes(), name, "recipe")


def resolve_recipe(recipe: str | type[Recipe] | Recipe = "kpit") -> Recipe:
    """A recipe object from a registered name, a :class:`~kpit.prompts.recipes.Recipe`
    subclass or an instance, built with every registered task (for a recipe that has no
    task table of its own)."""
    from kpit.prompts.recipes import Recipe

    if isinstance(recipe, Recipe):
        if recipe.tasks is None and recipe.registered_tasks is None:
            recipe = copy.copy(recipe)
            recipe.registered_tasks = tasks()
        return recipe
    if isinstance(recipe, str):
        recipe = get_recipe(recipe.strip())
    elif not (isinstance(recipe, type) and issubclass(recipe, Recipe)):
        raise ConfigError(f"expected a recipe name, got {recipe!r}", field="recipe")
    return recipe(registered_tasks=tasks() if recipe.tasks is None else None)
