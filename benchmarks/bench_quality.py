"""Benchmark: the quality filter's leak rule, measured on a labelled corpus.

Reports, in one run, on ``tests/data/leaks/sentences.jsonl`` (360 sentences written for
kpit: source leaks and hard negatives, a development half the rules were tuned on and a
held-out half they were not):

- precision and recall of the leak rule (:mod:`kpit.pipeline.leaks`) on each half;
- the baseline: the same figures for the leak patterns kpit had before (kept below, as
  they were at commit 30b2472), and the ratio of the two;
- how many of LLaVA-Bench's 90 GPT-4 reference answers (real teacher text, written from
  captions and boxes, in ``tests/data/llava-bench-coco/``) each flags;
- the speed of each, in sentences per second.

    python benchmarks/bench_quality.py [--errors dev|held-out] [--quick]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kpit.pipeline.leaks import LeakFinder

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
CORPUS = DATA / "leaks" / "sentences.jsonl"
TEACHER = DATA / "llava-bench-coco" / "qa90_gpt4_answer.jsonl"

BASELINE_PATTERNS = (
    r"\bkey ?points?\b",
    r"\bbounding[- ]box(?:es)?\b",
    r"\bbox(?:es)? coordinates?\b",
    r"\bcoordinates?\b",
    r"\bcaptions?\b",
    r"\bvisibility (?:flag|value|score)s?\b",
    r"\b(?:the|this) (?:provided |given )?(?:description|annotation|data|information) "
    r"(?:provided|given|says|states|indicates|mentions)\b",
    r"\b(?:provided|given) (?:description|descriptions|annotations?|data|information)\b",
    r"\baccording to the (?:description|annotations?|data|information|sentences)\b",
    r"\bthe five sentences\b",
)
"""kpit's leak patterns before the rules of :mod:`kpit.pipeline.leaks` (commit 30b2472)."""

Finder = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class Score:
    """Counts of one finder on one set of labelled sentences."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        """Of the sentences flagged, the share that leak."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """Of the sentences that leak, the share flagged."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def baseline() -> Finder:
    """The old patterns as one case-insensitive expression."""
    pattern = re.compile("|".join(f"(?:{p})" for p in BASELINE_PATTERNS), re.I)
    return lambda text: m.group(0) if (m := pattern.search(text)) else None


def current() -> Finder:
    """kpit's leak rules, as the quality filter applies them."""
    finder = LeakFinder()
    return lambda text: leak.phrase if (leak := finder.find(text)) else None


def score(find: Finder, rows: list[dict[str, object]]) -> Score:
    """Count hits and misses of ``find`` on labelled ``rows``."""
    tp = fp = fn = tn = 0
    for row in rows:
        hit, leak = find(str(row["text"])) is not None, bool(row["leak"])
        tp += hit and leak
        fp += hit and not leak
        fn += leak and not hit
        tn += not leak and not hit
    return Score(tp, fp, fn, tn)


def rate(find: Finder, texts: list[str], rounds: int = 20) -> float:
    """Sentences per second."""
    start = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            find(text)
    return rounds * len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", choices=["dev", "held-out"],
                        help="list the rules' errors on this half")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=20, help="passes for the speed figures")
    parser.add_argument("--quick", action="store_true", help="2 passes for speed: CI's run")
    args = parser.parse_args()
    if args.quick:  # other defaults; the flags given still count
        parser.set_defaults(rounds=2)
        args = parser.parse_args()
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    finders = {"baseline (before)": baseline(), "kpit.pipeline.leaks (now)": current()}
    print(f"{'leak rule':<28}{'half':<10}{'leaks':>6}{'clean':>6}{'TP':>5}{'FP':>5}{'FN':>5}"
          f"{'precision':>11}{'recall':>8}")  # fmt: skip
    scores: dict[tuple[str, str], Score] = {}
    for half in ("dev", "held-out"):
        part = [r for r in rows if r["split"] == half]
        leaks = sum(bool(r["leak"]) for r in part)
        for name, find in finders.items():
            s = scores[name, half] = score(find, part)
            print(f"{name:<28}{half:<10}{leaks:>6}{len(part) - leaks:>6}{s.tp:>5}{s.fp:>5}"
                  f"{s.fn:>5}{s.precision:>11.3f}{s.recall:>8.3f}")  # fmt: skip
    for half in ("dev", "held-out"):
        new, old = scores["kpit.pipeline.leaks (now)", half], scores["baseline (before)", half]
        print(f"ratio now / before, {half}: precision {new.precision / old.precision:.2f}, "
              f"recall {new.recall / old.recall:.2f}")  # fmt: skip
    answers = [json.loads(line)["text"] for line in TEACHER.read_text().splitlines()]
    flagged = {name: sum(find(a) is not None for a in answers) for name, find in finders.items()}
    print(
        f"LLaVA-Bench GPT-4 answers flagged (of {len(answers)}): "
        + ", ".join(f"{name} {n}" for name, n in flagged.items())
    )
    texts = [str(r["text"]) for r in rows]
    speeds = {name: rate(find, texts, args.rounds) for name, find in finders.items()}
    new_speed, old_speed = speeds["kpit.pipeline.leaks (now)"], speeds["baseline (before)"]
    print(
        f"speed: now {new_speed:,.0f} sentences/s, before {old_speed:,.0f}/s; "
        f"now / before {new_speed / old_speed:.2f}"
    )
    if args.errors:
        for row in rows:
            found = finders["kpit.pipeline.leaks (now)"](str(row["text"]))
            if row["split"] == args.errors and (found is not None) != row["leak"]:
                kind = "missed leak" if row["leak"] else f"false alarm {found!r}"
                print(f"{row['id']:>4} {kind}: {row['text']}")


if __name__ == "__main__":
    main()
