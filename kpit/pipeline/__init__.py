"""The generation run: plan and price it, set it up or resume it, drive the requests, store
the samples and failures in a run folder, and read its statistics."""

from kpit.pipeline.plan import DryRun, plan_recipes, plan_run
from kpit.pipeline.run import SignalStop, agenerate, generate
from kpit.pipeline.setup import ALL_TASKS, SAME_RENDER, resolve_tasks

__all__ = [
    "ALL_TASKS",
    "SAME_RENDER",
    "DryRun",
    "SignalStop",
    "agenerate",
    "generate",
    "plan_recipes",
    "plan_run",
    "resolve_tasks",
]
