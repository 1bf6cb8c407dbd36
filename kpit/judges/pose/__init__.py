"""The offline ``pose`` judge: claims read from answers, decided against pose facts."""

from kpit.judges.pose.judge import (
    COCO_SIGMAS,
    RULES_VERSION,
    SALIENT_PARTS,
    STABILITY_SAMPLES,
    STATUSES,
    ClaimReview,
    PoseJudge,
    PoseJudgeOptions,
    PoseReview,
    image_context,
    reannotated,
)
from kpit.judges.pose.marks import mark_claims

__all__ = [
    "COCO_SIGMAS",
    "RULES_VERSION",
    "SALIENT_PARTS",
    "STABILITY_SAMPLES",
    "STATUSES",
    "ClaimReview",
    "PoseJudge",
    "PoseJudgeOptions",
    "PoseReview",
    "image_context",
    "mark_claims",
    "reannotated",
]
