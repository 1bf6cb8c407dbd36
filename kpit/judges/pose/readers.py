"""From a pattern's match to a :class:`~kpit.judges.pose.records.Claim`: one reader per kind
of claim.

A reader gets a :class:`Reading` (the match's groups, where it is, who it is said of and
whether it is denied) and returns the claim with its label normalised ("leans slightly
forward" is ``leaning forward``), or ``None`` when the words turn out to claim nothing the
judge can decide ("at least three people", "wearing a surfboard"). The table of kinds
(:data:`kpit.judges.pose.kinds.CLAIM_KINDS`) says which reader reads which patterns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kpit.judges.pose.records import Claim, Mention
from kpit.judges.pose.vocabulary import (
    BASE_POSTURES,
    BOARD_WORDS,
    MOUNT_WORDS,
    OBJECT_WORDS,
    POSTURE_WORD,
    SEAT_WORDS,
    number,
)

__all__ = [
    "Reading",
    "read_arm",
    "read_count",
    "read_facing",
    "read_flexion",
    "read_head",
    "read_holds",
    "read_on",
    "read_position",
    "read_posture",
    "read_torso",
]

_SLIGHTLY = frozenset(
    ("slightly", "a little", "a bit", "somewhat", "partly", "partially", "gently", "softly",
     "mildly", "soft")
)  # fmt: skip
_SHARPLY = frozenset(("sharply", "deeply", "fully", "tightly", "strongly", "acutely", "heavily"))
_SEATS = ("chair", "bench", "couch", "bed", "toilet")  # what a "seat" may be


@dataclass(frozen=True, slots=True)
class Reading:
    """One match of a claim kind's pattern, with what the sentence says around it.

    Attributes:
        kind: the kind of claim whose pattern matched.
        data: the match's named groups, and the pattern's extra ones.
        text: the whole answer, as written.
        start, end: the match's character span in it.
        subject: who the sentence says it of (``None``: nobody named).
        negated: the sentence denies it.
        mentions: the sentence's mentions of people, in order.
    """

    kind: str
    data: Mapping[str, str | None]
    text: str
    start: int
    end: int
    subject: Mention | None
    negated: bool
    mentions: Sequence[Mention]

    @property
    def span(self) -> str:
        """The words matched, as written."""
        return self.text[self.start : self.end]

    def claim(
        self,
        label: str,
        *,
        part: str | None = None,
        side: str | None = None,
        objects: tuple[str, ...] = (),
    ) -> Claim:
        """A claim of this reading's kind about its subject, over its span."""
        return Claim(
            self.kind, label, self.span, self.start, self.end, self.subject, part=part,
            side=side, negated=self.negated, objects=objects,
        )  # fmt: skip


def _side(word: str | None) -> str | None:
    """The person's own side a claim names, or ``None`` (either)."""
    return word if word in ("left", "right", "both") else None


def read_count(reading: Reading) -> Claim | None:
    """ "There are three people": how many people the answer says there are."""
    data = reading.data
    n = number(str(data["n"]))
    if n is None or data.get("least") is not None:
        return None
    other = data.get("other")
    if other:
        if not other.startswith("other"):
            return None
        n += 1
    span, start, end = reading.span, reading.start, reading.end
    return Claim("count", str(n), span, start, end, number=n, negated=reading.negated)


def read_posture(reading: Reading) -> Claim | None:
    """Standing, sitting, lying...: a verb of posture ("to sit" only after its subject)."""
    data, subject = reading.data, reading.subject
    word = str(data["word"])
    label = POSTURE_WORD.get(word) or BASE_POSTURES.get(word)
    if label is None:
        return None
    if word in BASE_POSTURES:
        before = reading.text[: reading.start].lower().rstrip()
        before = re.sub(r"\s+(?:both|all)$", "", before)  # "they both stand"
        if not (
            subject is not None
            and (subject.plural or subject.pronoun)
            and (subject.end >= len(before) - 1 or before.endswith(("to", "and")))
        ):
            return None
    if word == "lies" and data.get("down") is None and subject is None:
        return None
    return reading.claim(label)


def read_torso(reading: Reading) -> Claim | None:
    """Upright, bent over, or leaning (forward, back, towards a side of the image)."""
    label = str(reading.data["label"])
    direction = reading.data.get("dir")
    if label == "leaning" and direction:
        direction = direction.rstrip("s").removesuffix("ward")
        label = (
            f"leaning towards the {direction} of the image"
            if direction in ("left", "right")
            else f"leaning {direction}"
        )
        label = label.replace("leaning for", "leaning forward").replace("forwardward", "forward")
    return reading.claim(label)


