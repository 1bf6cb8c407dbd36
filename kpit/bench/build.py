"""Build an HPAUB benchmark: images with people, one question per category, references.

Images are drawn (seeded) from those with at least one annotated person; for each, any
generator writes a conversation, a detailed description and a complex-reasoning sample,
through the same pipeline as training data, and kpit keeps one question per category with
its answer as the reference: the first pair of the conversation, the description with its
instruction, and the complex question. An image whose three samples did not all come
through is replaced by the next one drawn. The files use LLaVA-Bench's fields.
"""

from __future__ import annotations

import logging
import os
import random
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kpit._sync import run_sync
from kpit.bench._output import claim_outputs
from kpit.bench.files import Answer, Bench, BenchContext, Question
from kpit.coco import CocoContexts
from kpit.errors import ConfigError
from kpit.exclusion import ExcludeImages, read_image_ids, source_paths
from kpit.jsonl import write_json
from kpit.pipeline.run import agenerate
from kpit.pipeline.store import Run
from kpit.prompts.recipes import DEFAULT_RECIPE
from kpit.types import ImageContext, Sample

__all__ = ["bench_context", "build_bench"]

log = logging.getLogger(__name__)

_DEFAULT_NUM_IMAGES = 30
TASK_CATEGORY = {"conversation": "conv", "detail": "detail", "complex": "complex"}
PathLike = str | os.PathLike[str]
BENCH_FILES = ("questions.jsonl", "context.jsonl", "references.jsonl", "manifest.json")
"""The files :func:`build_bench` writes into its folder (beside the run folder ``run/``)."""
PAPER_SPLIT = "val2014"
"""The split the paper drew its benchmark's 30 images from ("the COCO Validation 2014
dataset", section 5.2)."""
OVERLAP_WARNING = (
    "built without --disjoint-from (disjoint_from=): nothing keeps the model's training images "
    "out of the benchmark, and a val2014 benchmark overlaps train2017 training data (35,504 of "
    "val2014's 40,504 images are in train2017); pass the training split's annotation file, e.g. "
    "--disjoint-from coco/annotations/person_keypoints_train2017.json"
)
"""What :func:`build_bench` logs (a warning) when it is given no ``disjoint_from``."""
_Chosen = tuple[ImageContext, dict[str, Sample]]
"""An image of the benchmark and its sample of each task."""


def bench_context(ctx: ImageContext) -> BenchContext:
    """The judge's context of an image: captions, object boxes, people with keypoints, and
    the image's size."""
    instances = tuple({"category": o.category, "bbox": o.box.to_list()} for o in ctx.objects)
    people = tuple(
        {
            "bbox": p.box.to_list(),
            "keypoints": [[x, y, int(v)] for x, y, v in p.keypoint_array.tolist()],
        }
        for p in ctx.people
    )
    return BenchContext(ctx.file_name, ctx.captions, instances, people, ctx.width, ctx.height)


async def abuild_bench(
    contexts: Sequence[ImageContext],
    out: PathLike,
    *,
    num_images: int = _DEFAULT_NUM_IMAGES,
    seed: int = 0,
    generator: str = "template",
    model: str | None = None,
    generator_options: dict[str, Any] | None = None,
    disjoint_from: ExcludeImages = None,
    **generate_options: Any,
) -> Bench:
    """:func:`build_bench` for code that already runs an event loop."""
    if "images" in generate_options:
        num_images = _old_images_keyword(generate_options.pop("images"), num_images)
    folder = Path(out)
    read = contexts.files if isinstance(contexts, CocoContexts) else None
    annotations = [read.captions, read.instances, read.keypoints] if read else []
    claim_outputs([folder / name for name in BENCH_FILES],
                  [*annotations, *source_paths(disjoint_from)])  # fmt: skip
    if not source_paths(disjoint_from):
        log.warning(OVERLAP_WARNING)
    order = _drawing_order(contexts, read_image_ids(disjoint_from), num_images, seed)
    chosen: list[_Chosen] = []
    start = 0
    while len(chosen) < num_images and start < len(order):
        batch = order[start : start + (num_images - len(chosen))]
        start += len(batch)
        run = await agenerate(
            batch,
            ",".join(TASK_CATEGORY),
            generator,
            model,
            folder / "run",
            seed=seed,
            progress=False,
            generator_options=generator_options,
            **generate_options,
        )
        assert isinstance(run, Run)
        chosen += _complete(batch, run)
    if len(chosen) < num_images:
        raise ConfigError(
            f"only {len(chosen)} images got all three samples; see "
            f"{folder / 'run' / 'failures.jsonl'}",
            field="num_images",
        )
    bench = _bench_of(chosen)
    bench.write(folder)
    manifest = {
        "images": num_images,  # the manifest's field keeps its name
        "seed": seed,
        "generator": generator,
        "model": model,
        "recipe": _recipe_name(generate_options.get("recipe")),
        "image_ids": [ctx.image_id for ctx, _ in chosen],
        "images_files": [ctx.file_name for ctx, _ in chosen],
        "disjoint_from": source_paths(disjoint_from),
        "run": str(folder / "run"),
    }
    write_json(folder / "manifest.json", manifest, indent=2)
    return bench


