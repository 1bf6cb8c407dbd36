"""Whom a mention may be: the people of the image that a noun, a role ("the batter") or a
place ("the second person from the left") picks out, and how many of them a claim needs.
"""

from __future__ import annotations

from kpit.judges.pose.context import Scene, Someone
from kpit.judges.pose.records import Mention
from kpit.judges.pose.rules import POSTURE_SUPPORTS

__all__ = ["ONE_UNKNOWN", "ROLES", "by_place", "has_role", "who"]

ROLES = {
    "batter": ("hand", ("baseball bat",)),
    "catcher": ("hand", ("baseball glove",)),
    "fielder": ("hand", ("baseball glove", "sports ball")),
    "skier": ("feet", ("skis",)),
    "snowboarder": ("feet", ("snowboard",)),
    "surfer": ("any", ("surfboard",)),
    "skateboarder": ("any", ("skateboard",)),
    "tennis player": ("hand", ("tennis racket",)),
    "rider": ("hips", ("bicycle", "motorcycle", "horse", "elephant")),
}
"""A role -> the part that shows it (``"any"``: any) and the objects it is seen with."""


ONE_UNKNOWN = 0
"""A ``need`` from :func:`who`: one person, but the text does not say which of the candidates
("he" with nobody named before, "the umpire" among five people), so every candidate must agree
before the claim is decided: a guess decides nothing."""


def who(mention: Mention | None, scene: Scene) -> tuple[list[Someone], int | None, str]:
    """The people a mention may be, and how many of them the claim needs (``None``: all;
    :data:`ONE_UNKNOWN`: one, not known which; more than the candidates: no assignment of
    people can satisfy it)."""
    people = scene.people
    share = mention.number if mention is not None and mention.pronoun else None  # two of them
    if mention is None or mention.resolved().pronoun:
        if share is not None:
            return _some_of(people, share, scene, side=None)
        if len(people) == 1:
            return people, 1, ""
        return people, ONE_UNKNOWN, "it does not say who"
    mention = mention.resolved()
    if mention.others:
        people, why_others = _others(mention, scene)
        if not people:
            return [], 1, why_others
    if mention.everyone and share is None:
        return people, None, ""
    number = share if share is not None else mention.number
    candidates = list(people)
    why = ""
    if mention.role is not None and mention.role in ROLES:
        fitting = [p for p in people if has_role(p, mention.role)]
        group = mention.number  # "two of the five skiers": five are in the role
        if fitting and (group is None or group <= len(fitting)):
            candidates = fitting
        elif not fitting:
            why = f"no one is seen as a {mention.role}"
    if mention.posture is not None:  # "the kneeling man": those whose posture fits
        supports = POSTURE_SUPPORTS.get(mention.posture, {mention.posture})
        posed = [p for p in candidates if _posed(p, supports)]
        if posed and (mention.number is None or mention.number <= len(posed)):
            candidates = posed
    if mention.holding is not None:  # "the person holding the umbrella": whose hand is at it
        held = [p for p in candidates if _holds(p, mention.holding)]
        if held and (mention.number is None or mention.number <= len(held)):
            candidates = held
    if mention.side is not None and mention.others:
        # "In the middle, another person": the middle of the picture, not of the others
        in_place = by_place(scene.people, mention.side, mention.ordinal)
        others = {p.number for p in candidates}
        candidates = [p for p in in_place if p.number in others]
        if not candidates:
            return [], 1, f"nobody else is {mention.side} (of {len(scene.people)} people)"
    elif mention.side is not None:
        in_place = by_place(candidates, mention.side, mention.ordinal)
        if len(candidates) < len(people) and in_place != by_place(
            people, mention.side, mention.ordinal
        ):  # the place among those seen in the role is not the place in the picture
            why = f"{mention.side} of those it names is not {mention.side} in the picture"
            return candidates, ONE_UNKNOWN, why
        candidates = in_place
        if not candidates:
            return [], 1, f"nobody is {mention.side} (of {len(people)} people)"
    need: int | None
    if number is not None:
        candidates, need, why_number = _some_of(candidates, number, scene, mention.side)
        if not candidates:
            return [], 1, why_number
        definite = mention.definite and share is None
        need = None if need == len(candidates) and definite else need
    elif mention.plural and mention.definite:
        need = None
    elif mention.definite and len(candidates) > 1:
        need = ONE_UNKNOWN
    else:
        need = 1
    if len(candidates) > 1 and need in (1, ONE_UNKNOWN) and not why:
        why = f"it could be any of {len(candidates)} people"
    return candidates, need, why


