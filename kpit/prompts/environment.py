"""kpit's packaged Jinja templates and the environment that loads them.

Templates are looked up by name (``context/paper.j2``); a user folder given as
``template_dir`` is searched first, so a file there with the same name overrides the packaged
one. A recipe's own folder (the ``paper`` recipe's is ``prompts/templates/paper/``) is
searched after the user's and before kpit's. Undefined variables are errors
(``StrictUndefined``), never silently empty text.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import os
from collections.abc import Iterator, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

__all__ = ["PACKAGE_TEMPLATES", "record_read", "template_environment", "templates_read"]

PACKAGE_TEMPLATES = Path(__file__).parent / "templates"
"""The folder of kpit's packaged templates (the ``kpit`` recipe's)."""


_READS: contextvars.ContextVar[MutableMapping[str, str] | None] = contextvars.ContextVar(
    "kpit_template_reads", default=None
)


class _RecordingEnvironment(jinja2.Environment):
    """An environment that tells :func:`templates_read` every template file a render reads,
    includes and cached templates too."""

    def _load_template(self, name: Any, globals: Any) -> jinja2.Template:
        template = super()._load_template(name, globals)
        if template.filename:
            record_read(template.filename)
        return template


def record_read(path: str | os.PathLike[str]) -> None:
    """Note that a render read the template file ``path`` (inside :func:`templates_read`)."""
    reads = _READS.get()
    if reads is None:
        return
    file = Path(path).resolve()
    inside = file.is_relative_to(PACKAGE_TEMPLATES)
    key = file.relative_to(PACKAGE_TEMPLATES).as_posix() if inside else str(file)
    if key not in reads:
        reads[key] = hashlib.sha256(file.read_bytes()).hexdigest()[:16]


@contextlib.contextmanager
def templates_read() -> Iterator[dict[str, str]]:
    """Collect the hash of every template file read while the block runs, by name.

    kpit's packaged templates are named by their path under ``kpit/prompts/templates/``
    (``complex/system.j2``, ``common/rules.j2``, ``paper/detail/person.j2``); others by their
    absolute path. A run keeps these in its manifest, so that a resume is refused when any
    file that shaped its prompts changed: includes, context styles and recipe files alike.
    """
    reads: dict[str, str] = {}
    token = _READS.set(reads)
    try:
        yield reads
    finally:
        _READS.reset(token)


@functools.lru_cache(maxsize=16)
def _environment(folders: tuple[str, ...]) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(f) for f in folders]
    return _RecordingEnvironment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )


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
    folders: list[str] = []
    for folder in (template_dir, *recipe_dirs, PACKAGE_TEMPLATES):
        if folder is not None and os.fspath(folder) not in folders:
            folders.append(os.fspath(folder))
    return _environment(tuple(folders))
