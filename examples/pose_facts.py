"""Pose facts for the people of the bundled sample, and a picture of them.

python examples/pose_facts.py            # writes catcher.png in the current folder
"""

from pathlib import Path

import kpit

SAMPLE = Path(__file__).parent / "data" / "coco-sample"

contexts = kpit.load_coco(SAMPLE, split="val2017")
ctx = contexts.get(196141)  # a batter, a catcher and two onlookers

for number, facts in enumerate(kpit.pose_facts_batch([ctx])[0], start=1):
    print(f"person {number}: {facts}")

catcher = kpit.pose_facts(ctx.people[3], ctx)
knee = catcher.find("knee", "left")
print(f"\nthe catcher is {catcher.labels('posture')[0]}; left knee {knee.label} "
      f"({knee.value} degrees, confidence {knee.confidence:.2f})")  # fmt: skip

print("\n" + kpit.pose_notes(ctx))
print(kpit.show(ctx, "catcher.png", contexts.image_path(ctx), facts=True))
