"""The leak rule, measured on a labelled corpus (``tests/data/leaks/``), and what the
``kpit`` and ``paper`` recipes do with the same sentences: reject them, or flag them."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import kpit
from kpit.cli import cli
from kpit.pipeline.leaks import LEAK_RULES, LeakFinder, LeakRule
from kpit.pipeline.quality import QualityFilter
from kpit.types import Turn

CORPUS = Path(__file__).resolve().parents[1] / "data" / "leaks" / "sentences.jsonl"
ROWS: list[dict[str, Any]] = [json.loads(line) for line in CORPUS.read_text().splitlines()]
QUESTION = "What can you tell about the people in this picture?"


def test_the_corpus_is_labelled_and_split_in_two_even_halves() -> None:
    assert len(ROWS) >= 400
    assert len({r["id"] for r in ROWS}) == len({r["text"] for r in ROWS}) == len(ROWS)
    for half in ("dev", "held-out"):
        part = [r for r in ROWS if r["split"] == half]
        assert sum(r["leak"] for r in part) == sum(not r["leak"] for r in part) == 100
        received = [r for r in part if r["kind"] == "received"]  # what the teacher was given
        assert sum(r["leak"] for r in received) == sum(not r["leak"] for r in received) == 10
    # Numbers are the coordinates rule's business: none here, so the leak rule alone decides.
    assert not any(re.search(r"\d\.\d|\.\d", r["text"]) for r in ROWS)


@pytest.mark.parametrize("rule", LEAK_RULES, ids=[r.name for r in LEAK_RULES])
def test_each_rule_catches_its_example_and_names_its_words(rule: LeakRule) -> None:
    leak = LeakFinder(rules=[rule]).find(rule.example)
    assert leak is not None and leak.rule == rule.name
    assert leak.phrase == rule.example[leak.start : leak.start + len(leak.phrase)]
    assert any(word in leak.phrase.lower() for word in rule.words)  # the words gate is sound


def _figures(half: str) -> tuple[float, float]:
    finder = LeakFinder()
    part = [r for r in ROWS if r["split"] == half]
    hits = [(finder.find(r["text"]) is not None, r["leak"]) for r in part]
    tp = sum(h and leak for h, leak in hits)
    flagged, leaks = sum(h for h, _ in hits), sum(leak for _, leak in hits)
    return tp / flagged, tp / leaks


@pytest.mark.parametrize("half", ["dev", "held-out"])
def test_precision_and_recall_are_at_least_the_goal(half: str) -> None:
    """The issue's goal, 0.97 of each; docs/benchmarks.md has the measured figures."""
    precision, recall = _figures(half)
    assert precision >= 0.97 and recall >= 0.97, (precision, recall)


@pytest.mark.parametrize(
    "text",
    ["The key point of this drill is to keep the elbows tucked in.",
     'A caption on the sign reads "No diving".',
     "The coordinates of the game are printed on the ticket she is holding.",
     "She coordinates her arm swing with each step.",
     "The batter steps into the batter's box and taps his bat on the plate.",
     "The construction worker wears a high-visibility vest.",
     "The teacher is adding annotations to the diagram on the whiteboard.",
     "Her left knee points outward as she turns.",
     "Given the context of a crowded market, the woman is likely bargaining.",
     "From what the sign says, the trail is closed, so the hikers turn back.",
     "The man reads the text he received on his phone and frowns.",
     "The tourists were told to wait by the map, and they stand around it.",
     "What I read on the menu board is a list of three sandwiches."],
)  # fmt: skip
def test_ordinary_english_passes(text: str) -> None:
    assert (
        QualityFilter().check("conversation", [Turn("human", QUESTION), Turn("gpt", text)]) is None
    )


