"""Tasks: the prompts they build and the parsers of the teacher's replies."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import kpit
from kpit.prompts.tasks import (
    ComplexTask,
    ConversationTask,
    DetailTask,
    ParseError,
    PromptOptions,
    parse_pairs,
    request_key,
)

PAIRS = [
    ("What is the batter doing?", "He is swinging the bat."),
    ("Is the catcher standing?", "No, he is squatting behind the plate."),
]


@pytest.mark.parametrize(
    "reply",
    [
        # the requested format
        "Question:\nWhat is the batter doing?\nAnswer:\nHe is swinging the bat.\n===\n"
        "Question:\nIs the catcher standing?\nAnswer:\nNo, he is squatting behind the plate.",
        # on one line each, no separators
        "Question: What is the batter doing?\nAnswer: He is swinging the bat.\n"
        "Question: Is the catcher standing?\nAnswer: No, he is squatting behind the plate.",
        # Q:/A: with numbering and blank lines
        "1. Q: What is the batter doing?\n   A: He is swinging the bat.\n\n"
        "2. Q: Is the catcher standing?\n   A: No, he is squatting behind the plate.\n",
        # markdown bold and headings, numbered labels
        "### Conversation\n**Question 1:** What is the batter doing?\n**Answer 1:** He is "
        "swinging the bat.\n---\n**Question 2:** Is the catcher standing?\n**Answer 2:** No, "
        "he is squatting behind the plate.",
        # User/Assistant labels, bullets
        "- User: What is the batter doing?\n- Assistant: He is swinging the bat.\n"
        "- User: Is the catcher standing?\n- Assistant: No, he is squatting behind the plate.",
        # no labels at all: a question paragraph, then its answer
        "What is the batter doing?\nHe is swinging the bat.\n\nIs the catcher standing?\n"
        "No, he is squatting behind the plate.",
        # numbered questions without labels
        "1. What is the batter doing?\nHe is swinging the bat.\n"
        "2. Is the catcher standing?\nNo, he is squatting behind the plate.",
        # full-width colons and Human/GPT labels
        "Human\uff1aWhat is the batter doing?\nGPT\uff1aHe is swinging the bat.\n"
        "Human\uff1aIs the catcher standing?\nGPT\uff1aNo, he is squatting behind the plate.",
    ],
)
def test_conversation_parser_survives_drift(reply: str) -> None:
    assert parse_pairs(reply) == PAIRS


def test_multi_line_answers_and_intro_text() -> None:
    reply = (
        "Here are some questions:\n\nQuestion:\nWhat is happening?\nAnswer:\nA game.\n\n"
        "The batter swings.\n===\n"
    )
    assert parse_pairs(reply) == [("What is happening?", "A game.\n\nThe batter swings.")]


@pytest.mark.parametrize(
    "reply",
    ["", "I'm sorry, I can't help with that.", "Question: What?\n", "Answer: only an answer"],
)
def test_unparseable_replies_give_no_pairs(reply: str) -> None:
    assert parse_pairs(reply) == []


@pytest.fixture
def ctx(sample_root: Path) -> kpit.ImageContext:
    return kpit.load_coco(sample_root).get(196141)


def _request(task: kpit.Task, ctx: kpit.ImageContext, **options: object) -> kpit.ChatRequest:
    return task.build(
        ctx, key=request_key(task.name, ctx.image_id), seed=0, options=PromptOptions(**options)
    )  # type: ignore[arg-type]


def test_parse_errors_name_the_request(ctx: kpit.ImageContext) -> None:
    for task in (ConversationTask(), ComplexTask()):
        with pytest.raises(ParseError) as info:
            task.parse("no questions here", _request(task, ctx))
        assert info.value.record == f"{task.name}/196141/0"
    with pytest.raises(ParseError, match="empty"):
        DetailTask().parse("  \n", _request(DetailTask(), ctx))


def test_detail_and_complex_turns(ctx: kpit.ImageContext) -> None:
    detail = _request(DetailTask(), ctx)
    turns = DetailTask().parse("**Description:** The batter swings hard.", detail)
    assert [t.role for t in turns] == ["human", "gpt"]
    assert (
        turns[0].text == detail.meta["instruction"] and turns[1].text == "The batter swings hard."
    )
    reply = "Question:\nWhy is he low?\n===\nAnswer:\nTo catch.\nQuestion:\nMore?\nAnswer:\nNo."
    assert [t.text for t in ComplexTask().parse(reply, _request(ComplexTask(), ctx))] == [
        "Why is he low?",
        "To catch.",
    ]


def test_messages_carry_system_fewshot_and_context(ctx: kpit.ImageContext) -> None:
    request = _request(ConversationTask(), ctx)
    roles = [m.role for m in request.messages]
    assert roles == ["system", "user", "assistant", "user"]
    system = request.messages[0].content
    for must in (
        "(x1, y1, x2, y2)",
        "(x, y, visibility)",
        "0 when a keypoint is not labelled",
        "17. right ankle",
        "Never write coordinates",
        "Never mention the captions",
        "as if you were looking at the image",
        "definite answers",
        "Question:",
    ):
        assert must in system, must
    assert request.messages[-1].content == kpit.render_context(ctx, "paper")
    assert "Question:" in request.messages[2].content  # a hand-written ideal answer
    compact = _request(ConversationTask(), ctx, style="compact", pose_notes=True)
    assert "written without the leading zero (.25 means 0.25)" in compact.messages[0].content
    assert 'followed by "hidden" is labelled but not visible' in compact.messages[0].content
    assert "17. right ankle" not in compact.messages[0].content  # the context names them
    assert "\n1. box .387 .173 .652 .874; nose .464 .259, " in compact.messages[-1].content
    assert "name x y):\n1. box ." in compact.messages[1].content  # the example's context too
    assert "Pose notes:" in compact.messages[-1].content


def test_detail_instructions_are_sampled_reproducibly(ctx: kpit.ImageContext) -> None:
    task = DetailTask()
    phrasings = task.instructions()
    assert len(phrasings) >= 15 and len(set(phrasings)) == len(phrasings)
    assert (
        "Portray the poses and actions of people in the image with a rich, descriptive narrative."
    ) in phrasings
    first = _request(task, ctx)
    assert first.meta["instruction"] in phrasings
    assert first.messages[-1].content.endswith(first.meta["instruction"])
    assert _request(task, ctx).meta["instruction"] == first.meta["instruction"]
    seen = {
        task.build(ctx, key=request_key("detail", i), seed=0, options=PromptOptions()).meta[
            "instruction"
        ]
        for i in range(60)
    }
    assert len(seen) > 10


def test_fewshot_examples_are_real_sample_contexts() -> None:
    root = Path(kpit.__file__).parent / "prompts" / "templates"
    for task in ("conversation", "detail", "complex"):
        data = json.loads((root / task / "fewshot.json").read_text())
        for example in data["examples"]:
            ctx = kpit.ImageContext.from_dict(example["context"])
            assert ctx.image_id in (785, 40083, 196141, 197388) and ctx.people
            assert not re.search(r"\d\.\d", example["answer"])  # no coordinates leak


def test_user_templates_override_by_name(ctx: kpit.ImageContext, tmp_path: Path) -> None:
    (tmp_path / "complex").mkdir()
    (tmp_path / "complex" / "system.j2").write_text("Be brief. {{ style }}")
    request = _request(ComplexTask(), ctx, template_dir=str(tmp_path))
    assert request.messages[0].content == "Be brief. paper"
    assert request.messages[1].role == "user"  # packaged few-shot still used
    broken = tmp_path / "detail"
    broken.mkdir()
    (broken / "user.j2").write_text("{{ missing_value }}")
    with pytest.raises(kpit.TemplateError, match="missing_value"):
        _request(DetailTask(), ctx, template_dir=str(tmp_path))


def test_no_fewshot_option(ctx: kpit.ImageContext) -> None:
    request = _request(ConversationTask(), ctx, fewshot=False)
    assert [m.role for m in request.messages] == ["system", "user"]
