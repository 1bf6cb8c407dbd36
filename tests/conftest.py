"""Shared fixtures: the bundled real COCO sample, a writer of synthetic COCO files, the
loopback OpenAI server (a test file that needs it set up otherwise defines its own); and a
guard that keeps each test's plugins to itself, so tests run in any order and in parallel.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kpit import plugins
from kpit.layouts import COCO_17

from .helpers.openai_server import FakeOpenAI

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "data" / "coco-sample"
LLAVA_BENCH = Path(__file__).resolve().parent / "data" / "llava-bench-coco"

PERSON_CATEGORY = {
    "id": 1,
    "name": "person",
    "supercategory": "person",
    "keypoints": list(COCO_17.names),
    "skeleton": [[a + 1, b + 1] for a, b in COCO_17.skeleton],
}


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    """A real HTTP server on 127.0.0.1 that speaks the OpenAI API, stopped after the test."""
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _plugins_stay_with_their_test() -> Iterator[None]:
    """The process's plugin manager as each test found it: a plugin a test registered (and a
    failing test could not unregister) leaves with it; a manager a test made afresh (under an
    environment of its own) is dropped, and the next test's is made in the usual one."""
    manager = plugins.get_plugin_manager()
    before = set(manager.get_plugins())
    yield
    if plugins.get_plugin_manager.cache_info().currsize and plugins.get_plugin_manager() is manager:
        for plugin in set(manager.get_plugins()) - before:
            manager.unregister(plugin)
    else:
        plugins.get_plugin_manager.cache_clear()


@pytest.fixture
def sample_root() -> Path:
    """The bundled COCO sample (4 real val2017 images)."""
    return SAMPLE


@pytest.fixture
def sample_annotations() -> Path:
    """The sample's annotation folder."""
    return SAMPLE / "annotations"


def person_annotation(
    ann_id: int,
    image_id: int,
    points: dict[str, tuple[float, float, int]] | None = None,
    bbox: list[float] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A COCO person annotation with the named points set (others unlabelled)."""
    flat = [0.0] * (3 * len(COCO_17))
    for name, (x, y, v) in (points or {}).items():
        i = COCO_17.index(name)
        flat[3 * i : 3 * i + 3] = [x, y, v]
    labelled = sum(1 for i in range(2, len(flat), 3) if flat[i] > 0)
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "bbox": bbox or [10.0, 20.0, 30.0, 40.0],
        "area": 1200.0,
        "iscrowd": 0,
        "num_keypoints": labelled,
        "keypoints": flat,
        "segmentation": [],
        **extra,
    }


WriteCoco = Callable[..., Path]


@pytest.fixture
def write_coco(tmp_path: Path) -> WriteCoco:
    """Write a COCO file: ``write_coco(name, images=..., annotations=..., categories=...)``."""

    def write(
        name: str,
        *,
        images: list[dict[str, Any]] | None = None,
        annotations: list[dict[str, Any]] | None = None,
        categories: list[dict[str, Any]] | None = None,
        raw: str | None = None,
    ) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if raw is not None:
            path.write_text(raw)
            return path
        data: dict[str, Any] = {
            "images": images
            if images is not None
            else [{"id": 1, "file_name": "a.jpg", "width": 200, "height": 100}],
            "annotations": annotations or [],
        }
        if categories is not None:
            data["categories"] = categories
        path.write_text(json.dumps(data))
        return path

    return write


@pytest.fixture
def llava_record() -> dict[str, Any]:
    """A real record of LLaVA's ``caps_boxes_coco2014_val_80.jsonl``, with people in it."""
    with (LLAVA_BENCH / "caps_boxes_coco2014_val_80.jsonl").open() as lines:
        records = [json.loads(line) for line in lines]
    return next(r for r in records if any(i["category"] == "person" for i in r["instances"]))
