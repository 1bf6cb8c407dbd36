"""Benchmark: the teacher's tokens for one image's context, by context style.

Counts o200k_base tokens (GPT-4o's encoding) per context, in one process, for:

- ``paper``: the paper's format (the baseline);
- the compact style as it was before the compact rewrite (its renderer is copied below, unchanged);
- the compact style now;
- a variant that was measured and not kept: a header that names the points once, then each
  person's points by position, ``-`` for an unlabelled one;

on COCO-train-shaped synthetic contexts (1-6 people an image, five captions, about five
object boxes, a third of the points unlabelled: ``tests/helpers/coco_shapes.py``) and on the
bundled real sample (COCO-17 and COCO-WholeBody). It also prints the kpit recipe's prompt
tokens per request (system prompt, few-shot example and context) in the paper and compact
styles, and contexts rendered per second, old compact against new.

    python benchmarks/bench_tokens.py [--quick] [--contexts N]

Goal: the compact style at least 35% fewer tokens than the paper style on
COCO-train-shaped data, nothing lost (``tests/prompts/test_compact.py`` reads it back).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jinja2

import kpit
from kpit.plugins import resolve_recipe
from kpit.prompts.render import compact_box, compact_number, context_template
from kpit.prompts.tokens import count_message_tokens, estimate_tokens, tokenizer_name
from kpit.types import Box, ImageContext, ObjectBox, Person

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
from coco_shapes import coco_train_contexts  # noqa: E402

SAMPLE = ROOT / "examples" / "data" / "coco-sample"

Renderer = Callable[[ImageContext], str]


# --- the compact style before its rewrite, copied from kpit 0.1.0 at commit 57b4122 --------


def _old_box(box: Box) -> str:
    return f"[{box.x1}, {box.y1}, {box.x2}, {box.y2}]"


def _old_label(obj: ObjectBox) -> str:
    return f"{obj.category} (crowd)" if obj.iscrowd else obj.category


def _old_named_keypoints(person: Person) -> str:
    parts = []
    for name, (x, y, v) in zip(person.layout.names, person.keypoint_array.tolist(), strict=True):
        if v > 0:
            label = name.replace("_", " ")
            parts.append(f"{label} ({x}, {y}, hidden)" if int(v) == 1 else f"{label} ({x}, {y})")
    return ", ".join(parts) if parts else "no keypoints labelled"


OLD_COMPACT_TEMPLATE = """\
{% if ctx.captions %}
Captions:
{% for caption in ctx.captions %}
- {{ caption }}
{% endfor %}
{% endif %}
{% if ctx.objects %}
Objects:
{% for obj in ctx.objects %}
- {{ obj | object_label }} {{ obj.box | box }}
{% endfor %}
{% endif %}
{% if ctx.people %}
People:
{% for person in ctx.people %}
{{ loop.index }}. box {{ person.box | box }}; {{ person | named_keypoints }}
{% endfor %}
{% endif %}
"""


def _old_template() -> jinja2.Template:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, autoescape=False)  # fmt: skip
    env.filters.update(box=_old_box, object_label=_old_label, named_keypoints=_old_named_keypoints)
    return env.from_string(OLD_COMPACT_TEMPLATE)


OLD_TEMPLATE = _old_template()
NEW_TEMPLATE = context_template("compact")


def old_compact(ctx: ImageContext) -> str:
    """The compact context as kpit rendered it before the compact rewrite (pose notes off)."""
    return OLD_TEMPLATE.render(ctx=ctx, pose_notes="").rstrip("\n")


def new_compact(ctx: ImageContext) -> str:
    """The compact context now, from the same compiled-template call as :func:`old_compact`."""
    return NEW_TEMPLATE.render(ctx=ctx, pose_notes="").rstrip("\n")


# --- the variant measured and not kept ------------------------------------------------------


def positional(ctx: ImageContext) -> str:
    """A header naming the points once; each person's points by position, ``-`` unlabelled."""
    lines = []
    if ctx.captions:
        lines += ["Captions:", *ctx.captions]
    if ctx.objects:
        lines.append("Objects (x1 y1 x2 y2):")
        lines += [f"{_old_label(o)} {compact_box(o.box)}" for o in ctx.objects]
    if ctx.people:
        names = ", ".join(n.replace("_", " ") for n in ctx.people[0].layout.names)
        lines.append(f"People (box x1 y1 x2 y2, then x y of each keypoint in this order: "
                     f"{names}; - unlabelled, hidden: labelled but not visible):")  # fmt: skip
        for i, p in enumerate(ctx.people, 1):
            points = []
            for x, y, v in p.keypoint_array.tolist():
                hidden = " hidden" if int(v) == 1 else ""
                points.append(f"{compact_number(x)} {compact_number(y)}{hidden}" if v else "-")
            lines.append(f"{i}. box {compact_box(p.box)}; " + ", ".join(points))
    return "\n".join(lines)


