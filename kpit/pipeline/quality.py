"""Quality filters: reject, with a reason, replies that would make bad training data.

A teacher sometimes leaks its source ("based on the keypoints..."), writes coordinates,
refuses, answers with almost nothing, or repeats another sample. :class:`QualityFilter`
checks the turns of a parsed reply and returns a :class:`Rejection` naming the first rule it
breaks; the pipeline keeps rejections in the run's ``failures.jsonl`` for inspection. In
report-only mode (``filters="flag"``, the ``paper`` recipe's policy) :meth:`QualityFilter.flags`
lists every rule broken, and the sample is stored with them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from kpit.pipeline.leaks import LEAK_RULES, LeakFinder
from kpit.types import Sample, Turn

__all__ = [
    "PHRASE_RULES",
    "QualityConfig",
    "QualityFilter",
    "Rejection",
    "answer_fingerprint",
    "sample_fingerprint",
]

LEAK_PATTERNS: tuple[str, ...] = tuple(rule.pattern for rule in LEAK_RULES)
"""The patterns of :data:`kpit.pipeline.leaks.LEAK_RULES`: phrases that reveal the teacher
read annotations instead of looking at an image."""

REFUSAL_PATTERNS: tuple[str, ...] = (
    r"^\s*(?:i'?m|i am) (?:sorry|afraid)\b",
    r"\bi (?:cannot|can't|can not|am unable to|'m unable to) "
    r"(?:help|assist|see|view|provide|determine from)",
    r"\bas an ai(?: language model)?\b",
    r"\bi do not have (?:access to|the ability to see)\b",
)  # fmt: skip
"""Phrases of a refusal or of a model that says it cannot see."""

PHRASE_RULES: tuple[str, ...] = ("chat_markers", "refusal", "leak", "coordinates")
"""The rules that look for words: a :class:`Rejection` of theirs holds the words found."""

COORDINATE_PATTERN = (
    r"[\[(]\s*-?\d*\.\d+\s*,\s*-?\d*\.\d+"  # (0.42, 0.17 or [0.3, 0.5
    r"|(?<![\w.])0?\.\d{2,3}(?![\w.])"  # a bare 0.42 / .417
    r"|\b[xy][12]?\s*=\s*-?\d"  # x = 0.4, y2=...
)
"""Numbers that look like normalised coordinates."""

CHAT_MARKER_PATTERN = r"</?s>|<image>|\b(?:USER|ASSISTANT):"
"""Markers of LLaVA's training text (``</s>``, ``<s>``, ``<image>``, ``USER:``,
``ASSISTANT:``): in a teacher's text they would forge turns or images once exported."""


@dataclass(frozen=True, slots=True)
class QualityConfig:
    """Thresholds and switches of the quality filters.

    Attributes:
        min_answer_chars: per task, the shortest acceptable answer (characters); tasks not
            listed use their own ``min_answer_chars``.
        max_answer_chars: the longest acceptable answer.
        reject_leaks: reject replies that mention their source (keypoints, boxes, captions;
            the rules of :mod:`kpit.pipeline.leaks`).
        reject_coordinates: reject replies with coordinate-like numbers.
        reject_refusals: reject refusals and "I cannot see the image" replies.
        reject_duplicates: reject a sample whose answers repeat an earlier sample's, word
            for word (case and spacing aside).
        reject_chat_markers: reject turns that carry the markers of LLaVA's training text
            (``</s>``, ``<s>``, ``<image>``, ``USER:``, ``ASSISTANT:``).
        extra_leak_patterns: more regular expressions to treat as leaks.
    """

    min_answer_chars: Mapping[str, int] = field(default_factory=dict)
    max_answer_chars: int = 6000
    reject_leaks: bool = True
    reject_coordinates: bool = True
    reject_refusals: bool = True
    reject_duplicates: bool = True
    reject_chat_markers: bool = True
    extra_leak_patterns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a reply was rejected: a short ``reason`` code and the offending ``detail``.

    For the rules that look for words (``leak``, ``coordinates``, ``refusal``,
    ``chat_markers``) the detail is the phrase that broke the rule, exactly as the reply
    wrote it ("keypoints", "From the image details provided"); for the others, a
    short explanation ("42 characters < 100").
    """

    reason: str
    detail: str


def _fingerprint(answers: Iterable[str]) -> str:
    text = "\n".join(" ".join(a.lower().split()) for a in answers)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def answer_fingerprint(turns: Sequence[Turn]) -> str:
    """A fingerprint of a sample's answers (case and spacing aside), to catch repeats."""
    return _fingerprint(t.text for t in turns if t.role == "gpt")