def _facing_label(data: Mapping[str, str | None]) -> str:
    """A facing claim's label: ``in profile`` says which side of the image it faces, if told."""
    label = str(data["label"])
    if label == "profile" and data.get("dir"):
        return f"in profile, facing the {data['dir']} of the image"
    return "in profile" if label == "profile" else label


def read_facing(reading: Reading) -> Claim:
    """Which way the body faces."""
    return reading.claim(_facing_label(reading.data), part="body")


def read_head(reading: Reading) -> Claim:
    """Which way the head faces (looking at the camera, turned away...)."""
    return reading.claim(_facing_label(reading.data), part="head")


def read_arm(reading: Reading) -> Claim:
    """An arm raised, above the head, at the side or stretched out (and where to)."""
    data = reading.data
    label = str(data["label"])
    if label == "raised" and (data.get("high") or None):
        label = "hand above the head"
    elif label == "raised" and data.get("shoulder"):
        label = "raised above the shoulder"
    if label == "stretched out":
        where = (data.get("where") or "").strip()
        if where.startswith(("forward", "in front")):
            label = "stretched out forward"
        elif where.startswith(("behind", "backward")):
            label = "stretched out backward"
        elif where:
            label = "stretched out to the side"
    return reading.claim(label, part="arm", side=_side(data.get("side")))


def read_flexion(reading: Reading) -> Claim | None:
    """An elbow, knee or hip straight or bent (slightly, at a right angle, sharply)."""
    data, lower = reading.data, reading.span.lower()
    part_word = str(data["part"])
    part = "elbow" if part_word.startswith(("elbow", "arm")) else "knee"
    if part_word.startswith("hip"):
        part = "hip"
    word = (data.get("word") or "bent").strip()
    mod = re.sub(r"\s+", " ", (data.get("mod") or "").strip())
    if data.get("verb") is not None and "straighten" in lower:
        word = "straight"
    if word in ("straight", "straightened", "locked"):
        label = "straight"
    elif data.get("angle"):
        label = "bent at about a right angle"
    elif mod in _SLIGHTLY:
        label = "slightly bent"
    elif mod in _SHARPLY:
        label = "sharply bent"
    else:
        label = "bent"
    if part_word.startswith(("arm", "leg")) and label == "straight" and "locked" in lower:
        return None
    return reading.claim(label, part=part, side=_side(data.get("side")))


def read_holds(reading: Reading) -> Claim | None:
    """An object in the hand (held, carried, swung... or a glove worn)."""
    word = re.sub(r"\s+", " ", str(reading.data["obj"]))
    category = OBJECT_WORDS.get(word)
    if category is None:
        return None
    if re.match(r"(?:wearing|wears|has on)\b", reading.span.lower()) and (
        category != "baseball glove"
    ):
        return None
    side = _side(reading.data.get("side"))
    return reading.claim(category, part="hand", side=side, objects=(category,))


def read_on(reading: Reading) -> Claim | None:
    """Sitting or lying on a seat (the hips), riding a mount (the hips), or standing on a
    board or skis (the feet)."""
    group, word = reading.data["group"], str(reading.data["obj"])
    if group == "seat":
        seat = SEAT_WORDS[word]
        objects = _SEATS if seat == "seat" else (seat,)
        label = objects[0] if len(objects) == 1 else "seat"
        return reading.claim(label, part="hips", objects=objects)
    if group == "mount":
        category = MOUNT_WORDS[word]
        return reading.claim(category, part="hips", objects=(category,))
    category = BOARD_WORDS[word]
    lower = reading.span.lower()
    if lower.startswith("wearing") and category != "skis":
        return None
    before = reading.text[: reading.start].lower()
    if lower.startswith("on") and re.search(r"\bhands?\b[^.;,]{0,25}$", before):
        return None  # "her hand is on the skateboard": a hand, not the feet
    return reading.claim(category, part="feet", objects=(category,))


def read_position(reading: Reading) -> Claim | None:
    """One person left or right of, in front of or behind another (the mention after it)."""
    text, end, marked = reading.text, reading.end, reading.mentions
    after = [
        m
        for m in marked
        if m.start >= end
        and text[end : m.start].strip().lower() in ("", "the", "a", "an", "him", "her", "them")
    ]
    target = next(
        (m for m in marked if m.start >= end and not text[end : m.start].strip()),
        after[0] if after else None,
    )
    if target is None or reading.subject is None:
        return None
    relation = re.sub(r"\s+", " ", reading.span.lower().strip())
    label = (
        "left of"
        if "left" in relation
        else "right of"
        if "right" in relation
        else "in front of"
        if "front" in relation
        else "behind"
    )
    start, end = reading.start, target.end
    return Claim(
        "position", label, text[start:end], start, end, reading.subject,
        negated=reading.negated, target=target,
    )  # fmt: skip
