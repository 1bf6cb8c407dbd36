"""A run that stops a test's way, for tests that kill it while its requests are in flight.

    python slow_run.py OUT [--hold-after N]           # the template backend
    python slow_run.py OUT --base-url URL              # the openai backend against a test server

Forty images (the sample's four, under ten ids each), three tasks. With ``--hold-after N``
the template backend answers N requests and holds every later one until the process is
killed, so a test that waits for the stored samples and then sends a signal lands it
mid-run however fast or slow the machine is (the test server holds replies its own way:
``FakeOpenAI.behaviour.hold_after``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import faulthandler
import signal
from pathlib import Path

import kpit
from kpit.generators.template import TemplateGenerator

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "data" / "coco-sample"
SCRIPT = Path(__file__).resolve()
TOTAL = 120
"""Samples of a whole run: 40 images x 3 tasks."""


class SlowTemplate(TemplateGenerator):
    """The template backend that answers ``hold_after`` requests, then holds the rest."""

    name = "slow-template"

    def __init__(self, hold_after: int | None = None) -> None:
        super().__init__()
        self.hold_after = hold_after
        self.answered = 0

    async def complete(self, request: kpit.ChatRequest) -> kpit.Reply:
        if self.hold_after is not None and self.answered >= self.hold_after:
            await asyncio.Event().wait()  # until the process is stopped
        self.answered += 1
        await asyncio.sleep(0)  # the other requests get their turn, as over a network
        return self.write(request)


def contexts() -> list[kpit.ImageContext]:
    base = list(kpit.load_coco(SAMPLE))
    return [dataclasses.replace(ctx, image_id=ctx.image_id * 100 + n)
            for n in range(10) for ctx in base]  # fmt: skip


def main() -> None:
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a hung test shows the stacks
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--hold-after", type=int, help="answer this many requests, hold the rest")
    parser.add_argument("--base-url", help="the openai backend against this test server")
    args = parser.parse_args()
    # The images repeat, and so do the template's answers: keep the repeats.
    quality = kpit.QualityConfig(reject_duplicates=False)
    backend: kpit.Generator = SlowTemplate(args.hold_after)
    if args.base_url:
        from kpit.generators.openai.chat import OpenAIGenerator

        backend = OpenAIGenerator("gpt-4o", base_url=args.base_url, backoff=0.05)
    kpit.generate(contexts(), "all", backend, out=args.out, concurrency=4, progress=False,
                  quality=quality)  # fmt: skip


if __name__ == "__main__":
    main()
