"""kpit's packaged Jinja templates and the environment that loads them.

Templates are looked up by name (``context/paper.j2``); a user folder given as
``template_dir`` is searched first, so a file there with the same name overrides the packaged
one. Undefined variables are errors (``StrictUndefined``), never silently empty text.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import jinja2

__all__ = ["PACKAGE_TEMPLATES", "template_environment"]

PACKAGE_TEMPLATES = Path(__file__).parent
"""The folder of kpit's packaged templates."""


@functools.lru_cache(maxsize=16)
def _environment(user_dir: str | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if user_dir is not None:
        loaders.append(jinja2.FileSystemLoader(user_dir))
    loaders.append(jinja2.FileSystemLoader(str(PACKAGE_TEMPLATES)))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )


def template_environment(template_dir: str | os.PathLike[str] | None = None) -> jinja2.Environment:
    """The Jinja environment for kpit's templates, with ``template_dir`` searched first."""
    return _environment(os.fspath(template_dir) if template_dir is not None else None)
