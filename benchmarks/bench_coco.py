"""Benchmark: loading a COCO split into contexts, against json.load, pycocotools and kpit before.

Writes a synthetic split shaped like COCO train (captions, instances and person keypoints
files: 1-6 people an image with about a third of their keypoints unlabelled, 1-9 other
objects, 5 captions, polygon outlines and image records as COCO's), then measures each case
in a fresh process, round after round, so that its peak memory is its own:

- ``json.load``: the standard library's ``json.load`` of the three files, as a user would
  write it (each file's result dropped before the next is read: the lowest peak it can have);
- ``pycocotools``: ``COCO(path)`` for each file, the three objects kept (a user joins them);
- ``kpit``: ``kpit.load_coco`` plus building every context;
- ``kpit before``: the same with kpit's previous loader: every file read record by record
  (the path that now reads only files the fast decoder leaves to it) and contexts built one
  image at a time (that build is copied below, as it was);

and the same for the keypoints file alone. Times are the best of the rounds; peak memory is
the growth of the process's peak RSS (``ru_maxrss``) over its RSS once its imports are done,
the smallest of the rounds. Last, contexts rendered per second on one core, in both styles.

    python benchmarks/bench_coco.py                  # 5,000 images, with and without outlines
    python benchmarks/bench_coco.py --images 64115   # as many images as COCO train has people in
    python benchmarks/bench_coco.py --quick          # a few seconds (CI)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

WORDS = [
    *("a", "man", "woman", "child", "person", "people", "is", "are", "standing", "sitting"),
    *("riding", "holding", "playing", "on", "with", "the", "near", "next", "to", "in", "of"),
    *("street", "field", "table", "bench", "skateboard", "horse", "tennis", "racket", "two"),
]


def _outline(rng: np.random.Generator, box: list[float], points: int) -> list[list[float]]:
    """One polygon of ``points`` vertices inside ``box``, as COCO's segmentations."""
    t = rng.random((points, 2))
    xy = np.array(box[:2]) + t * np.array(box[2:])
    return [np.round(xy.reshape(-1), 2).tolist()]


