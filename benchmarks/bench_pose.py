"""Benchmark: pose facts for 260k synthetic people.

Reports, on one core:
- the numeric part (``kpit.pose.geometry.measure_pose`` over all people at once), in people/s
  (goal: at least 100,000/s);
- the baseline: the same function called one person at a time, as a naive loop would, and
  the ratio of the two;
- the wording (turning measures into ``PoseFact`` objects with their text), separately.

    python benchmarks/bench_pose.py [--people 262465] [--quick]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the goal says

import numpy as np

from kpit.pose import geometry as posegeometry
from kpit.pose.facts import facts_from_measures

# A standing person facing the camera, in pixels (COCO-17 order).
TEMPLATE = np.array([
    (500, 100), (510, 90), (490, 90), (522, 96), (478, 96), (560, 180), (440, 180),
    (575, 280), (425, 280), (580, 370), (420, 370), (540, 380), (460, 380),
    (540, 550), (460, 550), (540, 720), (460, 720),
], dtype=np.float64)  # fmt: skip


def synthetic_people(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` people: the template rotated, scaled, jittered, with COCO-like visibility."""
    rng = np.random.default_rng(seed)
    angle = rng.normal(0, 0.5, n)
    rotation = np.stack(
        [
            np.stack([np.cos(angle), -np.sin(angle)], -1),
            np.stack([np.sin(angle), np.cos(angle)], -1),
        ],
        axis=1,
    )
    centred = TEMPLATE - TEMPLATE.mean(axis=0)
    jitter = rng.normal(0, 40, (n, 17, 2))
    scale = rng.uniform(0.05, 0.6, (n, 1, 1))
    xy = np.einsum("nij,kj->nki", rotation, centred) + jitter
    xy = xy * scale + rng.uniform(100, 500, (n, 1, 2))
    visibility = rng.choice([0, 1, 2], size=(n, 17), p=[0.25, 0.1, 0.65]).astype(np.float64)
    return xy, visibility


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=262_465)
    parser.add_argument("--loop", type=int, default=2_000, help="people for the naive loop")
    parser.add_argument("--words", type=int, default=20_000, help="people to word")
    parser.add_argument("--quick", action="store_true", help="fewer people: CI's run")
    args = parser.parse_args()
    if args.quick:  # other defaults; the flags given still count
        parser.set_defaults(people=20_000, loop=300, words=1_000)
        args = parser.parse_args()
    xy, visibility = synthetic_people(args.people)

    posegeometry.measure_pose(xy[:100], visibility[:100])  # warm up
    start = time.perf_counter()
    measures = posegeometry.measure_pose(xy, visibility)
    batch_s = time.perf_counter() - start
    batch_rate = args.people / batch_s

    start = time.perf_counter()
    for i in range(args.loop):
        posegeometry.measure_pose(xy[i : i + 1], visibility[i : i + 1])
    loop_rate = args.loop / (time.perf_counter() - start)

    start = time.perf_counter()
    facts = 0
    for i in range(args.words):
        facts += len(facts_from_measures(measures, i))
    word_rate = args.words / (time.perf_counter() - start)

    known = {name: int((m.code >= 0).sum()) for name, m in measures.joints.items()}
    print(f"people: {args.people:,}; left elbows with a flexion bin: {known['left_elbow']:,}; "
          f"postures decided: {int((measures.posture.code >= 0).sum()):,}")  # fmt: skip
    print(f"numeric, all at once : {batch_rate:12,.0f} people/s ({batch_s:.2f} s)")
    print(f"baseline, one by one : {loop_rate:12,.0f} people/s (over {args.loop:,} people)")
    print(f"ratio batch / one-by-one: {batch_rate / loop_rate:.0f}x")
    print(
        f"wording              : {word_rate:12,.0f} people/s ({facts / args.words:.1f} facts each)"
    )


if __name__ == "__main__":
    main()
