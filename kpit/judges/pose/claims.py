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
torso      upright, leaning forward or back, bent over
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

People are mentioned by pronouns (resolved to the last person mentioned; the question's own
person starts the chain), nouns ("the man", "two players", "both skiers", "everyone",
"nobody") with their place in the picture ("on the far left", "in the middle", "the second
person from the left", "the leftmost woman") and roles ("the batter", "the catcher"). Left
and right of a body part are the person's own ("his left arm"), as in COCO; left and right of
a person or a direction are the image's.

The rules are regular expressions over small vocabularies, so they are fast, deterministic
and easy to audit; they also miss much of what free text says (what they miss is simply not
a claim). Which person a claim speaks of, and whether it holds, is decided against the image
by :mod:`kpit.judges.pose`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

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


def _split(words: str) -> list[str]:
    """The words of a vocabulary written as one string."""
    return words.split()


def _words(pairs: str) -> dict[str, str]:
    """``"a=b; c d=e"`` -> ``{"a": "b", "c d": "e"}``."""
    items = (item.split("=") for item in pairs.split(";") if item.strip())
    return {key.strip(): value.strip() for key, value in items}


CLAIM_KINDS = tuple(_split("count posture torso facing head arm flexion holds on position"))
"""Every kind of claim :func:`extract_claims` reads."""


NUMBER_WORDS = {
    word: n
    for n, word in enumerate(
        _split(
            "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
            "fifteen sixteen seventeen eighteen nineteen twenty"
        ),
        start=1,
    )
} | {"a single": 1, "a lone": 1, "only one": 1, "just one": 1, "a pair of": 2, "a couple of": 2}
"""Number words read in counts and in mentions ("two men")."""

_ORDINALS = {
    word: n
    for n, word in enumerate(
        _split("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth"),
        start=1,
    )
}

# singular plural [role]; the role is what the person is seen doing (kpit.judges.pose.judge).
_NOUNS = """person people; person persons; man men; woman women; boy boys; girl girls;
child children; kid kids; guy guys; lady ladies; gentleman gentlemen; individual individuals;
figure figures; adult adults; teenager teenagers; player players; athlete athletes;
spectator spectators; onlooker onlookers; umpire umpires; referee referees; human humans;
someone someone; somebody somebody; batter batters batter; hitter hitters batter;
catcher catchers catcher; fielder fielders fielder; pitcher pitchers fielder;
skier skiers skier; snowboarder snowboarders snowboarder; surfer surfers surfer;
skateboarder skateboarders skateboarder; skater skaters skateboarder; rider riders rider;
cyclist cyclists rider; biker bikers rider; motorcyclist motorcyclists rider;
jockey jockeys rider; horseman horsemen rider"""
PEOPLE_NOUNS: dict[str, tuple[str, str | None]] = {
    "tennis player": ("tennis player", "tennis player"),
    "tennis players": ("tennis player", "tennis player"),
}
"""A noun for people -> (its singular, the role it names or ``None``)."""
_PLURAL_NOUNS = {"tennis players"}
for _entry in _NOUNS.split(";"):
    _singular, _plural, *_role = _entry.split()
    PEOPLE_NOUNS[_singular] = PEOPLE_NOUNS[_plural] = (_singular, _role[0] if _role else None)
    if _plural != _singular:
        _PLURAL_NOUNS.add(_plural)

OBJECT_WORDS: dict[str, str] = _words(
    "baseball bat=baseball bat; bat=baseball bat; baseball glove=baseball glove;"
    "glove=baseball glove; mitt=baseball glove; catcher's mitt=baseball glove;"
    "tennis racket=tennis racket; racket=tennis racket; racquet=tennis racket;"
    "frisbee=frisbee; ball=sports ball; baseball=sports ball; tennis ball=sports ball;"
    "soccer ball=sports ball; football=sports ball; basketball=sports ball;"
    "volleyball=sports ball; umbrella=umbrella; bottle=bottle; cup=cup; mug=cup;"
    "wine glass=wine glass; glass=wine glass; phone=cell phone; cell phone=cell phone;"
    "cellphone=cell phone; smartphone=cell phone; mobile phone=cell phone; remote=remote;"
    "remote control=remote; controller=remote; game controller=remote; book=book; kite=kite;"
    "knife=knife; fork=fork; spoon=spoon; scissors=scissors; toothbrush=toothbrush;"
    "hair dryer=hair drier; hair drier=hair drier; handbag=handbag; purse=handbag;"
    "skateboard=skateboard; surfboard=surfboard; teddy bear=teddy bear; banana=banana;"
    "apple=apple; sandwich=sandwich; hot dog=hot dog; pizza=pizza; donut=donut;"
    "doughnut=donut; cake=cake; mouse=mouse; keyboard=keyboard; laptop=laptop;"
    "suitcase=suitcase; backpack=backpack"
)
"""Words for objects held in the hand -> their COCO category (``kpit.pose.facts.HANDHELD``)."""

_SEAT_WORDS = _words(
    "chair=chair; chairs=chair; stool=chair; armchair=chair; bench=bench; couch=couch;"
    "sofa=couch; bed=bed; toilet=toilet; seat=seat"
)
_MOUNT_WORDS = _words(
    "horse=horse; pony=horse; bike=bicycle; bicycle=bicycle; motorcycle=motorcycle;"
    "motorbike=motorcycle; elephant=elephant"
)
_BOARD_WORDS = _words(
    "skis=skis; ski=skis; snowboard=snowboard; skateboard=skateboard; surfboard=surfboard"
)
_PRONOUNS = dict.fromkeys(_split("he she him his her hers himself herself"), False)
_PRONOUNS |= dict.fromkeys(_split("they them their theirs themselves"), True)
_EVERYONE_PHRASES = tuple(
    _words(
        "everyone=; everybody=; all of them=; all the people=; all of the people=; each of them=;"
        "each person=; every person=; all people=; all of the players=; all the players="
    )
)
_NOBODY_PHRASES = tuple(
    _words(
        "nobody=; no one=; no-one=; none of them=; none of the people=; neither of them=;no person="
    )
)
_DETERMINERS = frozenset(
    _split(
        "the a an this that these those another both all each every some several many most two "
        "three four five six seven eight nine ten one other few"
    )
)
# Words that may stand between a determiner and a people noun ("the young baseball player").
_ADJECTIVE = re.compile(r"[a-z][a-z-]*$")
_NOT_ADJECTIVE = frozenset(
    _split(
        "and or but is are was were be with of in on at to by for from near behind while who "
        "which that as it its there here not no has have his her their them they he she him a "
        "an the this these those some each every all both where when what how than into onto "
        "over under"
    )
)
_NUM = r"\d+|" + "|".join(sorted((re.escape(w) for w in NUMBER_WORDS), key=len, reverse=True))


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
        kind: one of :data:`CLAIM_KINDS`.
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


# --- sentences and mentions ----------------------------------------------------------------

_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)", re.M)
_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


