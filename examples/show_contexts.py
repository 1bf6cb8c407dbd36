"""Load the bundled COCO sample and print what a teacher model would read for each image.

python examples/show_contexts.py
"""

from pathlib import Path

import kpit
from kpit.prompts.tokens import estimate_tokens, tokenizer_name

SAMPLE = Path(__file__).parent / "data" / "coco-sample"

contexts = kpit.load_coco(SAMPLE, split="val2017", min_people=1)
print(f"{len(contexts)} images, layout {contexts.layout.name if contexts.layout else None}")
print(contexts.stats)

ctx = contexts.get(785)
print(f"\nimage {ctx.image_id}: {len(ctx.people)} person, {len(ctx.objects)} object box")
skier = ctx.people[0]
print("her left knee:", skier.keypoint("left_knee"))

paper, compact = kpit.render_context(ctx, "paper"), kpit.render_context(ctx, "compact")
print("\n--- paper style ---")
print(paper)
print("\n--- compact style: the same information ---")
print(compact)
counts = f"paper {estimate_tokens(paper)}, compact {estimate_tokens(compact)}"
print(f"\ntokens ({tokenizer_name()}): {counts}")
