"""Whom a mention may be: the people of the image that a noun, a role ("the batter") or a
place ("the second person from the left") picks out, and how many of them a claim needs.
"""

from __future__ import annotations

from kpit.judges.pose.context import Scene, Someone
from kpit.judges.pose.records import Mention

__all__ = ["ROLES", "by_place", "has_role", "who"]

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


def who(mention: Mention | None, scene: Scene) -> tuple[list[Someone], int | None, str]:
    """The people a mention may be, and how many of them the claim needs (``None``: all)."""
    people = scene.people
    if mention is None or (mention.pronoun and mention.resolved().pronoun):
        if len(people) == 1:
            return people, 1, ""
        return people, 1, "it does not say who"
    mention = mention.resolved()
    if mention.everyone:
        return people, None, ""
    candidates = list(people)
    why = ""
    if mention.role is not None and mention.role in ROLES:
        fitting = [p for p in people if has_role(p, mention.role)]
        if fitting:
            candidates = fitting
        else:
            why = f"no one is seen as a {mention.role}"
    if mention.side is not None:
        candidates = by_place(candidates, mention.side, mention.ordinal)
        if not candidates:
            return [], 1, f"nobody is {mention.side} (of {len(people)} people)"
    number = mention.number
    if number is not None and number > len(candidates):
        return [], 1, f"it speaks of {number} people, the context has {len(candidates)}"
    if number is not None:
        need: int | None = None if number == len(candidates) and mention.definite else number
    elif mention.plural and mention.definite:
        need = None
    else:
        need = 1
    if len(candidates) > 1 and need == 1 and not why:
        why = f"it could be any of {len(candidates)} people"
    return candidates, need, why


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
