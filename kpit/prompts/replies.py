"""Reading a teacher's reply: the question/answer pairs, with an answer's words kept exactly.

A reply is a question/answer pairs in some layout: ``Question:``/``Answer:`` blocks with
``===`` between them (kpit's prompts ask for that), ``Q1:``/``A1:``, bold labels, headings,
numbered pairs, or no labels at all. :func:`parse_reply` removes the layout and keeps the
rest, by one rule:

- **Removed** (the reply's scaffolding): the labels (``Question:``, ``**Answer 2:**``,
  ``### Question``, ``Q1:``, ``User:``...) with the marks around them (a heading mark, a
  bullet or the pair's number before the label, the bold it sits in); separators (``===``,
  ``---``) and whatever stands between a separator that ends an answer and the next question
  (a pair heading, a remark); a pair heading just before a question (``### Pair 2``); an
  opening sentence before the first question; a closing remark after the last answer (a last
  paragraph, or else a last line, that begins "These questions", "I hope", "Feel free",
  "Let me know"...); and, in a question, the bold, heading mark, bullet or number around the
  whole of it (emphasis inside it stays). What is left out is logged at debug level.
- **Kept as written**: every word of an answer and its punctuation, quotes and markdown
  (bold, italics, bullet, numbered and lettered lists, headings) and its line breaks. Words
  that begin like labels are words: "A-frame", "A. first, B. second", "Human-powered",
  "Q-tip". Only a colon (ASCII or full-width) ends a label, or ``.``/``)`` after a number
  (``Q1.``); ``A.`` answers only a question asked with ``Q.``.
- **Normalised**: whitespace only. Trailing spaces go, the indentation common to an answer's
  lines goes (a numbered pair indents them), blank lines at either end go and a run of blank
  lines becomes one; a one-line answer written as a single bullet under its question loses
  the bullet (it is layout, not a list).

``tests/data/replies/shapes.json`` holds the reply shapes this is tested on, with the exact
pairs each must give.
"""

from __future__ import annotations

import logging
import re
import textwrap
from dataclasses import dataclass, field

__all__ = ["parse_reply"]

log = logging.getLogger(__name__)

# Before a label: indentation, a heading mark, a bullet, the pair's number.
_LEAD = r"^\s*(?:#{1,6}\s*)?(?:[-*•+]\s+)?(?:(?:\d{1,2}|[ivx]{1,4})[.)]\s*|\(\d{1,2}\)\s*)?"
_LABEL = re.compile(
    _LEAD + r"(?P<open>\*\*|__|\*)?\s*"
    r"(?P<word>question|answer|user|human|assistant|gpt|q|a)(?![a-z-])"
    r"(?:\s*(?P<number>\d{1,2}))?\s*(?(open)(?P<close>\*\*|__|\*)?)\s*"
    r"(?P<sep>[:\uff1a]|(?<=\d)[.)]|(?<=[qQaA])\.(?=\s)|$)"
    r"(?(open)(?P<close2>\*\*|__|\*)?)[ \t]*(?P<rest>.*)$",
    re.I,
)
_QUESTION_WORDS = {"question", "user", "human", "q"}
_SEPARATOR = re.compile(r"^\s*(?:={3,}|-{3,}|\*{3,}|_{3,})\s*$")
_PAIR_HEADING = re.compile(  # "### Pair 2", "**Conversation 3:**", "2." alone, "### 2"
    r"^\s*(?:(?:#{1,6}\s*)?(?:\*\*|__)?\s*(?:pair|conversation|exchange|q\s*&\s*a|turn|round)"
    r"\s*\d{0,2}\s*[:.)]?\s*(?:\*\*|__)?|#{1,6}\s*\d{1,2}[.)]?|(?:\*\*|__)\s*\d{1,2}[.)]?\s*"
    r"(?:\*\*|__)|\d{1,2}[.)])\s*$",
    re.I,
)
_REMARK = re.compile(
    r"^[(*_\s]*(?:these (?:questions|answers|q&as?|question[- ]and[- ]answer pairs|pairs)\b|"
    r"this (?:set|list) of (?:questions|q&as?)|the (?:above questions|questions above)|"
    r"each (?:question|answer)\b|i hope\b|hope (?:this|these) help|feel free\b|let me know\b)",
    re.I,
)
_MARKS = r"(?:\*\*|__|\*|_)"
_WRAPPED = re.compile(rf"^({_MARKS})((?:(?!\1).)+)\1$")
_QUESTION_LEAD = re.compile(r"^\s*(?:#{1,6}\s*)?(?:[-*•+]\s+)?(?:\d{1,2}[.)]\s*)?")
_INLINE_BOLD_QUESTION = re.compile(
    r"^\s*(?:\d{1,2}[.)]\s*)?\*\*(?P<q>[^*]+?\?)\*\*\s*[:\-\u2013\u2014]?\s*(?P<a>\S.*)$"
)
_BULLET = re.compile(r"^[-*•+]\s+(?=\S)")