def write_split(
    folder: Path, images: int, *, outlines: bool = True, seed: int = 0
) -> dict[str, Path]:
    """Write captions, instances and person keypoints files shaped like COCO train's."""
    from kpit.layouts import COCO_17

    rng = np.random.default_rng(seed)
    records, people, objects, captions = [], [], [], []
    ids = iter(range(1, 10**9))

    def box(w: int, h: int) -> list[float]:
        x, y = rng.random() * w * 0.7, rng.random() * h * 0.7
        bw, bh = rng.random() * (w - x) * 0.9 + 1, rng.random() * (h - y) * 0.9 + 1
        return [round(v, 2) for v in (x, y, bw, bh)]

    def outline(b: list[float], low: int, high: int) -> Any:
        return _outline(rng, b, int(rng.integers(low, high))) if outlines else []

    for image_id in range(1, images + 1):
        w, h = int(rng.integers(320, 641)), int(rng.integers(240, 481))
        name = f"{image_id:012d}.jpg"
        records.append({"license": int(rng.integers(1, 9)), "file_name": name,
                        "coco_url": f"http://images.cocodataset.org/train2017/{name}",
                        "height": h, "width": w, "date_captured": "2013-11-14 16:28:13",
                        "flickr_url": f"http://farm4.staticflickr.com/3153/{image_id}_z.jpg",
                        "id": image_id})  # fmt: skip
        for _ in range(int(rng.integers(1, 7))):
            b = box(w, h)
            points = np.zeros((len(COCO_17), 3))
            points[:, :2] = np.array(b[:2]) + rng.random((len(COCO_17), 2)) * np.array(b[2:])
            points[:, 2] = rng.choice([0, 1, 2], size=len(COCO_17), p=[1 / 3, 0.1, 17 / 30])
            points[points[:, 2] == 0] = 0
            flat = np.round(points).astype(int).reshape(-1).tolist()
            people.append({"segmentation": outline(b, 15, 61),
                           "num_keypoints": int(np.count_nonzero(points[:, 2])),
                           "area": round(b[2] * b[3], 3), "iscrowd": 0, "keypoints": flat,
                           "image_id": image_id, "bbox": b, "category_id": 1,
                           "id": next(ids)})  # fmt: skip
        for _ in range(int(rng.integers(1, 10))):
            b = box(w, h)
            crowd = rng.random() < 0.01
            segmentation = (
                {"counts": rng.integers(0, 500, 120).tolist(), "size": [h, w]}
                if crowd
                else outline(b, 6, 41)
            )
            objects.append({"segmentation": segmentation, "area": round(b[2] * b[3], 3),
                            "iscrowd": int(crowd), "image_id": image_id, "bbox": b,
                            "category_id": int(rng.integers(2, 91)), "id": next(ids)})  # fmt: skip
        for _ in range(5):
            text = " ".join(rng.choice(WORDS, size=int(rng.integers(8, 15))).tolist())
            caption = text.capitalize() + "."
            captions.append({"image_id": image_id, "id": next(ids), "caption": caption})
    person = {"supercategory": "person", "id": 1, "name": "person",
              "keypoints": list(COCO_17.names),
              "skeleton": [[a + 1, b + 1] for a, b in COCO_17.skeleton]}  # fmt: skip
    things = [{"supercategory": "thing", "id": i, "name": f"thing{i}"} for i in range(2, 91)]
    instance_people = [
        {k: v for k, v in p.items() if k not in ("keypoints", "num_keypoints")} for p in people
    ]
    info = {"description": "synthetic split for kpit's benchmark", "version": "1.0"}
    contents = {
        "captions": {"info": info, "images": records, "annotations": captions},
        "instances": {"info": info, "images": records, "annotations": instance_people + objects,
                      "categories": [person | {"keypoints": [], "skeleton": []}, *things]},
        "person_keypoints": {"info": info, "images": records, "annotations": people,
                             "categories": [person]},
    }  # fmt: skip
    paths = {}
    for name, data in contents.items():
        path = folder / "annotations" / f"{name}_train2017.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(data))
        paths[name] = path
    return paths


# --- the cases, each run in a fresh process ------------------------------------------------

# Imports first; then the peak RSS is reset to the RSS (Linux: /proc/self/clear_refs), the
# case runs, and the peak's growth over that RSS is its memory. Elsewhere, the growth of
# ru_maxrss (which misses a peak lower than the imports' own). One JSON line comes out.
CHILD = """
import json, re, resource, sys, time
{imports}

def memory(key):
    with open("/proc/self/status") as status:
        return int(re.search(key + r":\\s+(\\d+) kB", status.read()).group(1))

try:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    before, peak = memory("VmRSS"), lambda: memory("VmHWM")
except OSError:
    scale = 1 if sys.platform != "darwin" else 1024  # KiB on Linux, bytes on macOS
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
    before = peak()
start = time.perf_counter()
{case}
total = time.perf_counter() - start
print(json.dumps({{"seconds": total, "peak_kib": peak() - before, **extra}}))
"""

JSON_LOAD = """
for path in sys.argv[2:]:
    with open(path) as f:
        json.load(f)
extra = {}
"""

PYCOCOTOOLS = """
import contextlib, io
with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
    indexes = [COCO(path) for path in sys.argv[2:]]
extra = {}
"""

KPIT = """
import kpit
files = {k: v for k, v in zip(sys.argv[1].split(","), sys.argv[2:])}
contexts = kpit.load_coco(**files)
loaded = time.perf_counter() - start
people = sum(len(ctx.people) for ctx in contexts)
extra = {"load_seconds": loaded, "images": len(contexts), "people": people,
         "objects": contexts.stats.objects, "captions": contexts.stats.captions}
"""

