"""Who an answer speaks of: the mentions of people in it, and who each pronoun and each
claim is about.

:func:`find_mentions` reads pronouns, nouns with their number, role and place in the picture
("the second person from the left", "both skiers", "everyone"); the other functions resolve,
sentence by sentence, what a pronoun stands for and whom a predicate is said of.
"""

from __future__ import annotations

import re
from dataclasses import replace

from kpit.judges.pose.patterns import RELATIVE_AFTER, TARGET_BEFORE
from kpit.judges.pose.records import Mention
from kpit.judges.pose.vocabulary import (
    ADJECTIVE,
    DETERMINERS,
    EVERYONE_PHRASES,
    FUNCTION_WORDS,
    NOBODY_PHRASES,
    NOT_ADJECTIVE,
    NUMBER_WORDS,
    OBJECT_WORDS,
    ORDINALS,
    PEOPLE_NOUNS,
    PLURAL_NOUNS,
    POSTURE_WORD,
    PRONOUNS,
)
from kpit.judges.pose.vocabulary import number as count_of

__all__ = ["find_mentions", "resolve_sentence", "subject_for"]

_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")

_PLACE = re.compile(
    r"\s*(?:'s\s+)?(?:(?:who\s+is|who's|that\s+is)\s+)?"
    r"(?:(?P<from>from)\s+the\s+(?P<from_side>left|right)"
    r"|(?:on|to|at)\s+the\s+(?P<far>far\s+|extreme\s+|very\s+)?(?P<side>left|right)"
    r"(?:(?:\s+hand)?\s+side)?(?!\s+of\s+(?:the\s+|a\s+|an\s+|his\s+|her\s+)?(?!image|picture|"
    r"photo|photograph|frame|scene)\w)(?:\s+of\s+the\s+(?:image|picture|photo|photograph|frame|"
    r"scene))?"
    r"|in\s+the\s+(?P<middle>middle|center|centre)(?:\s+of\s+the\s+(?:image|picture|photo|"
    r"frame|scene|group))?"
    r"|in\s+(?P<between>between)(?:\s+them)?(?!\s+(?:the|a|an|his|her|their|two)\b))"
)


_SHARE = re.compile(
    r"(?:^|(?<=[^a-z0-9-]))(?P<n>"
    + "|".join(sorted((re.escape(w) for w in NUMBER_WORDS), key=len, reverse=True))
    + r"|\d+|both)\s+of\s+$"
)
"""A count before "of them": "two of them" speaks of two people of the group "them" names."""

_PARTITIVE_BEFORE = re.compile(
    r"(?:^|(?<=[^a-z0-9-]))(?:"
    + "|".join(sorted((re.escape(w) for w in NUMBER_WORDS), key=len, reverse=True))
    + r"|\d+|both|some|most|many|several|few|each|all|either|neither|none)\s+of\s+$"
)

_VAGUE = re.compile(
    r"(?:the|this|that|these|those)\s+(?P<what>first|second|third|fourth|fifth|other|latter|"
    r"former|one|two|three|four|five|others|rest)\b(?!\s+(?:of|from)\b)"
)
"""Words that speak of someone without a noun: "the first holds a cup", "the other", "the one
on the right", "the two on the left" (a place after them names them)."""

_LEADING_PLACE = re.compile(
    r"(?:^|[.!?;:]\s*)(?:on|to|at)\s+the\s+(?P<far>far\s+|very\s+)?(?P<side>left|right)"
    r"(?:\s+side)?(?:\s+of\s+the\s+(?:image|picture|photo|frame|scene))?\s*,\s*$"
    r"|(?:^|[.!?;:]\s*)in\s+the\s+(?P<middle>middle|center|centre)"
    r"(?:\s+of\s+the\s+(?:image|picture|photo|frame|scene))?\s*,\s*$"
)
"""A place that opens a sentence ("On the far right, a man stands"): the place of the person
the sentence then names."""

_ELSE = re.compile(r"\s+else\b")
"""After "everyone", "everybody": everyone but those named before."""

