"""MkDocs hook: links from docs/ to files elsewhere in the repository (examples/, README).

On GitHub such a link, ``[the example](../examples/kpit-plugin-example)``, works; on the site
it would point outside the site. The hook checks that the file exists in the repository (a
link to a missing file is a warning, so ``mkdocs build --strict`` fails on it) and rewrites
the link: to the file on the repository's host when ``repo_url`` is set, otherwise to its
path in plain text. Links between docs pages are left to MkDocs' own validation.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.plugins import get_plugin_logger

log = get_plugin_logger(__name__)

# An inline link or image: [text](target) or [text](target "title"), target without spaces.
LINK = re.compile(
    r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?P<title>\s+\"[^\"]*\")?\)"
)
FENCE = re.compile(r"^(```|~~~)")


def on_page_markdown(markdown: str, *, page: Any, config: Any, files: Any) -> str:
    """Check and rewrite the page's links that leave docs/ for the rest of the repository."""
    docs = Path(config["docs_dir"]).resolve()
    repo = Path(config["config_file_path"]).resolve().parent
    page_dir = (docs / page.file.src_path).parent
    repo_url = (config.get("repo_url") or "").rstrip("/")

    def rewrite(match: re.Match[str]) -> str:
        target = match["target"]
        if re.match(r"^([a-z][a-z0-9+.-]*:|/|#)", target):  # a URL, absolute or same page
            return match[0]
        path, _, anchor = target.partition("#")
        resolved = (page_dir / path).resolve()
        if resolved.is_relative_to(docs) or not resolved.is_relative_to(repo):
            return match[0]
        relative = resolved.relative_to(repo).as_posix()
        if not resolved.exists():
            log.warning(
                "Doc file '%s' contains a link to '%s', which is not found in the repository.",
                page.file.src_path,
                target,
            )
            return match[0]
        if repo_url:
            kind = "tree" if resolved.is_dir() else "blob"
            url = f"{repo_url}/{kind}/HEAD/{relative}" + (f"#{anchor}" if anchor else "")
            return f"{match['bang']}[{match['text']}]({url}{match['title'] or ''})"
        shown = relative + ("/" if resolved.is_dir() else "")
        if shown.strip("/") in match["text"]:
            return f"{match['text']} (in the repository)"
        return f"{match['text']} (`{shown}` in the repository)"

    lines, fenced = [], False
    for line in markdown.split("\n"):
        if FENCE.match(line.lstrip()):
            fenced = not fenced
        lines.append(line if fenced else LINK.sub(rewrite, line))
    return "\n".join(lines)
