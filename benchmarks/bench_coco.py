"""Benchmark: loading a COCO-train-sized split into contexts, and rendering them.

Writes a synthetic split the size of COCO train2017 (about 64k images with people, 260k
people with 17 keypoints and polygon outlines, 5 captions per image, 860k object boxes),
then measures, each in a fresh process so peak memory is its own:

- baseline: a bare ``json.load`` of the same three files;
- kpit: ``kpit.load_coco`` plus building every context;

and, in this process, contexts rendered per second on one core in both styles.

    python benchmarks/bench_coco.py            # full size (about 1 GB of JSON in a temp dir)
    python benchmarks/bench_coco.py --scale 0.1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

IMAGES, PEOPLE, OBJECTS, CAPTIONS_PER_IMAGE = 64_115, 262_465, 860_001, 5
WORDS = [
    "a",
    "man",
    "woman",
    "child",
    "person",
    "is",
    "are",
    "standing",
    "sitting",
    "riding",
    "holding",
    "playing",
    "on",
    "with",
    "the",
    "near",
    "next",
    "to",
    "in",
    "of",
    "street",
    "field",
    "table",
    "bench",
    "skateboard",
    "horse",
    "tennis",
    "racket",
]


def _polygons(rng: np.random.Generator, boxes: np.ndarray, points: int) -> list[list[list[float]]]:
    """One polygon per box, ``points`` vertices inside it (like COCO's segmentations)."""
    t = rng.random((len(boxes), points, 2))
    xy = boxes[:, None, :2] + t * boxes[:, None, 2:]
    return [[row] for row in np.round(xy.reshape(len(boxes), -1), 2).tolist()]


def write_split(folder: Path, scale: float, seed: int = 0) -> dict[str, Path]:
    """Write captions, instances and person keypoint files for a synthetic split."""
    rng = np.random.default_rng(seed)
    n_img, n_people, n_obj = (max(1, int(n * scale)) for n in (IMAGES, PEOPLE, OBJECTS))
    widths = rng.integers(320, 641, n_img)
    heights = rng.integers(240, 481, n_img)
    images = [
        {
            "license": 1,
            "file_name": f"{i:012d}.jpg",
            "coco_url": "",
            "height": int(h),
            "width": int(w),
            "date_captured": "2013-11-14 16:28:13",
            "flickr_url": "",
            "id": i,
        }
        for i, w, h in zip(range(1, n_img + 1), widths.tolist(), heights.tolist(), strict=True)
    ]
    person_image = rng.integers(0, n_img, n_people)
    object_image = rng.integers(0, n_img, n_obj)

    def boxes_for(image_index: np.ndarray) -> np.ndarray:
        w, h = widths[image_index], heights[image_index]
        x = rng.random(len(image_index)) * w * 0.7
        y = rng.random(len(image_index)) * h * 0.7
        bw = rng.random(len(image_index)) * (w - x) * 0.9 + 1
        bh = rng.random(len(image_index)) * (h - y) * 0.9 + 1
        return np.round(np.stack([x, y, bw, bh], axis=1), 2)

    person_boxes = boxes_for(person_image)
    keypoints = np.zeros((n_people, 17, 3))
    keypoints[..., :2] = (
        person_boxes[:, None, :2] + rng.random((n_people, 17, 2)) * person_boxes[:, None, 2:]
    )
    keypoints[..., 2] = rng.choice([0, 1, 2], size=(n_people, 17), p=[0.3, 0.1, 0.6])
    keypoints[keypoints[..., 2] == 0] = 0
    keypoints = np.round(keypoints).astype(int)
    person_polygons = _polygons(rng, person_boxes, 20)
    people = [
        {
            "segmentation": seg,
            "num_keypoints": int(np.count_nonzero(kp[:, 2])),
            "area": float(b[2] * b[3]),
            "iscrowd": 0,
            "keypoints": kp.reshape(-1).tolist(),
            "image_id": int(img) + 1,
            "bbox": b.tolist(),
            "category_id": 1,
            "id": 1_000_000 + n,
        }
        for n, (seg, kp, b, img) in enumerate(
            zip(person_polygons, keypoints, person_boxes, person_image, strict=True)
        )
    ]
    categories = [{"supercategory": "thing", "id": i, "name": f"thing{i}"} for i in range(2, 91)]
    person_category = {
        "supercategory": "person",
        "id": 1,
        "name": "person",
        "keypoints": json.loads(json.dumps(list(_coco17()))),
        "skeleton": [
            [16, 14],
            [14, 12],
            [17, 15],
            [15, 13],
            [12, 13],
            [6, 12],
            [7, 13],
            [6, 7],
            [6, 8],
            [7, 9],
            [8, 10],
            [9, 11],
            [2, 3],
            [1, 2],
            [1, 3],
            [2, 4],
            [3, 5],
            [4, 6],
            [5, 7],
        ],
    }
    object_boxes = boxes_for(object_image)
    object_polygons = _polygons(rng, object_boxes, 12)
    object_cats = rng.integers(2, 91, n_obj).tolist()
    objects = [
        {
            "segmentation": seg,
            "area": float(b[2] * b[3]),
            "iscrowd": 0,
            "image_id": int(img) + 1,
            "bbox": b.tolist(),
            "category_id": cat,
            "id": 5_000_000 + n,
        }
        for n, (seg, b, img, cat) in enumerate(
            zip(object_polygons, object_boxes, object_image, object_cats, strict=True)
        )
    ]
    instance_people = [
        {k: v for k, v in p.items() if k not in ("keypoints", "num_keypoints")} for p in people
    ]
    captions = [
        {
            "image_id": i,
            "id": 9_000_000 + i * CAPTIONS_PER_IMAGE + c,
            "caption": " ".join(rng.choice(WORDS, size=10).tolist()) + ".",
        }
        for i in range(1, n_img + 1)
        for c in range(CAPTIONS_PER_IMAGE)
    ]
    info = {"description": "synthetic split for kpit's benchmark"}
    files = {
        "captions": ({"info": info, "images": images, "annotations": captions}),
        "instances": (
            {
                "info": info,
                "images": images,
                "annotations": instance_people + objects,
                "categories": [person_category | {"keypoints": []}, *categories],
            }
        ),
        "keypoints": (
            {"info": info, "images": images, "annotations": people, "categories": [person_category]}
        ),
    }
    paths = {}
    for kind, data in files.items():
        name = "person_keypoints" if kind == "keypoints" else kind
        path = folder / "annotations" / f"{name}_train2017.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(data))
        paths[kind] = path
    return paths


def _coco17() -> tuple[str, ...]:
    from kpit.layouts import COCO_17

    return COCO_17.names


CHILD_BASELINE = """
import json, resource, sys, time
start = time.perf_counter()
for path in sys.argv[1:]:
    with open(path) as f:
        json.load(f)
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

CHILD_KPIT = """
import os, resource, sys, time
import kpit
start = time.perf_counter()
contexts = kpit.load_coco(sys.argv[1], split="train2017")
loaded = time.perf_counter() - start
people = sum(len(ctx.people) for ctx in contexts)
total = time.perf_counter() - start
with open("/proc/self/statm") as statm:
    retained_kb = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(total, peak_kb, loaded, len(contexts), people, retained_kb)
"""


# kpit 0.1's loader, for comparison: the same, plus pycocotools' index built on every file
# (and thrown away), as it was before kpit stopped building it.
CHILD_KPIT_WITH_INDEX = (
    """
import contextlib, io
from pycocotools.coco import COCO
import kpit._coco_tables as tables
plain = tables.read_coco
def read_and_index(path, kind):
    parsed = plain(path, kind)
    coco = COCO()
    coco.dataset = parsed.dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return parsed
tables.read_coco = read_and_index
"""
    + CHILD_KPIT
)


def _child(code: str, *args: str) -> list[float]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    return [float(v) for v in out.stdout.split()]


def render_rate(root: Path, count: int) -> dict[str, float]:
    """Contexts rendered per second, per style, over ``count`` contexts."""
    import kpit

    contexts = kpit.load_coco(root, split="train2017", limit=count)
    built = list(contexts)
    rates = {}
    for style in ("paper", "compact"):
        kpit.render_context(built[0], style)  # compile the template
        start = time.perf_counter()
        for ctx in built:
            kpit.render_context(ctx, style)
        rates[style] = len(built) / (time.perf_counter() - start)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of COCO train's size")
    parser.add_argument("--render", type=int, default=20_000, help="contexts to render")
    parser.add_argument("--dir", type=Path, help="write the split here (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.dir or Path(tmp)
        start = time.perf_counter()
        paths = write_split(root, args.scale)
        size = sum(p.stat().st_size for p in paths.values()) / 2**20
        took = time.perf_counter() - start
        print(f"synthetic split: {size:.0f} MiB of JSON written in {took:.1f} s")
        base_s, base_kb = _child(CHILD_BASELINE, *(str(p) for p in paths.values()))
        kpit_s, kpit_kb, load_s, images, people, retained_kb = _child(CHILD_KPIT, str(root))
        print(f"images {images:.0f}, people {people:.0f}")
        print(
            f"baseline json.load of the 3 files: {base_s:6.2f} s, peak RSS {base_kb / 1024:.0f} MiB"
        )
        print(
            f"kpit load_coco + build all contexts: {kpit_s:6.2f} s (load {load_s:.2f} s), "
            f"peak RSS {kpit_kb / 1024:6.0f} MiB, RSS after loading {retained_kb / 1024:.0f} MiB"
        )
        print(
            f"ratio kpit / json.load: time {kpit_s / base_s:.2f}, peak RSS {kpit_kb / base_kb:.2f}"
        )
        old_s, old_kb, *_ = _child(CHILD_KPIT_WITH_INDEX, str(root))
        print(
            f"with pycocotools' index as kpit 0.1 built it: {old_s:6.2f} s, peak RSS "
            f"{old_kb / 1024:.0f} MiB; ratio now / then: time {kpit_s / old_s:.2f}, "
            f"peak RSS {kpit_kb / old_kb:.2f}"
        )
        rates = render_rate(root, args.render)
        for style, rate in rates.items():
            print(f"render {style:7s}: {rate:8.0f} contexts/s on one core")


if __name__ == "__main__":
    main()