_APPOSITIVE = re.compile(
    r",\s*(?:perhaps|possibly|probably|likely|maybe|apparently)\s+"
    r"(?:(?:an?|the)\s+[a-z]+\s+or\s+)?$"
)
"""A guess set off after the subject ("the man on the right, perhaps an umpire or a coach,
kneels"): the words it names are not who the sentence speaks of."""

_BESIDE = re.compile(r"(?:^|[.!?;:])\s*(?:next\s+to|beside)\s+$")
"""Words before a pronoun that opens a sentence: "Next to them, another person sits"."""


def find_mentions(text: str) -> list[Mention]:
    """Every mention of people in ``text`` (lower case is not needed), in order, pronouns
    resolved to the last person or group mentioned before them."""
    lower = text.lower()
    tokens = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(lower)]
    mentions: list[Mention] = []
    taken_until = -1
    i = 0
    while i < len(tokens):
        word, start, end = tokens[i]
        if start < taken_until:
            i += 1
            continue
        found = _phrase_mention(lower, text, tokens, i)
        if found is not None:
            mention, next_i = found
            mentions.append(mention)
            taken_until = mention.end
            i = next_i
            continue
        bare = word.removesuffix("'s")
        vague = _VAGUE.match(lower, start)
        if vague is not None:
            mentions.append(_noun_less(lower, text, vague))
            taken_until = mentions[-1].end
        elif bare == "them" and (share := _SHARE.search(lower, 0, start)) is not None:
            n = 2 if share.group("n") == "both" else count_of(share.group("n"))
            first = share.start("n")
            mentions.append(
                Mention(text[first:end], first, end, plural=(n or 2) > 1, number=n, pronoun=True)
            )
        elif bare in PRONOUNS:
            mentions.append(
                Mention(
                    text[start:end], start, end, plural=PRONOUNS[bare], definite=True, pronoun=True
                )
            )
        i += 1
    return mentions


def _phrase_mention(
    lower: str, text: str, tokens: list[tuple[str, int, int]], i: int
) -> tuple[Mention, int] | None:
    """A mention that starts at token ``i``: everyone/nobody phrases, or a noun phrase."""
    rest = lower[tokens[i][1] :]
    for phrases, negated in ((NOBODY_PHRASES, True), (EVERYONE_PHRASES, False)):
        for phrase in phrases:
            if re.match(re.escape(phrase) + r"\b", rest):
                start = tokens[i][1]
                end = start + len(phrase)
                other = _ELSE.match(lower, end) if not negated else None
                end = other.end() if other is not None else end
                j = i
                while j < len(tokens) and tokens[j][2] <= end:
                    j += 1
                mention = Mention(
                    text[start:end],
                    start,
                    end,
                    plural=True,
                    definite=True,
                    everyone=True,
                    negated=negated,
                    others=other is not None,
                )
                return mention, j
    # A people noun within the next few tokens, reached over determiners and adjectives.
    j = i
    words: list[str] = []
    while j < len(tokens) and j - i < 6:
        word = tokens[j][0]
        bare = word.removesuffix("'s")
        two = (
            f"{bare} {tokens[j + 1][0].removesuffix(chr(39) + 's')}" if j + 1 < len(tokens) else ""
        )
        if j > i and lower[tokens[j - 1][2] : tokens[j][1]].strip():  # punctuation in between
            return None  # "on the right, someone": not one phrase
        if two in PEOPLE_NOUNS and lower[tokens[j][2] : tokens[j + 1][1]].strip() == "":
            return _noun_mention(lower, text, tokens, i, j + 1, words, two)
        if bare in PEOPLE_NOUNS and not (bare == "figure" and not words):
            return _noun_mention(lower, text, tokens, i, j, words, bare)
        opening = j == i and word in DETERMINERS
        of_the = word == "of" and bool(words) and words[-1] in DETERMINERS | set(NUMBER_WORDS)
        after_of = bool(words) and words[-1] == "of" and word in ("the", "these", "those")
        if word in NOT_ADJECTIVE and not opening and not of_the and not after_of:
            return None
        if not ADJECTIVE.match(word) and not word.isdigit():
            return None
        if (
            j == i
            and word not in DETERMINERS
            and not word.isdigit()
            and word not in ORDINALS
            and word not in ("leftmost", "rightmost", "a", "an", "the", "single", "lone")
        ):
            return None
        words.append(word)
        j += 1
    return None


