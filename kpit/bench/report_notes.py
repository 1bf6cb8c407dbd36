"""The notes under ``kpit bench report``'s tables, shared by the report and the page.

Each note says how a table was made: the protocol, the judges (:func:`judges_of`) and the
files it read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["LLAVA_NOTE", "POSE_NOTE", "judge_label", "judges_of", "paper_note"]

LLAVA_NOTE = (
    "Protocol: llava (each answer against the reference answer; relative = 100 x "
    "mean(model) / mean(reference); All pools every review)."
)
"""How the LLaVA-Bench protocol's table is made."""

POSE_NOTE = (
    "Pose judge: each answer's claims about people checked against the pose facts of the "
    "keypoints (supported, contradicted or undecidable; undecidable claims count neither "
    "way). Grounding precision = supported / decided claims, pooled; coverage = the mean "
    "share of the image's salient facts an answer states; count accuracy = answers whose "
    "stated number of people is right, of those that state one."
)
"""How the pose judge's table is made."""


def paper_note(swapped: bool) -> str:
    """How the paper protocol's table is made (``swapped``: some question was judged in
    both orders, which are averaged first)."""
    return (
        "Protocol: paper (pairwise, model against model, each answer scored 1-10 by the "
        "judge). A model's category score is 10 x the mean of all its scores across every "
        "pairing it appears in"
        + (" (both orders of a question averaged first)" if swapped else "")
        + "; All is the mean of the three category scores."
    )


def judge_label(judge: object, *, server: bool = True) -> str:
    """A review's judge record as ``name/model``, with ``at URL`` when its server is not
    OpenAI's (``server``)."""
    if isinstance(judge, dict):
        where = _endpoint(judge.get("base_url")) if server else ""
        return f"{judge.get('name')}/{judge.get('model')}" + (f" at {where}" if where else "")
    return str(judge)


def judges_of(reviews: Iterable[Mapping[str, Any]], *, server: bool = True) -> str:
    """The judges of ``reviews``, each once (:func:`judge_label`), or ``unknown``."""
    labels = {judge_label(r.get("judge"), server=server) for r in reviews if r.get("judge")}
    return ", ".join(sorted(labels)) or "unknown"


def _endpoint(url: object) -> str:
    """The judge's server(s) as recorded (credentials already masked), or ``""`` for
    OpenAI's own API (the default)."""
    urls = url if isinstance(url, list | tuple) else [url]
    shown = [str(u) for u in urls if u and urlsplit(str(u)).hostname != "api.openai.com"]
    return ", ".join(shown)
