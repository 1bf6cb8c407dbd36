"""How the ``pose`` judge decides a claim: against the facts of each person it may be about
(one decider per kind of claim), or against the whole image (counts, people's places).

A person's verdict is a :class:`Verdict`; :func:`combine` makes a
:class:`~kpit.judges.pose.review.ClaimReview` of the verdicts of everyone a claim may be about.
Which decider decides which kind is the table :data:`kpit.judges.pose.kinds.CLAIM_KINDS`;
what supports and contradicts each label is in :mod:`kpit.judges.pose.rules`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kpit.judges.pose.context import Scene, Someone
from kpit.judges.pose.people import ONE_UNKNOWN, who
from kpit.judges.pose.records import Claim
from kpit.judges.pose.review import CONTRADICTED, SUPPORTED, UNDECIDABLE, ClaimReview
from kpit.judges.pose.rules import (
    ARM_RULES,
    FACING_RULES,
    FLEXION_BIN,
    FLEXION_RULES,
    POSTURE_CONTRADICTS,
    POSTURE_SUPPORTS,
    TORSO_RULES,
)
from kpit.pose.facts import PoseFact
from kpit.types import ObjectBox

__all__ = [
    "FAR_MARGIN",
    "PersonDecider",
    "SceneDecider",
    "Verdict",
    "combine",
    "decide_arm",
    "decide_count",
    "decide_facing",
    "decide_flexion",
    "decide_for_people",
    "decide_head",
    "decide_holds",
    "decide_on",
    "decide_position",
    "decide_posture",
    "decide_torso",
    "from_fact",
    "no_rule",
]

FAR_MARGIN = 0.5  # a hand, hips or feet this many body scales outside a box are not on it


@dataclass(slots=True)
class Verdict:
    """What one fact (or none) says of a claim about one person."""

    status: str | None  # supported, contradicted, or None (nothing decides)
    fact: str | None = None
    confidence: float | None = None
    used: tuple[tuple[int, str, str | None, str], ...] = ()
    reason: str | None = None


PersonDecider = Callable[[Claim, Someone, Scene], Verdict]
"""Decides a claim about one person of the image."""
SceneDecider = Callable[[Claim, Scene], ClaimReview]
"""Decides a claim about the whole image (a count, one person's place against another's)."""


def from_fact(
    someone: Someone,
    fact: PoseFact | None,
    supports: set[str],
    contradicts: set[str],
    missing: str,
    part: str | None = None,
    side: str | None = None,
) -> Verdict:
    """The verdict of ``someone``'s ``fact`` (``None``: no fact above the threshold; then
    ``part`` and ``side`` find a weaker one to name) on a claim it supports when its label is
    among ``supports`` and contradicts when among ``contradicts`` (if re-annotations agree)."""
    if fact is None:
        weak = next(
            (
                f
                for f in someone.all_facts
                if part is not None and f.part == part and (side is None or f.side == side)
            ),
            None,
        )
        if weak is not None:
            return Verdict(
                None,
                reason=f"person {someone.number}: {weak.text}, confidence "
                f"{weak.confidence:.2f}, below the threshold",
            )
        return Verdict(None, reason=f"person {someone.number}: {missing}")
    used = ((someone.number, fact.part, fact.side, fact.label),)
    if fact.label in supports:
        return Verdict(SUPPORTED, fact.text, fact.confidence, used)
    if fact.label in contradicts:
        share = someone.stable(fact.part, fact.side, contradicts, supports)
        if share < someone.min_stability:
            return Verdict(None, reason=f"person {someone.number}: {fact.text}, but only "
                            f"{share:.0%} of re-annotations would contradict it")  # fmt: skip
        return Verdict(CONTRADICTED, fact.text, fact.confidence, used)
    return Verdict(
        None,
        reason=f"person {someone.number}: {fact.text}, which neither supports nor contradicts it",
    )


# --- claims about one person, one kind at a time ----------------------------------------


def decide_posture(claim: Claim, someone: Someone, image: Scene) -> Verdict:
    """Standing, sitting...: the posture fact (crouching and squatting support each other)."""
    fact = someone.fact("posture")
    supports = POSTURE_SUPPORTS.get(claim.label, {claim.label})
    contradicts = POSTURE_CONTRADICTS[claim.label]
    return from_fact(someone, fact, supports, contradicts, "no posture fact", "posture")


def decide_torso(claim: Claim, someone: Someone, image: Scene) -> Verdict:
    """Upright, bent over, leaning: the torso fact (a lean in no direction: any lean)."""
    fact = someone.fact("torso")
    if claim.label == "leaning":
        leaning = {fact.label} if fact is not None and "leaning" in fact.label else set()
        return from_fact(someone, fact, leaning, {"upright"}, "no torso fact", "torso")
    supports, contradicts = TORSO_RULES.get(claim.label, (set(), set()))
    return from_fact(someone, fact, supports, contradicts, "no torso fact", "torso")


def decide_facing(claim: Claim, someone: Someone, image: Scene) -> Verdict:
    """Which way the body faces: the body's facing fact."""
    supports, contradicts = FACING_RULES[claim.label]
    fact = someone.fact("body")
    return from_fact(someone, fact, supports, contradicts, "no facing fact", "body")


