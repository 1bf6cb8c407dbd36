"""The records a judge receives: a benchmark's :class:`Question`, the :class:`BenchContext`
of its image and an :class:`Answer`, in LLaVA-Bench's fields.

:mod:`kpit.bench` reads and writes them (``kpit.bench.files``) and re-exports them; the
judges take them from here, so no judge imports the benchmark.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Answer", "BenchContext", "Question"]


@dataclass(frozen=True, slots=True)
class Question:
    """One benchmark question: its id, image file, text and category."""

    question_id: int
    image: str
    text: str
    category: str

    def to_dict(self) -> dict[str, Any]:
        """LLaVA's fields."""
        return {
            "question_id": self.question_id,
            "image": self.image,
            "text": self.text,
            "category": self.category,
        }


@dataclass(frozen=True, slots=True)
class BenchContext:
    """What a text-only judge knows of an image: captions, object boxes, people.

    ``instances`` are ``{"category", "bbox"}`` records as in LLaVA's files; ``people`` are
    ``{"bbox", "keypoints"}`` records with ``(x, y, visibility)`` triples (HPAUB only).
    Coordinates are normalised to ``[0, 1]``; ``width`` and ``height`` (HPAUB folders built
    since commit a1618b1) give the image's size in pixels, so that angles can be measured in
    pixels.
    """

    image: str
    captions: tuple[str, ...] = ()
    instances: tuple[Mapping[str, Any], ...] = ()
    people: tuple[Mapping[str, Any], ...] = ()
    width: int | None = None
    height: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """LLaVA's fields, plus ``people`` when there are any."""
        data: dict[str, Any] = {
            "image": self.image,
            "captions": list(self.captions),
            "instances": [dict(i) for i in self.instances],
        }
        if self.people:
            data["people"] = [dict(p) for p in self.people]
        if self.width is not None and self.height is not None:
            data["width"], data["height"] = self.width, self.height
        return data

    def render(self) -> str:
        """The context as LLaVA's judge sees it: captions, then ``category: [box]`` lines,
        then each person's box and keypoint triples."""
        lines = [*self.captions, ""]
        lines += [f"{i['category']}: {i['bbox']}" for i in self.instances]
        for person in self.people:
            lines.append(f"person: {person['bbox']}")
            triples = ", ".join(f"({x}, {y}, {v})" for x, y, v in person["keypoints"])
            lines.append(f"keypoints: [{triples}]")
        return "\n".join(lines).strip()


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer to a question, in LLaVA's fields (``answer_id`` and ``model_id`` included)."""

    question_id: int
    text: str
    model_id: str = ""
    answer_id: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """LLaVA's fields."""
        return {
            "question_id": self.question_id,
            "text": self.text,
            "answer_id": self.answer_id,
            "model_id": self.model_id,
            "metadata": dict(self.metadata),
        }