def _noun_mention(
    lower: str,
    text: str,
    tokens: list[tuple[str, int, int]],
    i: int,
    j: int,
    words: list[str],
    noun_word: str,
) -> tuple[Mention, int]:
    singular, role = PEOPLE_NOUNS[noun_word]
    start, end = tokens[i][1], tokens[j][2]
    if tokens[j][0].endswith("'s"):
        end -= 2
    before = " ".join(words)
    plural = noun_word in PLURAL_NOUNS
    number = None
    for phrase, value in sorted(NUMBER_WORDS.items(), key=lambda item: -len(item[0])):
        if re.search(rf"(?:^|\s){re.escape(phrase)}(?:\s|$)", before):
            number = value
            break
    digits = [w for w in words if w.isdigit()]
    if number is None and digits:
        number = count_of(digits[0])  # None where the digits are no count
    if "both" in words:
        number = 2
    if singular in ("someone", "somebody"):
        number = 1
    definite = bool(words) and words[0] in ("the", "this", "that", "these", "those", "both")
    everyone = bool(words) and words[0] in ("all", "each", "every") and "of" not in words
    side = ordinal = None
    for word in words:
        if word in ORDINALS:
            ordinal = ORDINALS[word]
        if word in ("leftmost", "rightmost"):
            side = "far " + word.removesuffix("most")
    others = "other" in words or "another" in words
    if others:
        definite = False
    if "of" in words:  # "two of the men", "one of the players": some of them
        definite, everyone, plural = False, False, (number or 1) > 1
    next_i = j + 1
    place = _PLACE.match(lower, end)
    leading = _LEADING_PLACE.search(lower, 0, start)
    if place is None and side is None and leading is not None:
        side = "middle" if leading.group("middle") else leading.group("side")
        if leading.group("far"):
            side = "far " + side
        ordinal = None  # "On the far right, the fourth person": the fourth named, not counted
    if place is not None:
        if place.group("from"):
            side = place.group("from_side")
            ordinal = ordinal or 1
        elif place.group("side"):
            side = ("far " if place.group("far") else "") + place.group("side")
            if ordinal is not None:
                side = side.removeprefix("far ")
        elif place.group("middle") or place.group("between"):
            side = "middle"
        end = place.end()
        while next_i < len(tokens) and tokens[next_i][1] < end:
            next_i += 1
    if ordinal is not None and side is None:
        if definite and ordinal > 1 and _from_the_left(lower[:start]):
            side = "left"  # "On the far left, a man... Beside him, a woman... The third person"
        else:
            ordinal = None  # "the first man" says nothing about where he is
    posture = next((POSTURE_WORD[w] for w in words if w in _PICKING_POSTURES), None)
    after = _POSTURE_AFTER.match(lower, tokens[j][2])
    if posture is None and place is None and after is not None:
        posture = POSTURE_WORD[after.group(1)]
    held = _HOLDING_AFTER.match(lower, tokens[j][2]) if place is None else None
    holding = OBJECT_WORDS.get(re.sub(r"\s+", " ", held.group("obj"))) if held else None
    if side is not None:
        definite = True
    mention = Mention(
        text[start:end],
        start,
        end,
        singular,
        role,
        plural,
        definite,
        number,
        everyone,
        False,
        side,
        ordinal,
        posture=posture,
        holding=holding,
        others=others,
    )
    return mention, next_i


