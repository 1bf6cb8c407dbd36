"""The pose judge: claims read by rules, decided against the keypoints, in the benchmark, the
report and `kpit bench show`; its validation figures hold on a smaller run."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import kpit
from kpit.bench import (
    Answer,
    Bench,
    BenchContext,
    Question,
    bench_context,
    build_bench,
    judge_answers,
    load_bench,
    load_reviews,
    pose_scores,
    pose_table,
)
from kpit.bench.files import write_jsonl
from kpit.cli import cli
from kpit.judges import AnswerJudge, Judge
from kpit.judges.gpt import GPTJudge
from kpit.judges.pose.claims import extract_claims, find_mentions
from kpit.judges.pose.judge import PoseJudge, PoseReview, image_context
from kpit.testing import LoopbackJudge, overlap_judge, synthetic_context

from ..conftest import LLAVA_BENCH, REPO

# --- reading claims --------------------------------------------------------------------------


def _read(text: str, question: str | None = None) -> list[tuple[Any, ...]]:
    return [
        (c.kind, c.label, c.side, c.negated, c.subject.resolved().text if c.subject else None)
        for c in extract_claims(text, question)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the template's own wording
        ("The person on the far left is sitting, facing the camera. Their right elbow is bent.",
         [("posture", "sitting", None, False, "The person on the far left"),
          ("facing", "facing the camera", None, False, "The person on the far left"),
          ("flexion", "bent", "right", False, "The person on the far left")]),
        ("Yes, the second person from the left's left hand is near the baseball bat.",
         [("holds", "baseball bat", "left", False, "the second person from the left")]),
        ("No, nobody in the image is lying down.", [("posture", "lying", None, True, "nobody")]),
        ("There are two other people in the scene, so they are not alone there.",
         [("count", "3", None, False, None)]),
        ("The picture shows five people.", [("count", "5", None, False, None)]),
        ("Their left arm is raised above the shoulder; their left knee is sharply bent.",
         [("arm", "raised above the shoulder", "left", False, "Their"),  # no one named before
          ("flexion", "sharply bent", "left", False, "Their")]),
        ("The person is in profile, facing the left of the image.",
         [("facing", "in profile, facing the left of the image", None, False, "The person")]),
        # free text
        ("The catcher is crouching behind home plate, while the batter stands ready to swing.",
         [("posture", "crouching", None, False, "The catcher"),
          ("posture", "standing", None, False, "the batter")]),
        ("Two men sit on the sidewalk.", [("posture", "sitting", None, False, "Two men")]),
        ("The man on the left is holding an umbrella in his right hand and is not facing the "
         "camera.",
         [("holds", "umbrella", "right", False, "The man on the left"),
          ("facing", "facing the camera", None, True, "The man on the left")]),
        ("She raises both arms above her head.",
         [("arm", "hand above the head", "both", False, "She")]),
        ("A woman is seated on a bench with her knees slightly bent.",
         [("on", "bench", None, False, "A woman"), ("posture", "sitting", None, False, "A woman"),
          ("flexion", "slightly bent", None, False, "A woman")]),
        ("A skier with his back to the camera, standing on skis.",
         [("facing", "facing away from the camera", None, False, "A skier"),
          ("on", "skis", None, False, "A skier"), ("posture", "standing", None, False, "A skier")]),
        ("Their body is bent at about a right angle at the right hip.",
         [("flexion", "bent at about a right angle", "right", False, "Their")]),
        ("The batter is to the left of the catcher.",
         [("position", "left of", None, False, "The batter")]),
        ("A stand selling fruit; a sitting area.", []),  # nouns, not postures
    ],
)  # fmt: skip
def test_claims_are_read_with_whom_they_speak_of(text: str, expected: list[Any]) -> None:
    assert _read(text) == expected


def test_the_question_never_names_who_an_answer_speaks_of() -> None:
    asked = extract_claims("He is kneeling.", "What is the man on the right doing?")
    alone = extract_claims("He is kneeling.")
    assert asked == alone  # the same words mean the same under any question
    assert asked[0].subject is not None and asked[0].subject.resolved().pronoun  # nobody named
    mentions = find_mentions("the leftmost woman and the third person from the right")
    assert [(m.side, m.ordinal) for m in mentions] == [("far left", None), ("right", 3)]


# --- deciding them ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> kpit.CocoContexts:
    return kpit.load_coco(REPO / "examples" / "data" / "coco-sample", split="val2017")


def _assess(ctx: kpit.ImageContext, text: str, judge: PoseJudge | None = None) -> PoseReview:
    question = Question(1, ctx.file_name, "What is happening?", "detail")
    return (judge or PoseJudge()).assess(question, bench_context(ctx), Answer(1, text, "m"))


def _verdicts(review: PoseReview) -> list[tuple[str, str, tuple[int, ...]]]:
    return [(c.claim.label, c.status, c.people) for c in review.claims]


def test_a_true_answer_about_the_catcher_is_supported(sample: kpit.CocoContexts) -> None:
    review = _assess(
        sample.get(196141),
        "The catcher is crouching, facing away from the camera, with his left arm raised. "
        "The batter holds a bat in his left hand. There are five people in the picture.",
    )
    assert _verdicts(review) == [
        ("crouching", "supported", (4,)),  # squatting: a crouch in plain words
        ("facing away from the camera", "supported", (4,)),
        ("raised", "supported", (4,)),
        ("baseball bat", "supported", (1,)),
        ("5", "supported", ()),
    ]
    first = review.claims[0]
    assert (first.fact, first.person, first.confidence) == ("squatting", 4, 0.75)
    assert review.precision == 1.0 and review.count_correct is True
    assert 0 < review.coverage < 1  # salient facts of five people; the answer states a few


def test_a_fluent_wrong_answer_is_contradicted(sample: kpit.CocoContexts) -> None:
    review = _assess(
        sample.get(196141),
        "The catcher is standing. The man on the far left is sitting. The third person from "
        "the left is standing. There are four people.",
    )
    assert _verdicts(review) == [
        ("standing", "contradicted", (4,)),
        ("sitting", "contradicted", (5,)),
        ("standing", "undecidable", (3,)),  # person 3 has no keypoints
        ("4", "contradicted", ()),
    ]
    assert review.claims[2].reason == "person 3: no posture fact"
    assert review.precision == 0.0 and review.contradicted == 3 and review.count_correct is False


def test_facts_below_the_threshold_decide_nothing(sample: kpit.CocoContexts) -> None:
    ctx = sample.get(40083)  # the man on the left sits, but his posture is measured at 0.45
    text = "The person on the far left is sitting."
    strict = _assess(ctx, text)
    assert strict.claims[0].status == "undecidable" and strict.precision is None
    assert "confidence 0.45, below the threshold" in str(strict.claims[0].reason)
    lenient = _assess(ctx, text, PoseJudge(min_confidence=0.4))
    assert lenient.claims[0].status == "supported"
    assert lenient.claims[0].confidence == pytest.approx(0.45)


def _standing_with_left_knee_at(degrees: float) -> kpit.ImageContext:
    """One person in a 1000 x 1000 image, standing, the left knee at ``degrees``."""
    points = {"nose": (500, 150), "left_eye": (510, 140), "right_eye": (490, 140),
              "left_ear": (520, 145), "right_ear": (480, 145), "left_shoulder": (540, 220),
              "right_shoulder": (460, 220), "left_elbow": (550, 320), "right_elbow": (450, 320),
              "left_wrist": (555, 410), "right_wrist": (445, 410), "left_hip": (525, 420),
              "right_hip": (475, 420), "left_knee": (525, 590), "right_knee": (475, 590),
              "right_ankle": (475, 760)}  # fmt: skip
    bend = np.radians(180 - degrees)
    points["left_ankle"] = (525 + 170 * np.sin(bend), 590 + 170 * np.cos(bend))
    array = np.zeros((17, 3))
    for name, (x, y) in points.items():
        array[kpit.COCO_17.index(name)] = (round(x / 1000, 3), round(y / 1000, 3), 2)
    person = kpit.Person(kpit.Box(0.43, 0.12, 0.58, 0.78), array, image_size=(1000, 1000))
    return kpit.ImageContext(1, "a.jpg", 1000, 1000, people=(person,))


def test_a_fact_that_other_annotators_would_not_give_contradicts_nothing() -> None:
    edge, clear = _standing_with_left_knee_at(163), _standing_with_left_knee_at(172)
    claim = "The person's left knee is bent."
    assert kpit.pose_facts(edge.people[0], edge).find("knee", "left").label == "straight"
    wavering = _assess(edge, claim).claims[0]  # 163 degrees: straight, 1 degree in
    assert wavering.status == "undecidable"
    assert "of re-annotations would contradict it" in str(wavering.reason)
    assert _assess(edge, claim, PoseJudge(min_stability=0)).claims[0].status == "contradicted"
    assert _assess(clear, claim).claims[0].status == "contradicted"


def test_quantities_everyone_nobody_and_some(sample: kpit.CocoContexts) -> None:
    ctx = sample.get(196141)
    review = _assess(ctx, "Everyone is facing the camera. Nobody is lying down. Two people "
                     "are standing. Both players are standing.")  # fmt: skip
    assert [c.status for c in review.claims] == [
        "contradicted",  # the catcher faces away
        "undecidable",  # four are not lying; person 3 has no keypoints
        "supported",  # persons 2 and 5
        "supported",
    ]


def test_without_keypoints_only_counts_are_decided() -> None:
    bench = load_bench(
        questions=LLAVA_BENCH / "qa90_questions.jsonl",
        context=LLAVA_BENCH / "caps_boxes_coco2014_val_80.jsonl",
        references=LLAVA_BENCH / "qa90_gpt4_answer.jsonl",
    )
    question = bench.question(75)  # "How many people are visible in the image?"
    judge = PoseJudge()
    context = bench.context(question)
    two = judge.assess(question, context, Answer(75, "Two women are sitting.", "m"))
    assert two.claims[0].status == "undecidable"
    assert two.claims[0].reason == "the context has no keypoints"
    assert "only counts of people can be decided" in two.notes[0]
    assert two.people is None
    seven = judge.assess(question, context, Answer(75, "There are seven people.", "m"))
    more = judge.assess(question, context, Answer(75, "There are nine people.", "m"))
    fewer = judge.assess(question, context, Answer(75, "There are three people.", "m"))
    assert [r.claims[0].status for r in (seven, more, fewer)] == [
        "supported", "undecidable", "contradicted"]  # fmt: skip
    assert fewer.claims[0].fact == "7 person boxes in the context"


def test_image_size_from_the_context_or_the_images(sample: kpit.CocoContexts) -> None:
    ctx = sample.get(785)
    context = bench_context(ctx)
    assert (context.width, context.height) == (640, 425)
    old = BenchContext(context.image, context.captions, context.instances, context.people)
    text = "The person is standing, facing the camera. Their right knee is bent."
    question = Question(1, ctx.file_name, "Describe the image.", "detail")
    square = PoseJudge().assess(question, old, Answer(1, text, "m"))
    assert square.notes == ("image size unknown: angles measured as if the image were square",)
    sized = PoseJudge(images=str(REPO / "examples" / "data" / "coco-sample" / "val2017"))
    review = sized.assess(question, old, Answer(1, text, "m"))
    assert review.notes == () and _verdicts(review) == _verdicts(_assess(ctx, text))


def test_bad_people_records_name_the_file_and_the_person(tmp_path: Path) -> None:
    context = BenchContext("x.jpg", people=({"bbox": [0, 0, 1, 1], "keypoints": [[0, 0, 2]]},))
    with pytest.raises(kpit.DataError) as caught:
        image_context(context, file=tmp_path / "context.jsonl")
    assert caught.value.record == "image x.jpg, person 1" and caught.value.field == "keypoints"
    assert str(tmp_path / "context.jsonl") in str(caught.value)


def test_sizes_are_checked_when_read(tmp_path: Path) -> None:
    (tmp_path / "questions.jsonl").write_text(
        json.dumps({"question_id": 0, "image": "a.jpg", "text": "?", "category": "conv"}) + "\n"
    )
    (tmp_path / "context.jsonl").write_text(json.dumps({"image": "a.jpg", "width": "wide",
                                                        "height": 10}) + "\n")  # fmt: skip
    with pytest.raises(kpit.DataError, match="not a size in pixels") as caught:
        load_bench(tmp_path, require_references=False)
    assert caught.value.field == "width" and caught.value.record == "line 1"


# --- in the benchmark ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hpaub(sample: kpit.CocoContexts, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hpaub")
    build_bench(list(sample), folder, num_images=4, seed=0)
    (folder / "references.jsonl").unlink()  # the pose judge needs none
    return folder


def _answers(bench: Bench, text: str, model: str) -> dict[int, Answer]:
    return {q.question_id: Answer(q.question_id, text, model, f"{model}-{q.question_id}")
            for q in bench.questions}  # fmt: skip


def test_judge_answers_dispatches_to_the_pose_judge(hpaub: Path, tmp_path: Path) -> None:
    bench = load_bench(hpaub, require_references=False)
    answers = _answers(bench, "There is one person. The person is standing.", "m")
    out = tmp_path / "pose.jsonl"
    records = judge_answers(bench, answers, out, judge="pose")
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert written == records and [r["question_id"] for r in written] == list(range(12))
    assert {r["kind"] for r in written} == {"pose"}
    first = written[0]
    assert first["judge"] == {"name": "pose", "model": "pose-rules-5", "rules": "pose-rules-5",
                              "min_confidence": 0.6, "min_stability": 0.75}  # fmt: skip
    assert {"claims", "precision", "coverage", "count_correct", "text"} <= set(first)
    claim = first["claims"][0]
    assert {"kind", "label", "text", "start", "end", "status", "people"} <= set(claim)
    by_image = {r["image"]: r for r in written}
    assert by_image["000000000785.jpg"]["count_correct"] is True  # the skier is alone
    assert by_image["000000196141.jpg"]["count_correct"] is False  # five people there
    assert not out.with_name("pose.failures.jsonl").exists()
    again = judge_answers(bench, answers, out, judge=PoseJudge())
    assert again == records  # deterministic


@pytest.mark.parametrize(
    ("option", "field"), [({"swap": True}, "swap"), ({"runs": 2}, "runs"), ("versus", "versus")]
)
def test_the_pose_judge_refuses_what_does_not_apply(
    hpaub: Path, tmp_path: Path, option: Any, field: str
) -> None:
    bench = load_bench(hpaub, require_references=False)
    answers = _answers(bench, "Nothing.", "m")
    options = {"versus": _answers(bench, "Other.", "o")} if option == "versus" else option
    with pytest.raises(kpit.ConfigError) as caught:
        judge_answers(bench, answers, tmp_path / "r.jsonl", judge="pose", **options)
    assert caught.value.field == field
    with pytest.raises(kpit.DataError, match="no answer for question 0"):
        judge_answers(bench, {}, tmp_path / "r.jsonl", judge="pose")


def test_a_plugin_can_judge_single_answers(hpaub: Path, tmp_path: Path) -> None:
    class Length(AnswerJudge):
        name = "length"

        def assess(self, question: Question, context: BenchContext, answer: Answer) -> Any:
            if not answer.text:
                raise kpit.GeneratorError("empty", code="empty")
            record = {"kind": "length", "question_id": question.question_id,
                      "category": question.category, "model_id": answer.model_id,
                      "scores": {"words": len(answer.text.split())}}  # fmt: skip
            return type("Review", (), {"kind": "length", "to_dict": lambda self: record})()

    bench = load_bench(hpaub, require_references=False)
    answers = _answers(bench, "two words", "m")
    answers[3] = Answer(3, "", "m")
    out = tmp_path / "length.jsonl"
    records = judge_answers(bench, answers, out, judge=Length())
    assert [r.get("scores", {}).get("words") for r in records][:4] == [2, 2, 2, None]
    failed = [json.loads(line) for line in out.with_name("length.failures.jsonl").open()]
    assert [(r["question_id"], r["error"]) for r in failed] == [(3, "empty: empty")]
    assert Length.single_answer and not GPTJudge.single_answer
    with pytest.raises(kpit.ConfigError, match="reviews pairs of answers"):
        GPTJudge(api_key="sk-x").assess(bench.questions[0], bench.context(bench.questions[0]),
                                        answers[0])  # fmt: skip
    assert issubclass(AnswerJudge, Judge)


# --- the report and `kpit bench show` --------------------------------------------------------


def test_pose_reviews_load_score_and_refuse_to_mix(hpaub: Path, tmp_path: Path) -> None:
    bench = load_bench(hpaub, require_references=False)
    good = tmp_path / "good.jsonl"
    judge_answers(bench, _answers(bench, "There are five people. They are standing.", "good"),
                  good, judge="pose")  # fmt: skip
    loaded = load_reviews(good)
    assert loaded.kind == "pose" and len(loaded.reviews) == 12
    scores = pose_scores([loaded])["good"]
    total = scores["all"]
    assert total.answers == 12 and total.claims == total.supported + total.contradicted + \
        total.undecidable  # fmt: skip
    assert total.count_decided == 12 and total.count_right == 6  # 196141 and 197388 have five
    assert set(scores) == {"all", "conv", "detail", "complex"}
    table = pose_table(pose_scores([loaded]))
    assert table.splitlines()[0].startswith("| model | answers | claims | decided | grounding")
    assert "| good | 12 |" in table and "50.0% (6/12)" in table
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(good.read_text().splitlines()[0] + "\n" + json.dumps(
        {"question_id": 1, "category": "conv", "tuple": [8, 7]}) + "\n")  # fmt: skip
    with pytest.raises(kpit.DataError, match="mixes reference and pose reviews"):
        load_reviews(mixed)
    bad = tmp_path / "bad.jsonl"
    record = json.loads(good.read_text().splitlines()[0])
    record["claims"] = [{"status": "maybe"}]
    bad.write_text(json.dumps(record) + "\n")
    with pytest.raises(kpit.DataError) as caught:
        load_reviews(bad)
    assert (caught.value.record, caught.value.field) == ("line 1", "claims")


def test_the_commands_judge_report_and_show(hpaub: Path, tmp_path: Path) -> None:
    run = CliRunner().invoke
    bench = load_bench(hpaub, require_references=False)
    texts = {"a": "The catcher is standing. There are five people.",
             "b": "The catcher is squatting, facing away from the camera."}  # fmt: skip
    for name, text in texts.items():
        write_jsonl(tmp_path / f"{name}.jsonl",
                    (a.to_dict() for a in _answers(bench, text, name).values()))  # fmt: skip
        answers, reviews = tmp_path / f"{name}.jsonl", tmp_path / f"pose-{name}.jsonl"
        result = run(cli, ["bench", "judge", str(hpaub), "--answers", str(answers), "--judge",
                           "pose", "--no-progress", "-o", str(reviews)])  # fmt: skip
        assert result.exit_code == 0, result.output
        assert result.output.startswith(f"{reviews}: 12 answers, ")
    with LoopbackJudge() as server:
        gpt = tmp_path / "gpt.jsonl"
        result = run(cli, ["bench", "judge", str(hpaub), "--answers", str(tmp_path / "a.jsonl"),
                           "--versus", str(tmp_path / "b.jsonl"), "--base-url", server.base_url,
                           "-O", "api_key=sk-local", "-o", str(gpt)])  # fmt: skip
        assert result.exit_code == 0, result.output
        assert server.requests == 12
    result = run(cli, ["bench", "report", str(tmp_path / "gpt.jsonl"),
                       str(tmp_path / "pose-a.jsonl"), str(tmp_path / "pose-b.jsonl"),
                       "--protocol", "paper", "--baseline", "b"])  # fmt: skip
    assert result.exit_code == 0, result.output
    paper, pose = result.output.split("## Pose judge (never pooled with the GPT judge's scores)")
    assert "| a |" in paper and "| b |" in paper and "grounding precision" not in paper
    assert "| a | 12 |" in pose and "| b | 12 |" in pose and "vs b" not in pose
    alone = run(cli, ["bench", "report", str(tmp_path / "pose-a.jsonl")])
    assert alone.exit_code == 0 and alone.output.startswith("| model | answers | claims |")
    plot = run(cli, ["bench", "report", str(tmp_path / "pose-a.jsonl"), "--plot",
                     str(tmp_path / "p.png")])  # fmt: skip
    assert plot.exit_code == 2 and "only pose reviews" in plot.output
    qid = next(q.question_id for q in bench.questions if q.image == "000000196141.jpg")
    shown = run(cli, ["bench", "show", str(qid), "--reviews", str(tmp_path / "pose-a.jsonl")])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0].startswith(f"question {qid} (conv, 000000196141.jpg), model a: 1 supported, "
                               "1 contradicted")  # fmt: skip
    assert "The catcher is [standing]{1!}. [There are five people]{2+}." in shown.output
    assert "  1! posture: standing about The catcher [person 4]: contradicted by squatting " \
        "(confidence 0.75)" in shown.output  # fmt: skip
    refused = run(cli, ["bench", "show", "0", "--reviews", str(tmp_path / "gpt.jsonl")])
    assert refused.exit_code == 1 and "holds pairwise reviews" in refused.output
    missing = run(cli, ["bench", "show", "99", "--reviews", str(tmp_path / "pose-a.jsonl")])
    assert missing.exit_code == 1 and "no review of question 99" in missing.output


def test_the_loopback_judge_scores_by_overlap() -> None:
    messages = [{"role": "user", "content": "[Context]\nA man on skis.\n\n[Question]\nQ\n\n"
                 "[Assistant 1]\nA man on skis\n\n[End of Assistant 1]\n\n[Assistant 2]\nzzz"
                 "\n\n[End of Assistant 2]\n\n[System]\nrubric"}]  # fmt: skip
    assert overlap_judge(messages).splitlines()[0] == "10 1"


# --- the validation, smaller -----------------------------------------------------------------


def _benchmark() -> Any:
    path = REPO / "benchmarks" / "bench_pose_judge.py"
    spec = importlib.util.spec_from_file_location("bench_pose_judge", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_pose_judge"] = module
    spec.loader.exec_module(module)
    return module


def test_flips_are_found_and_true_answers_left_alone(sample: kpit.CocoContexts) -> None:
    bench = _benchmark()
    rng = np.random.default_rng(7)
    synthetic = [synthetic_context(rng, image_id=i) for i in range(40)]
    for contexts, seeds in ((list(sample), range(3)), (synthetic, range(1))):
        for reword in (False, True):
            tally = bench.measure(contexts, seeds, per_kind=2, rng=rng, reword=reword)
            flips = sum(tally.flips[k] for k in bench.KINDS)
            found = sum(tally.found[k] for k in bench.KINDS)
            assert flips > 50 and all(tally.flips[k] for k in bench.KINDS)
            assert found / flips >= 0.95, tally.misses[:5]
            assert tally.with_contradiction / tally.answers <= 0.02, tally.false_alarms[:3]


def test_synthetic_images_are_reproducible() -> None:
    first = synthetic_context(np.random.default_rng(3), 3, image_id=5)
    again = synthetic_context(np.random.default_rng(3), 3, image_id=5)
    assert first.to_dict() == again.to_dict() and len(first.people) == 3
    assert first.people[0].image_size == (first.width, first.height)