# kpit's loader before the fast decoder and the bulk build: every file read record by record
# (kpit.coco._read and the extract_* functions, unchanged; kpit now uses them for files the
# fast decoder leaves to it), and each context built on its own by this copy of the previous
# CocoContexts._build.
BEFORE = """
import numpy as np
import kpit.coco._fast as fast
from kpit.coco import _tables as tables
from kpit.coco.loader import CocoContexts
from kpit.types import Box, ImageContext, ObjectBox, Person

def refuse(*args):
    raise fast.Fallback

fast.read_people = fast.read_objects = fast.read_captions = refuse

def build_before(self, index):
    builder = self._builder
    objects, people = [], []
    if builder._objects is not None:
        table = builder._objects
        start, end = table.span(index)
        if end > start:
            boxes = (table.boxes[start:end] / tables.SCALE).tolist()
            names, categories = table.names, table.categories[start:end].tolist()
            crowd = table.crowd[start:end].tolist()
            for box, category, is_crowd in zip(boxes, categories, crowd, strict=True):
                objects.append(ObjectBox(names[category], Box(*box), is_crowd))
    if builder._people is not None:
        ptable = builder._people
        start, end = ptable.span(index)
        if end > start:
            keypoints = ptable.keypoints[start:end].astype(np.float64)
            keypoints[..., :2] /= tables.SCALE
            keypoints.setflags(write=False)
            boxes = (ptable.boxes[start:end] / tables.SCALE).tolist()
            ids = ptable.annotation_ids[start:end].tolist()
            size = (int(self._images.widths[index]), int(self._images.heights[index]))
            for j, (box, ann_id) in enumerate(zip(boxes, ids, strict=True)):
                people.append(Person(Box(*box), keypoints[j], ptable.layout, ann_id, size))
    images = self._images
    return ImageContext(
        image_id=int(images.ids[index]),
        file_name=images.file_names[index],
        width=int(images.widths[index]),
        height=int(images.heights[index]),
        captions=builder._captions[index] if builder._captions is not None else (),
        objects=tuple(objects),
        people=tuple(people),
    )

def iterate_before(self):
    for i in self._selected.tolist():
        yield build_before(self, i)

CocoContexts.__iter__ = iterate_before
"""

CASES = {
    "json.load": ("", JSON_LOAD),
    "pycocotools": ("from pycocotools.coco import COCO", PYCOCOTOOLS),
    "kpit before": ("import kpit\n" + BEFORE, KPIT),
    "kpit": ("import kpit", KPIT),
}


def _child(case: str, kinds: list[str], paths: list[Path]) -> dict[str, float]:
    imports, body = CASES[case]
    code = CHILD.format(imports=imports, case=body)
    args = [",".join(kinds), *(str(p) for p in paths)]
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{case} failed:\n{out.stderr}")
    result: dict[str, float] = json.loads(out.stdout.splitlines()[-1])
    return result


@dataclass
class Best:
    """The best (smallest) time and peak of a case over the rounds, with its counts."""

    seconds: float = float("inf")
    peak_kib: float = float("inf")
    load_seconds: float = float("inf")
    counts: dict[str, float] | None = None

    def add(self, result: dict[str, float]) -> None:
        self.seconds = min(self.seconds, result["seconds"])
        self.peak_kib = min(self.peak_kib, result["peak_kib"])
        self.load_seconds = min(self.load_seconds, result.get("load_seconds", float("inf")))
        self.counts = self.counts or {k: v for k, v in result.items() if k in COUNTS}


COUNTS = ("images", "people", "objects", "captions")


def measure(
    paths: dict[str, Path], kinds: list[str], cases: list[str], rounds: int
) -> dict[str, Best]:
    """Run every case ``rounds`` times, round-robin, each run in a fresh process."""
    names = {"captions": "captions", "instances": "instances", "keypoints": "person_keypoints"}
    files = [paths[names[kind]] for kind in kinds]
    best = {case: Best() for case in cases}
    for n in range(rounds):
        for case in cases[n % len(cases) :] + cases[: n % len(cases)]:  # none always first
            best[case].add(_child(case, kinds, files))
    return best