def _sentences(text: str) -> Iterator[tuple[int, int]]:
    for match in _SENTENCE.finditer(text):
        if match.group().strip():
            yield match.start(), match.end()


def _number(word: str) -> int | None:
    if word.isdigit():
        return int(word)
    return 0 if word == "no" else NUMBER_WORDS.get(word)


_PLACE = re.compile(
    r"\s*(?:'s\s+)?(?:(?:who\s+is|who's|that\s+is)\s+)?"
    r"(?:(?P<from>from)\s+the\s+(?P<from_side>left|right)"
    r"|(?:on|to|at)\s+the\s+(?P<far>far\s+|extreme\s+|very\s+)?(?P<side>left|right)"
    r"(?:(?:\s+hand)?\s+side)?(?!\s+of\s+(?:the\s+|a\s+|an\s+|his\s+|her\s+)?(?!image|picture|"
    r"photo|photograph|frame|scene)\w)(?:\s+of\s+the\s+(?:image|picture|photo|photograph|frame|"
    r"scene))?"
    r"|in\s+the\s+(?P<middle>middle|center|centre)(?:\s+of\s+the\s+(?:image|picture|photo|"
    r"frame|scene|group))?)"
)


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
        if bare in _PRONOUNS:
            mentions.append(
                Mention(
                    text[start:end], start, end, plural=_PRONOUNS[bare], definite=True, pronoun=True
                )
            )
        i += 1
    return mentions


