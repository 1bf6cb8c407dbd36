"""The regular expressions that find claims in an answer, one group per kind of claim.

Each kind's patterns (:data:`COUNT`, :data:`POSTURE`, ...) are ``(pattern, extra)`` pairs:
the groups a match names (``side``, ``part``, ``obj``, ``dir``...) and the ``extra`` ones are
what :mod:`kpit.judges.pose.readers` turns into a claim. Patterns read the answer in lower
case with the people mentioned blanked out (counts read it as written), so no predicate is
read inside a noun phrase. :data:`NEGATION`, :data:`TARGET_BEFORE` and
:data:`RELATIVE_AFTER` read how a sentence is built around a claim.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kpit.judges.pose.vocabulary import (
    BASE_POSTURES,
    MOUNT_WORDS,
    NUMBER_WORDS,
    OBJECT_WORDS,
    POSTURE_WORD,
    SEAT_WORDS,
)

__all__ = [
    "ARM",
    "COUNT",
    "FACING",
    "FLEXION",
    "HEAD",
    "HOLDS",
    "NEGATION",
    "ON",
    "POSITION",
    "POSTURE",
    "RELATIVE_AFTER",
    "TARGET_BEFORE",
    "TORSO",
    "Search",
]

_NUM = r"\d+|" + "|".join(sorted((re.escape(w) for w in NUMBER_WORDS), key=len, reverse=True))
_POSS = r"(?:his|her|their|the|its|one's|a|an)"
_SIDE = r"(?:(?P<side>left|right|both)\s+)?"
_VERB_BE = r"(?:is|are|was|were|remains?|stays?|appears?\s+to\s+be|seems?\s+to\s+be|being|be|"
_VERB_BE += r"kept|held)"

_POSTURE = re.compile(
    r"\b(?P<word>"
    + "|".join(sorted(POSTURE_WORD, key=len, reverse=True))
    + "|"
    + "|".join(BASE_POSTURES)
    + r")\b(?P<down>\s+down)?"
    r"(?!\s+(?:area|room|desk|ovation|water|shoes?|sticks?|track|lane|path|trail|pose|"
    r"posture|position\s+of\s+the\s+\w+|out\b|against))"
)
_KNEELING = re.compile(r"\bon\s+(?:his|her|their|one|both|its)\s+knees?\b")
_SQUAT = re.compile(r"\bin\s+an?\s+(?:(?:deep|low|full|half|wide)\s+)?squat\b")
_CROUCH = re.compile(r"\bin\s+an?\s+(?:(?:deep|low|slight)\s+)?crouch\b")
_ON_SEAT = re.compile(
    r"\b(?:sitting|sits|sat|seated|lying|lies|laying|resting|perched|relaxing|reclining|"
    r"(?<=\bis\s)|(?<=\bare\s))(?:\s+down|\s+upright|\s+comfortably|\s+quietly)?"
    r"\s*(?<=\s)(?:on|in|upon|at)\s+(?:top\s+of\s+)?(?:a|an|the|his|her|their|one\s+of\s+"
    r"the)?\s*(?:[a-z]+\s+){0,2}?(?P<obj>" + "|".join(SEAT_WORDS) + r")\b"
)
_ON_MOUNT = re.compile(
    r"\b(?:(?:riding|rides|ride|rode|mounted\s+on|astride|sitting\s+on|sits\s+on|seated\s+on)"
    r"\s+(?:on\s+)?|on\s+(?:top\s+of\s+)?)(?:a|an|the|his|her|their)\s+(?:[a-z]+\s+){0,2}?"
    r"(?P<obj>" + "|".join(MOUNT_WORDS) + r")\b"
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
            r"\b(?:bent|bending|bends|bend|leaning|leans|lean|hunched|stooped|stooping)\s+(?:over|"
            r"down\s+low|forward\s+at\s+the\s+waist)\b|\bbent\s+at\s+the\s+waist\b|"
            r"\bbending\s+(?:at\s+the\s+waist|down)\b|\bbends\s+down\b"
        ),
        "bent over",
    ),
    (
        re.compile(
            r"\b(?:leaning|leans|leaned|lean|tilted|tilting)\s+(?:slightly\s+|a\s+little\s+)?"
            r"(?P<dir>forwards?|backwards?|back)\b"
        ),
        "leaning",
    ),
    (
        re.compile(
            r"\b(?:leaning|leans|leaned|lean)\s+(?:slightly\s+)?(?:towards?|to)\s+the\s+"
            r"(?P<dir>left|right)(?:\s+(?:side\s+)?of\s+the\s+(?:image|picture|frame))?\b"
            r"(?!\s+of\b)"
        ),
        "leaning",
    ),
    (re.compile(r"\bupright\b"), "upright"),
)
_HEAD = (
    (
        re.compile(
            r"\b(?:head|face)\s+(?:is\s+|are\s+)?turned\s+(?:away\s+from|from)\s+the\s+"
            r"camera\b"
        ),
        "facing away from the camera",
    ),
    (
        re.compile(
            r"\b(?:head|face)\s+(?:is\s+|are\s+)?(?:turned\s+)?(?:towards?|to)\s+the\s+"
            r"(?P<dir>left|right)\s+(?:side\s+)?of\s+the\s+(?:image|picture|frame)\b"
        ),
        "profile",
    ),
    (
        re.compile(
            r"\b(?:head|face)\s+(?:is\s+|are\s+)?(?:turned\s+)?(?:towards?|to)\s+(?:the\s+)?"
            r"(?:camera|viewer|us)\b|\b(?:looking|looks|look|gazing|gazes|staring|stares|"
            r"smiling|smiles)\s+(?:directly\s+|straight\s+|right\s+)?(?:at|into|towards?)\s+"
            r"(?:the\s+)?(?:camera|viewer|lens|photographer)\b"
        ),
        "facing the camera",
    ),
)
_FACING = (
    (
        re.compile(
            r"\bin\s+profile(?:,?\s+facing\s+(?:towards\s+)?the\s+(?P<dir>left|right)"
            r"(?:\s+side)?\s+of\s+the\s+(?:image|picture|frame|photo))?"
        ),
        "profile",
    ),
    (
        re.compile(
            r"\bfacing\s+away(?:\s+from\s+(?:the\s+)?(?:camera|viewer|us|photographer))?\b|"
            r"\b(?:his|her|their)\s+backs?\s+(?:is\s+|are\s+)?(?:turned\s+)?(?:to|towards?)"
            r"\s+(?:the\s+)?(?:camera|viewer|us)\b|\bseen\s+from\s+(?:behind|the\s+back)\b|"
            r"\bback\s+to\s+the\s+camera\b|\bfaces\s+away\b"
        ),
        "facing away from the camera",
    ),
    (
        re.compile(
            r"\b(?:facing|faces|face|faced|turned)\s+(?:directly\s+|straight\s+)?"
            r"(?:towards?\s+|at\s+|into\s+)?(?:the\s+)?(?:camera|viewer|photographer|us)\b|"
            r"\bfacing\s+(?:forward|the\s+front)\b"
        ),
        "facing the camera",
    ),
    (
        re.compile(
            r"\b(?:facing|faces|face|turned)\s+(?:towards?\s+)?(?:the\s+)?(?P<dir>left|right)"
            r"(?:\s+side)?(?:\s+of\s+the\s+(?:image|picture|frame|photo))?\b(?!\s+of\b)"
        ),
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
        re.compile(
            _SIDE + _ARM_NOUN + r"\s+(?:hangs?|hanging|hung)\s+(?:straight\s+|loosely\s+)?down\b"
        ),
        "at the side",
    ),
    (
        re.compile(
            r"\b(?:lower(?:s|ing|ed)?|drop(?:s|ping|ped)?)\s+(?:his|her|their|the|one)\s+"
            + _SIDE
            + _ARM_NOUN
            + r"\s+(?:down\s+)?(?:to|at|by)\s+(?:his|her|their|the)\s+sides?\b"
        ),
        "at the side",
    ),
    (
        re.compile(r"\b(?:outstretched|extended|spread)\s+" + _SIDE + r"(?P<noun>arms?)\b"),
        "stretched out",
    ),
    (
        re.compile(
            r"\b(?:stretch(?:es|ing)?|extend(?:s|ing)?|spread(?:s|ing)?|hold(?:s|ing)?)\s+"
            r"(?:his|her|their|the|one|both)\s+" + _SIDE + r"(?P<noun>arms?)\s+out\s*"
            r"(?P<where>to\s+the\s+sides?|sideways|wide|forward|forwards|in\s+front|"
            r"behind\s+(?:him|her|them)|backward|backwards)?"
        ),
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
        r"\b"
        + _OBJECT
        + r"s?\s+(?:in|with)\s+(?:(?:his|her|their|the|both)\s+"
        + _SIDE
        + r"hands?|hand)\b"
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
        r"(?:are|is|appear|can\s+be\s+seen)\s+(?:visible|present|gathered|lined\s+up|in\s+(?:the|this)\s+"
        r"(?:[a-z]+\s+)?(?:image|picture|photo|scene|frame)|shown|seen|pictured)\b"
    ),
)
NEGATION = re.compile(
    r"\b(?:not|never|no\s+longer|neither|nor|isn't|aren't|wasn't|weren't|"
    r"doesn't|don't|cannot|can't)\b|n't\b"
)
TARGET_BEFORE = re.compile(
    r"\b(?:of|to|with|near|beside|behind|by|at|from|than|towards?|toward|watching|watches|"
    r"watch|facing|faces|around|between|among|amongst|like|next\s+to|in\s+front\s+of|"
    r"for|under|over|above|below|past|against|about|on|into|onto|catching|throwing|tagging|"
    r"helping|helps|holding|holds|hugging|hugs|greeting|passing|follows|following|chasing|"
    r"chases|sees|see|pitching|to)\s+(?:(?:a|an|the|his|her|their|one|two|another|other)\s+)?$"
)
RELATIVE_AFTER = re.compile(r"^\s*,?\s*(?:who|that|which)\b")

_POSITION = re.compile(r"\b(?:to|on)\s+the\s+(?:left|right)\s+of\b|\bin\s+front\s+of\b|\bbehind\b")

Search = tuple[re.Pattern[str], Mapping[str, str]]
"""A pattern and the groups it adds to each of its matches."""

COUNT: tuple[Search, ...] = tuple((pattern, {}) for pattern in _COUNT)
POSTURE: tuple[Search, ...] = (
    (_POSTURE, {}),
    (_KNEELING, {"word": "kneeling"}),
    (_SQUAT, {"word": "squatting"}),
    (_CROUCH, {"word": "crouching"}),
)
TORSO: tuple[Search, ...] = tuple((pattern, {"label": label}) for pattern, label in _TORSO)
HEAD: tuple[Search, ...] = tuple((pattern, {"label": label}) for pattern, label in _HEAD)
FACING: tuple[Search, ...] = tuple((pattern, {"label": label}) for pattern, label in _FACING)
ARM: tuple[Search, ...] = tuple((pattern, {"label": label}) for pattern, label in _ARMS)
FLEXION: tuple[Search, ...] = tuple((pattern, {}) for pattern in _FLEXION)
HOLDS: tuple[Search, ...] = tuple((pattern, {}) for pattern in _HOLDS)
ON: tuple[Search, ...] = (
    (_ON_SEAT, {"group": "seat"}),
    (_ON_MOUNT, {"group": "mount"}),
    (_ON_BOARD, {"group": "board"}),
)
POSITION: tuple[Search, ...] = ((_POSITION, {}),)
