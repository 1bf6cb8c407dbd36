"""A run that takes a while, for tests that kill it.

    python slow_run.py OUT [DELAY]            # the template backend, slowed down
    python slow_run.py OUT 0 BASE_URL         # the openai backend against a test server

Forty images (the sample's four, under ten ids each), three tasks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path

import kpit
from kpit.generators.template import TemplateGenerator

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "data" / "coco-sample"


class SlowTemplate(TemplateGenerator):
    name = "slow-template"

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def complete(self, request: kpit.ChatRequest) -> kpit.Reply:
        await asyncio.sleep(self.delay)
        return self.write(request)


def contexts() -> list[kpit.ImageContext]:
    base = list(kpit.load_coco(SAMPLE))
    return [dataclasses.replace(ctx, image_id=ctx.image_id * 100 + n)
            for n in range(10) for ctx in base]  # fmt: skip


if __name__ == "__main__":
    out, delay = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.05
    # The images repeat, and so do the template's answers: keep the repeats.
    quality = kpit.QualityConfig(reject_duplicates=False)
    backend: kpit.Generator = SlowTemplate(delay)
    if len(sys.argv) > 3:  # the openai backend against a test server
        from kpit.generators.openai.chat import OpenAIGenerator

        backend = OpenAIGenerator("gpt-4o", base_url=sys.argv[3], backoff=0.05)
    kpit.generate(contexts(), "all", backend, out=out, concurrency=4, progress=False,
                  quality=quality)  # fmt: skip
