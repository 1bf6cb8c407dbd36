"""What the ``pose`` judge reads in an answer: a :class:`Mention` of people and a
:class:`Claim` about them (found by :mod:`kpit.judges.pose.mentions` and
:func:`kpit.judges.pose.claims.extract_claims`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Claim", "Mention"]


@dataclass(frozen=True, slots=True)
class Mention:
    """A mention of a person or of people in the text.

    Attributes:
        text: the words, as written.
        start, end: the character span in the text.
        noun: the people noun in its singular (``"person"``, ``"man"``, ``"catcher"``), or
            ``None`` for pronouns, ``everyone`` and ``nobody``.
        role: the role a noun names (``"batter"``, ``"catcher"``, ``"skier"``...), or ``None``.
        plural: the mention speaks of several people.
        definite: ``the`` (or a pronoun, or a place): a known person or group.
        number: how many people it names, when it says ("two men": 2; "both": 2).
        everyone: the mention speaks of every person ("everyone", "all of them", "nobody").
        negated: "nobody", "no one", "none of them": what follows is denied of everyone.
        side: the mention's place in the image: ``"far left"``, ``"left"``, ``"middle"``,
            ``"right"``, ``"far right"``, or ``None``.
        ordinal: with ``side`` ``"left"`` or ``"right"``: "the second person from the left"
            is ordinal 2, side ``"left"``.
        pronoun: a pronoun (he, she, they, his...).
        antecedent: for a pronoun, the mention it stands for (``None`` if nothing before it).
        target: the object of a preposition or verb ("next to the man"): not the subject of
            what follows.
        vague: words that speak of someone without saying whom ("the first", "the other",
            "the third"): never resolved to a person mentioned before.
        posture: a posture that picks them out ("the kneeling man", "the person sitting"),
            or ``None``.
        holding: the COCO category of an object in the hand that picks them out ("the
            person holding the umbrella", "the man with the bat"), or ``None``.
        others: "everyone else", "another person", "the other man": people other than those
            named before.
        excluding: for ``others``, the mentions named before it in the answer.
        beside: "next to him, a man...": the mention whose neighbours in the picture it
            names, or ``None``.
    """

    text: str
    start: int
    end: int
    noun: str | None = None
    role: str | None = None
    plural: bool = False
    definite: bool = False
    number: int | None = None
    everyone: bool = False
    negated: bool = False
    side: str | None = None
    ordinal: int | None = None
    pronoun: bool = False
    antecedent: Mention | None = None
    target: bool = False
    vague: bool = False
    posture: str | None = None
    holding: str | None = None
    others: bool = False
    excluding: tuple[Mention, ...] = ()
    beside: Mention | None = None

    def resolved(self) -> Mention:
        """The mention a pronoun stands for (itself when it is no pronoun)."""
        mention = self
        while mention.pronoun and mention.antecedent is not None:
            mention = mention.antecedent
        return mention

    def describe(self) -> str:
        """The mention in words, pronouns resolved: ``"the person on the left"``."""
        resolved = self.resolved()
        if resolved.pronoun:
            return f"{resolved.text} (no one named before)"
        return resolved.text if resolved is self else f"{self.text} = {resolved.text}"


@dataclass(frozen=True, slots=True)
class Claim:
    """One claim about people that pose facts can decide.

    Attributes:
        kind: one of :data:`~kpit.judges.pose.claims.CLAIM_KINDS`.
        label: what is claimed, normalised: ``"sitting"``, ``"facing the camera"``,
            ``"bent"``, ``"raised"``, an object's COCO category...
        text: the words the claim was read from.
        start, end: their character span in the text.
        subject: who it is about (``None`` for counts).
        part: ``"elbow"``, ``"knee"``, ``"arm"``, ``"hand"``, ``"hips"``, ``"feet"`` or ``None``.
        side: the person's own ``"left"`` or ``"right"``, ``"both"``, or ``None`` (either).
        negated: the text denies it ("is not standing", "nobody is lying").
        number: for counts, how many people the text says there are.
        target: for ``position``, the other person; ``None`` otherwise.
        objects: for ``holds`` and ``on``, the COCO categories that fit the word ("seat" fits
            chair, bench, couch, bed and toilet).
    """

    kind: str
    label: str
    text: str
    start: int
    end: int
    subject: Mention | None = None
    part: str | None = None
    side: str | None = None
    negated: bool = False
    number: int | None = None
    target: Mention | None = None
    objects: tuple[str, ...] = field(default_factory=tuple)
