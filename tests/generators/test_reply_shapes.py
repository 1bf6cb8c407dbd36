"""A reply of any shape is read as text or as the failure of its own request, never an
exception; a check that raises fails its own request, never a worker (issue 23, item 1).

Before: ``content`` as a list of parts was kept as a list (``... or ""``), the pipeline's
parse raised inside the ``validate`` callback, and the exception ended the worker task
silently: its request paid and lost, the requests after it never sent, exit 0.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kpit.generators.base import Generator, Reply, Usage
from kpit.generators.openai._wire import read_answer
from kpit.types import ChatRequest, Message

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12,
)  # fmt: skip
PART = st.fixed_dictionaries({"type": st.sampled_from(["text", "thinking", "image_url",
                                                       "refusal", "x"])},
                             optional={"text": JSON, "refusal": JSON})  # fmt: skip
CONTENT = JSON | st.lists(PART, max_size=4)
CHOICE = st.fixed_dictionaries(
    {},
    optional={"message": st.fixed_dictionaries({}, optional={"content": CONTENT,
                                                             "refusal": JSON}) | JSON,
              "finish_reason": st.sampled_from(["stop", "length", "content_filter"]) | JSON},
)  # fmt: skip
COMPLETION = st.fixed_dictionaries({}, optional={"choices": st.lists(CHOICE, max_size=2) | JSON,
                                                 "usage": JSON}) | JSON  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(COMPLETION)
def test_any_reply_reads_as_text_or_a_named_failure(completion: Any) -> None:
    answer = read_answer(completion)
    if answer.text is None:
        assert answer.error in {"malformed", "refusal", "content_filter", "length", "empty"}
        assert answer.detail
    else:
        assert isinstance(answer.text, str) and answer.text and answer.error is None
    assert answer.finish_reason is None or isinstance(answer.finish_reason, str)
    json.dumps(answer.detail)  # storable


def _reply(content: Any, **choice: Any) -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", "content": content}, **choice}]}


def test_text_parts_are_joined_and_other_shapes_named() -> None:
    parts = [{"type": "text", "text": "Hello, "}, {"type": "thinking", "thinking": "hm"},
             {"type": "text", "text": "world."}]  # fmt: skip
    assert read_answer(_reply(parts)).text == "Hello, world."
    assert read_answer(_reply("plain")).text == "plain"
    cut = read_answer(_reply("half a rep", finish_reason="length"))
    assert cut.text == "half a rep" and cut.finish_reason == "length"  # the pipeline's to judge
    named = {
        "malformed": [_reply(42), _reply({"text": "x"}), _reply([{"type": "image_url"}]),
                      _reply([{"type": "text", "text": 5}]), _reply(["loose"]), {"id": "x"},
                      {"choices": []}, {"choices": [{"message": "hi"}]}, [1]],
        "refusal": [{"choices": [{"message": {"content": None, "refusal": "No."}}]},
                    _reply([{"type": "refusal", "refusal": "No."}])],
        "content_filter": [_reply("", finish_reason="content_filter"),
                           _reply("partial", finish_reason="content_filter")],
        "length": [_reply(None, finish_reason="length")],
        "empty": [_reply(""), _reply(None), _reply([])],
    }  # fmt: skip
    for error, replies in named.items():
        for reply in replies:
            assert read_answer(reply).error == error, reply


class _Echo(Generator):
    name = "echo-for-test"

    async def complete(self, request: ChatRequest) -> Reply:
        return Reply(request.key, text=request.messages[-1].content, usage=Usage(3, 4))


def _answers(validate: Any, retries: int) -> list[Reply]:
    requests = [ChatRequest(f"k/{n}", (Message("user", f"request {n}"),)) for n in range(20)]

    async def collect() -> list[Reply]:
        return [r async for r in _Echo().generate(requests, concurrency=3, validate=validate,
                                                  reply_retries=retries)]  # fmt: skip

    return asyncio.run(collect())


def test_a_check_that_raises_fails_its_own_request_and_the_rest_go_on() -> None:
    def validate(request: ChatRequest, reply: Reply) -> str | None:
        if request.key in ("k/3", "k/11"):
            raise AttributeError("'list' object has no attribute 'replace'")
        return None

    for retries in (0, 1):
        replies = _answers(validate, retries)
        assert len(replies) == 20  # every request answered, none lost with a worker
        failed = {r.key: r for r in replies if not r.ok}
        assert set(failed) == {"k/3", "k/11"}
        assert failed["k/3"].error == "unchecked" and "AttributeError" in failed["k/3"].detail
        assert failed["k/3"].usage == Usage(3, 4)  # paid: its usage kept


def test_an_estimated_usage_says_so() -> None:
    assert Usage(1, 2).to_dict() == {"prompt_tokens": 1, "completion_tokens": 2,
                                     "cached_tokens": 0}  # fmt: skip
    assert Usage(1, 2, estimated=True).to_dict()["estimated"] is True