def _named(mention: Mention, scene: Scene) -> list[Someone]:
    """The people a mention certainly picks out: its one candidate, or all of a definite
    group it names entirely; none where it leaves them open."""
    candidates, need, _ = who(mention, scene)
    if len(candidates) == 1 or (need is None and len(candidates) < len(scene.people)):
        return candidates
    return []


def _others(mention: Mention, scene: Scene) -> tuple[list[Someone], str]:
    """Who "everyone else", "another person" may be: not those named before; "next to
    him, another person": one of his neighbours. Everyone else, with nobody named certainly
    before, is nobody known."""
    named = {p.number for earlier in mention.excluding for p in _named(earlier, scene)}
    if mention.everyone and not named:
        return [], "it does not say who else"
    people = [p for p in scene.people if p.number not in named]
    if mention.beside is not None:
        anchor = _named(mention.beside, scene)
        if len(anchor) == 1:
            ordered = sorted(scene.people, key=lambda p: p.person.box.center[0])
            at = ordered.index(anchor[0])
            near = {p.number for p in ordered[max(at - 1, 0) : at + 2]} - {anchor[0].number}
            people = [p for p in people if p.number in near]
    return people, "" if people else "nobody else it could be"


def _posed(someone: Someone, postures: set[str]) -> bool:
    """Whether a posture fact of ``someone``, of any confidence, is among ``postures``: who a
    phrase picks out, not a verdict, so a fact below the threshold still names them."""
    return any(f.part == "posture" and f.label in postures for f in someone.all_facts)


def _holds(someone: Someone, category: str) -> bool:
    """Whether a hand fact of ``someone``, of any confidence, puts the object there."""
    return any(f.part == "hand" and f.label == category for f in someone.all_facts)


def _some_of(
    candidates: list[Someone], number: int, scene: Scene, side: str | None
) -> tuple[list[Someone], int, str]:
    """``number`` of ``candidates``; more than there are is unsatisfiable only where the
    image has no other person (no crowd region) and no place narrowed them."""
    if number > len(candidates) and (side is not None or scene.person_boxes):
        return [], 1, f"it speaks of {number} people, the context has {len(candidates)}"
    return candidates, number, ""


def has_role(someone: Someone, role: str) -> bool:
    """Whether a fact shows ``someone`` in ``role`` (a batter near a bat, a rider on a bike)."""
    part, objects = ROLES[role]
    return any(
        f.label in objects and (part == "any" or f.part == part)
        for f in someone.all_facts
        if f.relation in ("near", "on")
    )


def by_place(people: list[Someone], side: str, ordinal: int | None) -> list[Someone]:
    """The people a place names, among ``people``, by their boxes' centres left to right."""
    ordered = sorted(people, key=lambda p: p.person.box.center[0])
    n = len(ordered)
    if not n:
        return []
    if ordinal is not None:
        index = ordinal - 1 if side == "left" else n - ordinal
        return [ordered[index]] if 0 <= index < n else []
    if side == "far left":
        return ordered[:1]
    if side == "far right":
        return ordered[-1:]
    if side == "left":
        return ordered[:1] if n <= 2 else ordered[: n // 2]
    if side == "right":
        return ordered[-1:] if n <= 2 else ordered[n - n // 2 :]
    if side == "middle":
        if n <= 2:
            return []
        return ordered[1:-1] if n % 2 == 0 else [ordered[n // 2]]
    return ordered
