"""The aliases that keep kpit 0.1's module paths importable until kpit 0.3.0.

Each moved module's old path (``kpit.render``, ``kpit.store``, ...) is a small module that
calls :func:`moved`: importing it warns with a :class:`DeprecationWarning` naming the new
path, and every name it had is looked up in the new module (then in the modules that took a
name over since). :data:`MOVES` is the one table of what moved where.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["MOVES", "REMOVED_IN", "Move", "moved"]

REMOVED_IN = "0.3.0"
"""The version in which the old paths stop working."""


@dataclass(frozen=True, slots=True)
class Move:
    """Where a kpit 0.1 module went.

    Attributes:
        new: the module that holds it now.
        names: the old module's ``__all__`` in kpit 0.1, which the old path keeps.
        also: modules to look in, after ``new``, for a name that moved on from there.
    """

    new: str
    names: tuple[str, ...]
    also: tuple[str, ...] = ()


MOVES: dict[str, Move] = {
    "kpit.claims": Move(
        "kpit.judges.pose.claims",
        ("CLAIM_KINDS", "NUMBER_WORDS", "OBJECT_WORDS", "PEOPLE_NOUNS", "Claim", "Mention",
         "extract_claims", "find_mentions"),
    ),
    "kpit.hf_dataset": Move(
        "kpit.export.hf_dataset",
        ("chat_messages", "dataset_features", "image_value", "write_dataset"),
    ),
    "kpit.leaks": Move("kpit.pipeline.leaks", ("LEAK_RULES", "Leak", "LeakFinder", "LeakRule")),
    "kpit.overlap": Move(
        "kpit.exclusion",
        ("ExcludeImages", "check_disjoint", "image_id_of", "read_image_ids", "source_paths"),
    ),
    "kpit.paper_recipe": Move(
        "kpit.prompts.paper_recipe",
        ("PAPER_TEMPLATES", "PaperComplexTask", "PaperConversationTask", "PaperDetailTask",
         "PaperRecipe", "PaperTask", "parse_free_pairs"),
    ),
    "kpit.posegeometry": Move(
        "kpit.pose.geometry",
        ("FORESHORTENED", "JOINTS", "OCCLUDED_WEIGHT", "ArmPosition", "Facing", "Flexion",
         "Measure", "PoseMeasures", "Posture", "Torso", "measure_pose"),
    ),
    "kpit.quality": Move(
        "kpit.pipeline.quality",
        ("PHRASE_RULES", "QualityConfig", "QualityFilter", "Rejection", "answer_fingerprint",
         "sample_fingerprint"),
    ),
    "kpit.recipes": Move(
        "kpit.prompts.recipes",
        ("DEFAULT_RECIPE", "FILTER_MODES", "KpitRecipe", "Recipe", "resolve_recipe",
         "split_recipes"),
        also=("kpit.plugins",),  # where resolving a recipe by name may settle
    ),
    "kpit.render": Move(
        "kpit.prompts.render", ("CONTEXT_STYLES", "context_template", "render_context")
    ),
    "kpit.replies": Move("kpit.prompts.replies", ("parse_reply",)),
    "kpit.stats": Move("kpit.pipeline.stats", ("RunStats", "TaskStats", "run_stats")),
    "kpit.store": Move(
        "kpit.pipeline.store",
        ("FAILURES", "LOCK", "MANIFEST", "RUN_FILES", "SAMPLES", "Run", "RunLock", "RunStore",
         "read_records", "read_samples"),
    ),
    "kpit.tasks": Move(
        "kpit.prompts.tasks",
        ("ComplexTask", "ConversationTask", "DetailTask", "ParseError", "PromptOptions",
         "PromptTask", "Task", "parse_pairs", "request_key"),
    ),
    "kpit.tokens": Move(
        "kpit.prompts.tokens",
        ("CHARS_PER_TOKEN", "SharedPrefix", "common_prefix_tokens", "count_message_tokens",
         "encode", "estimate_tokens", "tokenizer_name"),
    ),
}  # fmt: skip
"""Every kpit 0.1 module path that moved and still imports, by its old name."""


def moved(old: str) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Warn that ``old`` moved; return the alias module's ``__getattr__``, ``__dir__`` and
    ``__all__``, which forward to the new module (and to the modules in ``also``)."""
    move = MOVES[old]
    warnings.warn(
        f"{old} moved to {move.new} in kpit 0.2.0: import from {move.new} "
        f"(the old path is removed in kpit {REMOVED_IN})",
        DeprecationWarning,
        stacklevel=3,  # the importer's line (the import machinery's frames are skipped)
    )
    target = importlib.import_module(move.new)

    def __getattr__(name: str) -> Any:
        for module in (target, *map(importlib.import_module, move.also)):
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {old!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(dir(target)) | set(move.names))

    return __getattr__, __dir__, list(move.names)