def _drawing_order(
    contexts: Sequence[ImageContext], training: set[int], num_images: int, seed: int
) -> list[ImageContext]:
    """The images with an annotated person and not in ``training``, in the seed's order."""
    pool = [
        ctx
        for ctx in contexts
        if any(p.num_keypoints for p in ctx.people) and ctx.image_id not in training
    ]
    if len(pool) < num_images:
        apart = f" and are absent from the training images ({len(training)})" if training else ""
        raise ConfigError(
            f"only {len(pool)} images have an annotated person{apart}; asked for {num_images}",
            field="num_images",
        )
    order = sorted(pool, key=lambda c: c.image_id)
    random.Random(seed).shuffle(order)
    return order


def _complete(batch: list[ImageContext], run: Run) -> list[_Chosen]:
    """The images of ``batch`` whose three samples all came through ``run``, in order."""
    samples: dict[Any, dict[str, Sample]] = {}
    for sample in run.samples():
        samples.setdefault(sample.meta.get("image_id"), {})[sample.task] = sample
    return [
        (ctx, samples[ctx.image_id]) for ctx in batch if len(samples.get(ctx.image_id, {})) == 3
    ]


def _bench_of(chosen: list[_Chosen]) -> Bench:
    """The benchmark of the chosen images: a question and its reference per task, in order."""
    questions: list[Question] = []
    references: dict[int, Answer] = {}
    contexts: dict[str, BenchContext] = {}
    for i, (ctx, by_task) in enumerate(chosen):
        contexts[ctx.file_name] = bench_context(ctx)
        for j, (task, category) in enumerate(TASK_CATEGORY.items()):
            sample = by_task[task]
            qid = 3 * i + j
            question, reference = sample.turns[0].text, sample.turns[1].text
            questions.append(Question(qid, ctx.file_name, question, category))
            model_id = str(sample.meta.get("model") or "")
            references[qid] = Answer(qid, reference, model_id, sample.id)
    return Bench(questions, contexts, references)


def _recipe_name(recipe: object) -> str:
    """The name of the recipe the benchmark's run used."""
    if recipe is None:
        return DEFAULT_RECIPE
    return recipe if isinstance(recipe, str) else str(getattr(recipe, "name", recipe))


def _old_images_keyword(images: int, num_images: int) -> int:
    """The count given as ``images=``, the keyword's old name, with a DeprecationWarning."""
    if num_images not in (images, _DEFAULT_NUM_IMAGES):
        raise TypeError("give num_images= only; images= is its old name")
    warnings.warn(
        "build_bench(images=...) is deprecated; use num_images=...",
        DeprecationWarning,
        stacklevel=3,  # the caller of build_bench / abuild_bench
    )
    return images


def build_bench(contexts: Sequence[ImageContext], out: PathLike, **options: Any) -> Bench:
    """Build a benchmark of ``num_images`` images (default 30) into the folder ``out``.

    Args:
        contexts: image contexts (e.g. ``kpit.load_coco(root, "val2014")``).
        out: the benchmark folder: ``questions.jsonl``, ``context.jsonl``,
            ``references.jsonl``, ``manifest.json``, and the generation run in ``run/``;
            refused before any request where one of these files would write over an input
            (the annotation files read, a ``disjoint_from`` source) or the folder cannot be
            written.
        **options: ``num_images`` (``images``, its old name, still works but is
            deprecated), ``seed`` (which images, reproducibly), ``generator`` and
            ``model`` (who writes the questions and references), ``generator_options``,
            and :func:`kpit.generate`'s options (``recipe``, ``style``, ``pose_notes``...).
    """
    if "images" in options:
        options["num_images"] = _old_images_keyword(
            options.pop("images"), options.get("num_images", _DEFAULT_NUM_IMAGES)
        )
    return run_sync(lambda: abuild_bench(contexts, out, **options))
