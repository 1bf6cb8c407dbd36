"""kpit's packaged Jinja templates and the environment that loads them.

Templates are looked up by name (``context/paper.j2``); a user folder given as
``template_dir`` is searched first, so a file there with the same name overrides the packaged
one. A recipe's own folder (the ``paper`` recipe's is ``prompts/paper/``) is searched after
the user's and before kpit's. Undefined variables are errors (``StrictUndefined``), never
silently empty text.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import jinja2

__all__ = ["PACKAGE_TEMPLATES", "template_environment"]

PACKAGE_TEMPLATES = Path(__file__).parent
"""The folder of kpit's packaged templates (the ``kpit`` recipe's)."""


@functools.lru_cache(maxsize=16)
def _environment(folders: tuple[str, ...]) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(f) for f in folders]
    return jinja2.Environment(
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
