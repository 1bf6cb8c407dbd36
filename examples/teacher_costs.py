"""What the paper's job costs with GPT-4o, per recipe, with and without prompt caching.

python examples/teacher_costs.py [IMAGES]

Dry-runs both recipes on the bundled sample (calling nothing), then extrapolates to IMAGES
images (default 56,599: COCO train2017's images with an annotated person, three requests
each, the paper's 200k job) at the sample's tokens per request. Every figure is an
estimate: the sample's images hold more people than most, replies are each task's typical
length, and caching assumes every request of a task but the first finds the task's
identical leading tokens (system prompt and few-shot example) in OpenAI's cache.
"""

import sys
from pathlib import Path

import kpit

SAMPLE = Path(__file__).parent / "data" / "coco-sample"
IMAGES = int(sys.argv[1]) if len(sys.argv) > 1 else 56_599


def millions(tokens: int) -> str:
    return f"{tokens / 1e6:,.0f}M"


def dollars(value: float | None) -> str:
    return "?" if value is None else f"${value:,.0f}"


contexts = kpit.load_coco(SAMPLE, split="val2017")
print(f"GPT-4o, {IMAGES:,} images x 3 tasks, extrapolated from the bundled sample "
      f"({len(contexts)} images); every figure an estimate\n")  # fmt: skip
print("| recipe | backend | prompt tokens | cached (share) | reply tokens | "
      "cost | with caching | caching saves |")  # fmt: skip
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for backend in ("openai", "openai-batch"):
    plans = kpit.plan_recipes(contexts, "paper,kpit", "all", backend, "gpt-4o",
                              out="runs/teacher-costs")  # fmt: skip
    compact = kpit.plan_run(contexts, "all", backend, "gpt-4o", out="runs/teacher-costs",
                            style="compact")  # fmt: skip
    plans["kpit --style compact"] = compact
    for recipe, sample_plan in plans.items():
        plan = sample_plan.scaled(IMAGES)
        share = plan.cached_tokens() / plan.total_prompt_tokens
        print(f"| {recipe} | {backend} | {millions(plan.total_prompt_tokens)} | "
              f"{millions(plan.cached_tokens())} ({share:.0%}) | "
              f"{millions(plan.total_completion_tokens)} | {dollars(plan.cost())} | "
              f"{dollars(plan.cost(caching=True))} | {dollars(plan.saving())} |")  # fmt: skip
print("\nidentical leading tokens per task (conversation, detail, complex): " + "; ".join(
    f"{name} {', '.join(f'{p.prefix_tokens[t]:,}' for t in p.requests)}"
    for name, p in plans.items()))  # fmt: skip
price = kpit.generators.openai.pricing.price_for("gpt-4o")
assert price is not None
print(f"OpenAI caches a prefix of 1,024 tokens or more, in steps of 128, at ${price.cached_rate:g} "
      f"instead of ${price.input:g} per million for gpt-4o; the Batch API gives gpt-4o no "
      "caching discount")  # fmt: skip
