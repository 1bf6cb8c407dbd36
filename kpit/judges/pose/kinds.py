"""Every kind of claim the ``pose`` judge reads, in one table: for each kind, the patterns
that find it, the reader that makes a claim of a match, and the decider that checks the claim
against the image. A new kind of claim is one more :class:`ClaimKind` in
:data:`CLAIM_KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from kpit.judges.pose.patterns import (
    ARM,
    COUNT,
    FACING,
    FLEXION,
    HEAD,
    HOLDS,
    ON,
    POSITION,
    POSTURE,
    TORSO,
    Search,
)
from kpit.judges.pose.readers import (
    Reading,
    read_arm,
    read_count,
    read_facing,
    read_flexion,
    read_head,
    read_holds,
    read_on,
    read_position,
    read_posture,
    read_torso,
)
from kpit.judges.pose.records import Claim
from kpit.judges.pose.verdicts import (
    PersonDecider,
    SceneDecider,
    decide_arm,
    decide_count,
    decide_facing,
    decide_flexion,
    decide_head,
    decide_holds,
    decide_on,
    decide_position,
    decide_posture,
    decide_torso,
    no_rule,
)

__all__ = ["CLAIM_KINDS", "ClaimKind", "kind_of"]


@dataclass(frozen=True, slots=True)
class ClaimKind:
    """How one kind of claim is read from an answer and decided against an image.

    Attributes:
        name: the kind (a :class:`~kpit.judges.pose.records.Claim`'s ``kind``).
        patterns: what finds it in an answer, in the order they are tried.
        read: a match to a claim (``None``: the words claim nothing decidable).
        facts: what decides it, in words.
        decide_person: decides it for one person it may be about; the judge then asks how
            many of those people it needs.
        decide_scene: decides it for the whole image instead (counts, people's places).
        family: claims of one family never share words (a head's facing and the body's);
            claims of different families may ("seated on a bench": a posture and a seat).
        unmasked: its patterns read the answer with the people in it ("three people"),
            not blanked out.
        exclusive: its words must be free of every claim read before, not only of its
            family's ("arm stretched out behind them" says where the arm is, not who is
            behind whom).
        needs_keypoints: an image without keypoints decides nothing of it.
    """

    name: str
    patterns: tuple[Search, ...]
    read: Callable[[Reading], Claim | None]
    facts: str
    decide_person: PersonDecider = no_rule
    decide_scene: SceneDecider | None = None
    family: str = ""
    unmasked: bool = False
    exclusive: bool = False
    needs_keypoints: bool = True

    def __post_init__(self) -> None:
        if not self.family:
            object.__setattr__(self, "family", self.name)


def _table(*kinds: ClaimKind) -> Mapping[str, ClaimKind]:
    return MappingProxyType({kind.name: kind for kind in kinds})


CLAIM_KINDS = _table(
    ClaimKind(
        "count", COUNT, read_count, "how many people have keypoints or boxes",
        decide_scene=decide_count, unmasked=True, needs_keypoints=False,
    ),
    ClaimKind(
        "on", ON, read_on, "the hips' or feet's facts and the object boxes",
        decide_person=decide_on,
    ),
    ClaimKind(
        "holds", HOLDS, read_holds, "the hands' facts and the object boxes",
        decide_person=decide_holds,
    ),
    ClaimKind(
        "torso", TORSO, read_torso, "the torso fact",
        decide_person=decide_torso, family="posture",
    ),
    ClaimKind(
        "head", HEAD, read_head, "the head's facing",
        decide_person=decide_head, family="facing",
    ),
    ClaimKind(
        "facing", FACING, read_facing, "the body's facing fact",
        decide_person=decide_facing,
    ),
    ClaimKind(
        "arm", ARM, read_arm, "the arm facts of the side or sides",
        decide_person=decide_arm,
    ),
    ClaimKind(
        "flexion", FLEXION, read_flexion,
        "the elbow, knee or hip facts of the side or sides", decide_person=decide_flexion,
    ),
    ClaimKind(
        "posture", POSTURE, read_posture, "the posture fact",
        decide_person=decide_posture,
    ),
    ClaimKind(
        "position", POSITION, read_position,
        "the two people's boxes and who is in front", decide_scene=decide_position,
        exclusive=True,
    ),
)  # fmt: skip
"""Every kind of claim :func:`~kpit.judges.pose.claims.extract_claims` reads, by name, in the
order their patterns are tried (of two claims of one family over the same words, the first
is kept)."""


def kind_of(name: str) -> ClaimKind:
    """The kind of claim called ``name``; a kind not in :data:`CLAIM_KINDS` reads nothing and
    decides nothing."""
    return CLAIM_KINDS.get(name) or ClaimKind(name, (), _read_nothing, "none")


def _read_nothing(reading: Reading) -> None:
    return None