@pytest.mark.parametrize(
    ("text", "phrase"),
    [("The visibility of points such as the nose and ears suggests he faces us.",
      "visibility of points"),
     ("From the image details provided, the man is seated on a bench.",
      "From the image details provided"),
     ("Their keypoints indicate an upright posture.", "keypoints"),
     ("His left_wrist is raised above his head.", "left_wrist"),
     ("The text I received mentions a man holding an umbrella.", "The text I received"),
     ("From what I've read about the scene, the girl is mid-jump.", "what I've read"),
     ("From what I was told about the image, she is seated.", "what I was told"),
     ("We were told that the boy is about to throw the ball.", "We were told"),
     ("Everything shared with me points to a birthday party.", "shared with me"),
     ("Without seeing the photo, I would say the couple is dancing.",
      "Without seeing the photo")],
)  # fmt: skip
def test_a_rejection_names_the_words_that_broke_the_rule(text: str, phrase: str) -> None:
    rejection = QualityFilter().check("conversation", [Turn("human", QUESTION), Turn("gpt", text)])
    assert rejection is not None and (rejection.reason, rejection.detail) == ("leak", phrase)


def test_find_all_reads_every_leak_left_to_right() -> None:
    text = "Based on the keypoints and the bounding box, the captions say he sits."
    assert [leak.phrase for leak in LeakFinder().find_all(text)] == [
        "keypoints", "bounding box", "the captions say"]  # fmt: skip
    assert LeakFinder().find_all("He sits on a bench.") == []


# --- the same corpus through both recipes --------------------------------------------------


class CorpusTeacher(kpit.Generator):
    """Answers each image's conversation request with one sentence of the corpus."""

    name = "corpus-test"

    def __init__(self, sentences: dict[int, str]) -> None:
        super().__init__()
        self.sentences = sentences

    async def complete(self, request: kpit.ChatRequest) -> kpit.Reply:
        text = self.sentences[int(request.meta["image_id"])]
        return kpit.Reply(request.key, text=f"Question: {QUESTION}\nAnswer: {text}")


def test_the_corpus_is_rejected_by_kpit_and_flagged_by_the_paper_recipe(
    sample_root: Path, tmp_path: Path
) -> None:
    base = list(kpit.load_coco(sample_root))
    contexts = [dataclasses.replace(base[i % len(base)], image_id=row["id"])
                for i, row in enumerate(ROWS)]  # fmt: skip
    sentences = {row["id"]: row["text"] for row in ROWS}
    finder = LeakFinder()
    expected = {i: leak.phrase for i, text in sentences.items() if (leak := finder.find(text))}
    runs = {}
    for recipe in ("paper", "kpit"):
        runs[recipe] = kpit.generate(contexts, "conversation", CorpusTeacher(sentences),
                                     out=tmp_path / recipe, recipe=recipe, reply_retries=0,
                                     concurrency=32, progress=False)  # fmt: skip
    paper, ours = runs["paper"], runs["kpit"]
    assert isinstance(paper, kpit.Run) and isinstance(ours, kpit.Run)
    flagged = {s.meta["image_id"]: s.meta["flag_details"]["leak"]
               for s in paper.samples() if "leak" in s.meta["flags"]}  # fmt: skip
    assert len(list(paper.samples())) == len(ROWS)  # the paper recipe stores everything
    assert flagged == expected
    failures = list(ours.open_failures())
    assert {f["reason"] for f in failures} == {"quality:leak", "quality:refusal"}
    # A teacher that says it cannot see the picture is a refusal first (that rule runs first).
    refused = {f["image_id"] for f in failures if f["reason"] == "quality:refusal"}
    assert [sentences[i] for i in refused] == [
        "Since I can't see the picture, I would guess she is walking toward the camera."
    ]
    rejected = {f["image_id"]: f["detail"] for f in failures if f["reason"] == "quality:leak"}
    assert rejected == {i: phrase for i, phrase in expected.items() if i not in refused}
    rejected |= {i: expected[i] for i in refused}
    assert len(list(ours.samples())) == len(ROWS) - len(expected)
    for image_id, phrase in rejected.items():
        assert phrase in sentences[image_id]
    # What is rejected is what the labels call a leak, but for the measured misses.
    labelled = {row["id"] for row in ROWS if row["leak"]}
    assert len(labelled - set(rejected)) <= 3 and not set(rejected) - labelled
    # kpit stats shows the words behind each rejection and each flag.
    for run in (ours, paper):
        result = CliRunner().invoke(cli, ["stats", str(run.folder)])
        assert result.exit_code == 0, result.output
        details = next(line for line in result.stdout.splitlines() if line.startswith("  "))
        assert re.match(r"  (quality:)?leak: '", details), details
        assert "'keypoints' " in details
