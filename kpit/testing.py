"""Offline stand-ins for trying kpit end to end without a GPU, a download or an API key.

- :func:`make_tiny_llava`: a tiny random ``LlavaForConditionalGeneration`` (a 2-layer CLIP
  tower and a 2-layer Llama) with a word-level tokenizer and a processor, built from configs
  and saved with ``save_pretrained``, so that ``kpit train`` and the ``hf-llava`` backend load
  it as they load ``llava-hf/llava-1.5-7b-hf`` (needs ``pip install 'kpit[train]'``);
- :class:`LoopbackJudge`: a small OpenAI-compatible chat server on ``127.0.0.1`` that
  answers as a judge would (two scores on the first line), for the ``gpt`` judge;
- :func:`synthetic_context`: an image of synthetic people in random poses (standing,
  walking, sitting, crouching, squatting, kneeling, lying; facing any way; arms anywhere),
  with the objects they hold, sit, ride or stand on, for validating anything that reads pose.

Nothing here is needed in production; the tests, ``examples/`` and ``benchmarks/`` use it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from kpit.layouts import COCO_17
from kpit.types import Box, ImageContext, ObjectBox, Person

__all__ = [
    "TINY_WORDS",
    "LoopbackJudge",
    "make_tiny_llava",
    "overlap_judge",
    "synthetic_context",
    "synthetic_person",
    "word_tokenizer",
]

_VOCABULARY = (
    "the a an person people man woman is are standing sitting walking running skiing holding "
    "swinging bat ball skis snow field street left right arm arms leg legs knee knees elbow bent "
    "straight raised camera facing image picture what how why who where which doing does do in "
    "on at of with and to they their he she his her it this that yes no two three one catcher "
    "batter player stall umbrella chair ? . ,"
)
TINY_WORDS = tuple(_VOCABULARY.split())
"""The tiny tokenizer's default vocabulary (one word a token, split at spaces)."""
_SPECIAL = ("<unk>", "<s>", "</s>", "<pad>", "<image>")


