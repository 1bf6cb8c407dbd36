"""The review format the judges share: the judge's messages, its rubrics and its scores.

The messages follow LLaVA-Bench's structure exactly (a system line, then the context, the
question, Assistant 1, Assistant 2 and the rubric), so scores stay comparable with LLaVA's
published numbers; the HPAUB rubric also explains the keypoint triples. The judge's reply
starts with a line holding two scores; :func:`parse_scores` reads it as LLaVA does, or else
reads only what the reply says as the score of a named assistant ("Assistant 1: 7",
"Assistant 1 gets 7"), and says when it cannot.
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


# --- reading a review's scores -----------------------------------------------------------
#
# A number is a score only where the review says it as one: alone on the first line (LLaVA's
# asked-for format, "8 9"), or for a named assistant ("Assistant 1: 8", "Assistant 1 gets 8",
# "8/10 for Assistant 1", "Assistant 1 and 2 receive 7 and 9"). Assistant numbers, counts
# ("2 errors", "3 people"), list numbers and years never are. The shapes, each with what it
# must read as, are in tests/judges/data/scores.json.

_H = r"[^\S\n]"  # a space within a line
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_DASH = r"[-\u2013\u2014]"  # a hyphen, an en or an em dash
_END = (  # what may follow a score: a line's end, punctuation or a clause; never "errors"
    rf"(?={_H}*(?:$|[,;.!?)\]|}}\"'(/]|{_DASH}(?:{_H}|$)"
    r"|(?:and|but|while|whereas|because|since|as|so|vs\.?|versus|respectively|assistant)\b))"
)
_SCORE_WORD = rf"(?:(?:overall|final|total){_H}+)?(?:score|rating|grade)"
_VERB = (
    r"(?:gets?|got|receives?|received|earns?|earned|deserves?|deserved|merits?|scores?|scored"
    rf"|(?:is|was|are|were|gets?){_H}+(?:rated|given|awarded|scored)|rated"
    rf"|(?:would|should|will){_H}+(?:get|receive|earn|score|deserve))"
)
# The lead of a score said before its assistant: a line's start, "scores:", "I give".
_LEAD = (
    rf"(?:^{_H}*(?:[-+•]{_H}+)?"
    rf"|\b{_SCORE_WORD}s?(?:{_H}+(?:are|is|of))?{_H}*[:=]?{_H}*(?:an?{_H}+)?"
    r"|\b(?:give|gives|gave|giving|award|awards|awarded|awarding|assign|assigns|assigned"
    rf"|assigning){_H}+(?:an?{_H}+)?(?:{_SCORE_WORD}{_H}+of{_H}+)?)"
)


def _score(name: str) -> str:
    """A score as written, as group ``name``: never a piece of a number ("11" is 11, out of
    range, not 1; "-3", "80%", "8th" are none; "8,5" is none: a decimal comma or two scores),
    then "/10" or "out of 10" (never "/100" or "/5") and "points" may follow."""
    return (
        rf"(?<![\w.,/+\-])(?P<{name}>{_NUMBER})(?![\w%]|[.,][0-9])"
        rf"(?:{_H}*(?:/|out{_H}+of){_H}*10(?![\w%]|[.,][0-9]))?(?!{_H}*/{_H}*[0-9])"
        rf"(?:{_H}+points?\b)?"
    )


def _assistant(name: str | None = None) -> str:
    """ "Assistant 1", "assistant_1", "Assistant #1" (the number as group ``name``)."""
    number = rf"(?P<{name}>[0-9]+)" if name else "[0-9]+"
    return rf"\bassistant{_H}*[_#]?{_H}*{number}(?![0-9])"


_OF_ASSISTANT = rf"(?:['\u2019]s(?:{_H}+(?:answer|response|reply))?)?\"?"  # "Assistant 1's answer"
_PAIR = (
    rf"[(\[]?{_H}*{_score('a')}{_H}*(?:,|&|and|,{_H}*and|vs\.?|versus){_H}*{_score('b')}"
    rf"{_H}*[)\]]?"
)
_BOTH = rf"\bassistants?{_H}*#?1{_H}*(?:,|&|and|vs\.?|versus){_H}*(?:assistant{_H}*#?)?2(?![0-9])"

# "Assistant 1: 8", "| Assistant 1 | 8 |", "Assistant 1 - 8", "Assistant 1's score is 8",
# "Assistant 1 gets a score of 8", "(rate) Assistant 2 a 9", "Assistant 1 (8/10)"
_LABELLED = re.compile(
    _assistant("who") + _OF_ASSISTANT + "(?:"
    rf"{_H}*[:=|]{_H}*(?:(?:an?{_H}+)?{_SCORE_WORD}(?:{_H}+of)?{_H}*[:=]?{_H}*)?"
    rf"|{_H}+{_DASH}{_H}+"
    rf"|(?:{_H}|_)*{_SCORE_WORD}\"?{_H}*(?:is|of|[:=]|{_DASH})?{_H}*"
    rf"|{_H}+{_VERB}{_H}+(?:(?:at|as){_H}+)?(?:an?{_H}+)?(?:{_SCORE_WORD}{_H}+(?:of{_H}+)?)?"
    rf"|{_H}+(?:an?|as|at){_H}+(?:{_SCORE_WORD}{_H}+(?:of{_H}+)?)?"
    rf"|{_H}*\({_H}*{_SCORE_WORD}{_H}*[:=]?{_H}*"
    rf"|{_H}*\({_H}*(?={_NUMBER}{_H}*(?:/|out{_H}+of){_H}*10)"
    ")" + _score("score") + _END,
    re.I | re.M,
)
# "I give 8 to Assistant 1", "Scores: 7/10 for Assistant 1", then ", 9 for Assistant 2"
_GIVEN = re.compile(
    _LEAD + _score("score") + rf"{_H}+(?:for|to){_H}+(?:the{_H}+)?" + _assistant("who"),
    re.I | re.M,
)
# "The score of Assistant 1 is 8", "Rating for Assistant 2 - 9"
_SCORE_OF = re.compile(
    rf"\b{_SCORE_WORD}{_H}+(?:for|of){_H}+(?:the{_H}+)?" + _assistant("who") + _OF_ASSISTANT
    + rf"{_H}*(?:is|[:=]|{_DASH}{_H}){_H}*(?:an?{_H}+)?" + _score("score") + _END,
    re.I | re.M,
)  # fmt: skip
_GIVEN_NEXT = re.compile(
    rf"{_H}*(?:,|;|and|,{_H}*and){_H}*(?:an?{_H}+)?"
    + _score("score") + rf"{_H}+(?:for|to){_H}+(?:the{_H}+)?" + _assistant("who"),
    re.I,
)  # fmt: skip
# "Assistant 1 and 2 receive 7 and 9", "the scores are (1, 5) for Assistant 1 and Assistant 2"
_PAIR_SAID = (
    re.compile(
        _BOTH
        + rf"(?:{_H}+{_VERB}{_H}+(?:{_SCORE_WORD}s?{_H}+(?:of{_H}+)?)?|{_H}*(?:[:=]|{_DASH}){_H}*)"
        + _PAIR
        + rf"(?:,?{_H}*respectively)?"
        + _END,
        re.I | re.M,
    ),
    re.compile(_LEAD + _PAIR + rf"{_H}+(?:for|to){_H}+(?:the{_H}+)?" + _BOTH, re.I | re.M),
)
# a line that is only two scores: "8 9", "7, 8", "Scores: 7/10 and 9/10", "(1, 7)"
_PAIR_LINE = re.compile(
    rf"^(?:#+{_H}*)?[{{(\[]?{_H}*(?:(?P<label>\"?(?:(?:my|the|final|overall){_H}+)?"
    rf"(?:scores?|ratings?|grades?|output|result)\"?){_H}*(?:are|is)?{_H}*[:=]?{_H}*)?"
    rf"[(\[]?{_H}*{_score('a')}{_H}*(?:,{_H}*|{_H}+(?:(?:and|vs\.?|versus){_H}+)?)"
    rf"{_score('b')}{_H}*[)\]]?{_H}*[}})\]]?{_H}*\.?{_H}*$",
    re.I,
)
_SCORES_FOLLOW = re.compile(r"\b(?:scores?|ratings?)\b[^:]*:$", re.I)  # "Here are my scores:"
# "### Assistant 1", "Assistant 1:", "Evaluation of Assistant 2's answer": a section's heading
_HEADING = re.compile(
    rf"^(?:#+{_H}*)?(?:(?:evaluation|review|assessment|analysis){_H}+(?:of|for){_H}+)?"
    + _assistant("who") + _OF_ASSISTANT + rf"{_H}*:?$",
    re.I,
)  # fmt: skip
_OTHER_HEADING = re.compile(r"^(?:#+.*|[^:]{1,40}:)$")  # "## Conclusion", "Scores:"
_SECTION_SCORE = re.compile(
    rf"\b{_SCORE_WORD}{_H}*(?:is|of|[:=]|{_DASH}){_H}*(?:an?{_H}+)?" + _score("score") + _END,
    re.I,
)


def _plain(review: str) -> str:
    """``review`` without markdown emphasis and code marks ("5 * 8" keeps its sign), with
    plain line ends and colons, and one space where a line had several (so that no pattern
    backtracks over a long run of spaces)."""
    text = review.replace("\r\n", "\n").replace("\r", "\n").replace("\uff1a", ":")
    text = re.sub(r"\*\*|__|`", "", text)
    text = re.sub(r"(?<!\s)\*|\*(?!\s)", "", text)
    return re.sub(r"[^\S\n]+", " ", text)


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with ``spans`` blanked out, so that no number is read twice."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _in_a_list(text: str, match: re.Match[str]) -> bool:
    """Whether a labelled score opens an inline list ("Assistant 1: 1. ... 2. ..."): the next
    number follows on the same line, within 1,000 characters."""
    value, start = match.group("score"), match.end("score")
    if not value.isdigit() or len(value) > 2 or not re.match(r"[.)]\s", text[start : start + 2]):
        return False
    end = text.find("\n", start, start + 1000)
    following = re.compile(rf"(?<![\w.]){int(value) + 1}[.)]\s")
    return following.search(text, start, start + 1000 if end < 0 else end) is not None


def _said_for_assistants(text: str) -> list[tuple[str, str]]:
    """Each (assistant, score) the review says for a named assistant, in any shape."""
    said: list[tuple[str, str]] = []
    spans: list[tuple[int, int]] = []
    for pattern in _PAIR_SAID:
        for match in pattern.finditer(text):
            said += [("1", match.group("a")), ("2", match.group("b"))]
            spans.append(match.span())
    for match in _SCORE_OF.finditer(text):
        said.append((match.group("who"), match.group("score")))
        spans.append(match.span())
    for match in _GIVEN.finditer(text):
        said.append((match.group("who"), match.group("score")))
        spans.append(match.span())
        while (more := _GIVEN_NEXT.match(text, spans[-1][1])) is not None:
            said.append((more.group("who"), more.group("score")))
            spans.append(more.span())
    text = _blank(text, spans)
    labelled = [m for m in _LABELLED.finditer(text) if not _in_a_list(text, m)]
    said += [(match.group("who"), match.group("score")) for match in labelled]
    return said + _said_in_sections(_blank(text, [match.span() for match in labelled]))


def _said_in_sections(text: str) -> list[tuple[str, str]]:
    """The scores said under an assistant's heading ("### Assistant 1 ... Score: 8")."""
    said: list[tuple[str, str]] = []
    who = None
    for line in (line.strip() for line in text.split("\n")):
        heading = _HEADING.match(line)
        if heading is not None or _OTHER_HEADING.match(line):
            who = heading.group("who") if heading is not None else None
        elif who is not None and re.search(_assistant(), line, re.I) is None:
            said += [(who, m.group("score")) for m in _SECTION_SCORE.finditer(line)]
    return said


