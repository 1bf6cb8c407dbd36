"""kpit's typed core: image contexts, people, keypoints, and the samples built from them.

All coordinates are normalised to ``[0, 1]`` by the image's width and height and rounded to
three decimals, boxes as ``[x1, y1, x2, y2]``: the convention of LLaVA's own COCO contexts.
Keypoint visibility keeps COCO's meaning: 0 not labelled, 1 labelled but not visible,
2 labelled and visible.

A :class:`Person` keeps its keypoints as one small numpy array and builds :class:`Keypoint`
objects only when asked, so a whole split's people stay compact in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from kpit.layouts import COCO_17, KeypointLayout, layout_from_dict, layout_reference

__all__ = [
    "Box",
    "ChatRequest",
    "ImageContext",
    "Keypoint",
    "Message",
    "ObjectBox",
    "Person",
    "Sample",
    "Turn",
]

Visibility = Literal[0, 1, 2]


@dataclass(frozen=True, slots=True)
class Keypoint:
    """One named keypoint: ``x``, ``y`` in ``[0, 1]`` and COCO's visibility (0, 1 or 2)."""

    name: str
    x: float
    y: float
    visibility: int

    @property
    def labelled(self) -> bool:
        """True when the point is annotated (visibility 1 or 2)."""
        return self.visibility > 0

    @property
    def visible(self) -> bool:
        """True when the point is annotated and visible (visibility 2)."""
        return self.visibility == 2

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"name": self.name, "x": self.x, "y": self.y, "visibility": self.visibility}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Keypoint:
        """Inverse of :meth:`to_dict`."""
        return cls(str(data["name"]), float(data["x"]), float(data["y"]), int(data["visibility"]))


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box ``[x1, y1, x2, y2]`` in normalised image coordinates."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        """``x2 - x1``."""
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        """``y2 - y1``."""
        return self.y2 - self.y1

    @property
    def center(self) -> tuple[float, float]:
        """The box centre ``(x, y)``."""
        return ((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)

    @property
    def area(self) -> float:
        """Area in normalised units (a fraction of the image)."""
        return self.width * self.height

    def to_list(self) -> list[float]:
        """Return ``[x1, y1, x2, y2]``."""
        return [self.x1, self.y1, self.x2, self.y2]

    @classmethod
    def from_list(cls, values: Sequence[float]) -> Box:
        """Build a box from ``[x1, y1, x2, y2]``."""
        x1, y1, x2, y2 = (float(v) for v in values)
        return cls(x1, y1, x2, y2)


@dataclass(frozen=True, slots=True)
class ObjectBox:
    """A labelled object box (``category`` is the COCO category name).

    ``iscrowd`` marks COCO crowd regions (a group of objects under one box).
    """

    category: str
    box: Box
    iscrowd: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        data: dict[str, Any] = {"category": self.category, "box": self.box.to_list()}
        if self.iscrowd:
            data["iscrowd"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObjectBox:
        """Inverse of :meth:`to_dict`; also reads LLaVA's ``{"category", "bbox"}`` records."""
        box = data["box"] if "box" in data else data["bbox"]
        return cls(str(data["category"]), Box.from_list(box), bool(data.get("iscrowd", False)))


