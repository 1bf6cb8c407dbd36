"""kpit: keypoint-integrated instruction tuning for vision-language models.

Turn COCO captions, object boxes and human keypoints into symbolic image contexts, prompt a
teacher model to write instruction-following data about human pose and action, export it for
LLaVA, fine-tune, and score models on a human-pose benchmark.
"""

from kpit.coco import CocoContexts, LoadStats, load_coco
from kpit.errors import ConfigError, DataError, KpitError, TemplateError
from kpit.layouts import COCO_17, COCO_WHOLEBODY, KeypointLayout
from kpit.pose import PoseFact, PoseFacts, pose_facts, pose_facts_batch, pose_notes
from kpit.render import render_context
from kpit.types import Box, ImageContext, Keypoint, Message, ObjectBox, Person, Sample, Turn
from kpit.viz import draw, show

__version__ = "0.1.0"

__all__ = [
    "COCO_17",
    "COCO_WHOLEBODY",
    "Box",
    "CocoContexts",
    "ConfigError",
    "DataError",
    "ImageContext",
    "Keypoint",
    "KeypointLayout",
    "KpitError",
    "LoadStats",
    "Message",
    "ObjectBox",
    "Person",
    "PoseFact",
    "PoseFacts",
    "Sample",
    "TemplateError",
    "Turn",
    "__version__",
    "draw",
    "load_coco",
    "pose_facts",
    "pose_facts_batch",
    "pose_notes",
    "render_context",
    "show",
]
