"""Claims about people in free text, found by rules: the reading half of the ``pose`` judge.

:func:`extract_claims` reads an answer (a benchmark answer, a caption, a model's reply) and
returns the :class:`Claim` objects that pose facts can decide, each with the character span
it was read from and the :class:`Mention` of the person or people it speaks of:

========== =================================================================================
kind       what is read (examples)
========== =================================================================================
count      "there are three people", "the picture shows two people", "two other people"
posture    standing, sitting, lying, kneeling, squatting, crouching, walking (running,
           striding); "nobody is lying down" (negated, about everyone)
torso      upright, leaning (or "they lean") forward, back or to a side, bent over
facing     facing the camera, facing away (back to the camera), in profile, facing the
           left or right of the image
head       looking at the camera; the head turned towards or away from it
arm        raised, above the head, hanging at the side, stretched out (sideways,
           forward, behind)
flexion    elbows and knees (arms and legs) straight, bent, slightly or sharply bent, at a
           right angle; "bends her knees", "with bent knees"
holds      holding, carrying, swinging, gripping... an object; "a bat in his right hand";
           "their left hand is near the bat"; wearing a glove
on         sitting or lying on a chair, bench, couch, bed; riding (on) a horse, a bike, a
           motorcycle; feet on skis, a snowboard, a skateboard, a surfboard
position   one person to the left or right of, in front of or behind another
========== =================================================================================

People are mentioned by pronouns (resolved to the last person mentioned in the answer; the
question it answers is never read), nouns ("the man", "two players", "both skiers",
"everyone", "nobody", "two of them", "one of the kneeling people") with their place in the
picture ("on the far left", "in the middle", "the second person from the left", "the
leftmost woman", "On the far right, a man...", "the one on the left"), roles ("the batter",
"the catcher"), postures ("the person kneeling") and what is in their hand ("the person holding
the umbrella", "the man with the bat"); "the first", "the other" name nobody, except in an
answer that names people from the left (and nobody on the right yet), where "the third
person", "the first" and "the second" count from the left. A guess set off after the subject
("the man on the right, perhaps an umpire or a coach, kneels") is not who the sentence
speaks of; "in between" is the middle. "Everyone
else", "another person", "the other man" are not those named before them ("everyone else"
with nobody named before is nobody known), and "next to him, another person" is one of his
neighbours in the picture. One side of "standing or squatting" is no claim (two words for
the same, "walking or striding", are one).
Left and right of a body part are the person's own ("his left arm"), as in COCO; left and
right of a person or a direction are the image's.

The rules are regular expressions over small vocabularies, so they are fast, deterministic
and easy to audit; they also miss much of what free text says (what they miss is simply not
a claim). Which person a claim speaks of, and whether it holds, is decided against the image
by :mod:`kpit.judges.pose`. Each kind's patterns, reader and decider are one entry of
:data:`CLAIM_KINDS`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from kpit.judges.pose.kinds import CLAIM_KINDS, ClaimKind
from kpit.judges.pose.mentions import find_mentions, resolve_sentence, subject_for
from kpit.judges.pose.patterns import NEGATION
from kpit.judges.pose.readers import Reading
from kpit.judges.pose.records import Claim, Mention
from kpit.judges.pose.vocabulary import NUMBER_WORDS, OBJECT_WORDS, PEOPLE_NOUNS

__all__ = [
    "CLAIM_KINDS",
    "NUMBER_WORDS",
    "OBJECT_WORDS",
    "PEOPLE_NOUNS",
    "Claim",
    "Mention",
    "extract_claims",
    "find_mentions",
]

_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)", re.M)

# A match: its kind, its span, and its groups.
_Found = tuple[ClaimKind, int, int, dict[str, str | None]]


def extract_claims(text: str, question: str | None = None) -> list[Claim]:
    """The claims about people in ``text``, in order.

    Who each phrase speaks of is read from the answer alone: the same answer means the same
    under any question, so a pronoun with nothing before it in the answer is nobody named
    (the image then decides whether that can be only one person).

    Args:
        text: the answer.
        question: the question it answers; accepted for compatibility and not read.
    """
    del question  # referents never depend on the question (kpit issue 25)
    lower = text.lower()
    mentions = find_mentions(text)
    masked = _mask(lower, mentions)
    current: Mention | None = None
    claims: list[Claim] = []
    resolved_mentions: list[Mention] = []
    for sentence_start, sentence_end in _sentences(lower):
        in_sentence = [m for m in mentions if sentence_start <= m.start < sentence_end]
        found = _predicates(masked, lower, sentence_start, sentence_end)
        marked = resolve_sentence(
            text, lower, in_sentence, current, resolved_mentions, (sentence_start, sentence_end)
        )
        resolved_mentions += marked
        claims += _read(found, text, lower, marked, current, sentence_start)
        subjects = [m for m in marked if not m.target]
        if subjects:
            current = subjects[-1]
        elif marked and marked[-1].pronoun:
            current = marked[-1]
    return _deduplicated(claims)


def _read(
    found: list[_Found],
    text: str,
    lower: str,
    marked: list[Mention],
    current: Mention | None,
    sentence_start: int,
) -> list[Claim]:
    """The claims of a sentence's matches, longest first at each place; a match whose words
    another claim of its family has taken is no claim."""
    claims: list[Claim] = []
    claimed: dict[str, list[tuple[int, int]]] = {}
    for kind, match_start, match_end, data in sorted(found, key=lambda f: (f[1], -f[2])):
        if kind.exclusive:
            taken = [span for spans in claimed.values() for span in spans]
        else:
            taken = claimed.get(kind.family, [])
        if not _span_free(taken, match_start, match_end):
            continue
        subject = subject_for(marked, match_start, current, lower, sentence_start)
        clause_start = _clause_start(lower, sentence_start, match_start, subject)
        negated = _negated(lower, match_start, clause_start)
        if subject is not None and subject.resolved().negated:
            negated = not negated
        reading = Reading(kind.name, data, text, match_start, match_end, subject, negated, marked)
        claim = kind.read(reading)
        if claim is None:
            continue
        claimed.setdefault(kind.family, []).append((match_start, match_end))
        claims.append(claim)
    return [c for c in claims if not _alternative(c, claims, lower, sentence_start)]


_OR_BEFORE = re.compile(r"\bor\s+(?:(?:maybe|perhaps|possibly|even)\s+)?$")
_OR_AFTER = re.compile(r"\s*,?\s+or\b")
_NEAR = 30  # characters between "or" and the other alternative


def _alternative(claim: Claim, claims: list[Claim], lower: str, sentence_start: int) -> bool:
    """One side of "standing or squatting", "on their feet or squatting": an alternative,
    claimed of nobody in particular, so no claim; "walking or striding", two words for the
    same, is one claim."""
    before = _OR_BEFORE.search(lower, sentence_start, claim.start)
    after = _OR_AFTER.match(lower, claim.end)
    if before is None and after is None:
        return False
    partners = [
        other
        for other in claims
        if other is not claim
        and other.kind == claim.kind
        and (
            (after is not None and 0 <= other.start - after.end() < _NEAR)
            or (before is not None and 0 <= before.start() - other.end < _NEAR)
        )
    ]
    return not partners or any(other.label != claim.label for other in partners)


def _negated(sentence_lower: str, start: int, clause_start: int) -> bool:
    """A negation among the few words before ``start`` in the same clause."""
    window = sentence_lower[clause_start:start]
    words = window.split()
    recent = " ".join(words[-4:])
    return bool(NEGATION.search(recent))


def _mask(lower: str, mentions: list[Mention]) -> str:
    """The text with noun mentions blanked out, so no predicate reads inside them."""
    chars = list(lower)
    for mention in mentions:
        if not mention.pronoun:
            for k in range(mention.start, mention.end):
                chars[k] = "_" if not chars[k].isspace() else chars[k]
    return "".join(chars)


def _span_free(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return all(end <= a or start >= b for a, b in spans)


def _sentences(text: str) -> Iterator[tuple[int, int]]:
    for match in _SENTENCE.finditer(text):
        if match.group().strip():
            yield match.start(), match.end()


def _clause_start(lower: str, sentence_start: int, start: int, subject: Mention | None) -> int:
    begin = sentence_start
    if subject is not None and sentence_start <= subject.end <= start:
        begin = subject.end
    cut = max(
        lower.rfind(",", begin, start),
        lower.rfind(";", begin, start),
        lower.rfind(" while ", begin, start),
        lower.rfind(" but ", begin, start),
    )
    return max(begin, cut + 1) if cut >= 0 else begin


def _predicates(masked: str, lower: str, start: int, end: int) -> list[_Found]:
    """Every claim kind's matches in ``masked[start:end]`` (or in ``lower``, where the people
    nouns are not blanked out, for the kinds that read them), with their groups."""
    found: list[_Found] = []
    for kind in CLAIM_KINDS.values():
        text = lower if kind.unmasked else masked
        for pattern, extra in kind.patterns:
            for match in pattern.finditer(text[:end], start):
                data: dict[str, str | None] = dict(match.groupdict())
                data.update(extra)
                found.append((kind, match.start(), match.end(), data))
    return found


def _deduplicated(claims: list[Claim]) -> list[Claim]:
    """One claim per subject, kind, label and side in a sentence-sized stretch of text."""
    out: list[Claim] = []
    for claim in claims:
        same = next(
            (
                c
                for c in out
                if c.kind == claim.kind
                and c.label == claim.label
                and c.side == claim.side
                and c.part == claim.part
                and c.negated == claim.negated
                and _same_subject(c.subject, claim.subject)
                and claim.start - c.end < 40
            ),
            None,
        )
        if same is None:
            out.append(claim)
    return out


def _same_subject(a: Mention | None, b: Mention | None) -> bool:
    if a is None or b is None:
        return a is b
    ra, rb = a.resolved(), b.resolved()
    return (ra.start, ra.end, ra.text) == (rb.start, rb.end, rb.text)