def _keypoint_array(values: npt.ArrayLike, count: int) -> npt.NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64).reshape(count, 3)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, slots=True, eq=False)
class Person:
    """One annotated person: a box and the keypoints of its layout.

    Attributes:
        box: the person's box.
        keypoint_array: shape ``(K, 3)``: ``x``, ``y`` normalised and the visibility, one row
            per name of ``layout``; unlabelled points are ``(0, 0, 0)`` as in COCO.
        layout: the names and skeleton of the keypoints.
        annotation_id: the COCO annotation id, when the person came from a COCO file.
        image_size: ``(width, height)`` in pixels of the image the coordinates are
            normalised by, so that geometry (angles, distances) can be computed in pixels.
    """

    box: Box
    keypoint_array: npt.NDArray[np.float64]
    layout: KeypointLayout = COCO_17
    annotation_id: int | None = None
    image_size: tuple[int, int] | None = None

    @property
    def keypoints(self) -> tuple[Keypoint, ...]:
        """The keypoints as :class:`Keypoint` objects, in layout order (built on each call)."""
        rows = self.keypoint_array.tolist()
        return tuple(
            Keypoint(name, x, y, int(v))
            for name, (x, y, v) in zip(self.layout.names, rows, strict=True)
        )

    def keypoint(self, name: str) -> Keypoint:
        """The keypoint called ``name``; ``KeyError`` if the layout has no such point."""
        x, y, v = self.keypoint_array[self.layout.index(name)].tolist()
        return Keypoint(name, x, y, int(v))

    @property
    def num_keypoints(self) -> int:
        """How many keypoints are labelled (visibility 1 or 2)."""
        return int(np.count_nonzero(self.keypoint_array[:, 2]))

    def labelled_keypoints(self) -> Iterator[Keypoint]:
        """The labelled keypoints only, in layout order."""
        return (kp for kp in self.keypoints if kp.visibility > 0)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Person):
            return NotImplemented
        return (
            self.box == other.box
            and self.layout.names == other.layout.names
            and self.annotation_id == other.annotation_id
            and self.image_size == other.image_size
            and np.array_equal(self.keypoint_array, other.keypoint_array)
        )

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: ``box``, ``keypoints`` as ``[x, y, v]`` rows, ``layout``."""
        rows = [[x, y, int(v)] for x, y, v in self.keypoint_array.tolist()]
        data: dict[str, Any] = {"box": self.box.to_list(), "keypoints": rows}
        data["layout"] = layout_reference(self.layout)
        if self.annotation_id is not None:
            data["annotation_id"] = self.annotation_id
        if self.image_size is not None:
            data["image_size"] = list(self.image_size)
        return data

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], image_size: tuple[int, int] | None = None
    ) -> Person:
        """Inverse of :meth:`to_dict`; ``image_size`` fills in a size the dict lacks."""
        layout = layout_from_dict(data.get("layout", COCO_17.name))
        size = data.get("image_size")
        return cls(
            Box.from_list(data["box"]),
            _keypoint_array(data["keypoints"], len(layout)),
            layout,
            data.get("annotation_id"),
            (int(size[0]), int(size[1])) if size is not None else image_size,
        )


@dataclass(frozen=True, slots=True)
class ImageContext:
    """Everything the annotations say about one image: the symbolic context a teacher reads.

    Attributes:
        image_id: the COCO image id.
        file_name: the image file's name, relative to the split's image folder.
        width, height: the image size in pixels.
        captions: the image's captions, surrounding white space removed.
        objects: labelled object boxes (people with keypoints are in ``people`` instead).
        people: annotated people with their keypoints.
        raw_captions: the captions as the file holds them, where one of them has surrounding
            white space; ``None`` where they are ``captions`` (see :meth:`file_captions`).
    """

    image_id: int
    file_name: str
    width: int
    height: int
    captions: tuple[str, ...] = ()
    objects: tuple[ObjectBox, ...] = ()
    people: tuple[Person, ...] = ()
    raw_captions: tuple[str, ...] | None = None

    def file_captions(self) -> tuple[str, ...]:
        """The captions as the file holds them, surrounding white space included."""
        return self.captions if self.raw_captions is None else self.raw_captions

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``raw_captions`` only where it is not ``None``)."""
        data: dict[str, Any] = {
            "image_id": self.image_id,
            "file_name": self.file_name,
            "width": self.width,
            "height": self.height,
            "captions": list(self.captions),
            "objects": [o.to_dict() for o in self.objects],
            "people": [p.to_dict() for p in self.people],
        }
        if self.raw_captions is not None:
            data["raw_captions"] = list(self.raw_captions)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageContext:
        """Inverse of :meth:`to_dict`."""
        size = (int(data["width"]), int(data["height"]))
        return cls(
            int(data["image_id"]),
            str(data["file_name"]),
            *size,
            tuple(str(c) for c in data.get("captions", ())),
            tuple(ObjectBox.from_dict(o) for o in data.get("objects", ())),
            tuple(Person.from_dict(p, size) for p in data.get("people", ())),
            _raw_captions(data.get("raw_captions")),
        )


def _raw_captions(value: Any) -> tuple[str, ...] | None:
    """``raw_captions`` of a context's dict, ``None`` where it has none."""
    return None if value is None else tuple(str(c) for c in value)


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message sent to a model: ``role`` is ``system``, ``user`` or ``assistant``.

    ``images`` holds image paths or data URLs attached to the message, for vision models.
    """

    role: str
    content: str
    images: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.images:
            data["images"] = list(self.images)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """Inverse of :meth:`to_dict`."""
        return cls(str(data["role"]), str(data["content"]), tuple(data.get("images", ())))


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn of a training conversation: ``role`` is ``human`` or ``gpt`` (LLaVA's names)."""

    role: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"role": self.role, "text": self.text}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Turn:
        """Inverse of :meth:`to_dict`."""
        return cls(str(data["role"]), str(data["text"]))


@dataclass(frozen=True, slots=True)
class Sample:
    """One instruction-following sample: an image, a task name and its conversation turns."""

    id: str
    image: str
    task: str
    turns: tuple[Turn, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "id": self.id,
            "image": self.image,
            "task": self.task,
            "turns": [t.to_dict() for t in self.turns],
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sample:
        """Inverse of :meth:`to_dict`."""
        return cls(
            str(data["id"]),
            str(data["image"]),
            str(data["task"]),
            tuple(Turn.from_dict(t) for t in data["turns"]),
            dict(data.get("meta", {})),
        )


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One call to a model: a stable key, the messages to send, and what the caller needs back.

    Replies come back under the request's key, so a caller joins them to whatever it asked
    about (a sample to store, a benchmark question, a review) by key, never by reading the
    key's parts.

    Attributes:
        key: the stable request key: the same question always gets the same key, so a
            resumed run knows what is done.
        messages: the chat messages (system, few-shot turns, the request).
        meta: what the caller attaches for itself and for backends that read it. The
            generation pipeline's requests carry ``task``, ``image_id``, ``image``,
            ``seed``, ``instruction`` (the fixed human turn of a detailed description, when
            there is one) and ``context`` (the :class:`ImageContext`, for backends such as
            ``template`` that write from the annotations rather than the text).
    """

    key: str
    messages: tuple[Message, ...]
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict; ``meta`` values with a ``to_dict`` are converted."""
        return {
            "key": self.key,
            "messages": [m.to_dict() for m in self.messages],
            "meta": {k: _json_ready(v) for k, v in self.meta.items()},
        }


def _json_ready(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value