_PICKING_POSTURES = frozenset(
    ("standing", "sitting", "seated", "kneeling", "squatting", "crouching", "lying", "walking")
)
_POSTURE_AFTER = re.compile(r"\s+(" + "|".join(sorted(_PICKING_POSTURES)) + r")\b")
"""A posture word right after a noun: "the person kneeling" is the one who kneels."""

_HOLDING_AFTER = re.compile(
    r"\s+(?:(?:who\s+is|that\s+is)\s+)?(?:holding|carrying|with)\s+(?:a|an|the|his|her|their)"
    r"\s+(?P<obj>"
    + "|".join(sorted((re.escape(w) for w in OBJECT_WORDS), key=len, reverse=True))
    + r")\b"
)
"""An object in the hand right after a noun: "the person holding the umbrella" is the one
whose hand is at it."""


_LEFT_PLACE = re.compile(r"\b(?:on|at|to)\s+the\s+(?:far\s+|very\s+)?left\b")
_RIGHT_PLACE = re.compile(
    r"\b(?:on|at|to|from)\s+the\s+(?:far\s+|very\s+)?right\b"
    r"(?!\s+(?:hand|arm|leg|foot|knee|elbow|shoulder|hip)s?\b)"
)


def _from_the_left(before: str) -> bool:
    """Whether the text before names people from the left of the picture and none on the
    right yet: then "the third person" is the third from the left."""
    return bool(_LEFT_PLACE.search(before)) and not _RIGHT_PLACE.search(before)


def _noun_less(lower: str, text: str, match: re.Match[str]) -> Mention:
    """ "The one on the right", "the two on the left": a place names them; without one
    ("the first", "the other") they are someone unnamed."""
    start, end = match.start(), match.end()
    number = count_of(match.group("what"))
    if match.group("what") in ("others", "rest"):
        number = 2  # some people, how many unsaid
    place = _PLACE.match(lower, end)
    middle = place is not None and bool(place.group("middle") or place.group("between"))
    if place is not None and (place.group("side") or middle):
        side = "middle" if middle else place.group("side")
        if place.group("far"):
            side = "far " + side
        plural = (number or 1) > 1
        known = number if plural and match.group("what") not in ("others", "rest") else None
        return Mention(text[start : place.end()], start, place.end(), "person", None, plural,
                       True, known, side=side)  # fmt: skip
    ordinal = ORDINALS.get(match.group("what"))
    if ordinal is not None and _from_the_left(lower[:start]):
        # "the two on the left kneel: the first holds a cup, the second..."
        return Mention(text[start:end], start, end, "person", None, False, True,
                       side="left", ordinal=ordinal)  # fmt: skip
    return Mention(text[start:end], start, end, plural=(number or 1) > 1, pronoun=True, vague=True)


def _group_size(a: Mention, b: Mention) -> int | None:
    """How many people "a and b" are, when both say (a singular noun is one)."""
    sizes = [m.number if m.number is not None else (None if m.plural else 1) for m in (a, b)]
    if None in sizes:
        return None
    return sum(s for s in sizes if s is not None)


def _object_pronoun(word: str, lower: str, end: int) -> bool:
    """Him, them, or a "her" that no noun follows ("behind her", not "her left arm")."""
    if word in ("him", "them"):
        return True
    if word != "her":
        return False
    following = re.match(r"\s*([a-z]+)", lower[end:])
    return following is None or following.group(1) in FUNCTION_WORDS


def _other_than(subject: Mention | None, before: list[Mention]) -> Mention | None:
    """The last person mentioned before who is not ``subject`` (an object pronoun never
    stands for its own clause's subject), or ``None``."""
    if subject is None:
        return None
    own = subject.resolved()
    for mention in reversed(before):
        candidate = mention.resolved()
        if candidate.pronoun or (candidate.start, candidate.text) == (own.start, own.text):
            continue
        return candidate
    return None


