"""kpit: keypoint-integrated instruction tuning for vision-language models.

Turn COCO captions, object boxes and human keypoints into symbolic image contexts, prompt a
teacher model to write instruction-following data about human pose and action, export it for
LLaVA, fine-tune, and score models on a human-pose benchmark.
"""

from kpit import _tqdm
from kpit._version import __version__
from kpit.coco.loader import CocoContexts, LoadStats, load_coco
from kpit.errors import (
    ConfigError,
    DataError,
    FatalGeneratorError,
    GeneratorError,
    KpitError,
    ParseError,
    SampleError,
    StopGeneration,
    TemplateError,
)
from kpit.export.llava import export_hf, export_llava
from kpit.generators.base import Generator, Price, Reply, Usage
from kpit.hookspecs import hookimpl
from kpit.judges.base import AnswerJudge, Judge
from kpit.layouts import COCO_17, COCO_WHOLEBODY, KeypointLayout
from kpit.pipeline import DryRun, agenerate, generate, merge_runs, plan_recipes, plan_run
from kpit.pipeline.quality import QualityConfig
from kpit.pipeline.stats import run_stats
from kpit.pipeline.store import Run
from kpit.pose.facts import PoseFact, PoseFacts, pose_facts, pose_facts_batch, pose_notes
from kpit.prompts.recipes import Recipe
from kpit.prompts.render import render_context
from kpit.prompts.tasks import PromptTask, Task
from kpit.types import (
    Box,
    ChatRequest,
    ImageContext,
    Keypoint,
    Message,
    ObjectBox,
    Person,
    Sample,
    Turn,
)
from kpit.viz import draw, show

_tqdm.quiet_auto_tqdm()  # a plain bar, without a warning, in a notebook lacking ipywidgets

__all__ = [
    "COCO_17",
    "COCO_WHOLEBODY",
    "AnswerJudge",
    "Box",
    "ChatRequest",
    "CocoContexts",
    "ConfigError",
    "DataError",
    "DryRun",
    "FatalGeneratorError",
    "Generator",
    "GeneratorError",
    "ImageContext",
    "Judge",
    "Keypoint",
    "KeypointLayout",
    "KpitError",
    "LoadStats",
    "Message",
    "ObjectBox",
    "ParseError",
    "Person",
    "PoseFact",
    "PoseFacts",
    "Price",
    "PromptTask",
    "QualityConfig",
    "Recipe",
    "Reply",
    "Run",
    "Sample",
    "SampleError",
    "StopGeneration",
    "Task",
    "TemplateError",
    "Turn",
    "Usage",
    "__version__",
    "agenerate",
    "draw",
    "export_hf",
    "export_llava",
    "generate",
    "hookimpl",
    "load_coco",
    "merge_runs",
    "plan_recipes",
    "plan_run",
    "pose_facts",
    "pose_facts_batch",
    "pose_notes",
    "render_context",
    "run_stats",
    "show",
]
