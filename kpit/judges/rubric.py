"""The review format the judges share: the judge's messages, its rubrics and its scores.

The messages follow LLaVA-Bench's structure exactly (a system line, then the context, the
question, Assistant 1, Assistant 2 and the rubric), so scores stay comparable with LLaVA's
published numbers; the HPAUB rubric also explains the keypoint triples. The judge's reply
starts with a line holding two scores; :func:`parse_scores` reads it strictly (LLaVA's way)
and then leniently ("Assistant 1: 7", bold markdown, "7/10"), and says when it cannot.
"""

from __future__ import annotations

import json
import re

from kpit.errors import ConfigError
from kpit.prompts.environment import PACKAGE_TEMPLATES
from kpit.types import Message

__all__ = ["JUDGE_SYSTEM", "judge_messages", "parse_scores", "rubrics"]

JUDGE_SYSTEM = "You are a helpful and precise assistant for checking the quality of the answer."
"""LLaVA-Bench's system message for the judge."""

# A whole number as written, never a piece of one: "11" is 11 (out of range, unreadable),
# not 1; "10.5" is 10.5, not 10; "-3" is not 3. The range is checked after matching.
_SCORE = r"(?<![\d.\-])(\d+(?:\.\d+)?)(?!\.?\d)"
_OUT_OF_10 = r"(?:\s*/\s*10(?![\d.]))?(?!\s*/\s*\d)"  # "/10" may follow; "/100" may not
_LABELLED = re.compile(
    rf"assistant\s*(1|2)\s*(?:\*\*)?\s*(?:score)?\s*[:=\-]?\s*(?:\*\*)?\s*{_SCORE}{_OUT_OF_10}",
    re.I,
)
_PAIR = re.compile(rf"^\D*?{_SCORE}{_OUT_OF_10}\s*(?:,|\s|and|vs\.?)\s*{_SCORE}{_OUT_OF_10}\b")


def judge_messages(
    question: str,
    context: str,
    first: str,
    second: str,
    rubric: str,
    role: str = "Assistant",
) -> list[Message]:
    """The judge's messages: the ``first`` answer is Assistant 1, ``second`` Assistant 2."""
    content = (
        f"[Context]\n{context}\n\n"
        f"[Question]\n{question}\n\n"
        f"[{role} 1]\n{first}\n\n[End of {role} 1]\n\n"
        f"[{role} 2]\n{second}\n\n[End of {role} 2]\n\n"
        f"[System]\n{rubric}\n\n"
    )
    return [Message("system", JUDGE_SYSTEM), Message("user", content)]


def _valid(a: float, b: float) -> tuple[float, float] | None:
    return (a, b) if 1 <= a <= 10 and 1 <= b <= 10 else None


def parse_scores(review: str) -> tuple[float, float] | None:
    """The two scores of a judge's review, or ``None`` when they cannot be read.

    Strict first, as LLaVA does: the first line is exactly two numbers (a comma may
    separate them). Then leniently: ``Assistant 1: 7`` and ``Assistant 2: 8`` anywhere
    (markdown bold and ``/10`` allowed), or a pair such as ``7/10 and 8/10`` on one of the
    first three lines. Scores must lie in 1..10: a number outside (``11``, ``12/10``, ``0``,
    ``10.5``) makes the review unreadable in every pattern, never clipped or cut to a digit.
    """
    lines = [line.strip() for line in review.strip().splitlines() if line.strip()]
    if not lines:
        return None
    parts = lines[0].replace(",", " ").split()
    if len(parts) == 2:
        try:
            return _valid(float(parts[0]), float(parts[1]))
        except ValueError:
            pass
    labelled = {m.group(1): float(m.group(2)) for m in _LABELLED.finditer(review)}
    if "1" in labelled and "2" in labelled:
        return _valid(labelled["1"], labelled["2"])
    for line in lines[:3]:
        match = _PAIR.match(line.replace("*", ""))
        if match:
            return _valid(float(match.group(1)), float(match.group(2)))
    return None


def rubrics(kind: str = "hpaub") -> dict[str, dict[str, str]]:
    """The judge's rubric per category: ``hpaub`` (keypoints explained) or ``llava``."""
    data = json.loads((PACKAGE_TEMPLATES / "judge" / "rules.json").read_text())
    prefix = "llava_" if kind == "llava" else ""
    if kind not in ("hpaub", "llava"):
        raise ConfigError(f"unknown rubric {kind!r}; use hpaub or llava", field="rubric")
    return {c: data[prefix + c] for c in ("conv", "detail", "complex")}