def decide_head(claim: Claim, someone: Someone, image: Scene) -> Verdict:
    """Which way the head faces: the head's facing, when known at the threshold."""
    supports, contradicts = FACING_RULES.get(claim.label, (set(), set()))
    head = someone.head
    if head is None or someone.head_confidence < image.threshold:
        return Verdict(None, reason="the head's direction is not known")
    used = ((someone.number, "head", None, head),)
    if head in supports:
        return Verdict(SUPPORTED, f"their head: {head}", someone.head_confidence, used)
    share = someone.stable("head", None, contradicts, supports)
    if head in contradicts and share < someone.min_stability:
        return Verdict(None, reason=f"person {someone.number}'s head: {head}, but only "
                       f"{share:.0%} of re-annotations would contradict it")  # fmt: skip
    if head in contradicts:
        return Verdict(CONTRADICTED, f"their head: {head}", someone.head_confidence, used)
    return Verdict(None, reason=f"person {someone.number}'s head: {head}")


def decide_arm(claim: Claim, someone: Someone, image: Scene) -> Verdict:
    """Raised, above the head, at the side, stretched out: the arm facts of the side(s)."""
    supports, contradicts = ARM_RULES[claim.label]
    return _sides(claim, someone, "arm", supports, contradicts)


def decide_flexion(claim: Claim, someone: Someone, image: Scene) -> Verdict:
    """Straight or how bent: the elbow, knee or hip facts of the side(s), by bins of angle."""
    part = claim.part or "knee"
    supports_bins, contradicts_bins = FLEXION_RULES[claim.label]
    supports = {k for k, v in FLEXION_BIN.items() if v in supports_bins}
    contradicts = {k for k, v in FLEXION_BIN.items() if v in contradicts_bins}
    return _sides(claim, someone, part, supports, contradicts)


def no_rule(claim: Claim, someone: Someone, image: Scene) -> Verdict:
    """A kind of claim the judge has no rule for decides nothing."""
    return Verdict(None, reason=f"no rule for {claim.kind}")


def decide_for_people(claim: Claim, image: Scene, decide: PersonDecider) -> ClaimReview:
    """The verdict on a claim about people: ``decide`` for each person it may be about, then
    as many of them as it needs (all, or one) must hold (a denied claim: must not)."""
    candidates, need, why = who(claim.subject, image)
    if not candidates:
        return ClaimReview(claim, UNDECIDABLE, reason=why or "nobody it could be about")
    if need is not None and need > len(candidates):
        people = tuple(someone.number for someone in candidates)
        fact = (
            f"{len(candidates)} {'person is' if len(candidates) == 1 else 'people are'} annotated"
        )
        if claim.negated:
            return ClaimReview(claim, UNDECIDABLE, people, reason=f"{fact}, it speaks of {need}")
        return ClaimReview(claim, CONTRADICTED, people, fact, None, 0.9)
    verdicts = [(someone, decide(claim, someone, image)) for someone in candidates]
    if claim.negated:
        for _, verdict in verdicts:
            if verdict.status is not None:
                verdict.status = CONTRADICTED if verdict.status == SUPPORTED else SUPPORTED
    return combine(claim, verdicts, need, why)


def _sides(
    claim: Claim,
    someone: Someone,
    part: str,
    supports: set[str],
    contradicts: set[str],
) -> Verdict:
    """A claim about a left or right part: that side, both, or either."""
    sides = ["left", "right"] if claim.side in (None, "both") else [claim.side]
    verdicts = [
        from_fact(
            someone,
            someone.fact(part, side),
            supports,
            contradicts,
            f"no fact about their {side} {part}",
            part,
            side,
        )
        for side in sides
    ]
    if len(verdicts) == 1:
        return verdicts[0]
    if claim.side == "both":  # every side must hold
        against = [v for v in verdicts if v.status == CONTRADICTED]
        if against:
            return against[0]
        if all(v.status == SUPPORTED for v in verdicts):
            return _merge(verdicts)
        return Verdict(None, reason=f"not both {part}s are known")
    held = [v for v in verdicts if v.status == SUPPORTED]  # either side will do
    if held:
        return _merge(held)
    if all(v.status == CONTRADICTED for v in verdicts):
        return _merge(verdicts)
    return Verdict(None, reason=f"no {part} decides it")