def _phrase_mention(
    lower: str, text: str, tokens: list[tuple[str, int, int]], i: int
) -> tuple[Mention, int] | None:
    """A mention that starts at token ``i``: everyone/nobody phrases, or a noun phrase."""
    rest = lower[tokens[i][1] :]
    for phrases, negated in ((_NOBODY_PHRASES, True), (_EVERYONE_PHRASES, False)):
        for phrase in phrases:
            if re.match(re.escape(phrase) + r"\b", rest):
                start = tokens[i][1]
                end = start + len(phrase)
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
        if two in PEOPLE_NOUNS and lower[tokens[j][2] : tokens[j + 1][1]].strip() == "":
            return _noun_mention(lower, text, tokens, i, j + 1, words, two)
        if bare in PEOPLE_NOUNS and not (bare == "figure" and not words):
            return _noun_mention(lower, text, tokens, i, j, words, bare)
        if j > i and lower[tokens[j - 1][2] : tokens[j][1]].strip():  # punctuation in between
            return None
        opening = j == i and word in _DETERMINERS
        of_the = word == "of" and bool(words) and words[-1] in _DETERMINERS | set(NUMBER_WORDS)
        if word in _NOT_ADJECTIVE and not opening and not of_the:
            return None
        if not _ADJECTIVE.match(word) and not word.isdigit():
            return None
        if (
            j == i
            and word not in _DETERMINERS
            and not word.isdigit()
            and word not in _ORDINALS
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
    plural = noun_word in _PLURAL_NOUNS
    number = None
    for phrase, value in sorted(NUMBER_WORDS.items(), key=lambda item: -len(item[0])):
        if re.search(rf"(?:^|\s){re.escape(phrase)}(?:\s|$)", before):
            number = value
            break
    digits = [w for w in words if w.isdigit()]
    if number is None and digits:
        number = int(digits[0])
    if "both" in words:
        number = 2
    if singular in ("someone", "somebody"):
        number = 1
    definite = bool(words) and words[0] in ("the", "this", "that", "these", "those", "both")
    everyone = bool(words) and words[0] in ("all", "each", "every") and "of" not in words
    side = ordinal = None
    for word in words:
        if word in _ORDINALS:
            ordinal = _ORDINALS[word]
        if word in ("leftmost", "rightmost"):
            side = "far " + word.removesuffix("most")
    if "other" in words or "another" in words:
        definite = False
    if "of" in words:  # "two of the men", "one of the players": some of them
        definite, everyone, plural = False, False, (number or 1) > 1
    next_i = j + 1
    place = _PLACE.match(lower, end)
    if place is not None:
        if place.group("from"):
            side = place.group("from_side")
            ordinal = ordinal or 1
        elif place.group("side"):
            side = ("far " if place.group("far") else "") + place.group("side")
            if ordinal is not None:
                side = side.removeprefix("far ")
        elif place.group("middle"):
            side = "middle"
        end = place.end()
        while next_i < len(tokens) and tokens[next_i][1] < end:
            next_i += 1
    if ordinal is not None and side is None:
        ordinal = None  # "the first man" says nothing about where he is
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
    )
    return mention, next_i


# --- predicates ----------------------------------------------------------------------------

_POSS = r"(?:his|her|their|the|its|one's|a|an)"
_SIDE = r"(?:(?P<side>left|right|both)\s+)?"
_VERB_BE = r"(?:is|are|was|were|remains?|stays?|appears?\s+to\s+be|seems?\s+to\s+be|being|be|"
_VERB_BE += r"kept|held)"

