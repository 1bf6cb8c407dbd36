"""kpit's packaged Jinja templates and the environment that loads them.

Templates are looked up by name (``context/paper.j2``); a user folder given as
``template_dir`` is searched first, so a file there with the same name overrides the packaged
one. A recipe's own folder (the ``paper`` recipe's is ``prompts/templates/paper/``) is
searched after the user's and before kpit's. Undefined variables are errors
(``StrictUndefined``), never silently empty text.

:func:`templates_read` records every template a render resolves under the name it would have
without the user's folder (:func:`template_key`), so that an override of ``detail/system.j2``
and the packaged file are the same name with different hashes.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import os
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

__all__ = [
    "PACKAGE_TEMPLATES",
    "record_read",
    "template_environment",
    "template_key",
    "templates_read",
]

PACKAGE_TEMPLATES = Path(__file__).parent / "templates"
"""The folder of kpit's packaged templates (the ``kpit`` recipe's)."""


_READS: contextvars.ContextVar[MutableMapping[str, str] | None] = contextvars.ContextVar(
    "kpit_template_reads", default=None
)


class _RecordingEnvironment(jinja2.Environment):
    """An environment that tells :func:`templates_read` every template a render reads,
    includes and cached templates too, by :func:`template_key` of the name asked for."""

    shared_folders: tuple[str, ...] = ()
    """The folders searched after the user's (a recipe's, then kpit's)."""

    def _load_template(self, name: Any, globals: Any) -> jinja2.Template:
        template = super()._load_template(name, globals)
        if template.filename and _READS.get() is not None:  # only inside templates_read()
            record_read(template.filename, key=template_key(str(name), self.shared_folders))
        return template


def _key_of_file(file: Path) -> str:
    """A file's name in a manifest: its path under kpit's templates, else its absolute path."""
    if file.is_relative_to(PACKAGE_TEMPLATES):
        return file.relative_to(PACKAGE_TEMPLATES).as_posix()
    return str(file)


def template_key(
    name: str, folders: Sequence[str | os.PathLike[str]] = (PACKAGE_TEMPLATES,)
) -> str:
    """The name a run manifest records the template ``name`` under: the file it resolves to
    in ``folders`` (a recipe's and kpit's, not the user's ``template_dir``), named by its path
    under kpit's templates (``paper/complex/person.j2``) or, outside them, by its absolute
    path; ``name`` itself when none of them has it (a template only the user's folder holds).

    An override in ``template_dir`` therefore has the same key as the file it overrides.
    """
    for folder in folders:
        file = Path(folder) / name
        if file.is_file():
            return _key_of_file(file.resolve())
    return name


def record_read(path: str | os.PathLike[str], *, key: str | None = None) -> None:
    """Note that a render read the template file ``path`` (inside :func:`templates_read`),
    under ``key`` (default: its path under kpit's templates, else its absolute path)."""
    reads = _READS.get()
    if reads is None:
        return
    file = Path(path).resolve()
    key = key if key is not None else _key_of_file(file)
    if key not in reads:
        reads[key] = hashlib.sha256(file.read_bytes()).hexdigest()[:16]


@contextlib.contextmanager
def templates_read() -> Iterator[dict[str, str]]:
    """Collect the hash of every template file read while the block runs, by name.

    A template is named by :func:`template_key` of the name the renderer asked for: kpit's
    packaged templates by their path under ``kpit/prompts/templates/`` (``complex/system.j2``,
    ``common/rules.j2``, ``paper/detail/person.j2``), whether the user's ``template_dir``
    overrides them or not; a recipe's files outside kpit by their absolute path; a template
    only the user's folder holds by the name asked for; a ``--style`` file by its absolute
    path. A run keeps these in its manifest, so that a resume is refused when any file that
    shaped its prompts changed, was overridden or lost its override: includes, context
    styles and recipe files alike.
    """
    reads: dict[str, str] = {}
    token = _READS.set(reads)
    try:
        yield reads
    finally:
        _READS.reset(token)


class _FolderLoader(jinja2.BaseLoader):
    """Folders searched in order, like :class:`jinja2.ChoiceLoader` of
    :class:`jinja2.FileSystemLoader`, except that a cached template is out of date once an
    earlier folder has a file of its name: an override added while the process runs (a
    notebook's next cell) is used, not the file it overrides."""

    def __init__(self, folders: Sequence[str]) -> None:
        self.loaders = [jinja2.FileSystemLoader(folder) for folder in folders]

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        for n, loader in enumerate(self.loaders):
            try:
                source, filename, uptodate = loader.get_source(environment, template)
            except jinja2.TemplateNotFound:
                continue
            current = functools.partial(_current, uptodate, self.loaders[:n], environment, template)
            return source, filename, current
        raise jinja2.TemplateNotFound(template)


def _current(
    uptodate: Callable[[], bool] | None,
    earlier: Sequence[jinja2.FileSystemLoader],
    environment: jinja2.Environment,
    name: str,
) -> bool:
    """A cached template is current: its file did not change, and no folder searched before
    its own has a file of its name now."""
    fresh = uptodate() if uptodate is not None else False
    return fresh and not any(_holds(loader, environment, name) for loader in earlier)


def _holds(loader: jinja2.FileSystemLoader, environment: jinja2.Environment, name: str) -> bool:
    try:
        loader.get_source(environment, name)
    except jinja2.TemplateNotFound:
        return False
    return True


@functools.lru_cache(maxsize=16)
def _environment(user: str | None, shared: tuple[str, ...]) -> jinja2.Environment:
    folders = [user, *shared] if user is not None else list(shared)
    env = _RecordingEnvironment(
        loader=_FolderLoader(folders),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )
    env.shared_folders = shared
    return env


def template_environment(
    template_dir: str | os.PathLike[str] | None = None,
    recipe_dirs: Sequence[str | os.PathLike[str]] = (),
) -> jinja2.Environment:
    """The Jinja environment for kpit's templates.

    Args:
        template_dir: the user's folder, searched first.
        recipe_dirs: a recipe's folders, searched next, in order; kpit's own templates
            come last.
    """
    shared: list[str] = []
    for folder in (*recipe_dirs, PACKAGE_TEMPLATES):
        if os.fspath(folder) not in shared:
            shared.append(os.fspath(folder))
    user = os.fspath(template_dir) if template_dir is not None else None
    return _environment(None if user in shared else user, tuple(shared))