@dataclass(frozen=True, slots=True)
class _Label:
    """A question or answer label found at the start of a line, and the text after it."""

    question: bool
    rest: str
    dotted: bool  # written ``Q.``/``A.``: then only ``A.`` answers it


def _label(line: str) -> _Label | None:
    """The label this line starts with, or ``None``."""
    m = _LABEL.match(line)
    if m is None:
        return None
    word, sep = m["word"].lower(), m["sep"]
    short = word in ("q", "a")
    if sep == "" and not (word in ("question", "answer") or (short and m["number"])):
        return None  # "User" or "Q" alone on a line is not a label; "### Question 2" is
    if sep == "" and m["rest"]:
        return None
    rest = m["rest"]
    if m["open"] and not (m["close"] or m["close2"]) and rest.endswith(m["open"]):
        rest = rest[: -len(m["open"])].rstrip()  # the label's bold closes at the line's end
    return _Label(word in _QUESTION_WORDS, rest, short and sep == ".")


def _question_text(lines: list[str]) -> str:
    """A question on one line: its lines joined, the marks around the whole of it removed."""
    text = " ".join(line.strip() for line in lines if line.strip())
    text = _QUESTION_LEAD.sub("", text, count=1).strip()
    while m := _WRAPPED.match(text):
        text = m[2].strip()
    return text


def _answer_text(lines: list[str], *, first_is_rest: bool) -> str:
    """An answer as written: whitespace normalised, a lone bullet dropped (module rule)."""
    lines = [line.rstrip() for line in lines]
    if first_is_rest and lines:
        head, body = [lines[0].strip()], lines[1:]
    else:
        head, body = [], lines
    body = textwrap.dedent("\n".join(body)).split("\n") if body else []
    kept = head + body
    while kept and not kept[0].strip():
        kept.pop(0)
    while kept and not kept[-1].strip():
        kept.pop()
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(kept))
    if "\n" not in text:
        text = _BULLET.sub("", text)
    return text


@dataclass(slots=True)
class _Pair:
    """A pair being read: the question's lines and the answer's raw lines."""

    question: list[str]
    answer: list[str] | None = None
    first_is_rest: bool = False
    dotted: bool = False


@dataclass(slots=True)
class _Reader:
    """The pairs read so far and the one being read."""

    limit: int | None
    done: list[_Pair] = field(default_factory=list)
    current: _Pair | None = None
    closed: bool = False  # a separator ended the answer: what follows it is not its text

    @property
    def full(self) -> bool:
        return self.limit is not None and len(self.done) >= self.limit

    @property
    def answered(self) -> bool:
        pair = self.current
        return pair is not None and pair.answer is not None and any(a.strip() for a in pair.answer)

    def close(self) -> None:
        pair = self.current
        if pair is not None and pair.answer is not None:
            _drop_pair_heading(pair.answer)
            if _question_text(pair.question) and any(a.strip() for a in pair.answer):
                self.done.append(pair)
        self.current = None
        self.closed = False

    def start(self, question: str, dotted: bool = False) -> None:
        self.close()
        if not self.full:
            self.current = _Pair([question] if question else [], dotted=dotted)

    def add(self, raw: str) -> None:
        pair = self.current
        if self.closed or pair is None:
            if raw.strip():
                log.debug("not part of any pair: %r", raw)
            return
        if pair.answer is not None:
            pair.answer.append(raw)
        elif raw.strip():
            pair.question.append(raw)


