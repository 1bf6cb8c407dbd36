"""The ``template`` generator: offline, deterministic instruction data from pose facts.

It writes all three task types from an image's captions, objects and the pose facts of its
people, without calling any model, and replies in the same format a teacher model is asked
for, so the whole pipeline (parsing, filters, storage, export) runs on its output. Only
facts with a confidence of at least ``min_confidence`` are used, so it never states what
the keypoints do not support. Wording varies with a random generator seeded by the run's
seed and the request key: the same run writes the same data.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from kpit.generators.base import Generator, GeneratorError, Price, Reply, Usage, Validator
from kpit.options import option
from kpit.pose.facts import PoseFacts, ordinal, pose_facts_batch
from kpit.types import ChatRequest, ImageContext

__all__ = ["TemplateGenerator", "TemplateOptions"]

_CHUNK = 256
_CACHE_SIZE = 4096

NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")

ACTIVITIES = {
    "baseball bat": "batting in a baseball game",
    "baseball glove": "fielding or catching in a baseball game",
    "skis": "skiing",
    "snowboard": "snowboarding",
    "tennis racket": "playing tennis",
    "surfboard": "surfing",
    "skateboard": "skateboarding",
    "frisbee": "playing frisbee",
    "sports ball": "playing a ball game",
    "kite": "flying a kite",
    "horse": "riding a horse",
    "bicycle": "cycling",
    "motorcycle": "riding a motorcycle",
    "umbrella": "sheltering under an umbrella",
    "chair": "resting",
    "bench": "resting",
}
POSTURE_REASONS = {
    "squatting": "squatting keeps the body low and balanced, ready to react quickly",
    "crouching": "a crouch lowers the centre of gravity and keeps the legs ready to push off",
    "standing": "standing is a stable, relaxed position from which to watch or move",
    "walking": "the wide stride shows they are moving, pushing off one leg onto the other",
    "sitting": "sitting suggests they are resting or waiting rather than moving",
    "kneeling": "kneeling brings them close to the ground, usually to reach or work on something",
    "lying": "lying down means they are resting or have fallen",
}


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _number(n: int) -> str:
    return NUMBERS[n] if n < len(NUMBERS) else str(n)


def _referents(ctx: ImageContext) -> list[str]:
    """A way to refer to each person: by their place from left to right in the image."""
    n = len(ctx.people)
    if n == 1:
        return ["the person"]
    order = sorted(range(n), key=lambda i: ctx.people[i].box.center[0])
    names = [""] * n
    for rank, i in enumerate(order):
        if rank == 0:
            names[i] = "the person on the far left" if n > 2 else "the person on the left"
        elif rank == n - 1:
            names[i] = "the person on the far right" if n > 2 else "the person on the right"
        elif n == 3:
            names[i] = "the person in the middle"
        else:  # every place its own ordinal, so that each name picks out one person
            names[i] = f"the {ordinal(rank + 1)} person from the left"
    return names


def _confident(facts: PoseFacts, minimum: float) -> PoseFacts:
    return facts.above(minimum)


def _first(facts: PoseFacts, part: str) -> str | None:
    texts = [f.text for f in facts if f.part == part]
    return texts[0] if texts else None


def _describable(facts: PoseFacts) -> bool:
    return bool(facts.labels("posture") or facts.labels("body"))


def _describe_body(ref: str, facts: PoseFacts) -> str:
    """One or two sentences: posture and facing, then limbs."""
    words = [w for w in (_first(facts, "posture"), _first(facts, "body")) if w]
    sentences = [_capital(ref) + " is " + ", ".join(words) + "."]
    limbs = [f.text for f in facts if f.part == "arm"][:2]
    limbs += [f.text for f in facts if f.part in ("elbow", "knee") and f.label != "straight"][:2]
    if limbs:
        sentences.append(_capital("; ".join(limbs)) + ".")
    return " ".join(sentences)


def _about(ref: str, text: str) -> str:
    """A relation fact ("their left hand is near...") said about ``ref``."""
    if text.startswith("their "):
        return f"{ref}'s {text[len('their ') :]}"
    if text.startswith("they are "):
        return f"{ref} is {text[len('they are ') :]}"
    return text


def _bent_knees(facts: PoseFacts) -> bool:
    return any("bent" in label for label in facts.labels("knee"))


@dataclass(frozen=True)
class TemplateOptions:
    """The ``template`` backend's options."""

    seed: int | None = option(
        None, "Varies the wording; default: the run's seed (the request's meta 'seed')."
    )
    min_confidence: float = option(0.6, "The lowest pose-fact confidence used.", minimum=0)


