"""Griffe extension: the Sphinx roles of kpit's docstrings as mkdocstrings cross-references.

kpit's docstrings name other objects the Sphinx way, :class:`Sample` or
:func:`~kpit.bench.judge_answers`; Markdown would print the role. This turns each into a
link, ``[`Sample`][Sample]`` (``~`` keeps the last name as the text), that mkdocstrings
resolves in the docstring's scope (``scoped_crossrefs``); one that resolves to nothing fails
``mkdocs build --strict``. A paragraph ending in ``::`` (a literal block follows) loses one
colon.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(?P<ref>[^`]+)`")
LITERAL = re.compile(r"::$", re.MULTILINE)


def _link(match: re.Match[str]) -> str:
    ref = match["ref"]
    if ref.startswith("!"):  # Sphinx: no link
        return f"`{ref[1:]}`"
    short = ref.startswith("~")
    target = ref.lstrip("~").removesuffix("()")
    text = ref.lstrip("~").rsplit(".", 1)[-1] if short else ref.lstrip("~")
    return f"[`{text}`][{target}]"


def convert(text: str) -> str:
    """``text`` with its roles as cross-references and ``::`` as ``:``."""
    text = ROLE.sub(_link, text)
    return LITERAL.sub(lambda m: "" if m.start() and text[m.start() - 1] in " \n" else ":", text)


class SphinxRoles(griffe.Extension):
    """Rewrites every docstring as :func:`convert` says."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Convert the object's docstring, before mkdocstrings parses it."""
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
