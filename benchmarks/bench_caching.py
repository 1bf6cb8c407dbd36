"""Prompt caching: what the dry run estimates, and what a run served by a cache costs.

    python benchmarks/bench_caching.py            # 300 synthetic images, 120 run through a server
    python benchmarks/bench_caching.py --quick    # a few seconds (CI)

1. Estimated, per recipe (paper, kpit, kpit ``--style compact``), on the bundled sample and on
   COCO-train-shaped synthetic contexts: the dry run's cost of the paper's 200k job (56,599
   images, three requests each, GPT-4o list prices) without prompt caching, the baseline, and
   with it, and their ratio.
2. Measured: the kpit recipe (both context styles) run through the ``openai`` backend against
   a loopback server whose usage counts o200k tokens and reports
   ``prompt_tokens_details.cached_tokens`` as OpenAI's cache would (the longest prefix it has
   already seen, from 1,024 tokens in steps of 128):
   the share of prompt tokens the run's manifest says were cached, what it cost, against
   what the same tokens cost without caching (the baseline, priced in the same process) and
   against the dry run's estimate for the same contexts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import kpit
from kpit.generators.openai.pricing import price_for

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
from coco_shapes import coco_train_contexts  # noqa: E402
from openai_server import FakeOpenAI  # noqa: E402

SAMPLE = ROOT / "examples" / "data" / "coco-sample"
JOB_IMAGES = 56_599  # COCO train2017's images with an annotated person
MODEL = "gpt-4o"


def plans(contexts: Any, folder: Path) -> dict[str, kpit.DryRun]:
    """The dry runs of both recipes and of kpit's with the compact context."""
    found = dict(kpit.plan_recipes(contexts, "paper,kpit", "all", "openai", MODEL, out=folder))
    found["kpit compact"] = kpit.plan_run(contexts, "all", "openai", MODEL, out=folder,
                                          style="compact")  # fmt: skip
    return found


def estimate(name: str, contexts: Any, folder: Path) -> None:
    print(f"\nestimated, {name} ({len(contexts):,} images), scaled to {JOB_IMAGES:,} images:")
    print(f"  {'recipe':<14} {'cached share':>12} {'no caching':>11} {'caching':>9} "
          f"{'ratio':>6}")  # fmt: skip
    for recipe, plan in plans(contexts, folder).items():
        job = plan.scaled(JOB_IMAGES)
        without, with_ = job.cost(), job.cost(caching=True)
        assert without is not None and with_ is not None
        share = job.cached_tokens() / job.total_prompt_tokens
        print(f"  {recipe:<14} {share:>12.1%} {'$' + format(without, ',.0f'):>11} "
              f"{'$' + format(with_, ',.0f'):>9} {with_ / without:>6.3f}")  # fmt: skip


def measured(contexts: Any, folder: Path) -> None:
    price = price_for(MODEL)
    assert price is not None
    print(f"\nmeasured: the kpit recipe on {len(contexts):,} synthetic images through a loopback "
          "server with OpenAI's prompt cache")  # fmt: skip
    for style in ("paper", "compact"):
        out = folder / f"run-{style}"
        plan = kpit.plan_run(contexts, "all", "openai", MODEL, out=out, style=style)
        with FakeOpenAI() as server:
            server.behaviour.prompt_cache = True
            server.behaviour.o200k = True
            options = {"base_url": server.base_url, "api_key": "sk-bench", "backoff": 0.01}
            run = kpit.generate(
                contexts,
                "all",
                "openai",
                MODEL,
                out=out,
                style=style,
                progress=False,
                concurrency=8,
                generator_options=options,
            )
        totals = run.manifest["totals"]
        prompt, cached = int(totals["prompt_tokens"]), int(totals["cached_tokens"])
        completion = int(totals["completion_tokens"])
        paid = float(totals["cost_usd"])
        baseline = price.cost(prompt, completion)
        estimated_share = plan.cached_tokens() / plan.total_prompt_tokens
        print(f"  style {style:<8} {prompt:,} prompt tokens, {cached:,} cached "
              f"({cached / prompt:.1%}; the dry run estimated {estimated_share:.1%}, "
              f"ratio measured / estimate {cached / prompt / estimated_share:.3f})")  # fmt: skip
        print(f"  {'':<14} cost ${paid:.4f} against ${baseline:.4f} without caching: "
              f"ratio cached / uncached {paid / baseline:.3f}; manifest says saved "
              f"${float(totals['cache_saved_usd']):.4f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sets (CI)")
    parser.add_argument("--images", type=int, default=300, help="synthetic images to estimate")
    parser.add_argument("--run-images", type=int, default=120,
                        help="synthetic images to run through the loopback server")  # fmt: skip
    args = parser.parse_args()
    images, run_images = (40, 12) if args.quick else (args.images, args.run_images)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        estimate("the bundled sample", kpit.load_coco(SAMPLE, split="val2017"), folder)
        estimate("COCO-train-shaped synthetic", coco_train_contexts(images, seed=1), folder)
        measured(coco_train_contexts(run_images, seed=2), folder)


if __name__ == "__main__":
    main()