def sample_fingerprint(sample: Sample) -> str:
    """:func:`answer_fingerprint` of a stored sample."""
    return answer_fingerprint(sample.turns)


class QualityFilter:
    """Applies :class:`QualityConfig` to parsed turns; remembers answers to catch repeats.

    Args:
        config: the thresholds.
        task_minimums: each task's own default minimum answer length.
        seen: fingerprints of samples already stored (a resumed run passes them in).
    """

    def __init__(
        self,
        config: QualityConfig | None = None,
        task_minimums: Mapping[str, int] | None = None,
        seen: Iterable[str] = (),
    ) -> None:
        self.config = config or QualityConfig()
        self._minimums = dict(task_minimums or {}) | dict(self.config.min_answer_chars)
        self._leak = LeakFinder(self.config.extra_leak_patterns)
        self._refusal = re.compile("|".join(f"(?:{p})" for p in REFUSAL_PATTERNS), re.I | re.M)
        self._coordinates = re.compile(COORDINATE_PATTERN)
        self._chat_markers = re.compile(CHAT_MARKER_PATTERN)
        self._seen = set(seen)

    def check(self, task: str, turns: Sequence[Turn], *, remember: bool = True) -> Rejection | None:
        """The first rule ``turns`` break, or ``None`` when they pass.

        Passing answers are remembered for the duplicate rule unless ``remember`` is false.
        """
        first = next(self._broken(task, turns), None)
        if first is not None:
            return first
        fingerprint = answer_fingerprint(turns)
        if self.config.reject_duplicates:
            if fingerprint in self._seen:
                return Rejection("duplicate", "the same answers as an earlier sample")
            if remember:
                self._seen.add(fingerprint)
        return None

    def flags(self, task: str, turns: Sequence[Turn], *, remember: bool = True) -> list[Rejection]:
        """Every rule ``turns`` break, once per reason, for filters that only report.

        The answers are remembered for the duplicate rule (unless ``remember`` is false)
        whether or not they break a rule, since they are stored either way.
        """
        found: dict[str, Rejection] = {}
        for rejection in self._broken(task, turns, every=True):
            found.setdefault(rejection.reason, rejection)
        fingerprint = answer_fingerprint(turns)
        if self.config.reject_duplicates:
            if fingerprint in self._seen:
                found["duplicate"] = Rejection("duplicate", "the same answers as an earlier sample")
            elif remember:
                self._seen.add(fingerprint)
        return list(found.values())

    def _broken(
        self, task: str, turns: Sequence[Turn], *, every: bool = False
    ) -> Iterator[Rejection]:
        """The rules ``turns`` break, in the order :meth:`check` tries them (duplicates aside).

        Stops after the first unless ``every``.
        """
        answers = [t.text for t in turns if t.role == "gpt"]
        if not answers or not all(a.strip() for a in answers):
            yield Rejection("empty", "no answer text")
            if not every:
                return
        minimum = self._minimums.get(task, 10)
        for answer in answers:
            if len(answer.strip()) < minimum:
                yield Rejection("too_short", f"{len(answer.strip())} characters < {minimum}")
            if len(answer) > self.config.max_answer_chars:
                yield Rejection("too_long", f"{len(answer)} characters")
        for turn in turns:
            if self.config.reject_chat_markers and (m := self._chat_markers.search(turn.text)):
                yield Rejection("chat_markers", m.group(0))
            if self.config.reject_refusals and (m := self._refusal.search(turn.text)):
                yield Rejection("refusal", m.group(0))
            if self.config.reject_leaks and (leak := self._leak.find(turn.text)):
                yield Rejection("leak", leak.phrase)
            if self.config.reject_coordinates and (m := self._coordinates.search(turn.text)):
                yield Rejection("coordinates", m.group(0))
