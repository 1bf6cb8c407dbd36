"""A pose review's answer with its claims marked, as ``kpit bench show`` prints it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["mark_claims"]

_MARKS = {"supported": "+", "contradicted": "!", "undecidable": "?"}
_COLOURS = {"supported": 32, "contradicted": 31, "undecidable": 33}
"""ANSI colours: green, red, yellow."""


def mark_claims(review: Mapping[str, Any], colour: bool = False) -> str:
    """A pose review's answer with its claims marked, then one line per claim.

    Each claim's words are wrapped as ``[words]{n+}`` (supported), ``{n!}`` (contradicted)
    or ``{n?}`` (undecidable), numbered in text order; the lines below give what each claim
    says, whom it was taken to be about, and the fact that decided it with its confidence,
    or why nothing did. ``colour`` wraps the words in ANSI colours (green, red, yellow),
    for a terminal.

    ``review`` is a record of a pose review file (``kpit bench judge --judge pose``), or
    ``PoseJudge().assess(...).to_dict()``.
    """
    text = str(review.get("text", ""))
    claims = list(review.get("claims", []))
    order = sorted(range(len(claims)), key=lambda k: (claims[k]["start"], claims[k]["end"]))
    pieces: list[str] = []
    at = 0
    for number, k in enumerate(order, start=1):
        claim = claims[k]
        start, end = int(claim["start"]), int(claim["end"])
        mark = f"{{{number}{_MARKS[claim['status']]}}}"
        if start >= at:
            pieces.append(text[at:start])
            words = f"[{text[start:end]}]"
            if colour:
                words = f"\033[{_COLOURS[claim['status']]}m{words}\033[0m"
            pieces.append(words + mark)
            at = end
        else:  # claims that share words: the mark only
            pieces.append(text[at:end] if end > at else "")
            at = max(at, end)
            pieces.append(mark)
    pieces.append(text[at:])
    lines = ["".join(pieces), ""]
    for number, k in enumerate(order, start=1):
        claim = claims[k]
        what = f"{claim['kind']}: {'not ' if claim.get('negated') else ''}{claim['label']}"
        if claim.get("side"):
            what += f" ({claim['side']} {claim.get('part') or ''})".rstrip()
        about = f" about {claim['about']}" if claim.get("about") else ""
        people = claim.get("people") or []
        if people:
            about += " [person " + ", ".join(map(str, people)) + "]"
        if claim["status"] == "undecidable":
            why = f"undecidable: {claim.get('reason')}"
        else:
            why = (f"{claim['status']} by {claim.get('fact')} (confidence "
                   f"{claim.get('confidence')})")  # fmt: skip
        lines.append(f"{number:>3}{_MARKS[claim['status']]} {what}{about}: {why}")
    return "\n".join(lines)
