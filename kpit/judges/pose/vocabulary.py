"""The vocabularies the ``pose`` judge reads answers with: numbers, people nouns and roles,
pronouns, objects held, seats, mounts and boards, postures.

Each is written as one string of words (or ``word=category`` pairs), so a word is added in
one place; :mod:`kpit.judges.pose.patterns` builds its regular expressions from them.
"""

from __future__ import annotations

import re

__all__ = [
    "ADJECTIVE",
    "BASE_POSTURES",
    "BOARD_WORDS",
    "DETERMINERS",
    "EVERYONE_PHRASES",
    "FUNCTION_WORDS",
    "MAX_COUNT_DIGITS",
    "MOUNT_WORDS",
    "NOBODY_PHRASES",
    "NOT_ADJECTIVE",
    "NUMBER_WORDS",
    "OBJECT_WORDS",
    "ORDINALS",
    "PEOPLE_NOUNS",
    "PLURAL_NOUNS",
    "POSTURE_WORD",
    "PRONOUNS",
    "SEAT_WORDS",
    "number",
]


def _split(words: str) -> list[str]:
    """The words of a vocabulary written as one string."""
    return words.split()


def _words(pairs: str) -> dict[str, str]:
    """``"a=b; c d=e"`` -> ``{"a": "b", "c d": "e"}``."""
    items = (item.split("=") for item in pairs.split(";") if item.strip())
    return {key.strip(): value.strip() for key, value in items}


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

ORDINALS = {
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
PLURAL_NOUNS = {"tennis players"}
for _entry in _NOUNS.split(";"):
    _singular, _plural, *_role = _entry.split()
    PEOPLE_NOUNS[_singular] = PEOPLE_NOUNS[_plural] = (_singular, _role[0] if _role else None)
    if _plural != _singular:
        PLURAL_NOUNS.add(_plural)

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

SEAT_WORDS = _words(
    "chair=chair; chairs=chair; stool=chair; armchair=chair; bench=bench; couch=couch;"
    "sofa=couch; bed=bed; toilet=toilet; seat=seat"
)
MOUNT_WORDS = _words(
    "horse=horse; pony=horse; bike=bicycle; bicycle=bicycle; motorcycle=motorcycle;"
    "motorbike=motorcycle; elephant=elephant"
)
BOARD_WORDS = _words(
    "skis=skis; ski=skis; snowboard=snowboard; skateboard=skateboard; surfboard=surfboard"
)
PRONOUNS = dict.fromkeys(_split("he she him his her hers himself herself"), False)
PRONOUNS |= dict.fromkeys(_split("they them their theirs themselves"), True)
EVERYONE_PHRASES = tuple(
    _words(
        "everyone=; everybody=; all of them=; all the people=; all of the people=; each of them=;"
        "each person=; every person=; all people=; all of the players=; all the players="
    )
)
NOBODY_PHRASES = tuple(
    _words(
        "nobody=; no one=; no-one=; none of them=; none of the people=; neither of them=;no person="
    )
)
DETERMINERS = frozenset(
    _split(
        "the a an this that these those another both all each every some several many most two "
        "three four five six seven eight nine ten one other few"
    )
)
# Words that may stand between a determiner and a people noun ("the young baseball player").
ADJECTIVE = re.compile(r"[a-z][a-z-]*$")
NOT_ADJECTIVE = frozenset(
    _split(
        "and or but is are was were be with of in on at to by for from near behind while who "
        "which that as it its there here not no has have his her their them they he she him a "
        "an the this these those some each every all both where when what how than into onto "
        "over under"
    )
)

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
# the base form after "to" or a plural subject ("they sit") -> the posture
BASE_POSTURES = {
    "stand": "standing",
    "sit": "sitting",
    "lie": "lying",
    "kneel": "kneeling",
    "squat": "squatting",
    "walk": "walking",
    "run": "walking",
}
# a posture word -> the posture it names
POSTURE_WORD = {w: label for label, words in _POSTURES.items() for w in words.split()}
# words after an object pronoun: "behind her, ..." (not "her left arm")
FUNCTION_WORDS = frozenset(
    _split("and or but while as with in on at to from by for who that which than so because")
)


MAX_COUNT_DIGITS = 6
"""A count has at most this many digits: a longer number (``"9" * 5000``) counts nobody."""


def number(word: str) -> int | None:
    """A count written as digits or words (``"no"`` is 0); ``None`` if it is none.

    Digits longer than :data:`MAX_COUNT_DIGITS` are not a count (no picture holds a million
    people, and Python refuses to convert over 4,300 digits); nor are digits ``int`` cannot
    read (``"²"``).
    """
    if word.isdigit():
        return int(word) if word.isdecimal() and len(word) <= MAX_COUNT_DIGITS else None
    return 0 if word == "no" else NUMBER_WORDS.get(word)
