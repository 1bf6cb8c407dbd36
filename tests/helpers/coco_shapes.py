"""Synthetic image contexts shaped like COCO train2017's images with people.

What shapes a context's length is counted from COCO train2017 (captions, instances and person
keypoints): five captions of about ten words an image, about five object boxes besides the
people, and people with their keypoints, of whom some have no labelled point at all. Here:
1 to 6 people an image, a tenth of them with no labelled point and a quarter of the others'
points unlabelled (a third of all points unlabelled), a tenth of the labelled points hidden,
coordinates rounded to three decimals as kpit's loader rounds them. The poses come from
:func:`kpit.testing.synthetic_person`, so the numbers are spread as a real figure's are.

The token benchmark (``benchmarks/bench_tokens.py``) and the compact context's round-trip
test (``tests/prompts/test_compact.py``) read these contexts.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kpit.testing import synthetic_context
from kpit.types import Box, ImageContext, ObjectBox, Person

__all__ = ["coco_train_context", "coco_train_contexts"]

_WORDS = (
    "a man woman child boy girl person people group of two three young older is are "
    "standing sitting walking riding holding playing throwing swinging wearing looking "
    "at on in with near next to the field street table bench beach snow grass court "
    "skateboard horse tennis racket frisbee kite surfboard bike umbrella dog ball while "
    "red white black blue green shirt hat and his her their some other background"
)
CAPTION_WORDS = _WORDS.split()
OBJECT_CATEGORIES = (
    "chair", "car", "bench", "handbag", "backpack", "cup", "bottle", "umbrella", "bicycle",
    "dining table", "cell phone", "sports ball", "tennis racket", "baseball glove", "kite",
    "skateboard", "surfboard", "skis", "dog", "horse", "truck", "traffic light", "bowl",
)  # fmt: skip


def _caption(rng: np.random.Generator) -> str:
    words = rng.choice(CAPTION_WORDS, size=int(rng.integers(8, 15))).tolist()
    return " ".join(words).capitalize() + "."


def _box(rng: np.random.Generator) -> Box:
    x, y = rng.uniform(0, 0.8, 2)
    w, h = rng.uniform(0.02, 1 - x), rng.uniform(0.02, 1 - y)
    return Box(*(round(float(v), 3) for v in (x, y, min(1.0, x + w), min(1.0, y + h))))


def _relabel(rng: np.random.Generator, person: Person) -> Person:
    """``person`` with COCO train's share of unlabelled and hidden points."""
    rows = person.keypoint_array.copy()
    count = len(rows)
    if rng.random() < 0.1:
        visibility = np.zeros(count)
    else:
        visibility = rng.choice([2.0, 1.0, 0.0], size=count, p=[0.675, 0.075, 0.25])
    keep = visibility > 0
    # a point the pose drew unlabelled (outside the image) gets a position inside its box
    missing = keep & (rows[:, 2] == 0)
    box = person.box
    rows[missing, 0] = np.round(rng.uniform(box.x1, box.x2, int(missing.sum())), 3)
    rows[missing, 1] = np.round(rng.uniform(box.y1, box.y2, int(missing.sum())), 3)
    rows[:, 2] = visibility
    rows[~keep, :2] = 0
    rows.setflags(write=False)
    return dataclasses.replace(person, keypoint_array=rows)


def coco_train_context(rng: np.random.Generator, image_id: int = 0) -> ImageContext:
    """One context shaped like a COCO train2017 image with people (see the module)."""
    base = synthetic_context(rng, int(rng.integers(1, 7)), image_id=image_id)
    people = tuple(_relabel(rng, p) for p in base.people)
    extra = tuple(
        ObjectBox(str(rng.choice(OBJECT_CATEGORIES)), _box(rng)) for _ in range(int(rng.poisson(4)))
    )
    objects = (*base.objects, *extra)
    captions = tuple(_caption(rng) for _ in range(5))
    return dataclasses.replace(base, captions=captions, objects=objects, people=people)


def coco_train_contexts(count: int, seed: int = 0) -> list[ImageContext]:
    """``count`` contexts from :func:`coco_train_context`, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return [coco_train_context(rng, image_id=i + 1) for i in range(count)]