_POSTURES = {
    "standing": "standing stands stood standin",
    "sitting": "sitting sits sat seated",
    "lying": "lying lies laying reclining sprawled",
    "kneeling": "kneeling kneels knelt",
    "squatting": "squatting squats squatted",
    "crouching": "crouching crouches crouched crouch hunched hunkered",
    "walking": "walking walks walked striding strides strode running runs ran jogging jogs "
    "mid-stride",
}
_BASE_POSTURES = {
    "stand": "standing",
    "sit": "sitting",
    "lie": "lying",
    "kneel": "kneeling",
    "squat": "squatting",
    "walk": "walking",
    "run": "walking",
}
_POSTURE_WORD = {w: label for label, words in _POSTURES.items() for w in words.split()}
_POSTURE = re.compile(
    r"\b(?P<word>"
    + "|".join(sorted(_POSTURE_WORD, key=len, reverse=True))
    + "|"
    + "|".join(_BASE_POSTURES)
    + r")\b(?P<down>\s+down)?"
    r"(?!\s+(?:area|room|desk|ovation|water|shoes?|sticks?|track|lane|path|trail|pose|"
    r"posture|position\s+of\s+the\s+\w+|out\b|against))"
)
_KNEELING = re.compile(r"\bon\s+(?:his|her|their|one|both|its)\s+knees?\b")
_ON_SEAT = re.compile(
    r"\b(?:sitting|sits|sat|seated|lying|lies|laying|resting|perched|relaxing|reclining)"
    r"(?:\s+down)?\s+(?:on|in|upon|at)\s+(?:top\s+of\s+)?(?:a|an|the|his|her|their|one\s+of\s+"
    r"the)?\s*(?:[a-z]+\s+){0,2}?(?P<obj>" + "|".join(_SEAT_WORDS) + r")\b"
)
_ON_MOUNT = re.compile(
    r"\b(?:(?:riding|rides|ride|rode|mounted\s+on|astride|sitting\s+on|sits\s+on|seated\s+on)"
    r"\s+(?:on\s+)?|on\s+(?:top\s+of\s+)?)(?:a|an|the|his|her|their)\s+(?:[a-z]+\s+){0,2}?"
    r"(?P<obj>" + "|".join(_MOUNT_WORDS) + r")\b"
)
_ON_BOARD = re.compile(
    r"\b(?:(?:feet|foot)\s+(?:is\s+|are\s+)?(?:firmly\s+)?(?:planted\s+)?on|standing\s+on|"
    r"stands\s+on|(?<!next )(?<!close )(?<!near )\bon|wearing|strapped\s+(?:in)?to)\s+"
    r"(?:a\s+pair\s+of\s+|the\s+|a\s+|an\s+|his\s+|her\s+|their\s+)?(?:[a-z]+\s+){0,1}?"
    r"(?P<obj>skis|ski|snowboard|skateboard|surfboard)\b"
)
_TORSO = (
    (
        re.compile(
            r"\b(?:bent|bending|bends|leaning|leans|hunched|stooped|stooping)\s+(?:over|"
            r"down\s+low|forward\s+at\s+the\s+waist)\b|\bbent\s+at\s+the\s+waist\b|"
            r"\bbending\s+(?:at\s+the\s+waist|down)\b|\bbends\s+down\b"
        ),
        "bent over",
    ),
    (
        re.compile(
            r"\b(?:leaning|leans|leaned|tilted|tilting)\s+(?:slightly\s+|a\s+little\s+)?"
            r"(?P<dir>forwards?|backwards?|back)\b"
        ),
        "leaning",
    ),
    (
        re.compile(
            r"\b(?:leaning|leans|leaned)\s+(?:slightly\s+)?(?:towards?|to)\s+the\s+"
            r"(?P<dir>left|right)\s+(?:side\s+)?of\s+the\s+(?:image|picture|frame)\b"
        ),
        "leaning",
    ),
    (re.compile(r"\bupright\b"), "upright"),
)
_FACING = (
    (
        re.compile(
            r"\bin\s+profile(?:,?\s+facing\s+(?:towards\s+)?the\s+(?P<dir>left|right)"
            r"(?:\s+side)?\s+of\s+the\s+(?:image|picture|frame|photo))?"
        ),
        "facing",
        "profile",
    ),
    (
        re.compile(
            r"\b(?:head|face)\s+(?:is\s+|are\s+)?turned\s+(?:away\s+from|from)\s+the\s+"
            r"camera\b"
        ),
        "head",
        "facing away from the camera",
    ),
    (
        re.compile(
            r"\b(?:head|face)\s+(?:is\s+|are\s+)?(?:turned\s+)?(?:towards?|to)\s+the\s+"
            r"(?P<dir>left|right)\s+(?:side\s+)?of\s+the\s+(?:image|picture|frame)\b"
        ),
        "head",
        "profile",
    ),
    (
        re.compile(
            r"\b(?:head|face)\s+(?:is\s+|are\s+)?turned\s+(?:towards?|to)\s+(?:the\s+)?"
            r"(?:camera|viewer|us)\b|\b(?:looking|looks|look|gazing|gazes|staring|stares|"
            r"smiling|smiles)\s+(?:directly\s+|straight\s+|right\s+)?(?:at|into|towards?)\s+"
            r"(?:the\s+)?(?:camera|viewer|lens|photographer)\b"
        ),
        "head",
        "facing the camera",
    ),
    (
        re.compile(
            r"\bfacing\s+away(?:\s+from\s+(?:the\s+)?(?:camera|viewer|us|photographer))?\b|"
            r"\b(?:his|her|their)\s+backs?\s+(?:is\s+|are\s+)?(?:turned\s+)?(?:to|towards?)"
            r"\s+(?:the\s+)?(?:camera|viewer|us)\b|\bseen\s+from\s+(?:behind|the\s+back)\b|"
            r"\bback\s+to\s+the\s+camera\b|\bfaces\s+away\b"
        ),
        "facing",
        "facing away from the camera",
    ),
    (
        re.compile(
            r"\b(?:facing|faces|face|faced|turned)\s+(?:directly\s+|straight\s+)?"
            r"(?:towards?\s+|at\s+|into\s+)?(?:the\s+)?(?:camera|viewer|photographer|us)\b|"
            r"\bfacing\s+(?:forward|the\s+front)\b"
        ),
        "facing",
        "facing the camera",
    ),
    (
        re.compile(
            r"\b(?:facing|faces|face|turned)\s+(?:towards?\s+)?(?:the\s+)?(?P<dir>left|right)"
            r"(?:\s+side)?(?:\s+of\s+the\s+(?:image|picture|frame|photo))?\b(?!\s+of\b)"
        ),
        "facing",
        "profile",
    ),
)
_ARM_NOUN = r"(?P<noun>arms?|hands?)"
_ARMS = (
    (
        re.compile(
            _SIDE + _ARM_NOUN + r"\s+(?:" + _VERB_BE + r"\s+)?(?:raised\s+|lifted\s+|held\s+|"
            r"up\s+|stretched\s+|reaching\s+|thrown\s+)?(?:high\s+|up\s+)?(?:above|over)\s+"
            + _POSS
            + r"\s+heads?\b"
        ),
        "hand above the head",
    ),
    (
        re.compile(
            r"\b(?:rais(?:es|ing|ed)|lift(?:s|ing|ed)|hold(?:s|ing)\s+up|holds?\s+up|"
            r"throw(?:s|ing)\s+up|put(?:s|ting)?\s+up|reach(?:es|ing)\s+up)\s+(?:his|her|"
            r"their|one|an|the)?\s*"
            + _SIDE
            + _ARM_NOUN
            + r"(?P<high>\s+(?:high\s+)?(?:above|over)\s+"
            + _POSS
            + r"\s+heads?)?"
        ),
        "raised",
    ),
    (
        re.compile(
            _SIDE + _ARM_NOUN + r"\s+(?:" + _VERB_BE + r"\s+)?(?:raised|lifted|up\s+in\s+"
            r"the\s+air|in\s+the\s+air|held\s+up|held\s+high|held\s+aloft|up)(?P<shoulder>"
            r"\s+above\s+the\s+shoulders?)?\b"
        ),
        "raised",
    ),
    (re.compile(r"\b(?:raised|lifted)\s+" + _SIDE + _ARM_NOUN + r"\b"), "raised"),
    (
        re.compile(
            _SIDE + _ARM_NOUN + r"\s+(?:(?:" + _VERB_BE + r"|hangs?|hanging|hung|rests?|"
            r"resting|relaxed|held|kept)\s+)*(?:down\s+|loosely\s+|relaxed\s+)?(?:at|by|along)"
            r"\s+(?:his|her|their|the)\s+sides?\b"
        ),
        "at the side",
    ),
    (
        re.compile(r"\b(?:outstretched|extended|spread)\s+" + _SIDE + r"(?P<noun>arms?)\b"),
        "stretched out",
    ),
    (
        re.compile(
            _SIDE + r"(?P<noun>arms?)\s+(?:" + _VERB_BE + r"\s+)?(?:stretched|extended|"
            r"spread|outstretched|held|reaching)\s*(?:out\s*)?(?P<where>to\s+the\s+sides?|"
            r"sideways|out\s+wide|wide|forward|forwards|in\s+front(?:\s+of\s+(?:him|her|"
            r"them))?|behind\s+(?:him|her|them)|backward|backwards)?"
        ),
        "stretched out",
    ),
)
_FLEX_PART = r"(?P<part>elbows?|knees?|arms?|legs?)"
_FLEX_MOD = (
    r"(?P<mod>slightly|a\s+little|a\s+bit|somewhat|partly|partially|gently|softly|"
    r"mildly|sharply|deeply|fully|tightly|strongly|acutely|heavily|very|well)"
)
_FLEX_WORD = r"(?P<word>bent|flexed|bending|straight|straightened|locked)"
_ANGLE = r"(?P<angle>\s+at\s+(?:about\s+|roughly\s+|nearly\s+|almost\s+|approximately\s+)?"
_ANGLE += r"(?:a\s+right\s+angle|90\s+degrees|ninety\s+degrees))?"
_FLEXION = (
    re.compile(
        _SIDE + _FLEX_PART + r"\s+(?:(?:" + _VERB_BE + r"|remain|stay|look|looks)\s+)?"
        r"(?:kept\s+)?(?:"
        + _FLEX_MOD
        + r"\s+)?"
        + _FLEX_WORD
        + _ANGLE
        + r"(?!\s+(?:over|down|forward))"
    ),
    re.compile(r"\b(?:" + _FLEX_MOD + r"\s+)?" + _FLEX_WORD + r"\s+" + _SIDE + _FLEX_PART + r"\b"),
    re.compile(
        r"\b(?:bend(?:s|ing)?|flex(?:es|ing)?|straighten(?:s|ing)?)(?P<verb>)\s+(?:his|"
        r"her|their|both|the)\s+" + _SIDE + _FLEX_PART + r"\b(?:\s+" + _FLEX_MOD + r")?"
    ),
    re.compile(r"\b(?P<mod>soft)\s+(?P<part>knees)\b"),
    # "their body is (sharply) bent (at about a right angle) at the left hip"
    re.compile(
        r"\b(?:"
        + _FLEX_MOD
        + r"\s+)?(?P<word>bent|straight|flexed)"
        + _ANGLE
        + r"\s+at\s+the\s+"
        + _SIDE
        + r"(?P<part>hips?)\b"
    ),
)
_HOLD_VERB = (
    r"(?:holding|holds|held|hold|carrying|carries|carry|gripping|grips|grip|grasping|"
    r"grasps|swinging|swings|swing|wielding|wields|clutching|clutches|brandishing|"
    r"cradling|wearing|wears|has\s+on)"
)
_OBJECT = (
    r"(?P<obj>"
    + "|".join(sorted((re.escape(w) for w in OBJECT_WORDS), key=len, reverse=True))
    + r")"
)
_HOLDS = (
    re.compile(
        r"\b" + _HOLD_VERB + r"\s+(?:up\s+)?(?:onto\s+|on\s+to\s+)?(?:a|an|the|his|her|"
        r"their|one|two|some)?\s*(?:[a-z]+\s+){0,2}?"
        + _OBJECT
        + r"s?\b(?:\s+(?:in|with)\s+(?:his|her|their|the|both)\s+"
        + _SIDE
        + r"(?:hands?)\b)?"
    ),
    re.compile(
        r"\b" + _OBJECT + r"s?\s+(?:in|with)\s+(?:his|her|their|the|both)\s+" + _SIDE + r"hands?\b"
    ),
    re.compile(
        _SIDE + r"(?P<noun>hands?)\s+(?:" + _VERB_BE + r"\s+)?(?:near|on|at|around|"
        r"holding|gripping|close\s+to|grasping|resting\s+on|touching)\s+(?:a|an|the|his|"
        r"her|their)\s+(?:[a-z]+\s+){0,1}?" + _OBJECT + r"\b"
    ),
)
_COUNT = (
    re.compile(
        r"\bthere\s+(?:is|are|'s|were|was|appear\s+to\s+be|seem\s+to\s+be)\s+(?:only\s+|"
        r"exactly\s+|just\s+|a\s+total\s+of\s+|at\s+least\s+(?P<least>))?(?P<n>no|"
        + _NUM
        + r")\s+(?P<other>other\s+|more\s+|additional\s+)?(?:[a-z]+\s+)?(?P<noun>"
        r"people|persons|person|individuals|individual|humans|figures)\b"
    ),
    re.compile(
        r"\b(?:image|picture|photo|photograph|scene|frame)\s+(?:shows|features|depicts|"
        r"contains|includes|has|captures|shows\s+a\s+total\s+of)\s+(?:only\s+|exactly\s+|"
        r"just\s+)?(?P<n>" + _NUM + r")\s+(?:[a-z]+\s+)?(?P<noun>people|persons|person|"
        r"individuals|individual|humans|figures)\b"
    ),
    re.compile(
        r"\b(?:i|we|you|one)\s+can\s+see\s+(?:only\s+|exactly\s+)?(?P<n>"
        + _NUM
        + r")\s+(?:[a-z]+\s+)?(?P<noun>people|persons|person|individuals|individual)\b"
    ),
    re.compile(
        r"(?:^|[.!?]\s+)(?P<n>" + _NUM + r")\s+(?P<noun>people|persons|individuals)\s+"
        r"(?:are|is)\s+(?:visible|present|in\s+the\s+(?:image|picture|photo|scene)|"
        r"shown|seen|pictured)\b"
    ),
)
_NEGATION = re.compile(
    r"\b(?:not|never|no\s+longer|neither|nor|isn't|aren't|wasn't|weren't|"
    r"doesn't|don't|cannot|can't)\b|n't\b"
)
_TARGET_BEFORE = re.compile(
    r"\b(?:of|to|with|near|beside|behind|by|at|from|than|towards?|toward|watching|watches|"
    r"watch|facing|faces|around|between|among|amongst|like|next\s+to|in\s+front\s+of|"
    r"for|under|over|above|below|past|against|about|on|into|onto|catching|throwing|tagging|"
    r"helping|helps|holding|holds|hugging|hugs|greeting|passing|follows|following|chasing|"
    r"chases|sees|see|pitching|to)\s+(?:(?:a|an|the|his|her|their|one|two|another|other)\s+)?$"
)
_RELATIVE_AFTER = re.compile(r"^\s*,?\s*(?:who|that|which)\b")


