"""Source leaks: the words that show a teacher read the annotations instead of an image.

A teacher writes from captions, object boxes and keypoints, and sometimes says so: "her
keypoints indicate...", "the bounding box of the batter...", "as the captions say...", "from
the image details provided...". A model trained on such text learns to talk about
annotations it never sees. The same words also mean ordinary things ("the key point of this
drill", "a caption on the sign", "she coordinates her arm swing", "the batter's box", "low
visibility in the fog"), so each rule below matches a word only in the company that makes it
a leak: a possessive before "box", a body part before "points", a verb of reporting after
"the captions", a preposition of source before "the data", "provided" or "given" beside
"details". A teacher also leaks when it refers to what it was given without naming any field
("the text I received mentions...", "from what I was told about the image...", "what was
shared with me", "without seeing the photo"): first-person receipt is the company there,
so "the menu she was given" or "what the sign says" stay clean. The rules were measured on a
labelled corpus (``tests/data/leaks/``, precision and recall in ``docs/benchmarks.md``).

:class:`LeakFinder` returns the first leak in a text with the exact words that make it one,
which the quality filter reports as its rejection's detail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["LEAK_RULES", "Leak", "LeakFinder", "LeakRule"]


@dataclass(frozen=True, slots=True)
class LeakRule:
    """One way a teacher reveals its source.

    Attributes:
        name: a short name (``keypoint``, ``box-possessive``...).
        words: the rule is tried only on a text that holds one of these, in lower case (every
            match of ``pattern`` holds one): most texts need only a few rules.
        pattern: a regular expression, matched case-insensitively; its match is the phrase
            reported.
        example: a sentence it catches.
    """

    name: str
    words: tuple[str, ...]
    pattern: str
    example: str


@dataclass(frozen=True, slots=True)
class Leak:
    """A leak found in a text: the ``phrase`` as written, where it starts, and the rule."""

    phrase: str
    start: int
    rule: str


# --- vocabulary ------------------------------------------------------------------------------

_S = r"(?:['\u2019]s)"  # a possessive 's, straight or curly
_DET = r"(?:the|his|her|their|its|these|those|this|both|each|every|all(?:\s+of\s+the)?)"
# Body parts that have a keypoint and do not "point" at things themselves.
_JOINT = (
    r"(?:nose|eyes?|ears?|shoulders?|elbows?|wrists?|hips?|knees?|ankles?|heels?|neck|"
    r"facial|upper[- ]body|lower[- ]body)"
)
_BODY = (
    rf"(?:{_JOINT}|head|face|hands?|arms?|legs?|feet|foot|torso|limbs?|body|forearms?|"
    r"thighs?|shins?|chest|back)"
)
_PERSON = (
    r"(?:person|people|persons|man|men|woman|women|boy|boys|girl|girls|child|children|kids?|"
    r"adults?|individuals?|figures?|subjects?|players?|athletes?|skiers?|surfers?|"
    r"skateboarders?|snowboarders?|batters?|pitchers?|catchers?|riders?|runners?|couple|"
    r"group|teammates?|spectators?|goalkeepers?|dancers?|guy|lady|toddler|baby)"
)
# COCO's object categories, as a teacher reads them in the context.
_OBJECT = (
    r"(?:bicycle|bike|car|motorcycle|airplane|bus|train|truck|boat|traffic light|hydrant|"
    r"stop sign|parking meter|bench|bird|cat|dog|horse|sheep|cow|elephant|bear|zebra|giraffe|"
    r"backpack|umbrella|handbag|tie|suitcase|frisbee|skis|snowboard|ball|kite|bat|glove|"
    r"skateboard|surfboard|racket|bottle|glass|cup|fork|knife|spoon|bowl|banana|apple|"
    r"sandwich|orange|broccoli|carrot|hot dog|pizza|donut|cake|chair|couch|plant|bed|table|"
    r"toilet|tv|laptop|mouse|remote|keyboard|phone|microwave|oven|toaster|sink|refrigerator|"
    r"book|clock|vase|scissors|teddy bear|toothbrush)"
)
_OWNER = rf"(?:{_PERSON}|{_OBJECT})"
# What the teacher was given, named as such.
_STRONG_SOURCE = r"(?:captions?|descriptions?|annotations?|sentences|metadata|coordinates)"
_WEAK_SOURCE = r"(?:data|information|info|details|input|text|numbers|values)"
_GIVEN = r"(?:provided|given|supplied|available|listed)"
_QUALIFIER = (
    rf"(?:{_GIVEN}|image|pose|joint|keypoint|annotation|object|five|first|second|third|"
    r"fourth|fifth|last|other|original)"
)
_REPORT = (
    r"(?:says?|said|mentions?|mentioned|describes?|described|states?|stated|notes?|noted|"
    r"indicates?|indicated|suggests?|suggested|shows?|showed|reveals?|revealed|refers?|"
    r"referred|calls?|called|agrees?|agreed|differs?|differed|points? to|tells?|told|"
    r"places?|placed|puts?|lists?|includes?|included|confirms?|confirmed|specif(?:y|ies)|"
    r"marks?|marked|implies|imply|(?:do|does|did)(?:n['\u2019]t| not))"
)
# Text after a source word that makes it a thing in the picture: "the caption on the sign".
_PLACE = (
    r"(?!\s+(?:on|under|underneath|below|beneath|above|beside|next to|behind|across|"
    r"inside|at|in|by|to)\s)"
)
_SOURCE_PREP = (
    r"(?:based (?:up)?on|according to|judging (?:by|from)|going by|(?:as )?per|from|using|"
    r"considering|looking at|inferr?(?:ed)? from|tell from|(?:as )?(?:described|stated|"
    r"noted|mentioned|shown|listed|indicated|given|seen) (?:in|by))"
)
_POINTING = (
    r"(?!\s+(?:at|to|toward|towards|up|down|forward|forwards|backward|backwards|out|outward|"
    r"outwards|in|inward|away|ahead|straight|upward|downward|skyward|left|right|into)\b)"
)


def _rule(name: str, words: str, example: str, *pattern: str) -> LeakRule:
    """A rule; ``words`` separated by ``|``, the pattern in parts."""
    return LeakRule(name, tuple(words.split("|")), "".join(pattern), example)


# What the teacher received, named by no field: "the text I received", "what I was sent".
_RECEIVED_THING = (
    r"(?:text|words?|material|notes?|summary|write-?up|account|descriptions?|information|"
    r"info|details|data|input|captions?|context|sentences)"
)
_RECEIVED = (
    r"(?:\s(?:have|had)\s+|['\u2019](?:ve|d)\s+|\s)(?:(?:was|were|am|are|been)\s+)?"
    r"(?:received|got|gotten|given|handed|sent|told|shown|read|provided|fed)"
)
_RECEIVED_WORDS = "received|got|given|handed|sent|told|shown|read|provided|fed|have|had|hold"

_SOURCE_WORDS = "caption|description|annotation|sentences|metadata|coordinates|data|info|details|"
_SOURCE_WORDS += "input|text|numbers|values"
_GIVEN_WORDS = "provided|given|supplied|available|listed"

LEAK_RULES: tuple[LeakRule, ...] = (
    # keypoints
    _rule("keypoint", "key", "Her keypoints indicate an upright walking posture.",
          r"\bkey-?points?\b"),
    _rule("key-points-of-person", "key point", "His key points show a bent left elbow.",
          rf"\b(?:his|her|their|its|\w+{_S})\s+key points?\b(?!\s+(?:is|was|here|to)\b)"),
    _rule("body-key-points", "key point", "The shoulder and hip key points are level.",
          rf"\b{_BODY}(?:\s*(?:,|and|or)\s*{_BODY})*\s+key points?\b"),
    _rule("key-points-of-body", "key point", "The key points of the woman's arms show...",
          rf"\bkey points?\s+(?:of|for|on|around|at)\s+(?:{_DET}\s+)?(?:\w+{_S}\s+)?",
          rf"(?:left\s+|right\s+)?(?:{_BODY}|{_PERSON})\b"),
    _rule("key-points-show", "key points", "Key points show concentration.",
          r"\bkey points\s+(?:show|indicate|suggest|reveal|place|put|fall|line up|cluster|",
          r"are (?:visible|missing|labell?ed|hidden|occluded|located|level|close))\b"),
    # body points, labels, visibility
    _rule("label-name", "_", "Her right_wrist sits above her right_elbow.",
          r"\b(?:left|right)_[a-z_]+\b|\b[a-z]+_(?:wrist|elbow|shoulder|hip|knee|ankle|eye|",
          r"ear)\b"),
    _rule("joint-points", "point|landmark", "The hip and knee points are marked as occluded.",
          rf"\b{_JOINT}(?:\s*(?:,|and|or)\s*{_JOINT})*\s+(?:points?|landmarks?)\b{_POINTING}"),
    _rule("points-for-joint", "point|landmark", "The points for his shoulders are far apart.",
          rf"\b(?:points?|landmarks?)\s+(?:for|of|on)\s+{_DET}\s+(?:left\s+|right\s+)?{_JOINT}"),
    _rule("points-such-as", "point", "The visibility of points such as the nose...",
          rf"\bpoints?\s+(?:such as|like|including)\s+(?:the\s+)?{_JOINT}"),
    _rule("labelled-points", "point|joint|landmark", "The labelled points for the ankles...",
          r"\b(?:labell?ed|annotated|marked|detected|unlabell?ed|unannotated|occluded|facial|",
          r"upper[- ]body|lower[- ]body|pose|skeleton)\s+(?:points?|joints?|landmarks?)\b"),
    _rule("numbered-point", "point", "Points 10 and 11 are above the head.",
          r"\bpoints?\s+(?:number\s+|#)?\d+\b"),
    _rule("marked-visible", "label|marked|annotated|flagged|tagged",
          "Her left ankle is marked as not visible.",
          r"\b(?:labell?ed|marked|annotated|flagged|tagged)\s+(?:as\s+)?(?:not\s+|in)?",
          r"(?:visible|occluded|hidden|invisible|missing|unlabell?ed|absent)\b"),
    _rule("labelled-but", "label", "The wrists are labelled but hidden.",
          r"\blabell?ed\s+but\s+(?:not\s+visible|hidden|occluded|invisible)\b"),
    _rule("not-annotated", "annotated|unlabel", "Only the upper body is annotated.",
          r"\b(?:is|are|was|were)\s+(?:not\s+)?(?:annotated|unlabell?ed|unannotated)\b"),
    _rule("pose-data", "pose|skeleton|joint|landmark|body", "The pose data tells us...",
          r"\b(?:pose|skeleton|joint|landmark|body[- ]part)\s+(?:estimation|estimates?|data|",
          r"information|info|annotations?|positions|coordinates|values|labels?)\b"),
    _rule("annotated-thing", "annotated", "The annotated joints place her hands near her waist.",
          r"\bannotated\s+(?:joints?|points?|scene|image|people|persons?|body|skeleton|parts?|",
          r"positions?|objects?|boxes|landmarks?|pose|limbs?)\b"),
    _rule("visibility-value", "visibility", "The visibility flag for the right knee is 1.",
          r"\bvisibility\s+(?:flags?|values?|scores?|markers?|labels?|status|codes?|numbers?|",
          r"of\s+(?:0|1|2|zero|one|two)\b|[=:]\s*\d|[012]\b)"),
    _rule("visibility-of-body", "visibility", "Given the visibility of the shoulders...",
          rf"\bvisibility\s+(?:of|for)\s+(?:{_DET}\s+)?(?:left\s+|right\s+)?",
          rf"(?:{_JOINT}|points?|joints?|body parts?|limbs?)"),
    # boxes and objects
    _rule("bounding-box", "bounding", "The bounding box of the batter covers the left half.",
          r"\bbounding[- ]?(?:box(?:es)?|rectangles?|regions?|areas?)\b"),
    _rule("object-box", "box", "The person box on the right is small.",
          r"\b(?:object|person|people|human|detection|detected|annotated|given|provided)\s+",
          r"box(?:es)?\b"),
    _rule("box-possessive", "box", "The surfer's box takes up most of the frame.",
          rf"\b(?!batter{_S})(?:his|her|their|its|\w+{_S}|person\s+\d+{_S})\s+box(?:es)?\b",
          r"(?!\s+of\b)"),
    _rule("box-of-owner", "box", "The box for the dog sits by her feet.",
          rf"\bthe\s+box(?:es)?\s+(?:(?:for|around|enclosing|surrounding)\s+(?:{_DET}\s+)?",
          rf"(?:\w+\s+)?{_OWNER}|of\s+(?:{_DET}\s+)?(?:\w+\s+)?{_PERSON})\b"),
    _rule("box-geometry", "box", "The boxes show three people in a row.",
          r"\bthe\s+box\s+(?:\w+\s+){0,4}?(?:overlaps|overlapping|spans|is nested)\b|",
          r"\bthe\s+boxes\s+(?:\w+\s+){0,4}?(?:overlap|overlapping|span|show|indicate|",
          r"suggest|are nested)\b"),
    _rule("object-list", "object", "The detected objects include a frisbee near her hand.",
          r"\b(?:detected|listed|annotated|labell?ed|given|provided)\s+objects?\b|",
          r"\bobject\s+(?:list|labels?|categor(?:y|ies)|annotations?)\b|",
          r"\blist\s+of\s+objects\b|\bobjects?\s+(?:listed|detected|annotated)\b"),
    # captions, descriptions and what was provided
    _rule("numbered-caption", "caption|description", "Captions one and three both say...",
          r"\b(?:captions?|descriptions?)\s+(?:one|two|three|four|five|\d)\b"),
    _rule("source-reports", f"{_SOURCE_WORDS}|context|box",
          "The captions describe the scene as a busy street market.",
          rf"\b(?:{_DET}|one|two|three|four|five|several|some|many|none|a|other)\s+",
          rf"(?:of\s+the\s+)?(?:{_QUALIFIER}\s+)?(?:{_STRONG_SOURCE}|{_WEAK_SOURCE}|context|",
          rf"box(?:es)?)(?:\s+about\s+(?:{_DET}\s+)?{_PERSON})?\s+(?:\w+\s+)?{_REPORT}\b"),
    _rule("given-source", _GIVEN_WORDS, "Based on the given information, the girl...",
          rf"\b{_GIVEN}\s+(?:image\s+|pose\s+|scene\s+)?(?:{_STRONG_SOURCE}|{_WEAK_SOURCE}|",
          r"context|positions|labels?|measurements)\b"),
    _rule("source-given", _GIVEN_WORDS, "The descriptions provided mention an umbrella.",
          rf"\b(?:{_STRONG_SOURCE}|{_WEAK_SOURCE}|context|positions|measurements)\s+",
          r"(?:(?:I|we|you)\s+(?:was|were|am|are|have been|had been)\s+|",
          rf"(?:that|which)\s+(?:was|were)\s+|(?:was|were)\s+)?{_GIVEN}\b{_PLACE}"),
    _rule("image-source", "caption|description|details|data|info|annotation",
          "The image description states that two dogs are playing.",
          r"\b(?:image|scene|picture)\s+(?:captions?|descriptions?|details|data|information|",
          r"info|metadata|annotations?)\b"),
    _rule("from-source", f"{_SOURCE_WORDS}|boxes|positions|labels",
          "According to the data, the surfer is crouched.",
          rf"\b{_SOURCE_PREP}\s+(?:{_DET}\s+)?(?:{_QUALIFIER}\s+){{0,2}}",
          rf"(?:{_STRONG_SOURCE}|{_WEAK_SOURCE}|boxes|positions|labels){_PLACE}",
          rf"(?!\s+of\b)\b(?:\s+{_GIVEN}\b)?"),
    _rule("in-source", "caption|description|annotation|sentences|metadata",
          "In the captions, the players are described as celebrating.",
          rf"\bin\s+(?:{_DET}\s+)?(?:{_QUALIFIER}\s+)?(?:captions?|descriptions?|",
          rf"annotations?|sentences|metadata)\b{_PLACE}"),
    # coordinates and positions
    _rule("axis-value", "coord|value|position|axis", "The x-coordinate of her nose is smaller.",
          r"\b[xy][- ]?(?:coordinates?|values?|positions?|axis|coords?)\b"),
    _rule("coordinates-of", "coordinate", "His coordinates put him at the far left.",
          r"\b(?:his|her|their|its|box|bounding|keypoint|point|joint|pixel|normali[sz]ed|",
          r"vertical|horizontal|supplied|given|provided|listed)\s+coordinates?\b"),
    _rule("coordinates-of-body", "coordinate", "The coordinates of the left wrist are higher.",
          rf"\bcoordinates?\s+(?:of|for)\s+(?:{_DET}\s+)?(?:\w+{_S}\s+)?(?:left\s+|right\s+)?",
          rf"(?:{_BODY}|{_OWNER})\b"),
    _rule("owner-coordinates", "coordinate", "The skier's coordinates place her on the left.",
          rf"\b{_OWNER}{_S}\s+coordinates?\b"),
    _rule("position-data", "position|value|unit", "The position data tells us...",
          r"\b(?:normali[sz]ed|keypoint|point|pixel)\s+(?:positions?|values?|units?)\b|",
          r"\bpositions?\s+(?:data|values?|numbers)\b"),
    # first person: what the teacher was given, named by no field
    _rule("what-i-was-given", "what", "What we are given shows the runner leaning.",
          r"\bwhat\s+(?:I|we)\s+(?:am|are|was|were|have been)\s+(?:given|provided|told)\b"),
    _rule("what-i-received", _RECEIVED_WORDS, "The text I received mentions a man.",
          rf"\b(?:what|everything|nothing|anything|(?:the|this)\s+{_RECEIVED_THING})\s+",
          rf"(?:I|we)\s*{_RECEIVED}\b(?!\s+(?:on|off|aloud|out)\b)|\b(?:the|this)\s+{_RECEIVED_THING}\s+(?:I|we)\s+",
          r"(?:have|had|hold|read)\b(?!\s+(?:to|been)\b)"),
    _rule("i-was-told", "told|informed", "I'm told the man on the left holds a kite.",
          r"\b(?:I|we)\s*(?:['\u2019]m|am|was|were|are|(?:have|had|['\u2019]ve)\s+been)\s+",
          r"(?:told|informed)\b"),
    _rule("shared-with-me", "shared|given|sent|provided|handed|described|passed",
          "Judging from what was shared with me, they are celebrating.",
          r"\b(?:shared\s+with|given\s+to|sent\s+to|provided\s+to|handed\s+to|",
          r"described\s+to|passed\s+(?:on\s+)?to)\s+(?:me|us)\b"),
    _rule("my-source", "my", "My notes on this photo say the surfer is paddling.",
          r"\bmy\s+(?:notes|information|info|data|descriptions?|text|input|sources?|",
          r"captions?|materials?|summary|brief)\b"),
    _rule("unseen-image", "see|view|look", "Since I can't see the picture, I would guess...",
          r"\b(?:(?:I|we)\s+(?:can(?:no|['\u2019])t|can not|could(?:n['\u2019]t| not)|",
          r"am unable to|(?:do|did)(?:n['\u2019]t| not))\s+(?:actually\s+)?(?:see|view|look at)|",
          r"without\s+(?:actually\s+)?(?:seeing|viewing|looking at))\s+(?:the|this|your)\s+",
          r"(?:image|picture|photo(?:graph)?)\b"),
)  # fmt: skip
"""The leak rules, in the order they are tried at each position of a text."""


class LeakFinder:
    """Finds the first source leak in a text.

    Args:
        extra_patterns: more regular expressions to treat as leaks (case-insensitive; tried
            on every text).
        rules: the rules to apply (default :data:`LEAK_RULES`).
    """

    def __init__(
        self, extra_patterns: Iterable[str] = (), rules: Iterable[LeakRule] = LEAK_RULES
    ) -> None:
        rules = tuple(rules)
        self._rules = [(r.name, re.compile(r.pattern, re.I)) for r in rules]
        self._by_word: dict[str, list[int]] = {}
        for i, rule in enumerate(rules):
            for word in rule.words:
                self._by_word.setdefault(word, []).append(i)
        self._always = []  # the extra patterns, tried on every text
        for n, pattern in enumerate(extra_patterns, 1):
            self._always.append(len(self._rules))
            self._rules.append((f"extra pattern {n}", re.compile(pattern, re.I)))

    def find(self, text: str, start: int = 0) -> Leak | None:
        """The first leak in ``text`` from ``start`` (the leftmost; where two rules match at
        one place, the first of :attr:`rules`), or ``None``."""
        lower = text.lower()
        tried = set(self._always)
        for word, indices in self._by_word.items():
            if word in lower:
                tried.update(indices)
        first: Leak | None = None
        for i in sorted(tried):
            name, pattern = self._rules[i]
            match = pattern.search(text, start)
            if match is not None and (first is None or match.start() < first.start):
                first = Leak(match.group(0), match.start(), name)
        return first

    def find_all(self, text: str) -> list[Leak]:
        """Every leak in ``text``, left to right, none starting inside another."""
        leaks: list[Leak] = []
        while leak := self.find(text, leaks[-1].start + len(leaks[-1].phrase) if leaks else 0):
            leaks.append(leak)
        return leaks

    @property
    def rules(self) -> list[str]:
        """The names of the rules, in the order they are tried."""
        return [name for name, _ in self._rules]