def decide_holds(claim: Claim, someone: Someone, image: Scene) -> Verdict:
    """An object in the hand: a fact puts a hand at it, or every hand named is visible and
    well away from every box of it."""
    sides = ["left", "right"] if claim.side in (None, "both") else [claim.side]
    near = [
        f
        for f in someone.facts
        if f.part == "hand" and f.label in claim.objects and f.side in sides
    ]
    if near:
        used = tuple((someone.number, f.part, f.side, f.label) for f in near)
        best = max(near, key=lambda f: f.confidence)
        return Verdict(SUPPORTED, best.text, best.confidence, used)
    boxes = image.objects(claim.objects)
    if not boxes:
        return Verdict(None, reason=f"no {'/'.join(claim.objects)} box in the context")
    if all(_far(someone, f"{side}_wrist", boxes) for side in sides):
        what = claim.objects[0]
        hand = "neither hand is" if len(sides) == 2 else f"their {sides[0]} hand is not"
        return Verdict(CONTRADICTED, f"{hand} near any {what} (visible, well outside the box)", 1.0)
    return Verdict(
        None, reason=f"no fact puts a hand of person {someone.number} at the {claim.objects[0]}"
    )


def decide_on(claim: Claim, someone: Someone, image: Scene) -> Verdict:
    """On a seat, a mount or a board: a fact puts the hips (or feet) on it, or they are
    visible and well away from every box of it."""
    part = claim.part or "hips"
    on = [
        f
        for f in someone.facts
        if f.part == part and f.relation == "on" and f.label in claim.objects
    ]
    if on:
        fact = on[0]
        return Verdict(
            SUPPORTED,
            fact.text,
            fact.confidence,
            ((someone.number, fact.part, fact.side, fact.label),),
        )
    boxes = image.objects(claim.objects)
    if not boxes:
        return Verdict(None, reason=f"no {'/'.join(claim.objects)} box in the context")
    points = ["left_hip", "right_hip"] if part == "hips" else ["left_ankle", "right_ankle"]
    if all(_far(someone, point, boxes) for point in points):
        what = "their hips are" if part == "hips" else "their feet are"
        return Verdict(
            CONTRADICTED, f"{what} well away from every {claim.objects[0]} box (visible)", 1.0
        )
    return Verdict(None, reason=f"no fact puts person {someone.number} on the {claim.objects[0]}")


def _far(someone: Someone, point: str, boxes: Sequence[ObjectBox]) -> bool:
    """The point is visible and well outside every box (by ``FAR_MARGIN`` scales)."""
    keypoint = someone.person.keypoint(point)
    if not keypoint.visible or someone.scale != someone.scale:
        return False
    width, height = someone.person.image_size or (1, 1)
    mx, my = FAR_MARGIN * someone.scale / width, FAR_MARGIN * someone.scale / height
    return all(
        not (
            b.box.x1 - mx <= keypoint.x <= b.box.x2 + mx
            and b.box.y1 - my <= keypoint.y <= b.box.y2 + my
        )
        for b in boxes
    )


# --- claims about the whole image: counts and people's places ---------------------------


def decide_count(claim: Claim, image: Scene) -> ClaimReview:
    """How many people there are: the people with keypoints (at least that many with a
    crowd region), or else the person boxes."""
    stated = claim.number or 0
    if image.people:
        actual = len(image.people)
        if image.person_boxes:  # crowd regions: at least this many
            if stated < actual:
                return ClaimReview(
                    claim,
                    CONTRADICTED,
                    fact=f"at least {actual} people are annotated",
                    confidence=0.9,
                )
            return ClaimReview(
                claim,
                UNDECIDABLE,
                reason=f"at least {actual} people (a crowd region counts for an unknown number)",
            )
        fact = f"{actual} {'person is' if actual == 1 else 'people are'} annotated"
        status = SUPPORTED if (stated == actual) != claim.negated else CONTRADICTED
        return ClaimReview(claim, status, fact=fact, confidence=0.9)
    boxes = image.person_boxes
    if not boxes:
        if image.context.objects or image.context.captions:
            return ClaimReview(claim, UNDECIDABLE, reason="no person box in the context")
        return ClaimReview(claim, UNDECIDABLE, reason="the context is empty")
    fact = f"{boxes} person {'box' if boxes == 1 else 'boxes'} in the context"
    if stated == boxes:
        return ClaimReview(claim, SUPPORTED, fact=fact, confidence=0.7)
    if stated < boxes:
        return ClaimReview(claim, CONTRADICTED, fact=fact, confidence=0.7)
    return ClaimReview(
        claim,
        UNDECIDABLE,
        reason=f"{fact}; without keypoints a box may be missing, so more people may be there",
    )