def _negated(sentence_lower: str, start: int, clause_start: int) -> bool:
    """A negation among the few words before ``start`` in the same clause."""
    window = sentence_lower[clause_start:start]
    words = window.split()
    recent = " ".join(words[-4:])
    return bool(_NEGATION.search(recent))


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


def extract_claims(text: str, question: str | None = None) -> list[Claim]:
    """The claims about people in ``text``, in order.

    Args:
        text: the answer.
        question: the question it answers; a single person named there ("What is the man
            on the left doing?") is who the answer's first pronoun or bare claim speaks of.
    """
    lower = text.lower()
    mentions = find_mentions(text)
    masked = _mask(lower, mentions)
    current: Mention | None = None
    if question:
        asked = [m for m in find_mentions(question) if not m.pronoun]
        if len(asked) == 1:
            current = replace(asked[0], start=-1, end=-1, target=False)
    claims: list[Claim] = []
    resolved_mentions: list[Mention] = []
    for sentence_start, sentence_end in _sentences(lower):
        in_sentence = [m for m in mentions if sentence_start <= m.start < sentence_end]
        found = _predicates(masked, lower, sentence_start, sentence_end)
        # Mentions in order: resolve pronouns, mark targets.
        marked: list[Mention] = []
        last_subject = current
        for mention in in_sentence:
            before = lower[sentence_start : mention.start]
            is_target = bool(_TARGET_BEFORE.search(before)) and not before.strip().endswith(",")
            if mention.pronoun:
                pronoun_word = mention.text.lower().removesuffix("'s")
                antecedent = _antecedent(pronoun_word, marked, last_subject)
                if is_target and _object_pronoun(pronoun_word, lower, mention.end):
                    # "the catcher kneels behind him": not the catcher
                    antecedent = _other_than(antecedent, resolved_mentions + marked)
                mention = replace(mention, antecedent=antecedent, target=is_target)
            else:
                mention = replace(mention, target=is_target)
            # "and": "the man and the woman" make one group.
            if marked and not mention.pronoun and not marked[-1].pronoun:
                between = lower[marked[-1].end : mention.start]
                if between.strip() in ("and", ", and", "as well as") and not marked[-1].target:
                    group = Mention(
                        text[marked[-1].start : mention.end],
                        marked[-1].start,
                        mention.end,
                        plural=True,
                        definite=True,
                        number=_group_size(marked[-1], mention),
                    )
                    mention = replace(group, antecedent=None)
                    marked.pop()
                    mention = replace(mention, target=False, noun="person")
            marked.append(mention)
            if not mention.target or _RELATIVE_AFTER.match(lower[mention.end : sentence_end]):
                last_subject = mention
        resolved_mentions += marked
        claimed: dict[str, list[tuple[int, int]]] = {}
        for kind, match_start, match_end, data in sorted(found, key=lambda f: (f[1], -f[2])):
            family = _FAMILY.get(kind, kind)
            # A place between people never inside another claim ("arm stretched out behind
            # them" says where the arm is, not who is behind whom).
            taken = [s for f in claimed.values() for s in f] if kind == "position" else \
                claimed.get(family, [])  # fmt: skip
            if not _span_free(taken, match_start, match_end):
                continue
            subject = _subject_for(marked, match_start, current, lower, sentence_start)
            clause_start = _clause_start(lower, sentence_start, match_start, subject)
            negated = _negated(lower, match_start, clause_start)
            if subject is not None and subject.resolved().negated:
                negated = not negated
            claim = _make_claim(kind, data, text, match_start, match_end, subject, negated, marked)
            if claim is None:
                continue
            claimed.setdefault(family, []).append((match_start, match_end))
            claims.append(claim)
        subjects = [m for m in marked if not m.target]
        if subjects:
            current = subjects[-1]
        elif marked and marked[-1].pronoun:
            current = marked[-1]
    return _deduplicated(claims)