def _pair_lines(lines: list[str]) -> list[tuple[str, str]]:
    """The scores of lines that are only two scores, where such a line is a review's scores:
    labelled ("Scores: 7 9"), after a line that announces them, or the last line."""
    said: list[tuple[str, str]] = []
    for i, line in enumerate(lines):
        match = _PAIR_LINE.match(line)
        if match is not None and (
            match.group("label") or i == len(lines) - 1 or _SCORES_FOLLOW.search(lines[i - 1])
        ):
            said += [("1", match.group("a")), ("2", match.group("b"))]
    return said


def _valid(a: float, b: float) -> tuple[float, float] | None:
    return (a, b) if 1 <= a <= 10 and 1 <= b <= 10 else None


def parse_scores(review: str) -> tuple[float, float] | None:
    """The two scores of a judge's review, or ``None`` when they cannot be read.

    LLaVA's way first: a first line that is only two scores ("8 9", "7, 8", "Scores: 7/10
    and 9/10") gives them, whatever follows. Otherwise a number is a score only where it is
    said as one for a named assistant: "Assistant 1: 8", "**Assistant 1**: 8/10",
    "Assistant 1 gets 8" ("receives a score of", "is rated", "deserves an"), "I would rate
    Assistant 1 a 7", "8 for Assistant 1", "Assistant 1 and 2 receive 7 and 9", a table
    row, a JSON key, "Score: 8" under an "Assistant 1" heading; or on a line of only two
    scores that is labelled, announced ("Scores:") or the last. Assistant numbers, counts
    ("Assistant 1 - 2 errors", "3 people"), list numbers and years are never scores.

    Anything ambiguous is unreadable: a reply that scores one assistant only, gives one two
    different scores, scores a third, or writes a decimal comma ("8,5 9"); so is a score
    outside 1..10 ("11", "12/10", "0", "10.5", "8/100"), never clipped or cut to a digit.
    """
    text = _plain(review)
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if not lines:
        return None
    first = _PAIR_LINE.match(lines[0])
    if first is not None:
        return _valid(float(first.group("a")), float(first.group("b")))
    scores: dict[str, set[float]] = {}
    for who, score in _said_for_assistants(text) + _pair_lines(lines):
        scores.setdefault(who, set()).add(float(score))
    if set(scores) != {"1", "2"} or len(scores["1"]) != 1 or len(scores["2"]) != 1:
        return None
    return _valid(scores["1"].pop(), scores["2"].pop())


def rubrics(kind: str = "hpaub") -> dict[str, dict[str, str]]:
    """The judge's rubric per category: ``hpaub`` (keypoints explained) or ``llava``."""
    data = json.loads((PACKAGE_TEMPLATES / "judge" / "rules.json").read_text())
    prefix = "llava_" if kind == "llava" else ""
    if kind not in ("hpaub", "llava"):
        raise ConfigError(f"unknown rubric {kind!r}; use hpaub or llava", field="rubric")
    return {c: data[prefix + c] for c in ("conv", "detail", "complex")}