def word_tokenizer(words: Iterable[str]) -> Any:
    """A word-level ``PreTrainedTokenizerFast`` made offline: LLaVA's special tokens
    (``<unk>``, ``<s>``, ``</s>``, ``<pad>``, ``<image>``), then ``words``, then ``USER:`` and
    ``ASSISTANT:``, one token each; text is split at spaces and any other word is ``<unk>``.
    Needs ``pip install 'kpit[train]'``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tokens = dict.fromkeys([*_SPECIAL, *words, "USER:", "ASSISTANT:"])
    vocab = {token: i for i, token in enumerate(tokens)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )


def make_tiny_llava(
    folder: str | Path,
    image_size: int = 30,
    patch_size: int = 15,
    *,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    intermediate: int | None = None,
    words: Iterable[str] = TINY_WORDS,
    seed: int = 0,
) -> Path:
    """Save a random ``LlavaForConditionalGeneration`` and its processor to ``folder``.

    Args:
        folder: where to save it.
        image_size: the CLIP tower's input size in pixels.
        patch_size: the CLIP tower's patch size in pixels.
        hidden: the language model's width (LLaVA-1.5-7B's is 4096).
        layers: the language model's depth (LLaVA-1.5-7B's is 32).
        heads: its attention heads (LLaVA-1.5-7B's are 32).
        intermediate: its MLP width (default ``2 * hidden``; LLaVA-1.5-7B's is 11008).
        words: the vocabulary of the word-level tokenizer (text is split at spaces; any other
            word is ``<unk>``).
        seed: seeds the random weights.

    Returns:
        ``folder``, to pass as ``--model`` to ``kpit train`` or the ``hf-llava`` backend.
    """
    import torch
    from transformers import LlavaForConditionalGeneration

    tokenizer = word_tokenizer(words)
    processor = _tiny_processor(tokenizer, image_size, patch_size)
    config = _tiny_config(
        tokenizer.get_vocab(),
        image_size,
        patch_size,
        hidden=hidden,
        layers=layers,
        heads=heads,
        intermediate=intermediate or 2 * hidden,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    out = Path(folder)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def _tiny_processor(tokenizer: Any, image_size: int, patch_size: int) -> Any:
    """A ``LlavaProcessor``: ``tokenizer``, and CLIP's image processing at ``image_size``."""
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )


def _tiny_config(
    vocab: Mapping[str, int],
    image_size: int,
    patch_size: int,
    *,
    hidden: int,
    layers: int,
    heads: int,
    intermediate: int,
) -> Any:
    """A ``LlavaConfig``: a tiny CLIP tower, and a Llama of these sizes over ``vocab``."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    return LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=image_size,
            patch_size=patch_size,
        ),
        text_config=LlamaConfig(
            vocab_size=len(vocab),
            hidden_size=hidden,
            intermediate_size=intermediate,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=heads,
            max_position_embeddings=512,
            bos_token_id=1,
            eos_token_id=2,
            pad_token_id=3,
        ),
        image_token_index=vocab["<image>"],
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )


# --- a loopback judge ---------------------------------------------------------------------

_ASSISTANT = re.compile(r"\[Assistant (\d)\]\n(.*?)\n\n\[End of Assistant \1\]", re.S)
_CONTEXT = re.compile(r"\[Context\]\n(.*?)\n\n\[Question\]", re.S)


def overlap_judge(messages: Sequence[dict[str, Any]]) -> str:
    """A stand-in judge's review: each answer scored by the share of its words found in the
    context (captions and object names), from 1 to 10. Deterministic, and meaningless as a
    measure of quality: it only lets a pipeline run end to end."""
    text = str(messages[-1].get("content", "")) if messages else ""
    found = _CONTEXT.search(text)
    context_words = set(re.findall(r"[a-z]+", found.group(1).lower())) if found else set()
    scores = []
    for _, answer in sorted(_ASSISTANT.findall(text)):
        words = re.findall(r"[a-z]+", answer.lower())
        share = sum(w in context_words for w in words) / len(words) if words else 0.0
        scores.append(max(1, min(10, round(1 + 9 * share))))
    while len(scores) < 2:
        scores.append(1)
    return f"{scores[0]} {scores[1]}\nScored by word overlap with the context (a stand-in judge)."


class LoopbackJudge:
    """An OpenAI-compatible chat server on ``127.0.0.1`` whose replies come from ``reply``.

    ``with LoopbackJudge() as server:`` then ``judge_options={"base_url": server.base_url,
    "api_key": "sk-local"}``. It answers ``POST .../chat/completions`` only, and counts
    the requests it served in ``requests``.
    """

    def __init__(self, reply: Callable[[Sequence[dict[str, Any]]], str] = overlap_judge) -> None:
        self.reply = reply
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> LoopbackJudge:
        """Serve in a background thread; returns itself."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                content = owner.reply(body.get("messages", []))
                with owner._lock:
                    owner.requests += 1
                digest = hashlib.sha256(content.encode()).hexdigest()[:12]
                self._send(200, {
                    "id": f"chatcmpl-{digest}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "loopback"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": len(json.dumps(body)) // 4,
                              "completion_tokens": len(content) // 4,
                              "total_tokens": len(json.dumps(body)) // 4 + len(content) // 4},
                })  # fmt: skip

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LoopbackJudge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- synthetic people ----------------------------------------------------------------------

POSTURES = ("standing", "walking", "sitting", "crouching", "squatting", "kneeling", "lying")
"""The poses :func:`synthetic_person` draws."""
_K = {name: i for i, name in enumerate(COCO_17.names)}


def _unit(degrees: float) -> np.ndarray:
    """The unit vector ``degrees`` anticlockwise on screen from pointing straight down."""
    angle = math.radians(degrees)
    return np.array([math.sin(angle), math.cos(angle)])


def _bend(direction: np.ndarray, degrees: float) -> np.ndarray:
    angle = math.radians(degrees)
    c, s = math.cos(angle), math.sin(angle)
    return np.array([c * direction[0] - s * direction[1], s * direction[0] + c * direction[1]])


def synthetic_person(
    rng: np.random.Generator, posture: str | None = None, facing: str | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """One synthetic person: ``(17, 2)`` points in arbitrary pixel units (y down), and what
    was drawn (``posture``, ``facing``, the torso's ``lean``, each arm's ``arm`` pose).

    The figure is drawn from joint angles with adult proportions (torso 1, upper arm 0.6,
    forearm 0.55, thigh 0.85, shin 0.8), facing the camera, away, or in profile to either
    side. What :func:`kpit.pose_facts` makes of it is for the facts to say: the draw is only
    a source of varied, plausible poses.
    """
    posture = posture or str(rng.choice(POSTURES))
    figure = _Figure(facing or str(rng.choice(["camera", "camera", "away", "left", "right"])))
    t = figure.t
    points = np.zeros((17, 2))
    legs = {side: _draw_leg(rng, figure, posture, sign) for side, sign in _SIDES}
    lean = _draw_lean(rng, posture)
    turn = figure.ahead if figure.profile else float(rng.choice([-1, 1]))
    up = _bend(np.array([0.0, -1.0]), -lean * turn)
    shoulders_mid = up * t
    right_of_body = np.array([-up[1], up[0]])  # perpendicular, on screen
    arms: dict[str, str] = {}
    for side, sign in _SIDES:
        shoulder = shoulders_mid + right_of_body * sign * figure.half * figure.mirror
        arms[side], elbow, wrist = _draw_arm(rng, figure, shoulder, up, sign)
        limbs = (shoulder, elbow, wrist, *legs[side])
        for joint, point in zip(_LIMB_JOINTS, limbs, strict=True):
            points[_K[f"{side}_{joint}"]] = point
    _place_head(points, figure, shoulders_mid, up, right_of_body)
    if posture == "lying":
        points = _rotated(points, float(rng.choice([-1, 1])) * rng.uniform(80, 100))
    points = _rotated(points, rng.normal(0, 4))
    drawn = {"posture": posture, "facing": figure.facing, "lean": lean, "arms": arms}
    return points, drawn


_LIMB_JOINTS = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
_SIDES = (("left", 1.0), ("right", -1.0))
"""The person's sides, with the sign of the image's x towards them for a figure facing us."""

_LEG_DRAWS = {
    "standing": ((-6, 6), (0, 30)),
    "walking": ((18, 30), (0, 25)),  # one thigh swings forward, the other back
    "sitting": ((75, 100), (70, 110)),
    "crouching": ((35, 60), (60, 95)),
    "squatting": ((70, 100), (125, 150)),
    "kneeling": ((-8, 10), (80, 100)),
    "lying": ((-6, 6), (0, 20)),  # drawn standing, then laid down
}
"""The ranges of a posture's thigh angle (forward from hanging down) and knee bend, degrees."""

_ARM_DRAWS = {
    "side": ((0, 15), (160, 180)),
    "raised": ((110, 140), (120, 180)),
    "above": ((160, 180), (150, 180)),
    "out": ((80, 100), (165, 180)),
    "bent": ((10, 60), (40, 120)),
}
"""The ranges of an arm pose's elevation (from hanging down) and elbow angle, degrees."""


@dataclass(frozen=True)
class _Figure:
    """How a synthetic person is drawn: the way they face, and the torso's length ``t``."""

    facing: str
    t: float = 100.0

    @property
    def profile(self) -> bool:
        """Seen from the side."""
        return self.facing in ("left", "right")

    @property
    def ahead(self) -> float:
        """The image direction the person faces (in profile)."""
        return -1.0 if self.facing == "left" else 1.0

    @property
    def mirror(self) -> float:
        """-1 for a person seen from behind, whose left is on the image's left."""
        return -1.0 if self.facing == "away" else 1.0

    @property
    def half(self) -> float:
        """Half the shoulders' width as seen."""
        return 0.06 * self.t if self.profile else 0.4 * self.t


def _draw_leg(
    rng: np.random.Generator, figure: _Figure, posture: str, sign: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One leg's hip, knee and ankle, from the hips (the origin) down; "forward" in the
    image is ``ahead`` in profile, and frontal legs splay a little."""
    t, profile = figure.t, figure.profile
    thighs, knees = _LEG_DRAWS.get(posture, _LEG_DRAWS["lying"])
    thigh, knee = rng.uniform(*thighs), rng.uniform(*knees)
    if posture == "walking":
        thigh = sign * thigh
    direction = figure.ahead if profile else sign
    thigh_dir = _unit(thigh * np.sign(direction or 1))
    if not profile and posture in ("sitting", "squatting", "crouching"):
        thigh_dir = _unit(np.sign(sign) * thigh * 0.9)
    shin_dir = _bend(thigh_dir, -knee * np.sign(direction or 1))
    hip_half = 0.05 * t if profile else 0.22 * t
    hip = np.array([sign * hip_half * (1 if figure.facing != "away" else -1), 0.0])
    knee_point = hip + 0.85 * t * thigh_dir
    ankle = knee_point + 0.8 * t * shin_dir
    return hip, knee_point, ankle


def _draw_lean(rng: np.random.Generator, posture: str) -> float:
    """The torso's lean from upright in degrees: forward in a crouch or a squat; now and
    then a lean, or a bend for someone standing; else nearly upright."""
    if posture in ("crouching", "squatting"):
        return rng.uniform(10, 35)
    if rng.random() < 0.2:
        return rng.uniform(25, 45)
    if rng.random() < 0.1 and posture == "standing":
        return rng.uniform(65, 95)  # bent over
    return rng.uniform(-8, 8)


def _draw_arm(
    rng: np.random.Generator, figure: _Figure, shoulder: np.ndarray, up: np.ndarray, sign: float
) -> tuple[str, np.ndarray, np.ndarray]:
    """One arm's pose, elbow and wrist, from its shoulder."""
    pose = str(rng.choice(["side", "side", "raised", "above", "out", "bent"]))
    outward = sign * figure.mirror * (figure.ahead if figure.profile else 1.0)
    # Every pose's ranges are drawn, so that the draws after them do not depend on the pose.
    elevations = {name: rng.uniform(*drawn[0]) for name, drawn in _ARM_DRAWS.items()}
    elbow_angles = {name: rng.uniform(*drawn[1]) for name, drawn in _ARM_DRAWS.items()}
    elevation, elbow_angle = elevations[pose], elbow_angles[pose]
    down = -up
    upper = (
        _bend(down, -outward * elevation)
        if not figure.profile
        else _bend(down, -figure.ahead * elevation * float(rng.choice([1, -1])))
    )
    fore = _bend(upper, outward * (180 - elbow_angle))
    elbow = shoulder + 0.6 * figure.t * upper
    wrist = elbow + 0.55 * figure.t * fore
    return pose, elbow, wrist


def _place_head(
    points: np.ndarray,
    figure: _Figure,
    shoulders_mid: np.ndarray,
    up: np.ndarray,
    right_of_body: np.ndarray,
) -> None:
    """Put the nose, eyes and ears above the shoulders, turned the way the person faces."""
    t, profile = figure.t, figure.profile
    head = shoulders_mid + up * 0.35 * t
    face = figure.ahead * 0.18 * t if profile else 0.0
    for name, dx, dy in (("nose", 0, 0), ("left_eye", 0.1, -0.08), ("right_eye", -0.1, -0.08),
                         ("left_ear", 0.2, -0.03), ("right_ear", -0.2, -0.03)):  # fmt: skip
        offset = right_of_body * (dx * t * figure.mirror * (0.2 if profile else 1)) + up * (-dy * t)
        points[_K[name]] = head + offset + right_of_body * face


def _rotated(points: np.ndarray, degrees: float) -> np.ndarray:
    """``points`` turned by ``degrees`` about the origin."""
    angle = math.radians(degrees)
    rotation = np.array([[math.cos(angle), -math.sin(angle)],
                         [math.sin(angle), math.cos(angle)]])  # fmt: skip
    rotated: np.ndarray = points @ rotation.T
    return rotated


def _visibility(rng: np.random.Generator, facing: str) -> np.ndarray:
    visibility = rng.choice([2, 1, 0], size=17, p=[0.8, 0.12, 0.08]).astype(np.float64)
    if facing == "away":  # the face is hidden; the ears show
        visibility[[_K["nose"], _K["left_eye"], _K["right_eye"]]] = 0
    elif facing in ("left", "right"):  # the far eye and ear are hidden
        far = "right" if facing == "right" else "left"
        visibility[[_K[f"{far}_eye"], _K[f"{far}_ear"]]] = 0
    return visibility


def synthetic_context(
    rng: np.random.Generator,
    people: int | None = None,
    *,
    image_id: int = 0,
    postures: Sequence[str] | None = None,
) -> ImageContext:
    """An image of ``people`` synthetic people (1 to 5 when ``None``) side by side, with
    the objects their poses suggest: chairs, benches or horses under those who sit, skis or
    boards under some who stand, bats, rackets, umbrellas, cups or phones in some hands.

    Points are normalised to the image (random size, 480-800 x 360-640 pixels) and rounded
    to three decimals as kpit's COCO loader does; a tenth of the points are unlabelled and
    some occluded, and points outside the image are unlabelled.
    """
    count = people if people is not None else int(rng.integers(1, 6))
    width, height = int(rng.integers(480, 801)), int(rng.integers(360, 641))
    figures = []
    for _ in range(count):
        posture = str(rng.choice(postures)) if postures else None
        points, drawn = synthetic_person(rng, posture)
        figures.append((points, drawn))
    slots = np.linspace(0, width, count + 2)[1:-1] + rng.normal(0, width / (8 * count), count)
    persons: list[Person] = []
    objects: list[ObjectBox] = []
    for n, (points, drawn) in enumerate(figures):
        low, high = points.min(axis=0), points.max(axis=0)
        size = float(max(high - low))
        scale = rng.uniform(0.35, 0.85) * min(height, 1.6 * width / count) / max(size, 1.0)
        placed = (points - (low + high) / 2) * scale
        centre = np.array([slots[n], rng.uniform(0.45, 0.6) * height])
        placed += centre
        visibility = _visibility(rng, drawn["facing"])
        inside = (placed[:, 0] >= 0) & (placed[:, 0] < width) & (placed[:, 1] >= 0)
        inside &= placed[:, 1] < height
        visibility[~inside] = 0
        normalised = np.round(placed / (width, height), 3)
        normalised[visibility == 0] = 0
        array = np.column_stack([normalised, visibility])
        array.setflags(write=False)
        labelled = array[visibility > 0, :2]
        if len(labelled):
            x1, y1 = np.clip(labelled.min(axis=0) - 0.01, 0, 1)
            x2, y2 = np.clip(labelled.max(axis=0) + 0.01, 0, 1)
        else:
            x1, y1, x2, y2 = 0.0, 0.0, 0.01, 0.01
        box = Box(round(float(x1), 3), round(float(y1), 3), round(float(x2), 3),
                  round(float(y2), 3))  # fmt: skip
        persons.append(Person(box, array, COCO_17, n + 1, (width, height)))
        objects += _objects_for(rng, placed, drawn, scale, (width, height))
    return ImageContext(image_id, f"synthetic_{image_id:06d}.jpg", width, height, (),
                        tuple(objects), tuple(persons))  # fmt: skip


def _box_around(centre: np.ndarray, half: tuple[float, float], size: tuple[int, int]) -> Box:
    width, height = size
    x1 = float(np.clip((centre[0] - half[0]) / width, 0, 1))
    x2 = float(np.clip((centre[0] + half[0]) / width, 0, 1))
    y1 = float(np.clip((centre[1] - half[1]) / height, 0, 1))
    y2 = float(np.clip((centre[1] + half[1]) / height, 0, 1))
    return Box(round(x1, 3), round(y1, 3), round(x2, 3), round(y2, 3))


def _objects_for(
    rng: np.random.Generator,
    placed: np.ndarray,
    drawn: dict[str, Any],
    scale: float,
    size: tuple[int, int],
) -> list[ObjectBox]:
    unit = 100 * scale  # the torso in pixels
    hips = (placed[_K["left_hip"]] + placed[_K["right_hip"]]) / 2
    ankles = (placed[_K["left_ankle"]] + placed[_K["right_ankle"]]) / 2
    out = []
    if drawn["posture"] == "sitting" and rng.random() < 0.7:
        seat = str(rng.choice(["chair", "bench", "couch", "horse"]))
        under = hips + np.array([0.0, 0.3 * unit])
        out.append(ObjectBox(seat, _box_around(under, (0.6 * unit, 0.5 * unit), size)))
    if drawn["posture"] in ("standing", "walking") and rng.random() < 0.3:
        board = str(rng.choice(["skis", "snowboard", "skateboard", "surfboard"]))
        out.append(ObjectBox(board, _box_around(ankles, (0.8 * unit, 0.15 * unit), size)))
    if rng.random() < 0.5:
        side = str(rng.choice(["left", "right"]))
        thing = str(rng.choice(["baseball bat", "tennis racket", "umbrella", "cup",
                                "cell phone", "baseball glove", "frisbee"]))  # fmt: skip
        wrist = placed[_K[f"{side}_wrist"]]
        out.append(ObjectBox(thing, _box_around(wrist, (0.25 * unit, 0.35 * unit), size)))
    if rng.random() < 0.15:  # something nobody holds, away from the person
        thing = str(rng.choice(["baseball bat", "cup", "umbrella", "cell phone"]))
        corner = np.array([rng.uniform(0, size[0]), rng.uniform(0, 0.15 * size[1])])
        out.append(ObjectBox(thing, _box_around(corner, (0.2 * unit, 0.2 * unit), size)))
    return out