# Claims of one family never share words; claims of different families may ("seated on a
# bench" is a posture and a seat).
_FAMILY = {"head": "facing", "torso": "posture"}


def _group_size(a: Mention, b: Mention) -> int | None:
    sizes = [m.number if m.number is not None else (None if m.plural else 1) for m in (a, b)]
    if None in sizes:
        return None
    return sum(s for s in sizes if s is not None)


_FUNCTION_WORDS = frozenset(
    _split("and or but while as with in on at to from by for who that which than so because")
)


def _object_pronoun(word: str, lower: str, end: int) -> bool:
    """Him, them, or a "her" that no noun follows ("behind her", not "her left arm")."""
    if word in ("him", "them"):
        return True
    if word != "her":
        return False
    following = re.match(r"\s*([a-z]+)", lower[end:])
    return following is None or following.group(1) in _FUNCTION_WORDS


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


def _antecedent(word: str, before: list[Mention], current: Mention | None) -> Mention | None:
    """The mention a pronoun stands for: the last subject before it (this sentence first)."""
    for mention in reversed(before):
        if not mention.target:
            return mention.resolved() if mention.pronoun else mention
    if current is not None:
        return current.resolved() if current.pronoun else current
    for mention in reversed(before):
        return mention.resolved() if mention.pronoun else mention
    return None