def decide_position(claim: Claim, image: Scene) -> ClaimReview:
    """One person left or right of another (their boxes' centres), or in front of or behind
    them (their facts of who is closer to the camera)."""
    one, _, why = who(claim.subject, image)
    other, _, other_why = who(claim.target, image)
    if len(one) != 1 or len(other) != 1:
        return ClaimReview(
            claim, UNDECIDABLE, reason=why or other_why or "the two people are not told apart"
        )
    a, b = one[0], other[0]
    numbers = (a.number, b.number)
    if a is b:
        return ClaimReview(
            claim, UNDECIDABLE, people=numbers, reason="both sides are the same person"
        )
    status: str | None = None
    if claim.label in ("left of", "right of"):
        dx = b.person.box.center[0] - a.person.box.center[0]
        if abs(dx) > 0.05:
            left_of = dx > 0
            status = SUPPORTED if left_of == (claim.label == "left of") else CONTRADICTED
            where = "left" if left_of else "right"
            fact = f"person {a.number} is further {where} in the image than person {b.number}"
            confidence = 0.9
    else:
        front = (a, b) if claim.label == "in front of" else (b, a)
        ahead = any(
            f.relation == "in front of" and f.target == f"person {front[1].number}"
            for f in front[0].all_facts
        )
        behind = any(
            f.relation == "in front of" and f.target == f"person {front[0].number}"
            for f in front[1].all_facts
        )
        if ahead or behind:
            status = SUPPORTED if ahead else CONTRADICTED
            first, second = front if ahead else front[::-1]
            fact = (
                f"person {first.number} is in front of person {second.number}, closer to the camera"
            )
            confidence = 0.7
    if status is None:
        return ClaimReview(claim, UNDECIDABLE, people=numbers, reason="their boxes do not tell")
    if claim.negated:
        status = CONTRADICTED if status == SUPPORTED else SUPPORTED
    if confidence < image.threshold:
        return ClaimReview(
            claim,
            UNDECIDABLE,
            people=numbers,
            reason=f"{fact}, with confidence {confidence} below {image.threshold}",
        )
    return ClaimReview(claim, status, numbers, fact, a.number, confidence)


def _merge(verdicts: Sequence[Verdict]) -> Verdict:
    first = verdicts[0]
    used = tuple(u for v in verdicts for u in v.used)
    facts = "; ".join(v.fact for v in verdicts if v.fact)
    confidence = min(v.confidence for v in verdicts if v.confidence is not None)
    return Verdict(first.status, facts, confidence, used)


def combine(
    claim: Claim, verdicts: list[tuple[Someone, Verdict]], need: int | None, why: str
) -> ClaimReview:
    """A verdict over the people a claim may be about: ``need`` of them (``None``: all;
    :data:`~kpit.judges.pose.people.ONE_UNKNOWN`: one, not known which, so all must agree).
    A claim that no assignment of people can satisfy, even counting every undecided person
    as fitting, is contradicted."""
    people = tuple(someone.number for someone, _ in verdicts)
    held = [(s, v) for s, v in verdicts if v.status == SUPPORTED]
    against = [(s, v) for s, v in verdicts if v.status == CONTRADICTED]
    needed = len(verdicts) if need is None or need == ONE_UNKNOWN else need
    # contradicted when fewer than needed can hold; one unknown person: when none can
    can_hold = len(verdicts) - len(against)
    impossible = can_hold == 0 if need == ONE_UNKNOWN else can_hold < needed
    if len(held) >= needed:
        chosen = held[:needed]
        fact = (
            "; ".join(f"person {s.number}: {v.fact}" for s, v in chosen)
            if len(chosen) > 1
            else chosen[0][1].fact
        )
        confidence = min(v.confidence or 0.0 for _, v in chosen)
        used = tuple(u for _, v in chosen for u in v.used)
        return ClaimReview(
            claim, SUPPORTED, people, fact, chosen[0][0].number, confidence, None, used
        )
    if impossible:
        someone, verdict = against[0]
        return ClaimReview(
            claim,
            CONTRADICTED,
            people,
            verdict.fact,
            someone.number,
            verdict.confidence,
            None,
            verdict.used,
        )
    reasons = [v.reason for _, v in verdicts if v.reason]
    if len(verdicts) == 1:
        reason = reasons[0] if reasons else "nothing decides it"
    else:
        reason = why or f"{len(held)} of {len(verdicts)} people fit, {needed} needed"
        if reasons and len(set(reasons)) == 1:
            reason += f" ({reasons[0]})"
    return ClaimReview(claim, UNDECIDABLE, people, reason=reason)
