"""Pose facts derived from keypoints: geometry (joint angles, limb orientation, posture,
facing) and the facts with their confidence and wording."""

from kpit.pose.facts import (
    PoseFact,
    PoseFacts,
    facts_from_measures,
    pose_facts,
    pose_facts_batch,
    pose_measures,
    pose_notes,
)

__all__ = [
    "PoseFact",
    "PoseFacts",
    "facts_from_measures",
    "pose_facts",
    "pose_facts_batch",
    "pose_measures",
    "pose_notes",
]