def _subject_for(
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
            relative = _RELATIVE_AFTER.match(lower[mention.end : start])
            if relative:
                return mention
            continue
        return mention
    return current


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


def _predicates(
    masked: str, lower: str, start: int, end: int
) -> list[tuple[str, int, int, dict[str, str | None]]]:
    """Every predicate pattern's matches in ``masked[start:end]`` (counts in ``lower``, where
    the people nouns are not blanked out), with their groups."""
    found: list[tuple[str, int, int, dict[str, str | None]]] = []

    def add(
        kind: str,
        pattern: re.Pattern[str],
        extra: dict[str, str | None] | None = None,
        text: str = masked,
    ) -> None:
        for match in pattern.finditer(text[:end], start):
            data: dict[str, str | None] = dict(match.groupdict())
            data.update(extra or {})
            found.append((kind, match.start(), match.end(), data))

    for pattern in _COUNT:
        add("count", pattern, text=lower)
    add("on", _ON_SEAT, {"group": "seat"})
    add("on", _ON_MOUNT, {"group": "mount"})
    add("on", _ON_BOARD, {"group": "board"})
    for pattern in _HOLDS:
        add("holds", pattern)
    for pattern, label in _TORSO:
        add("torso", pattern, {"label": label})
    for pattern, kind, label in _FACING:
        add(kind, pattern, {"label": label})
    for pattern, label in _ARMS:
        add("arm", pattern, {"label": label})
    for pattern in _FLEXION:
        add("flexion", pattern)
    add("posture", _POSTURE)
    add("posture", _KNEELING, {"word": "kneeling"})
    add(
        "position",
        re.compile(
            r"\b(?:to|on)\s+the\s+(?:left|right)\s+of\b|\bin\s+front\s+of\b|"
            r"\bbehind\b"
        ),
    )
    # A seat, mount or board claim also states a posture: keep both (the posture is its
    # own claim); everything else claims its words once, longest first at each place.
    return found


def _make_claim(
    kind: str,
    data: dict[str, str | None],
    text: str,
    start: int,
    end: int,
    subject: Mention | None,
    negated: bool,
    marked: list[Mention],
) -> Claim | None:
    span = text[start:end]
    lower = span.lower()
    if kind == "count":
        n = _number(str(data["n"]))
        if n is None or data.get("least") is not None:
            return None
        other = data.get("other")
        if other:
            if not other.startswith("other"):
                return None
            n += 1
        return Claim("count", str(n), span, start, end, number=n, negated=negated)
    if kind == "posture":
        word = str(data["word"])
        label = _POSTURE_WORD.get(word) or _BASE_POSTURES.get(word)
        if label is None:
            return None
        if word in _BASE_POSTURES:
            before = text[:start].lower().rstrip()
            if not (
                subject is not None
                and (subject.plural or subject.pronoun)
                and (subject.end >= len(before) - 1 or before.endswith(("to", "and")))
            ):
                return None
        if word == "lies" and data.get("down") is None and subject is None:
            return None
        return Claim("posture", label, span, start, end, subject, negated=negated)
    if kind == "torso":
        label = str(data["label"])
        direction = data.get("dir")
        if label == "leaning" and direction:
            direction = direction.rstrip("s").removesuffix("ward")
            label = (
                f"leaning towards the {direction} of the image"
                if direction in ("left", "right")
                else f"leaning {direction}"
            )
            label = label.replace("leaning for", "leaning forward").replace(
                "forwardward", "forward"
            )
        return Claim("torso", label, span, start, end, subject, negated=negated)
    if kind in ("facing", "head"):
        label = str(data["label"])
        if label == "profile" and data.get("dir"):
            label = f"in profile, facing the {data['dir']} of the image"
        elif label == "profile":
            label = "in profile"
        return Claim(
            kind,
            label,
            span,
            start,
            end,
            subject,
            part="head" if kind == "head" else "body",
            negated=negated,
        )
    if kind == "arm":
        label = str(data["label"])
        noun = data.get("noun") or "arm"
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
        side = _side(data.get("side"), noun)
        return Claim(
            "arm", label, span, start, end, subject, part="arm", side=side, negated=negated
        )
    if kind == "flexion":
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
        elif mod in (
            "slightly",
            "a little",
            "a bit",
            "somewhat",
            "partly",
            "partially",
            "gently",
            "softly",
            "mildly",
            "soft",
        ):
            label = "slightly bent"
        elif mod in ("sharply", "deeply", "fully", "tightly", "strongly", "acutely", "heavily"):
            label = "sharply bent"
        else:
            label = "bent"
        if part_word.startswith(("arm", "leg")) and label == "straight" and "locked" in lower:
            return None
        side = _side(data.get("side"), part_word)
        return Claim(
            "flexion", label, span, start, end, subject, part=part, side=side, negated=negated
        )
    if kind == "holds":
        word = re.sub(r"\s+", " ", str(data["obj"]))
        category = OBJECT_WORDS.get(word)
        if category is None:
            return None
        if re.match(r"(?:wearing|wears|has on)\b", lower) and category != "baseball glove":
            return None
        side = _side(data.get("side"), data.get("noun") or "hand")
        return Claim(
            "holds",
            category,
            span,
            start,
            end,
            subject,
            part="hand",
            side=side,
            negated=negated,
            objects=(category,),
        )
    if kind == "on":
        group = data["group"]
        word = str(data["obj"])
        if group == "seat":
            seat = _SEAT_WORDS[word]
            objects = ("chair", "bench", "couch", "bed", "toilet") if seat == "seat" else (seat,)
            return Claim(
                "on",
                objects[0] if len(objects) == 1 else "seat",
                span,
                start,
                end,
                subject,
                part="hips",
                negated=negated,
                objects=objects,
            )
        if group == "mount":
            category = _MOUNT_WORDS[word]
            return Claim(
                "on",
                category,
                span,
                start,
                end,
                subject,
                part="hips",
                negated=negated,
                objects=(category,),
            )
        category = _BOARD_WORDS[word]
        if lower.startswith("wearing") and category != "skis":
            return None
        if lower.startswith("on") and re.search(r"\bhands?\b[^.;,]{0,25}$", text[:start].lower()):
            return None  # "her hand is on the skateboard": a hand, not the feet
        return Claim(
            "on",
            category,
            span,
            start,
            end,
            subject,
            part="feet",
            negated=negated,
            objects=(category,),
        )
    if kind == "position":
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
        if target is None or subject is None:
            return None
        relation = re.sub(r"\s+", " ", lower.strip())
        label = (
            "left of"
            if "left" in relation
            else "right of"
            if "right" in relation
            else "in front of"
            if "front" in relation
            else "behind"
        )
        end = target.end
        return Claim(
            "position", label, text[start:end], start, end, subject, negated=negated, target=target
        )
    return None


def _side(word: str | None, noun: str) -> str | None:
    if word in ("left", "right", "both"):
        return word
    return None


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
