"""The pose judge on paragraphs of the kind LLaVA-style models write: a group no assignment
of people can satisfy is contradicted, who a phrase speaks of never depends on the question,
an ambiguous referent decides nothing, and the hand-labelled corpus
(``tests/judges/data/paragraphs``) keeps its goals."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kpit
from kpit.bench import Answer, Question, bench_context
from kpit.judges.pose.claims import extract_claims
from kpit.judges.pose.judge import PoseJudge, PoseReview
from kpit.judges.pose.kinds import CLAIM_KINDS
from kpit.testing import synthetic_context

from ..conftest import REPO

CORPUS = REPO / "tests" / "judges" / "data" / "paragraphs"


@pytest.fixture(scope="module")
def sample() -> kpit.CocoContexts:
    return kpit.load_coco(REPO / "examples" / "data" / "coco-sample", split="val2017")


def _assess(ctx: kpit.ImageContext, text: str, question: str = "What is happening?",
            category: str = "detail") -> PoseReview:  # fmt: skip
    asked = Question(1, ctx.file_name, question, category)
    return PoseJudge().assess(asked, bench_context(ctx), Answer(1, text, "m"))


def _statuses(review: PoseReview) -> list[tuple[str, str]]:
    return [(c.claim.label, c.status) for c in review.claims]


# --- a group that no assignment of people can satisfy ---------------------------------------


def test_two_of_them_where_at_most_one_could_be_is_contradicted(
    sample: kpit.CocoContexts,
) -> None:
    # five skiers: four stand or stride (sitting contradicted), one has no posture fact
    review = _assess(sample.get(197388), "Five skiers race. Two of them are sitting down.")
    sitting = review.claims[-1]
    assert (sitting.claim.label, sitting.status) == ("sitting", "contradicted")
    assert sitting.claim.subject is not None and sitting.claim.subject.number == 2
    # one of them could be: not contradicted
    one = _assess(sample.get(197388), "Five skiers race. One of them is sitting down.")
    assert one.claims[-1].status == "undecidable"


def test_more_people_than_the_image_has_is_contradicted(sample: kpit.CocoContexts) -> None:
    review = _assess(sample.get(785), "Two people are standing on skis.")  # one skier
    assert _statuses(review) == [("skis", "contradicted"), ("standing", "contradicted")]
    assert review.claims[1].fact == "1 person is annotated"
    denied = _assess(sample.get(785), "Two people are not sitting.")
    assert denied.claims[0].status == "undecidable"


def test_a_group_some_could_satisfy_stays_undecidable(sample: kpit.CocoContexts) -> None:
    # the shoe-repair stall: one man sits (0.75), one below the threshold, one without keypoints
    review = _assess(sample.get(40083), "Two of the men are standing near the stall.")
    assert review.claims[0].status == "undecidable"


# --- who a phrase speaks of ------------------------------------------------------------------

_BATTER = "He is getting ready to swing. He is holding the bat, and his knees are bent."


@pytest.mark.parametrize(
    ("question", "category"),
    [
        ("What is the person on the far left doing?", "conv"),
        ("Why might so many people be gathered here?", "complex"),
        ("Describe the image in detail.", "detail"),
    ],
)
def test_the_question_never_says_who_a_pronoun_is(
    sample: kpit.CocoContexts, question: str, category: str
) -> None:
    review = _assess(sample.get(196141), _BATTER, question, category)
    # "he", with nobody named before, may be any of five people: nothing is decided
    assert _statuses(review) == [("baseball bat", "undecidable"), ("bent", "undecidable")]
    plain = _assess(sample.get(196141), _BATTER)
    assert [c.to_dict() for c in review.claims] == [c.to_dict() for c in plain.claims]


def test_a_named_batter_is_the_batter_under_any_question(sample: kpit.CocoContexts) -> None:
    text = "The batter is getting ready to swing. " + _BATTER.split(". ", 1)[1]
    for question in ("What is the person on the far left doing?", "What is happening?"):
        review = _assess(sample.get(196141), text, question, "conv")
        assert _statuses(review) == [("baseball bat", "supported"), ("bent", "supported")]
        assert {c.person for c in review.claims} == {1}


def test_an_ambiguous_referent_is_undecidable_not_a_guess(sample: kpit.CocoContexts) -> None:
    ctx = sample.get(196141)  # no fact says who the umpire is; two of five people stand
    assert _assess(ctx, "The umpire is standing.").claims[0].status == "undecidable"
    assert _assess(ctx, "An umpire is standing.").claims[0].status == "supported"  # someone
    # "the first", "the other": nobody named, never the last person named
    claims = extract_claims("The catcher squats. The other stands.")
    assert claims[1].subject is not None and claims[1].subject.resolved().vague
    review = _assess(ctx, "The catcher squats. The other stands.")
    assert _statuses(review) == [("squatting", "supported"), ("standing", "undecidable")]


def test_places_and_postures_that_name_people(sample: kpit.CocoContexts) -> None:
    ctx = sample.get(196141)
    review = _assess(ctx, "On the far left, a man stands. In the middle, the batter swings his "
                     "bat. The person squatting faces away from the camera.")  # fmt: skip
    assert [(c.claim.label, c.status, c.people) for c in review.claims] == [
        ("standing", "supported", (5,)), ("baseball bat", "supported", (1,)),
        ("squatting", "supported", (4,)),
        ("facing away from the camera", "supported", (4,))]  # fmt: skip


# --- round 2: lean, others, alternatives -----------------------------------------------------


def test_lean_in_its_base_form_is_read(sample: kpit.CocoContexts) -> None:
    ctx = synthetic_context(np.random.default_rng(114), 3, image_id=114)
    text = "The person on the right crouches. They lean toward the {} of the image."
    assert _statuses(_assess(ctx, text.format("right")))[-1] == (
        "leaning towards the right of the image", "supported")  # fmt: skip
    assert _statuses(_assess(ctx, text.format("left")))[-1] == (
        "leaning towards the left of the image", "contradicted")  # fmt: skip
    assert [c.label for c in extract_claims("They both lean forward.")] == ["leaning forward"]
    assert extract_claims("A lean man waves.") == []


def test_everyone_else_is_not_those_named_before(sample: kpit.CocoContexts) -> None:
    ctx = sample.get(196141)  # the catcher squats; of the others two stand, one walks
    assert _assess(ctx, "Everyone is kneeling.").claims[0].status == "contradicted"
    # the catcher is not among "everyone else": standing is no claim about him
    review = _assess(ctx, "The catcher squats. Everyone else is squatting too.")
    assert [(c.claim.label, c.status, c.people) for c in review.claims][-1] == (
        "squatting", "contradicted", (1, 2, 3, 5))  # fmt: skip
    kneeling = _assess(ctx, "The catcher squats. Everyone else is kneeling.")
    assert kneeling.claims[-1].status == "contradicted"
    assert 4 not in kneeling.claims[-1].people
    # nobody named before: "everyone else" is nobody known
    alone = _assess(ctx, "Everyone else is kneeling.")
    assert alone.claims[0].status == "undecidable"


def test_another_person_next_to_someone_is_one_of_their_neighbours() -> None:
    # four people left to right: lying, sitting (facing the camera), sitting in profile
    # facing the right of the image, squatting (no facing fact)
    ctx = synthetic_context(np.random.default_rng(107), 4, image_id=107)
    named = "The second person from the left sits on a chair. "
    beside = named + "Next to them, another person sits in profile, facing the {} of the image."
    for side, status in (("left", "contradicted"), ("right", "supported")):
        assert _assess(ctx, beside.format(side)).claims[-1].status == status
    # without "next to them" it may be the squatting person, whose facing is not known
    anyone = named + "Another person sits in profile, facing the left of the image."
    assert _assess(ctx, anyone).claims[-1].status == "undecidable"
    claims = extract_claims(beside.format("left"))
    subject = claims[-1].subject
    assert subject is not None and subject.others and subject.beside is not None
    assert subject.beside.text == "The second person from the left"


def test_a_seat_read_after_is_or_an_adverb(sample: kpit.CocoContexts) -> None:
    ctx = sample.get(40083)  # the man on the left: hips on a chair (0.80)
    for text in (
        "The man on the left is on a chair.",
        "The man on the left sits upright on a chair.",
    ):
        review = _assess(ctx, text)
        assert [(c.claim.label, c.status) for c in review.claims if c.claim.kind == "on"] == [
            ("chair", "supported")]  # fmt: skip
    assert [c.kind for c in extract_claims("He is at the table.")] == []


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("Everyone else is on their feet or squatting.", []),
        ("He is standing or sitting.", []),
        ("She is sitting, or perhaps kneeling.", []),
        ("The second person is walking or striding, with the feet apart.", ["walking"]),
        ("He stands. The skis or poles lie near him.", ["standing"]),
    ],
)
def test_alternatives_claim_nothing(text: str, read: list[str]) -> None:
    assert [c.label for c in extract_claims(text)] == read


# --- round 3: places, enumerations, what is held, guesses, "both" ---------------------------


def test_a_place_that_opens_a_sentence_names_its_subject() -> None:
    # three people: standing on a skateboard, lying (middle), standing on skis (right)
    ctx = synthetic_context(np.random.default_rng(126), 3, image_id=126)
    text = ("In the middle, a person is lying on the ground. On the right, someone stands on "
            "skis with the right hand raised above the head.")  # fmt: skip
    review = _assess(ctx, text)
    assert [(c.claim.label, c.status, c.people) for c in review.claims][1:] == [
        ("skis", "supported", (3,)), ("standing", "supported", (3,)),
        ("hand above the head", "supported", (3,))]  # fmt: skip
    # an ordinal after such a place counts who is named, not where: the fourth on the far right
    ctx4 = synthetic_context(np.random.default_rng(128), 4, image_id=128)
    fourth = _assess(ctx4, "On the far right, the fourth person leans to the left.")
    assert (fourth.claims[0].status, fourth.claims[0].people) == ("supported", (4,))


def test_people_named_from_the_left_are_counted_from_the_left() -> None:
    # four people left to right: walking on skis, crouching, kneeling, standing
    ctx = synthetic_context(np.random.default_rng(115), 4, image_id=115)
    text = (
        "On the far left, a skier strides along. Beside him, a person crouches. "
        "The third person {}."
    )
    assert _statuses(_assess(ctx, text.format("kneels")))[-1] == ("kneeling", "supported")
    assert _statuses(_assess(ctx, text.format("stands")))[-1] == ("standing", "contradicted")
    # with nobody named on the left first, "the third person" is still nobody known
    alone = _assess(ctx, "Four people are here. The third person stands.")
    assert alone.claims[-1].status == "undecidable"
    # nor once someone on the right was named
    right = _assess(ctx, "On the right, a man stands. The third person stands.")
    assert right.claims[-1].status == "undecidable"


def test_the_person_holding_an_object_is_whose_hand_is_at_it() -> None:
    # two people: the one on the left faces the camera, the other (umbrella in the right hand)
    # is in profile, facing the left of the image
    ctx = synthetic_context(np.random.default_rng(122), 2, image_id=122)
    text = "The person holding the umbrella is turned in profile, facing the {} of the picture."
    assert _statuses(_assess(ctx, text.format("left side")))[-1] == (
        "in profile, facing the left of the image", "supported")  # fmt: skip
    assert _statuses(_assess(ctx, text.format("right side")))[-1][1] == "contradicted"
    assert _assess(ctx, "The person is facing the camera.").claims[0].status == "undecidable"


def test_a_guess_after_the_subject_is_not_the_subject(sample: kpit.CocoContexts) -> None:
    ctx = sample.get(196141)  # the man on the far left stands (16 of 16 re-annotations)
    text = "The man on the far left, perhaps an umpire or a coach, {} and watches."
    review = _assess(ctx, text.format("kneels"))
    assert (review.claims[0].status, review.claims[0].people) == ("contradicted", (5,))
    assert _assess(ctx, text.format("stands")).claims[0].status == "supported"


def test_in_between_both_another_in_the_middle_and_lowered_arms() -> None:
    ctx = synthetic_context(np.random.default_rng(126), 3, image_id=126)
    between = _assess(ctx, "The person in between lies on the ground.")
    assert (between.claims[0].status, between.claims[0].people) == ("supported", (2,))
    both = _assess(ctx, "The skateboarder and the skier both kneel.")
    assert _statuses(both) == [("kneeling", "contradicted")]
    # three people: "another person" in the middle is the middle one, not the middle of two
    ctx121 = synthetic_context(np.random.default_rng(121), 3, image_id=121)
    middle = _assess(ctx121, "On the left, a person sits. In the middle, another person is "
                     "holding a frisbee.")  # fmt: skip
    assert (middle.claims[-1].status, middle.claims[-1].people) == ("supported", (2,))
    lowered = _assess(ctx121, "The person on the right is lowering the right arm to the side.")
    assert _statuses(lowered) == [("at the side", "contradicted")]


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("Three people appear in this busy scene.", [("count", "3")]),
        ("Four people are gathered close together.", [("count", "4")]),
        ("Four people are lined up across the picture.", [("count", "4")]),
        ("Two people are sitting on a bench.", [("on", "bench"), ("posture", "sitting")]),
        ("The catcher is in a deep squat.", [("posture", "squatting")]),
        ("He is in a low crouch.", [("posture", "crouching")]),
        ("He waits, bat in hand.", [("holds", "baseball bat")]),
        ("He has a squat build.", []),
    ],
)
def test_round_3_readings(text: str, read: list[tuple[str, str]]) -> None:
    assert [(c.kind, c.label) for c in extract_claims(text)] == read


_WORDS = (
    "two of them",
    "one of the",
    "both of them",
    "the one",
    "the other",
    "the others",
    "the two",
    "on the far right,",
    "in the middle,",
    "the person",
    "kneeling",
    "sitting",
    "is",
    "are",
    "standing",
    "the skier",
    "skiers",
    "he",
    "they",
    "them",
    "and",
    "of",
    "the",
    "left",
    "right",
    "on",
    "facing the camera",
    ".",
    ",",
    "leaning to the right",
    "everyone else",
    "another person",
    "next to them,",
    "or",
    "lean",
    "on a chair",
    "someone",
    "on the right,",
    "the third person",
    "holding the umbrella",
    "perhaps an umpire or",
    "in between",
    "both",
    "in a deep squat",
)


@settings(max_examples=150, deadline=None)
@given(words=st.lists(st.sampled_from(_WORDS) | st.text(max_size=6), max_size=25))
def test_any_text_reads_the_same_under_any_question(words: list[str]) -> None:
    text = " ".join(words)
    claims = extract_claims(text)
    assert claims == extract_claims(text, "What is the man on the far left doing?")
    for claim in claims:
        assert 0 <= claim.start <= claim.end <= len(text)


@settings(max_examples=40, deadline=None)
@given(words=st.lists(st.sampled_from(_WORDS), min_size=3, max_size=20))
def test_any_group_claim_gets_a_verdict(sample: kpit.CocoContexts, words: list[str]) -> None:
    review = _assess(sample.get(197388), " ".join(words))
    for claim in review.claims:
        assert claim.status in ("supported", "contradicted", "undecidable")
        assert (claim.status == "undecidable") == (claim.reason is not None)


# --- the corpus ------------------------------------------------------------------------------


def _corpus() -> list[tuple[str, dict[str, Any]]]:
    paths = sorted(CORPUS.glob("*.json"))
    for sub in ("dev-3", "held-out-3"):
        paths += sorted((CORPUS / sub).glob("*.json"))
    return [(f"{path.parent.name}/{path.name}", answer) for path in paths
            for answer in json.loads(path.read_text(encoding="utf-8"))["answers"]]  # fmt: skip


def test_the_corpus_is_labelled_and_split_by_its_rule() -> None:
    answers = _corpus()
    assert len(answers) >= 120
    text = " ".join(a["answer"].lower() for _, a in answers)
    for role in ("batter", "catcher", "umpire", "skier", "vendor", "tennis player"):
        assert role in text
    assert {a["style"] for _, a in answers} == {"llava-1.5", "gpt-4o"}
    assert {a["category"] for _, a in answers} == {"conv", "detail", "complex"}
    for name, answer in answers:
        sentences = re.findall(r"[^.!?]+[.!?]", answer["answer"])
        assert 3 <= len(sentences) <= 6, answer["id"]
        number = int(answer["id"].rsplit("-", 1)[1])
        if name.startswith("dev-3/"):  # round 2's held-out set, seen in round 3
            assert answer["split"] == "dev-3" and "-r2-" in answer["id"], answer["id"]
        elif name.startswith("held-out-3/"):  # round 3: written after round 2's rules
            assert answer["split"] == "held-out-3" and "-r3-" in answer["id"], answer["id"]
        else:
            assert answer["split"] == ("dev" if number % 2 else "dev-2"), answer["id"]
        for claim in answer["claims"]:
            assert claim["text"] in answer["answer"], (answer["id"], claim)
            assert claim["kind"] in CLAIM_KINDS
            assert claim["status"] in ("supported", "contradicted", "undecidable")
        for flip in answer["flips"]:
            assert answer["answer"].count(flip["replace"]) == 1, (answer["id"], flip)
    splits = ("dev", "dev-2", "dev-3", "held-out-3")
    halves = [sum(a["split"] == s for _, a in answers) for s in splits]
    assert min(halves) >= 25 and min(halves[2:]) >= 30
    for split in splits[2:]:
        assert sum(len(a["flips"]) for _, a in answers if a["split"] == split) >= 30


def _benchmark() -> Any:
    path = REPO / "benchmarks" / "bench_pose_paragraphs.py"
    spec = importlib.util.spec_from_file_location("bench_pose_paragraphs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_pose_paragraphs"] = module
    spec.loader.exec_module(module)
    return module


def test_the_figures_on_every_half() -> None:
    bench = _benchmark()
    halves = dict(bench.halves(bench.load_corpus()))
    judge = PoseJudge()
    tallies = {split: bench.measure(halves[split], judge) for split in bench.SPLITS}
    # the goals on every half: at most 1% false contradictions, at least 95% of flips found;
    # dev, dev-2 and dev-3 were tuned on, held-out-3 never (its errors are not read)
    for split, tally in tallies.items():
        assert tally.false_contradictions <= 0.01 * tally.read, (split, tally.errors)
        assert tally.found >= 0.95 * tally.flips, (split, tally.errors)
    for split in ("dev", "dev-2", "dev-3"):
        assert tallies[split].covered >= 0.9 * tallies[split].decidable, split
    # held-out-3 with pose-rules-5: 1/169 false contradictions, 55/57 flips, coverage
    # 146/170 (with round 2's rules, its one measurement before round 3: 8/167, 47/57, 129/170)
    held = tallies["held-out-3"]
    assert held.flips == 57 and held.decidable == 170
    assert held.covered >= 146