STYLES: dict[str, Renderer] = {
    "paper": lambda ctx: kpit.render_context(ctx, "paper"),
    "compact before": old_compact,
    "compact now": lambda ctx: kpit.render_context(ctx, "compact"),
    "positional (not kept)": positional,
}


def token_table(name: str, contexts: Sequence[ImageContext]) -> dict[str, int]:
    """Print and return each style's total tokens over ``contexts``."""
    totals = {style: sum(estimate_tokens(render(c)) for c in contexts) for style, render in
              STYLES.items()}  # fmt: skip
    paper = totals["paper"]
    people = sum(len(c.people) for c in contexts)
    print(f"\n{name}: {len(contexts):,} contexts, {people:,} people")
    print(f"  {'style':24s} {'tokens/context':>15s} {'/ paper':>8s} {'fewer':>7s}")
    for style, total in totals.items():
        ratio = total / paper
        print(f"  {style:24s} {total / len(contexts):15.1f} {ratio:8.3f} {1 - ratio:7.1%}")
    return totals


def by_people(contexts: Sequence[ImageContext]) -> None:
    """The compact style's saving against paper by the number of people in the image."""
    sums: dict[int, list[int]] = {}
    for ctx in contexts:
        paper, compact = sums.setdefault(len(ctx.people), [0, 0])
        sums[len(ctx.people)] = [
            paper + estimate_tokens(kpit.render_context(ctx, "paper")),
            compact + estimate_tokens(kpit.render_context(ctx, "compact")),
        ]
    cells = [f"{n}: {1 - compact / paper:.1%}" for n, (paper, compact) in sorted(sums.items())]
    print("  compact now, fewer tokens than paper by people in the image: " + ", ".join(cells))


def request_tokens(contexts: Sequence[ImageContext]) -> None:
    """The kpit recipe's prompt tokens per request, paper style against compact."""
    recipe = resolve_recipe("kpit")
    print("\nkpit recipe, prompt tokens per request (system, few-shot example, context):")
    print(f"  {'task':14s} {'paper':>8s} {'compact':>8s} {'/ paper':>8s}")
    for task_name in ("conversation", "detail", "complex"):
        task = recipe.task(task_name)
        means = []
        for style in ("paper", "compact"):
            options = recipe.prompt_options(style)
            requests = [
                task.build(c, key=f"{task_name}/{c.image_id}/0", seed=0, options=options)
                for c in contexts
            ]
            counts = [count_message_tokens(r.messages) for r in requests]
            means.append(statistics.fmean(counts))
        print(f"  {task_name:14s} {means[0]:8.0f} {means[1]:8.0f} {means[1] / means[0]:8.3f}")


def render_rates(contexts: Sequence[ImageContext], rounds: int) -> None:
    """Contexts rendered per second: the old compact template against the new one, each
    compiled once and rendered directly (what :func:`kpit.render_context` adds is the same)."""
    rates = {}
    for style, render in (("compact before", old_compact), ("compact now", new_compact)):
        render(contexts[0])  # compile the template
        best = 0.0
        for _ in range(rounds):
            start = time.perf_counter()
            for ctx in contexts:
                render(ctx)
            best = max(best, len(contexts) / (time.perf_counter() - start))
        rates[style] = best
    before, now = rates["compact before"], rates["compact now"]
    print(f"\nrendering, one core (best of {rounds}): compact before {before:,.0f} contexts/s, "
          f"now {now:,.0f}/s (now / before {now / before:.2f})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds: fewer contexts")
    parser.add_argument("--contexts", type=int, help="COCO-train-shaped contexts (default 5,000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    count = args.contexts or (300 if args.quick else 5_000)
    print(f"tokens counted with {tokenizer_name()}")
    contexts = coco_train_contexts(count, seed=args.seed)
    totals = token_table("COCO-train-shaped synthetic contexts", contexts)
    by_people(contexts)
    token_table("bundled sample, COCO-17", list(kpit.load_coco(SAMPLE)))
    files = SAMPLE / "annotations"
    wholebody = kpit.load_coco(captions=files / "captions_val2017.json",
                               instances=files / "instances_val2017.json",
                               keypoints=files / "coco_wholebody_val_v1.0.json")  # fmt: skip
    token_table("bundled sample, COCO-WholeBody (133 points)", list(wholebody))
    request_tokens(contexts[: 50 if args.quick else 500])
    render_rates(contexts[:1_000], 1 if args.quick else 3)
    fewer = 1 - totals["compact now"] / totals["paper"]
    print(f"\ngoal: compact at least 35% fewer tokens than paper on COCO-train shapes: "
          f"{fewer:.1%} fewer, {'met' if fewer >= 0.35 else 'NOT MET'}")  # fmt: skip


if __name__ == "__main__":
    main()
