"""The generation run: plan and price it, set it up or resume it, drive the requests, store
the samples and failures in a run folder, and read its statistics; split a run into shares
(:class:`Shard`) for several machines and join their run folders (:func:`merge_runs`)."""

from kpit.pipeline.merge import MergeResult, check_same_identity, merge_runs, merged_shard
from kpit.pipeline.plan import DryRun, plan_recipes, plan_run
from kpit.pipeline.run import SignalStop, agenerate, generate
from kpit.pipeline.setup import ALL_TASKS, SAME_RENDER, resolve_tasks
from kpit.pipeline.shard import Shard, shard_of

__all__ = [
    "ALL_TASKS",
    "SAME_RENDER",
    "DryRun",
    "MergeResult",
    "Shard",
    "SignalStop",
    "agenerate",
    "check_same_identity",
    "generate",
    "merge_runs",
    "merged_shard",
    "plan_recipes",
    "plan_run",
    "resolve_tasks",
    "shard_of",
]