def report(title: str, best: dict[str, Best]) -> None:
    """Print each case's figures and kpit's ratios to the others."""
    print(f"\n{title}")
    mib = 1024
    for case, b in best.items():
        load = f" (load_coco alone {b.load_seconds:.3f} s)" if b.load_seconds < float("inf") else ""
        print(f"  {case:12s} {b.seconds:7.3f} s   peak RSS +{b.peak_kib / mib:6.1f} MiB{load}")
    kpit = best["kpit"]
    for case, b in best.items():
        if case != "kpit":
            print(f"  ratio kpit / {case:12s} time {kpit.seconds / b.seconds:.2f}, "
                  f"peak {kpit.peak_kib / max(b.peak_kib, 1):.2f}")  # fmt: skip
    print(f"  ratio load_coco alone / json.load: time "
          f"{kpit.load_seconds / best['json.load'].seconds:.2f}")  # fmt: skip


def render_rate(paths: dict[str, Path], count: int) -> dict[str, float]:
    """Contexts rendered per second, per style, over ``count`` contexts."""
    import kpit

    contexts = kpit.load_coco(
        captions=paths["captions"],
        instances=paths["instances"],
        keypoints=paths["person_keypoints"],
        limit=count,
    )
    built = list(contexts)
    rates = {}
    for style in ("paper", "compact"):
        kpit.render_context(built[0], style)  # compile the template
        start = time.perf_counter()
        for ctx in built:
            kpit.render_context(ctx, style)
        rates[style] = len(built) / (time.perf_counter() - start)
    return rates


def _describe(paths: dict[str, Path], best: Best) -> str:
    sizes = ", ".join(f"{name} {p.stat().st_size / 2**20:.1f}" for name, p in paths.items())
    counts = best.counts or {}
    shown = ", ".join(f"{int(counts[k]):,} {k}" for k in COUNTS if k in counts)
    return f"{shown}; MiB of JSON: {sizes}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000, help="images in the split")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each case (best kept)")
    parser.add_argument("--render", type=int, default=5000, help="contexts to render")
    parser.add_argument("--dir", type=Path, help="write the splits here (default: a temp dir)")
    parser.add_argument(
        "--outlines",
        choices=["both", "with", "without"],
        default="both",
        help="measure the split with polygon outlines, without, or both",
    )
    parser.add_argument("--quick", action="store_true", help="a small split, one round (CI)")
    args = parser.parse_args()
    if args.quick:
        args.images, args.rounds, args.render = 300, 1, 300
    all_cases = list(CASES)
    if importlib.util.find_spec("pycocotools") is None:
        print("pycocotools is not installed: its case is left out")
        all_cases.remove("pycocotools")
    if args.quick:
        args.outlines = "with"
    variants = [(f"{which} outlines", which == "with") for which in ("with", "without")
                if args.outlines in (which, "both")]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        base = args.dir or Path(tmp)
        for label, outlines in variants:
            start = time.perf_counter()
            paths = write_split(base / label.replace(" ", "-"), args.images, outlines=outlines)
            print(f"\n== split {label}: {args.images:,} images, written in "
                  f"{time.perf_counter() - start:.1f} s")  # fmt: skip
            three = measure(paths, ["captions", "instances", "keypoints"], all_cases, args.rounds)
            print(_describe(paths, three["kpit"]))
            report("captions + instances + keypoints (load + build every context):", three)
            alone = measure(paths, ["keypoints"], all_cases, args.rounds)
            report("keypoints file alone:", alone)
            if outlines:
                rates = render_rate(paths, args.render)
                for style, rate in rates.items():
                    print(f"render {style:7s}: {rate:8.0f} contexts/s on one core")


if __name__ == "__main__":
    main()
