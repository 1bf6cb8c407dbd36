"""The generation run: plan and price it, set it up or resume it, drive the requests, store
the samples and failures in a run folder, and read its statistics."""

from kpit.pipeline.run import (
    ALL_TASKS,
    DryRun,
    agenerate,
    generate,
    plan_recipes,
    plan_run,
    resolve_tasks,
)

__all__ = [
    "ALL_TASKS",
    "DryRun",
    "agenerate",
    "generate",
    "plan_recipes",
    "plan_run",
    "resolve_tasks",
]
