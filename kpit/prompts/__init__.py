"""Prompts: the Jinja templates and their environment, context rendering, tasks, recipes,
the teacher's replies parsed into turns, and token counting."""

from kpit.prompts.environment import (
    PACKAGE_TEMPLATES,
    record_read,
    template_environment,
    template_key,
    templates_read,
)

__all__ = [
    "PACKAGE_TEMPLATES",
    "record_read",
    "template_environment",
    "template_key",
    "templates_read",
]