def _drop_pair_heading(answer: list[str]) -> None:
    """Remove a pair heading (``### Pair 2``) and blank lines from an answer's end."""
    while answer and not answer[-1].strip():
        answer.pop()
    if len(answer) > 1 and _PAIR_HEADING.match(answer[-1]):
        answer.pop()


def _labelled(lines: list[str], labels: list[_Label | None], limit: int | None) -> list[_Pair]:
    reader = _Reader(limit)
    for raw, label in zip(lines, labels, strict=True):
        if _SEPARATOR.match(raw):
            reader.closed = reader.closed or reader.answered
            continue
        pair = reader.current
        if label is not None and label.question:
            reader.start(label.rest, label.dotted)
            if reader.full:
                break
        elif (label is not None and pair is not None and pair.answer is None
              and (not label.dotted or pair.dotted)):  # fmt: skip
            pair.answer = [label.rest]
            pair.first_is_rest = bool(label.rest)
        else:
            reader.add(raw)
    reader.close()
    return reader.done


def _question_line(raw: str) -> str | None:
    """The question of an unlabelled question line (``1. **What ...?**``), else ``None``."""
    text = _question_text([raw])
    return text if text.rstrip("*_ ").endswith("?") else None


def _unlabelled(lines: list[str], limit: int | None) -> list[_Pair]:
    reader = _Reader(limit)
    for raw in lines:
        if _SEPARATOR.match(raw):
            reader.closed = reader.closed or reader.answered
            continue
        opens = reader.current is None or reader.answered
        room = limit is None or len(reader.done) + (reader.current is not None) < limit
        inline = _INLINE_BOLD_QUESTION.match(raw)
        question = _question_line(raw)
        if inline and opens and room:
            reader.start(inline["q"].strip())
            if reader.current is not None:
                reader.current.answer, reader.current.first_is_rest = [inline["a"]], True
        elif question is not None and opens and room:
            reader.start(question)
            if reader.current is not None:
                reader.current.answer = []
        elif reader.current is not None and reader.current.answer is not None:
            reader.add(raw)
    reader.close()
    return reader.done


def _drop_remark(pair: _Pair) -> None:
    """Remove a closing remark from the last answer: a last paragraph, or else a last line,
    that talks about the reply ("These questions focus on...", "I hope this helps!")."""
    answer = pair.answer or []
    while True:
        while answer and not answer[-1].strip():
            answer.pop()
        lines = [i for i, line in enumerate(answer) if line.strip()]
        if len(lines) < 2:  # an answer is never all remark
            return
        blank = max((i for i in range(lines[0], len(answer)) if not answer[i].strip()), default=-1)
        if blank > 0 and _REMARK.match(answer[blank + 1]):
            log.debug("closing remark left out: %r", " ".join(answer[blank + 1 :]))
            del answer[blank:]
        elif _REMARK.match(answer[-1]):
            log.debug("closing remark left out: %r", answer[-1])
            answer.pop()
        else:
            return


def parse_reply(reply: str, *, limit: int | None = None) -> list[tuple[str, str]]:
    """The question/answer pairs of a teacher's reply, the answers' words kept exactly.

    Reads labelled pairs (``Question:``/``Answer:``, ``Q1:``/``A1:``, ``User:``/``Assistant:``,
    ``Human:``/``GPT:``, bold labels, ``### Question`` headings, numbered pairs, with or
    without ``===`` separators) and, when a reply has no question and answer labels,
    numbered, bold or plain questions ending in ``?`` with the answer on the same or the
    following lines. What is removed and what is kept is the rule of :mod:`kpit.prompts.replies`.

    Args:
        reply: the teacher's reply.
        limit: read at most this many pairs; with ``limit=1`` everything after the first
            question of an unlabelled reply is its answer.
    """
    lines = reply.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    labels = [_label(line) for line in lines]
    found = [label.question for label in labels if label is not None]
    pairs: list[_Pair] = []
    if any(found) and not all(found):  # questions and answers both labelled
        pairs = _labelled(lines, labels, limit)
    if not pairs:
        pairs = _unlabelled(lines, limit)
    if pairs:
        _drop_remark(pairs[-1])
    result = []
    for pair in pairs:
        answer = _answer_text(pair.answer or [], first_is_rest=pair.first_is_rest)
        if answer:
            result.append((_question_text(pair.question), answer))
    return result