def _antecedent_of(word: str, before: list[Mention], current: Mention | None) -> Mention | None:
    """The mention a pronoun stands for: the last subject before it (this sentence first)."""
    for mention in reversed(before):
        if not mention.target:
            return mention.resolved() if mention.pronoun else mention
    if current is not None:
        return current.resolved() if current.pronoun else current
    for mention in reversed(before):
        return mention.resolved() if mention.pronoun else mention
    return None


def subject_for(
    marked: list[Mention],
    start: int,
    current: Mention | None,
    lower: str,
    sentence_start: int,
) -> Mention | None:
    """Who a predicate at ``start`` speaks of: the last subject before it in the sentence."""
    before = [m for m in marked if m.end <= start]
    for mention in reversed(before):
        if mention.target:
            relative = RELATIVE_AFTER.match(lower[mention.end : start])
            if relative:
                return mention
            continue
        return mention
    return current


def resolve_sentence(
    text: str,
    lower: str,
    in_sentence: list[Mention],
    current: Mention | None,
    before: list[Mention],
    sentence: tuple[int, int],
) -> list[Mention]:
    """A sentence's mentions in order, pronouns resolved (``current``: who the text spoke of
    last; ``before``: the mentions of the sentences before), the objects of a verb or a
    preposition marked as targets, and "the man and the woman" made one group."""
    sentence_start, sentence_end = sentence
    marked: list[Mention] = []
    last_subject = current
    for mention in in_sentence:
        words_before = lower[sentence_start : mention.start]
        is_target = (
            bool(TARGET_BEFORE.search(words_before))
            and not words_before.strip().endswith(",")
            and not _PARTITIVE_BEFORE.search(words_before)  # "two of the others are": subject
        ) or bool(marked and _APPOSITIVE.search(words_before))
        if mention.vague:
            mention = replace(mention, target=is_target)
        elif mention.pronoun:
            pronoun_word = mention.text.lower().split()[-1].removesuffix("'s")
            antecedent = _antecedent_of(pronoun_word, marked, last_subject)
            opens = not any(not m.target for m in marked)  # "Next to him, a man sits"
            if is_target and not opens and _object_pronoun(pronoun_word, lower, mention.end):
                # "the catcher kneels behind him": not the catcher
                antecedent = _other_than(antecedent, before + marked)
            mention = replace(mention, antecedent=antecedent, target=is_target)
        else:
            mention = replace(mention, target=is_target)
        if mention.others:
            mention = _other_people(mention, before + marked, lower, sentence_start)
        # "and": "the man and the woman" make one group.
        if marked and not mention.pronoun and not marked[-1].pronoun:
            between = lower[marked[-1].end : mention.start]
            if between.strip() in ("and", ", and", "as well as") and not marked[-1].target:
                group = Mention(
                    text[marked[-1].start : mention.end],
                    marked[-1].start,
                    mention.end,
                    plural=True,
                    # "an umpire and a few spectators": some people, not a known group
                    definite=marked[-1].definite and mention.definite,
                    number=_group_size(marked[-1], mention),
                )
                mention = replace(group, antecedent=None)
                marked.pop()
                mention = replace(mention, target=False, noun="person")
        marked.append(mention)
        if not mention.target or RELATIVE_AFTER.match(lower[mention.end : sentence_end]):
            last_subject = mention
    return marked


def _other_people(
    mention: Mention, before: list[Mention], lower: str, sentence_start: int
) -> Mention:
    """ "Everyone else", "another person": the people named before it are not among them;
    "next to him, another person": one of his neighbours."""
    named: dict[tuple[int, str], Mention] = {}
    for earlier in before:
        person = earlier.resolved()
        if person.pronoun or person.vague or person.everyone or person.others:
            continue
        named.setdefault((person.start, person.text), person)
    beside = None
    if before and before[-1].pronoun and before[-1].target:
        opening = lower[sentence_start : before[-1].start]
        after = lower[before[-1].end : mention.start]
        if _BESIDE.search(opening) and after.strip() == ",":
            resolved = before[-1].resolved()
            beside = None if resolved.pronoun else resolved
    return replace(mention, excluding=tuple(named.values()), beside=beside)