class TemplateGenerator(Generator):
    """Offline and deterministic: writes instruction data from captions, objects and pose facts.

    It writes from ``request.meta["context"]`` (the :class:`~kpit.types.ImageContext` the
    pipeline's requests carry), not from the prompt text. Options: :class:`TemplateOptions`.
    """

    name = "template"
    description = "offline, deterministic data from captions, objects and pose facts"
    supported_tasks = ("conversation", "detail", "complex")  # it has a writer for each
    Options = TemplateOptions
    options: TemplateOptions

    def __init__(self, model: str | None = None, **options: Any) -> None:
        super().__init__(model or "template-v1", **options)
        self.min_confidence = self.options.min_confidence
        # The facts of recent images: the tasks of one image arrive together.
        self._facts: OrderedDict[int, tuple[ImageContext, list[PoseFacts]]] = OrderedDict()

    def prepare(self, contexts: Iterable[ImageContext]) -> None:
        """Measure the pose facts of many images at once (numpy works best in bulk)."""
        todo = [ctx for ctx in contexts if id(ctx) not in self._facts]
        unique = list({id(ctx): ctx for ctx in todo}.values())
        for ctx, facts in zip(unique, pose_facts_batch(unique), strict=True):
            self._facts[id(ctx)] = (ctx, facts)
        while len(self._facts) > _CACHE_SIZE:
            self._facts.popitem(last=False)

    def facts(self, ctx: ImageContext) -> list[PoseFacts]:
        """The pose facts of ``ctx``'s people (cached)."""
        found = self._facts.get(id(ctx))
        if found is None or found[0] is not ctx:
            self._facts.pop(id(ctx), None)
            self.prepare([ctx])
            found = self._facts[id(ctx)]
        return found[1]

    def _prefetched(self, requests: Iterable[ChatRequest]) -> Iterator[ChatRequest]:
        pending = iter(requests)
        while chunk := list(islice(pending, _CHUNK)):
            contexts = (r.meta.get("context") for r in chunk)
            self.prepare(c for c in contexts if isinstance(c, ImageContext))
            yield from chunk

    async def generate(
        self,
        requests: Iterable[ChatRequest],
        *,
        concurrency: int = 8,
        validate: Validator | None = None,
        reply_retries: int = 0,
    ) -> AsyncIterator[Reply]:
        """As :meth:`Generator.generate`, measuring pose facts a chunk of images at a time."""
        replies = super().generate(self._prefetched(requests), concurrency=concurrency,
                                   validate=validate, reply_retries=reply_retries)  # fmt: skip
        async for reply in replies:
            yield reply

    def price(self) -> Price:
        """Free: nothing is called."""
        return Price(0.0, 0.0)

    async def complete(self, request: ChatRequest) -> Reply:
        """As :meth:`write`."""
        return self.write(request)

    def write(self, request: ChatRequest) -> Reply:
        """The reply to ``request``, synchronously."""
        ctx = request.meta.get("context")
        if not isinstance(ctx, ImageContext):
            raise GeneratorError("the template generator needs the image context "
                                 "(the request's meta 'context')", record=request.key)  # fmt: skip
        seed = self.options.seed if self.options.seed is not None else request.meta.get("seed", 0)
        rng = random.Random(f"{seed}:{request.key}")
        facts = [_confident(f, self.min_confidence) for f in self.facts(ctx)]
        writers = {"conversation": self._conversation, "detail": self._detail,
                   "complex": self._complex}  # fmt: skip
        task = request.meta.get("task")
        writer = writers.get(str(task))
        if writer is None:
            raise GeneratorError(f"the template generator cannot write {task!r} data",
                                 record=request.key)  # fmt: skip
        text = writer(ctx, facts, rng)
        if text is None:
            raise GeneratorError("nothing to say about this image's people", record=request.key)
        usage = Usage(sum(len(m.content) for m in request.messages) // 4, len(text) // 4)
        return Reply(request.key, text=text, usage=usage, finish_reason="stop", model=self.model)

    # --- conversation -------------------------------------------------------------------

    def _conversation(self, ctx: ImageContext, facts: list[PoseFacts], rng: random.Random
                      ) -> str | None:  # fmt: skip
        refs = _referents(ctx)
        posed = [i for i, f in enumerate(facts) if f.labels("posture")]
        pairs: list[tuple[str, str]] = []
        count = len(ctx.people)
        pairs.append((rng.choice(["How many people are in the image?",
                                  "How many people can be seen in this picture?"]),
                      f"There {'is' if count == 1 else 'are'} {_number(count)} "
                      f"{'person' if count == 1 else 'people'} in the image."))  # fmt: skip
        for i in rng.sample(posed, min(len(posed), 3)):
            ref, posture = refs[i], facts[i].labels("posture")[0]
            question = rng.choice([f"What is the posture of {ref}?",
                                   f"Is {ref} standing, sitting or in some other position?",
                                   f"How is {ref} holding their body?"])  # fmt: skip
            del posture
            pairs.append((question, _describe_body(ref, facts[i])))
            facing = _first(facts[i], "body")
            if facing and rng.random() < 0.5:
                pairs.append((f"Which way is {ref} facing?", _capital(f"{ref} is {facing}.")))
        for i, person_facts in enumerate(facts):
            for fact in person_facts:
                if fact.relation in ("near", "on") and fact.target and len(pairs) < 6:
                    pairs.append((f"Is anyone using the {fact.target}?",
                                  f"Yes, {_about(refs[i], fact.text)}."))  # fmt: skip
                    break
        postures = [f.labels("posture") for f in facts if f.labels("posture")]
        if postures and len(postures) == len(facts) and not any("lying" in p for p in postures):
            pairs.append(("Is anyone lying down?", "No, nobody in the image is lying down."))
        if len(pairs) < 2:
            return None
        return "\n===\n".join(f"Question:\n{q}\nAnswer:\n{a}" for q, a in pairs[:6])

    # --- detailed description -----------------------------------------------------------

    def _detail(self, ctx: ImageContext, facts: list[PoseFacts], rng: random.Random
                ) -> str | None:  # fmt: skip
        if not any(_describable(f) for f in facts):
            return None
        refs = _referents(ctx)
        sentences = []
        if ctx.captions:
            caption = min(ctx.captions, key=len).strip().rstrip(".")
            sentences.append(_capital(caption) + ".")
        count = len(ctx.people)
        sentences.append(rng.choice([
            f"There {'is' if count == 1 else 'are'} {_number(count)} "
            f"{'person' if count == 1 else 'people'} in the picture.",
            f"The picture shows {_number(count)} {'person' if count == 1 else 'people'}.",
        ]))  # fmt: skip
        for i, person_facts in enumerate(facts):
            if not _describable(person_facts):
                continue
            sentences.append(_describe_body(refs[i], person_facts))
            relations = [f.text for f in person_facts if f.relation in ("near", "on")]
            if relations:
                sentences.append(_capital("; ".join(relations)) + ".")
        objects = sorted({o.category for o in ctx.objects if o.category != "person"})
        if objects:
            sentences.append("Around them one can also see " + _list(objects) + ".")
        return " ".join(sentences)

    # --- complex reasoning --------------------------------------------------------------

    def _complex(self, ctx: ImageContext, facts: list[PoseFacts], rng: random.Random
                 ) -> str | None:  # fmt: skip
        refs = _referents(ctx)
        posed = [i for i, f in enumerate(facts) if f.labels("posture")]
        if not posed:
            return None
        i = rng.choice(posed)
        posture = facts[i].labels("posture")[0]
        targets = [f.target for f in facts[i] if f.relation in ("near", "on") and f.target]
        activity = next((ACTIVITIES[t] for t in targets if t in ACTIVITIES), None)
        scene = sorted({o.category for o in ctx.objects if o.category in ACTIVITIES})
        question = rng.choice([
            f"What is {refs[i]} most likely doing, and what does their posture tell you about it?",
            f"Why might {refs[i]} be holding their body the way they are?",
        ])  # fmt: skip
        answer = [_describe_body(refs[i], facts[i])]
        relations = [f.text for f in facts[i] if f.relation in ("near", "on")]
        if relations:
            answer.append(_capital("; ".join(relations)) + ".")
        if activity:
            answer.append(f"Taken together, this suggests that they are {activity}.")
        elif scene:
            answer.append(f"The {_list(scene, articles=False)} in view show what kind of "
                          "activity the scene is about.")  # fmt: skip
        if posture == "standing" and _bent_knees(facts[i]):
            answer.append("Standing on bent knees keeps them balanced and ready to move.")
        else:
            reason = POSTURE_REASONS.get(posture, "their posture fits what they are doing")
            answer.append(_capital(reason) + ".")
        others = len(ctx.people) - 1
        if others:
            answer.append(f"There {'is' if others == 1 else 'are'} {_number(others)} other "
                          f"{'person' if others == 1 else 'people'} in the scene, so they are "
                          "not alone there.")  # fmt: skip
        return f"Question:\n{question}\n===\nAnswer:\n{' '.join(answer)}"


def _list(items: list[str], articles: bool = True) -> str:
    """``a car, an umbrella and skis``; without articles: ``car, umbrella and skis``."""
    if articles:
        items = [item if item.endswith("s") else ("an " if item[0] in "aeiou" else "a ") + item
                 for item in items]  # fmt: skip
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
