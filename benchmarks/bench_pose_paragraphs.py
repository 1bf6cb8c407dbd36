"""Benchmark: the ``pose`` judge on paragraphs of the kind LLaVA-style models write.

Reads ``tests/judges/data/paragraphs/**/*.json``: answers written in the style of LLaVA-1.5
and GPT-4o about the bundled sample's four images and synthetic images, each claim about
people labelled by hand with the status the judge should give it, and flipped versions
(one fact negated) whose new words the judge should contradict. Round 1's 60 answers were
split into a development half (``dev``, rules tuned on it) and a held-out half when they
were written; once that half had been measured and its errors seen it became a second
development half (``dev-2``). Round 2 wrote a fresh held-out set (now ``dev-3/``: 33
answers, 58 flips, new synthetic images) before changing any rule, measured it once with
round 1's rules (:data:`ROUND_1`), and tuned its rules on ``dev`` and ``dev-2`` only; round 3
read that set's errors, so it became a third development half (``dev-3``), and wrote a fresh
held-out set (``held-out-3/``: 32 answers, 57 flips) before changing any rule, measured it
once with round 2's rules (:data:`ROUND_2`), and tuned round 3's rules (``pose-rules-5``) on
``dev``, ``dev-2`` and ``dev-3`` only; ``--errors`` lists no held-out errors. See the
corpus's README.

For each half it reports:

- false contradictions: claims the judge contradicts that are not labelled contradicted
  (claims it read but no label names count too), over the claims it read, and the answers
  with any;
- flips found: flipped answers in which the judge contradicts a claim in the new words;
- coverage: labelled claims the judge decides as labelled, over the labelled claims it
  should decide (supported or contradicted); and agreement: labelled claims given exactly
  their label.

The goals (kpit issue 25): at most 1% false contradictions, at least 95% of flips found.
The baseline is the judge before the rules this corpus was made for (kpit at commit 6443cc8:
the question's person started the chain of pronouns, "two of them" was not read as two of a
group, and a group no assignment of people could satisfy was left undecidable), measured on
this same corpus and kept in :data:`BEFORE`, since that judge is no longer in the code;
:data:`ROUND_1` and :data:`ROUND_2` keep round 1's and round 2's rules' figures the same way.

    python benchmarks/bench_pose_paragraphs.py [--errors dev|dev-2|dev-3] [--quick]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import kpit
from kpit.bench import bench_context
from kpit.judges.pose.judge import PoseJudge, PoseReview
from kpit.judges.records import Answer, BenchContext, Question
from kpit.testing import synthetic_context

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "judges" / "data" / "paragraphs"
SAMPLE = REPO / "examples" / "data" / "coco-sample"
SPLITS = ("dev", "dev-2", "dev-3", "held-out-3")
FOLDERS = ("dev-3", "held-out-3")
"""The halves kept in folders of their own (the others are in the corpus's top folder)."""
GOALS = {"false contradictions": 0.01, "flips found": 0.95}

BEFORE = {
    "dev": {"false contradictions": (9, 181), "flips found": (45, 55), "coverage": (141, 171)},
    "dev-2": {"false contradictions": (1, 119), "flips found": (27, 30), "coverage": (89, 99)},
    "dev-3": {
        "false contradictions": (1, 170),
        "flips found": (40, 58),
        "coverage": (141, 163),
    },
    "held-out-3": {
        "false contradictions": (9, 166),
        "flips found": (42, 57),
        "coverage": (134, 170),
    },
}
"""The judge at commit 6443cc8 on this corpus: (count, out of) per figure and half (``dev-2``
with its two flips fixed in round 2; on the flips as first written it found 25 of 30)."""

ROUND_1 = {
    "dev": {"false contradictions": (0, 191), "flips found": (53, 55), "coverage": (159, 171)},
    "dev-2": {"false contradictions": (1, 121), "flips found": (28, 30), "coverage": (93, 99)},
    "dev-3": {
        "false contradictions": (5, 175),
        "flips found": (49, 58),
        "coverage": (134, 163),
    },
    "held-out-3": {
        "false contradictions": (8, 168),
        "flips found": (47, 57),
        "coverage": (128, 170),
    },
}
"""Round 1's rules (``pose-rules-3``, commit 784dfab) on each half; on ``dev-3`` (then the
held-out set) this was
its one measurement with those rules, made after the set was committed and before any
round-2 rule change: the honest held-out figure of round 1. ``dev-2`` is measured with its
two flips fixed in round 2 (on the flips as first written: 26 of 30)."""


ROUND_2 = {
    "dev": {"false contradictions": (0, 193), "flips found": (53, 55), "coverage": (160, 171)},
    "dev-2": {"false contradictions": (0, 122), "flips found": (30, 30), "coverage": (95, 99)},
    "dev-3": {
        "false contradictions": (5, 177),
        "flips found": (50, 58),
        "coverage": (133, 163),
    },
    "held-out-3": {
        "false contradictions": (8, 167),
        "flips found": (47, 57),
        "coverage": (129, 170),
    },
}
"""Round 2's rules (``pose-rules-4``, commit 05f9b3f) on each half; ``dev-3`` was then the
held-out set, never tuned on. On ``held-out-3`` this is its one measurement with those rules,
made after the set was committed and before any round-3 rule change: the honest held-out
figure of round 2 (round 1's rules and the judge before were measured on it then too)."""


@dataclass(frozen=True, slots=True)
class Label:
    """A claim labelled by hand: its words' span, its kind and its expected status."""

    start: int
    end: int
    kind: str
    status: str


@dataclass(frozen=True, slots=True)
class Item:
    """One answer of the corpus, with its image's context."""

    id: str
    split: str
    category: str
    question: str
    text: str
    labels: tuple[Label, ...]
    flips: tuple[tuple[str, str], ...]
    context: BenchContext


@dataclass
class Tally:
    """What the judge did on one half."""

    answers: int = 0
    read: int = 0
    false_contradictions: int = 0
    answers_with_false: int = 0
    labelled: int = 0
    decidable: int = 0
    covered: int = 0
    agreed: int = 0
    flips: int = 0
    found: int = 0
    errors: list[str] = field(default_factory=list)


def _contexts() -> Callable[[dict[str, Any]], BenchContext]:
    sample = kpit.load_coco(SAMPLE, split="val2017")
    by_name = {ctx.file_name: ctx for ctx in sample}

    def context(record: dict[str, Any]) -> BenchContext:
        if "image" in record:
            return bench_context(by_name[record["image"]])
        seed, people = record["synthetic"]["seed"], record["synthetic"]["people"]
        return bench_context(synthetic_context(np.random.default_rng(seed), people, image_id=seed))

    return context


def load_corpus(folder: Path = CORPUS) -> list[Item]:
    """Every answer of the corpus, in file order."""
    context = _contexts()
    items = []
    paths = sorted(folder.glob("*.json"))
    for sub in FOLDERS:
        paths += sorted((folder / sub).glob("*.json"))
    for path in paths:
        record = json.loads(path.read_text(encoding="utf-8"))
        ctx = context(record)
        for answer in record["answers"]:
            text = answer["answer"]
            labels = []
            for claim in answer["claims"]:
                start = text.index(claim["text"])
                labels.append(Label(start, start + len(claim["text"]), claim["kind"],
                                    claim["status"]))  # fmt: skip
            flips = tuple((f["replace"], f["with"]) for f in answer["flips"])
            items.append(Item(answer["id"], answer["split"], answer["category"],
                              answer["question"], text, tuple(labels), flips, ctx))  # fmt: skip
    return items


def _review(judge: PoseJudge, item: Item, text: str) -> PoseReview:
    question = Question(0, item.context.image, item.question, item.category)
    return judge.assess(question, item.context, Answer(0, text, "m"))


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _label_of(item: Item, kind: str, span: tuple[int, int]) -> Label | None:
    return next(
        (lab for lab in item.labels if lab.kind == kind and _overlaps(span, (lab.start, lab.end))),
        None,
    )


def measure(items: list[Item], judge: PoseJudge) -> Tally:
    """The judge's figures on ``items``."""
    tally = Tally()
    for item in items:
        review = _review(judge, item, item.text)
        tally.answers += 1
        tally.read += len(review.claims)
        false_here = 0
        for claim in review.claims:
            label = _label_of(item, claim.claim.kind, (claim.claim.start, claim.claim.end))
            if claim.status == "contradicted" and (label is None or label.status != claim.status):
                false_here += 1
                tally.errors.append(f"{item.id}: false contradiction of {claim.claim.text!r} "
                                    f"({claim.claim.kind}): {claim.fact}")  # fmt: skip
        tally.false_contradictions += false_here
        tally.answers_with_false += bool(false_here)
        for label in item.labels:
            tally.labelled += 1
            given = [
                c.status
                for c in review.claims
                if c.claim.kind == label.kind
                and _overlaps((c.claim.start, c.claim.end), (label.start, label.end))
            ]
            status = given[0] if given else "not read"
            tally.agreed += status == label.status
            if label.status != "undecidable":
                tally.decidable += 1
                tally.covered += status == label.status
            if status != label.status and status != "contradicted":
                words = item.text[label.start : label.end]
                tally.errors.append(f"{item.id}: {words!r} ({label.kind}) {status}, "
                                    f"labelled {label.status}")  # fmt: skip
        for old, new in item.flips:
            start = item.text.index(old)
            text = item.text[:start] + new + item.text[start + len(old) :]
            span = (start, start + len(new))
            flipped = _review(judge, item, text)
            tally.flips += 1
            hit = any(
                c.status == "contradicted" and _overlaps((c.claim.start, c.claim.end), span)
                for c in flipped.claims
            )
            tally.found += hit
            if not hit:
                tally.errors.append(f"{item.id}: flip {old!r} -> {new!r} not found")
    return tally


def _share(a: int, b: int) -> float:
    return a / b if b else 0.0


def figures(tally: Tally) -> dict[str, tuple[int, int]]:
    """The three figures of a half, as (count, out of)."""
    return {
        "false contradictions": (tally.false_contradictions, tally.read),
        "flips found": (tally.found, tally.flips),
        "coverage": (tally.covered, tally.decidable),
    }


def report(name: str, tally: Tally) -> None:
    """Print one half's figures, the goals and the ratio to the judge before."""
    print(
        f"{name}: {tally.answers} answers, {tally.read} claims read, {tally.labelled} labelled"
        f"\n  false contradictions {tally.false_contradictions}/{tally.read} = "
        f"{_share(tally.false_contradictions, tally.read):.1%} of claims read "
        f"({tally.answers_with_false} answers with any)"
        f"\n  flips found {tally.found}/{tally.flips} = {_share(tally.found, tally.flips):.1%}"
        f"\n  coverage {tally.covered}/{tally.decidable} = "
        f"{_share(tally.covered, tally.decidable):.1%} of decidable labelled claims decided "
        f"as labelled; agreement {_share(tally.agreed, tally.labelled):.1%}"
    )
    now = figures(tally)
    fc, flips = _share(*now["false contradictions"]), _share(*now["flips found"])
    met = fc <= GOALS["false contradictions"], flips >= GOALS["flips found"]
    print(f"  goals: false contradictions <= 1% {'met' if met[0] else 'NOT met'}, "
          f"flips found >= 95% {'met' if met[1] else 'NOT met'}")  # fmt: skip
    before = BEFORE.get(name)
    if before is None:
        return
    print("  now / before: " + ", ".join(
        f"{what} {_share(*now[what]):.1%} / {_share(*before[what]):.1%}" for what in now
    ))  # fmt: skip
    for label, then in (("round 1", ROUND_1), ("round 2", ROUND_2)):
        print(f"  now / {label}: " + ", ".join(
            f"{what} {_share(*now[what]):.1%} / {_share(*then[name][what]):.1%}" for what in now
        ))  # fmt: skip


def halves(items: list[Item]) -> Iterator[tuple[str, list[Item]]]:
    """The corpus's halves: ``dev``, ``dev-2``, ``dev-3`` and ``held-out-3``."""
    for split in SPLITS:
        part = [item for item in items if item.split == split]
        if part:
            yield split, part


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--errors", choices=SPLITS[:3], help="list the judge's errors on a development half"
    )
    parser.add_argument("--quick", action="store_true", help="the same run (it takes seconds)")
    args = parser.parse_args()
    items = load_corpus()
    judge = PoseJudge()
    for split, part in halves(items):
        tally = measure(part, judge)
        report(split, tally)
        if args.errors == split:
            print("\n".join(f"    {e}" for e in tally.errors))


if __name__ == "__main__":
    main()
