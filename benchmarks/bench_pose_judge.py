"""Validation of the ``pose`` judge: does it find a flipped fact, and leave true answers be?

Answers grounded by construction come from the ``template`` backend (every statement it
makes about a person is a pose fact at or above 0.6, the judge's threshold). Each answer is
judged as written, then once per *perturbation*: one statement flipped so that it is false
of the person it names, by these rules (the benchmark's oracle, which reads the template's
own wording and the facts, never the judge's claims):

- ``posture``: "X is standing" -> "sitting", sitting -> standing, squatting, crouching,
  kneeling or lying -> standing, walking -> sitting (only where X's posture fact is at or
  above 0.6);
- ``left/right``: a side swapped in "their left elbow/knee is ...", "their left arm ...",
  "their left hand is near the ...", "facing the left of the image", or the person named
  ("the person on the far left" <-> "on the far right") in "X is <posture>, <facing>": only
  where the statement becomes false of the other side or person (the other side's flexion
  in a bin that the wording rules out, not its neighbour; its arm up, down or out in
  another way; that hand visible and more than half a torso length from every such object;
  another posture, not a neighbouring one; another facing);
- ``bent/straight``: "their left knee is bent", "sharply bent" or "bent at about a right
  angle" -> "straight" ("slightly bent" and "straight" are neighbouring bins, 6 degrees
  apart, within annotators' spread: no flip);
- ``count``: "There are three people" -> two or four (one more or one fewer).

A flip is *detected* when the judge contradicts a claim in the flipped sentence. The false
contradiction rate is the share of unflipped answers with any contradicted claim (and, per
claim, contradicted over decided claims). Sets: the bundled sample's four real images
(template answers under many seeds, duplicates dropped) and synthetic images of 1-5 people
in random poses (:func:`kpit.testing.synthetic_context`). The LLaVA-Bench COCO files (no
keypoints) show how little the judge can decide without them.

    python benchmarks/bench_pose_judge.py [--synthetic 2000] [--seeds 12] [--min-stability 0]
    python benchmarks/bench_pose_judge.py --quick     # 40 synthetic images, 2 seeds
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import kpit
from kpit.bench import bench_context, load_bench, read_answers
from kpit.generators.template import NUMBERS, TemplateGenerator, _referents
from kpit.judges.pose.judge import PoseJudge, PoseReview
from kpit.judges.records import Answer, BenchContext, Question
from kpit.pose.facts import PoseFacts, pose_facts_batch, pose_measures
from kpit.prompts.tasks import parse_pairs
from kpit.testing import synthetic_context
from kpit.types import Box, ChatRequest, ImageContext, Person

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "data" / "coco-sample"
LLAVA_BENCH = REPO / "tests" / "data" / "llava-bench-coco"
THRESHOLD = 0.6  # the template's min_confidence and the judge's
JUDGE_OPTIONS: dict[str, float] = {}

POSTURE_FLIP = {"standing": "sitting", "sitting": "standing", "squatting": "standing",
                "crouching": "standing", "kneeling": "standing", "lying down": "standing",
                "walking or striding": "sitting"}  # fmt: skip
POSTURE_LABEL = {"lying down": "lying", "walking or striding": "walking"}
POSTURE_CLASS = {"standing": 0, "walking": 0, "sitting": 1, "crouching": 2, "squatting": 2,
                 "kneeling": 2, "lying": 3}  # fmt: skip
# Postures of different classes that a 2D skeleton does not tell apart with certainty.
POSTURE_CLOSE = {frozenset(p) for p in (("sitting", "crouching"), ("sitting", "squatting"),
                 ("sitting", "kneeling"), ("walking", "crouching"))}  # fmt: skip
# A flexion wording and the facts' bins that make it false (its near neighbours excluded).
FLEXION_FALSE = {
    "bent": {"straight"},
    "slightly bent": {"bent at about a right angle", "sharply bent"},
    "bent at about a right angle": {"straight", "slightly bent"},
    "sharply bent": {"straight", "slightly bent", "bent"},
}
ARM_TEXT = {
    "is raised above their head": "hand above the head",
    "is raised above the shoulder": "raised above the shoulder",
    "hangs at their side": "at the side",
    "is stretched out to the side": "stretched out to the side",
    "is stretched out forward": "stretched out forward",
    "is stretched out behind them": "stretched out backward",
}
ARM_CLASS = {
    "hand above the head": "up",
    "raised above the shoulder": "up",
    "at the side": "down",
    "stretched out to the side": "out sideways",
    "stretched out forward": "out forward",
    "stretched out backward": "out backward",
}
# A horizontal arm and one raised a little above the shoulder: too close to call.
ARM_CLOSE = {("raised above the shoulder", "out sideways"), ("raised above the shoulder",
             "out forward"), ("raised above the shoulder", "out backward")}  # fmt: skip
KINDS = ("posture", "left/right", "bent/straight", "count")


@dataclass(frozen=True, slots=True)
class Flip:
    """One perturbation: replace ``text[start:end]`` with ``new``."""

    kind: str
    detail: str
    start: int
    end: int
    new: str

    def apply(self, text: str) -> str:
        return text[: self.start] + self.new + text[self.end :]


@dataclass
class Tally:
    answers: int = 0
    with_contradiction: int = 0
    claims: int = 0
    decided: int = 0
    contradicted: int = 0
    flips: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    anywhere: Counter[str] = field(default_factory=Counter)
    misses: list[tuple[str, str, str]] = field(default_factory=list)
    false_alarms: list[tuple[str, str]] = field(default_factory=list)
    decided_kinds: Counter[str] = field(default_factory=Counter)
    claim_kinds: Counter[str] = field(default_factory=Counter)


# --- the template's answers and their flips --------------------------------------------------


def template_answers(ctx: ImageContext, seeds: range) -> Iterator[tuple[str, str, str]]:
    """``(category, question, answer)`` for every answer the template writes, each once."""
    writer = TemplateGenerator()
    seen: set[str] = set()
    for seed in seeds:
        for task, category in (("conversation", "conv"), ("detail", "detail"),
                               ("complex", "complex")):  # fmt: skip
            meta = {"task": task, "context": ctx, "seed": seed}
            try:
                reply = writer.write(ChatRequest(f"{task}/{ctx.image_id}", (), meta))
            except kpit.GeneratorError:
                continue
            text = reply.text or ""
            pairs = [("Describe the image in detail.", text)] if task == "detail" else \
                parse_pairs(text)  # fmt: skip
            for question, answer in pairs:
                if answer not in seen:
                    seen.add(answer)
                    yield category, question, answer


def _sentences(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"[^.;?!]+[.;?!]?", text)]


def flips(answer: str, ctx: ImageContext, facts: list[PoseFacts]) -> list[Flip]:
    """Every flip the oracle can make in a template answer, each false by the rules above."""
    refs = _referents(ctx)
    confident = [f.above(THRESHOLD) for f in facts]
    names = sorted({r for r in refs}, key=len, reverse=True)
    ref_pattern = re.compile("|".join(re.escape(n) for n in names), re.I) if names else None
    out: list[Flip] = []
    current: int | None = None
    boxes: dict[str, list[Box]] = {}
    for obj in ctx.objects:
        boxes.setdefault(obj.category, []).append(obj.box)
    for start, end in _sentences(answer):
        sentence = answer[start:end]
        found = ref_pattern.search(sentence) if ref_pattern else None
        if found is not None and (found.start() == 0 or sentence[: found.start()].strip() in
                                  ("", "Yes,")):  # fmt: skip
            current = refs.index(next(r for r in refs if r.lower() == found.group().lower()))
        elif not re.match(r"\s*(their|they)\b", sentence, re.I) and not re.search(
            r"\b(There|The picture shows)\b", sentence
        ):
            current = None
        out += _count_flips(sentence, start)
        if current is None:
            continue
        mine = confident[current]
        out += _posture_flips(sentence, start, mine)
        out += _side_flips(sentence, start, mine, facts[current], ctx.people[current], boxes)
        out += _bent_flips(sentence, start)
        if found is not None and len(refs) >= 2:
            out += _referent_flips(sentence, start, found, current, refs, confident)
    return out


def _count_flips(sentence: str, offset: int) -> list[Flip]:
    out = []
    pattern = r"\b(There (?:is|are)|The picture shows) (\w+) (other )?(person|people)\b"
    for m in re.finditer(pattern, sentence):
        words = {w: n for n, w in enumerate(NUMBERS)}
        n = words.get(m.group(2), int(m.group(2)) if m.group(2).isdigit() else None)
        if n is None:
            continue
        for new in (n + 1, n - 1):
            if new < (0 if m.group(3) else 1):
                continue
            word = NUMBERS[new] if new < len(NUMBERS) else str(new)
            noun = "person" if new == 1 else "people"
            verb = m.group(1)
            if verb.startswith("There"):
                verb = "There is" if new == 1 else "There are"
            text = f"{verb} {word} {m.group(3) or ''}{noun}"
            out.append(Flip("count", f"{n}->{new}", offset + m.start(), offset + m.end(), text))
    return out


def _posture_flips(sentence: str, offset: int, mine: PoseFacts) -> list[Flip]:
    stated = mine.labels("posture")
    out = []
    for m in re.finditer(r"\b(?:is|are) (" + "|".join(POSTURE_FLIP) + r")\b", sentence):
        label = POSTURE_LABEL.get(m.group(1), m.group(1))
        if not stated or stated[0] != label:
            continue  # not a posture fact at or above the threshold
        new = POSTURE_FLIP[m.group(1)]
        out.append(Flip("posture", f"{m.group(1)}->{new}", offset + m.start(1),
                        offset + m.end(1), new))  # fmt: skip
    return out


def _bent_flips(sentence: str, offset: int) -> list[Flip]:
    # "slightly bent" -> "straight" is no flip: the two bins lie within annotators' spread.
    pattern = r"\b(?:elbow|knee) is (bent at about a right angle|sharply bent|bent)"
    return [
        Flip("bent/straight", f"{m.group(1)}->straight", offset + m.start(1), offset + m.end(1),
             "straight")
        for m in re.finditer(pattern, sentence)
    ]  # fmt: skip


def _side_flips(
    sentence: str,
    offset: int,
    mine: PoseFacts,
    every: PoseFacts,
    person: Person,
    boxes: dict[str, list[Box]],
) -> list[Flip]:
    out = []
    flex = r"\b(left|right) (elbow|knee) is (slightly bent|bent at about a right angle|"
    flex += r"sharply bent|bent)"
    for m in re.finditer(flex, sentence):
        other = "right" if m.group(1) == "left" else "left"
        theirs = [f.label for f in mine if f.part == m.group(2) and f.side == other]
        if theirs and theirs[0] in FLEXION_FALSE[m.group(3)]:
            out.append(Flip("left/right", f"{m.group(2)}", offset + m.start(1), offset + m.end(1),
                            other))  # fmt: skip
    arm = r"\b(left|right) (?:arm|hand) (" + "|".join(re.escape(t) for t in ARM_TEXT) + ")"
    for m in re.finditer(arm, sentence):
        other = "right" if m.group(1) == "left" else "left"
        theirs = [f.label for f in mine if f.part == "arm" and f.side == other]
        stated = ARM_TEXT[m.group(2)]
        close = theirs and ((stated, ARM_CLASS[theirs[0]]) in ARM_CLOSE
                            or (theirs[0], ARM_CLASS[stated]) in ARM_CLOSE)  # fmt: skip
        if theirs and not close and ARM_CLASS[theirs[0]] != ARM_CLASS[stated]:
            out.append(Flip("left/right", "arm", offset + m.start(1), offset + m.end(1), other))
    for m in re.finditer(r"\b(left|right) hand is near the ([a-z ]+?)(?=[.;,]|$)", sentence):
        other = "right" if m.group(1) == "left" else "left"
        near = [f for f in every if f.part == "hand" and f.side == other
                and f.label == m.group(2)]  # fmt: skip
        if not near and _clearly_away(person, f"{other}_wrist", boxes.get(m.group(2), [])):
            out.append(Flip("left/right", "hand", offset + m.start(1), offset + m.end(1), other))
    for m in re.finditer(r"\bfacing the (left|right) of the image", sentence):
        other = "right" if m.group(1) == "left" else "left"
        out.append(Flip("left/right", "facing", offset + m.start(1), offset + m.end(1), other))
    return out


def _clearly_away(person: Person, point: str, boxes: list[Box]) -> bool:
    """The point is visible and more than half a torso length outside every box: clearly not
    near it (kpit's "near" reaches 0.15 torso lengths out; in between is too close to call,
    as a real batter's second hand on the bat shows: 0.27 out)."""
    keypoint = person.keypoint(point)
    scale = float(pose_measures([person]).scale[0])
    if not keypoint.visible or not boxes or scale != scale:
        return False
    width, height = person.image_size or (1, 1)
    mx, my = 0.5 * scale / width, 0.5 * scale / height
    return all(not (b.x1 - mx <= keypoint.x <= b.x2 + mx and b.y1 - my <= keypoint.y <= b.y2 + my)
               for b in boxes)  # fmt: skip


def _referent_flips(
    sentence: str,
    offset: int,
    found: re.Match[str],
    current: int,
    refs: list[str],
    confident: list[PoseFacts],
) -> list[Flip]:
    """The person named swapped for their mirror image in "X is <posture>, <facing>."."""
    m = re.match(r"\s*(?:Yes, )?\S.*? is (" + "|".join(POSTURE_FLIP) + r")(?:, (facing the "
                 r"camera|facing away from the camera|in profile, facing the (?:left|right) of "
                 r"the image))?\.?\s*$", sentence)  # fmt: skip
    name = refs[current]
    swapped = name.replace("left", "\0").replace("right", "left").replace("\0", "right")
    sided = ("left" in name or "right" in name) and "from the" not in name
    mirrored = swapped if sided else None
    if m is None or mirrored is None or mirrored not in refs:
        return []
    other = refs.index(mirrored)
    if other == current:
        return []
    stated = POSTURE_LABEL.get(m.group(1), m.group(1))
    theirs = confident[other].labels("posture")
    false = bool(theirs) and POSTURE_CLASS[theirs[0]] != POSTURE_CLASS[stated]
    false = false and frozenset((theirs[0], stated)) not in POSTURE_CLOSE
    facing = m.group(2)
    their_facing = confident[other].labels("body")
    if facing and their_facing and their_facing[0] != facing and their_facing[0] != "in profile":
        false = True
    if not false:
        return []
    text = found.group()
    new = mirrored[0].upper() + mirrored[1:] if text[0].isupper() else mirrored
    return [Flip("left/right", "person", offset + found.start(), offset + found.end(), new)]


# --- paraphrases --------------------------------------------------------------------------------

PARAPHRASES = (
    (r"\bThere (?:is|are) (\w+) (person|people) in the image\.",
     r"I can see \1 \2 in the picture."),
    (r"\bThe picture shows (\w+) (person|people)\.", r"The image shows \1 \2."),
    (r" is standing\b", " stands"), (r" is sitting\b", " sits"), (r" is squatting\b", " squats"),
    (r" is kneeling\b", " kneels"), (r" is crouching\b", " crouches"),
    (r" is lying down\b", " lies down"),
    (r" is walking or striding, with the feet apart", " is walking"),
    (r", facing the camera\b", " and faces the camera"),
    (r", facing away from the camera\b", " with {pos} back to the camera"),
    (r"\barm hangs at their side\b", "arm hangs down by {pos} side"),
    (r"\bhand is raised above their head\b", "hand is held up above {pos} head"),
    (r"\belbow is slightly bent\b", "elbow is a little bent"),
    (r"\bknee is slightly bent\b", "knee is a little bent"),
    (r"\bis sharply bent\b", "is deeply bent"),
    (r"\bhand is near the\b", "hand is on the"),
    (r"\bthe person\b", "the {noun}"), (r"\bThe person\b", "The {noun}"),
    (r"\bTheir\b", "{Pos}"), (r"\btheir\b", "{pos}"), (r"\bThey are\b", "{Sub} is"),
    (r"\bthey are\b", "{sub} is"),
)  # fmt: skip
"""Rewrites of the template's wording that keep its meaning and its sentences, for a set of
grounded answers in words the claim rules were not written from."""


def paraphrase(text: str, rng: np.random.Generator) -> str:
    """``text`` in other words (a man's or a woman's, chosen with ``rng``), sentence for
    sentence."""
    man = bool(rng.random() < 0.5)
    words = {"noun": "man" if man else "woman", "pos": "his" if man else "her",
             "Pos": "His" if man else "Her", "sub": "he" if man else "she",
             "Sub": "He" if man else "She"}  # fmt: skip
    for pattern, replacement in PARAPHRASES:
        text = re.sub(pattern, replacement.format(**words), text)
    return text


# --- a second annotator ------------------------------------------------------------------------

# COCO's per-keypoint spread between annotators (the OKS sigmas of cocoeval): the RMS
# distance between two annotators' points, in units of the square root of the person's
# segment area (taken here as half the box's area).
COCO_SIGMAS = np.array([0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062,
                        0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089])  # fmt: skip


def reannotated(ctx: ImageContext, rng: np.random.Generator) -> ImageContext:
    """``ctx`` as a second annotator might have labelled it: every labelled point moved by
    Gaussian noise with COCO's own spread between annotators for that point (an RMS
    displacement of sigma x sqrt(area), the area half the box's)."""
    people = []
    for person in ctx.people:
        points = person.keypoint_array.copy()
        area = 0.5 * person.box.width * ctx.width * person.box.height * ctx.height
        spread = COCO_SIGMAS * np.sqrt(max(area, 1.0)) / np.sqrt(2)  # per coordinate
        shift = rng.normal(0, 1, (len(points), 2)) * spread[:, None] / (ctx.width, ctx.height)
        labelled = points[:, 2] > 0
        points[labelled, :2] = np.clip(np.round(points[labelled, :2] + shift[labelled], 3), 0, 1)
        points.setflags(write=False)
        people.append(Person(person.box, points, person.layout, person.annotation_id,
                             person.image_size))  # fmt: skip
    return ImageContext(ctx.image_id, ctx.file_name, ctx.width, ctx.height, ctx.captions,
                        ctx.objects, tuple(people))  # fmt: skip


# --- measuring ---------------------------------------------------------------------------------


def _judge(judge: PoseJudge, context: BenchContext, question: str, text: str) -> PoseReview:
    q = Question(0, context.image, question, "conv")
    return judge.assess(q, context, Answer(0, text, "template"))


def measure(contexts: list[ImageContext], seeds: range, per_kind: int | None = None,
            rng: np.random.Generator | None = None, reword: bool = False,
            noise: np.random.Generator | None = None) -> Tally:  # fmt: skip
    """Judge every template answer as written and once per flip (at most ``per_kind`` flips
    of each kind per answer, drawn with ``rng``); with ``reword``, every answer (flipped or
    not) is paraphrased first (:func:`paraphrase`), the flipped sentence found by its
    place. With ``noise``, the answers (not flipped) are judged against the image as a second
    annotator would have labelled it (:func:`reannotated`)."""
    words = np.random.default_rng(1)
    judge = PoseJudge(**JUDGE_OPTIONS)
    tally = Tally()
    all_facts = pose_facts_batch(contexts)
    for ctx, facts in zip(contexts, all_facts, strict=True):
        context = bench_context(ctx if noise is None else reannotated(ctx, noise))
        for _, question, answer in template_answers(ctx, seeds):
            state = words.bit_generator.state
            shown = paraphrase(answer, words) if reword else answer
            review = _judge(judge, context, question, shown)
            tally.answers += 1
            tally.claims += len(review.claims)
            tally.decided += review.supported + review.contradicted
            tally.contradicted += review.contradicted
            for claim in review.claims:
                tally.claim_kinds[claim.claim.kind] += 1
                if claim.status != "undecidable":
                    tally.decided_kinds[claim.claim.kind] += 1
            if review.contradicted:
                tally.with_contradiction += 1
                bad = next(c for c in review.claims if c.status == "contradicted")
                tally.false_alarms.append((shown, f"{bad.claim.text!r}: {bad.fact}"))
            chosen = flips(answer, ctx, facts) if noise is None else []
            if per_kind is not None and rng is not None:
                by_kind: dict[str, list[Flip]] = {}
                for flip in chosen:
                    by_kind.setdefault(flip.kind, []).append(flip)
                chosen = []
                for kind_flips in by_kind.values():
                    if len(kind_flips) > per_kind:
                        picks = rng.choice(len(kind_flips), per_kind, replace=False)
                        kind_flips = [kind_flips[i] for i in picks]
                    chosen += kind_flips
            for flip in chosen:
                text = flip.apply(answer)
                place = next(n for n, (s, e) in enumerate(_sentences(text)) if s <= flip.start < e)
                if reword:
                    words.bit_generator.state = state  # the same words as the unflipped answer
                    text = paraphrase(text, words)
                flipped = _judge(judge, context, question, text)
                where = _sentences(text)[place]
                hit = any(c.status == "contradicted" and where[0] <= c.claim.start < where[1]
                          for c in flipped.claims)  # fmt: skip
                tally.flips[flip.kind] += 1
                tally.found[flip.kind] += hit
                if flip.kind == "left/right":
                    tally.flips[f"left/right: {flip.detail}"] += 1
                    tally.found[f"left/right: {flip.detail}"] += hit
                tally.anywhere[flip.kind] += flipped.contradicted > review.contradicted
                if not hit:
                    tally.misses.append((flip.kind, flip.detail, text[where[0] : where[1]]))
    return tally


def captions(contexts: list[ImageContext]) -> dict[str, float]:
    """Human captions judged against their own images: true statements in free words."""
    judge = PoseJudge(**JUDGE_OPTIONS)
    out: Counter[str] = Counter()
    for ctx in contexts:
        context = bench_context(ctx)
        for caption in ctx.captions:
            review = _judge(judge, context, "Describe the image.", caption)
            out["captions"] += 1
            out["claims"] += len(review.claims)
            out["supported"] += review.supported
            out["contradicted"] += review.contradicted
            for claim in review.claims:
                if claim.status == "contradicted":
                    print(f"  contradicted in a caption: {caption!r}: {claim.claim.text!r} "
                          f"by {claim.fact}")  # fmt: skip
    return {k: float(v) for k, v in out.items()}


def llava_bench() -> dict[str, float]:
    """How much the judge decides of GPT-4's own answers to LLaVA-Bench COCO (no keypoints)."""
    bench = load_bench(
        questions=LLAVA_BENCH / "qa90_questions.jsonl",
        context=LLAVA_BENCH / "caps_boxes_coco2014_val_80.jsonl",
        references=LLAVA_BENCH / "qa90_gpt4_answer.jsonl",
    )
    answers = read_answers(LLAVA_BENCH / "qa90_gpt4_answer.jsonl", default_model="gpt-4")
    judge = PoseJudge(**JUDGE_OPTIONS)
    claims = decided = contradicted = with_people = 0
    kinds: Counter[str] = Counter()
    for question in bench.questions:
        context = bench.context(question)
        with_people += any(i["category"] == "person" for i in context.instances)
        review = judge.assess(question, context, answers[question.question_id])
        claims += len(review.claims)
        decided += review.supported + review.contradicted
        contradicted += review.contradicted
        for claim in review.claims:
            kinds[claim.claim.kind] += 1
    return {"answers": len(bench.questions), "with person boxes": with_people,
            "claims": claims, "decided": decided, "contradicted": contradicted,
            "posture-like claims": sum(v for k, v in kinds.items() if k != "count")}  # fmt: skip


def report(name: str, tally: Tally, seconds: float) -> None:
    total_flips = sum(tally.flips[k] for k in KINDS)
    found = sum(tally.found[k] for k in KINDS)
    print(f"\n### {name}: {tally.answers} grounded answers, {total_flips} flipped ones "
          f"({seconds:.1f} s)\n")  # fmt: skip
    print("| flip | answers | detected | rate |")
    print("| --- | --- | --- | --- |")
    for kind in KINDS:
        n = tally.flips[kind]
        rate = f"{100 * tally.found[kind] / n:.1f}%" if n else "-"
        print(f"| {kind} | {n} | {tally.found[kind]} | {rate} |")
    overall = f"{100 * found / total_flips:.1f}%" if total_flips else "-"
    print(f"| **all** | {total_flips} | {found} | **{overall}** |")
    sides = [f"{k.split(': ')[1]} {tally.found[k]}/{n}" for k, n in sorted(tally.flips.items())
             if k.startswith("left/right: ")]  # fmt: skip
    if sides:
        print(f"\nleft/right by what was swapped: {', '.join(sides)}")
    share = tally.with_contradiction / tally.answers if tally.answers else float("nan")
    per_claim = tally.contradicted / tally.decided if tally.decided else float("nan")
    print(f"\nFalse contradictions on grounded answers: **{100 * share:.2f}%** of answers "
          f"({tally.with_contradiction}/{tally.answers}); {100 * per_claim:.2f}% of decided "
          f"claims ({tally.contradicted}/{tally.decided}); claims read {tally.claims}, decided "
          f"{tally.decided} ({100 * tally.decided / max(tally.claims, 1):.1f}%).")  # fmt: skip
    for kind, detail, sentence in tally.misses[:8]:
        print(f"  missed {kind} ({detail}): {sentence.strip()!r}")
    for answer, why in tally.false_alarms[:5]:
        print(f"  false alarm: {why} in {answer[:160]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthetic", type=int, default=2000, help="synthetic images")
    parser.add_argument("--seeds", type=int, default=12, help="template seeds per image")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-stability", type=float, default=None,
                        help="the judge's min_stability (default: the judge's own)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="smaller sets: a quick check")
    args = parser.parse_args()
    if args.quick:  # other defaults; the flags given still count
        parser.set_defaults(synthetic=40, seeds=2)
        args = parser.parse_args()
    if args.min_stability is not None:
        JUDGE_OPTIONS["min_stability"] = args.min_stability
    print(f"pose judge: {PoseJudge(**JUDGE_OPTIONS).settings()}")

    started = time.perf_counter()
    sample = list(kpit.load_coco(SAMPLE, split="val2017"))
    tally = measure(sample, range(args.seeds))
    report("The bundled sample (4 real COCO images)", tally, time.perf_counter() - started)

    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    synthetic = [synthetic_context(rng, image_id=i) for i in range(args.synthetic)]
    tally = measure(synthetic, range(1), per_kind=1, rng=rng)
    people = sum(len(c.people) for c in synthetic)
    report(f"Synthetic images ({args.synthetic} images, {people} people)", tally,
           time.perf_counter() - started)  # fmt: skip

    started = time.perf_counter()
    tally = measure(sample, range(args.seeds), reword=True)
    report("The bundled sample, reworded", tally, time.perf_counter() - started)
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    tally = measure(synthetic, range(1), per_kind=1, rng=rng, reword=True)
    report("Synthetic images, reworded", tally, time.perf_counter() - started)

    noise = np.random.default_rng(args.seed + 1)
    for name, contexts, seeds in (("the bundled sample", sample, range(args.seeds)),
                                  ("synthetic images", synthetic, range(1))):  # fmt: skip
        started = time.perf_counter()
        tally = measure(contexts, seeds, noise=noise)
        share = tally.with_contradiction / tally.answers
        print(f"\n### {name.capitalize()}, judged against a second annotator's keypoints "
              f"({time.perf_counter() - started:.1f} s)\n\nAnswers with a contradiction: "
              f"**{100 * share:.2f}%** ({tally.with_contradiction}/{tally.answers}); "
              f"{100 * tally.contradicted / max(tally.decided, 1):.2f}% of decided claims "
              f"({tally.contradicted}/{tally.decided}); decided {tally.decided} of "
              f"{tally.claims} claims.")  # fmt: skip
        for answer, why in tally.false_alarms[:4]:
            print(f"  contradicted: {why} in {answer[:120]!r}")

    figures = captions(sample)
    print(f"\n### COCO's own captions of the sample ({figures['captions']:.0f}, written by "
          "people)\n")  # fmt: skip
    print(", ".join(f"{k}: {v:.0f}" for k, v in figures.items()))

    figures = llava_bench()
    print(f"\n### LLaVA-Bench COCO (no keypoints): GPT-4's {figures['answers']:.0f} answers\n")
    print(", ".join(f"{k}: {v:.0f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
