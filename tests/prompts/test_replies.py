"""Reading teacher replies: the pairs of every shape in ``tests/data/replies/``, exactly, by
both recipes' parsers and tasks; an answer's words are never lost or changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import kpit
from kpit.plugins import resolve_recipe
from kpit.prompts.paper_recipe import PaperRecipe, parse_free_pairs
from kpit.prompts.replies import parse_reply
from kpit.prompts.tasks import ComplexTask, ConversationTask, parse_pairs, request_key

from ..conftest import SAMPLE

SHAPES = Path(__file__).resolve().parents[1] / "data" / "replies" / "shapes.json"
CASES: list[dict[str, Any]] = json.loads(SHAPES.read_text(encoding="utf-8"))["cases"]
IDS = [case["name"] for case in CASES]


def _reply(case: dict[str, Any]) -> str:
    return "\n".join(case["reply"])


def _pairs(case: dict[str, Any]) -> list[tuple[str, str]]:
    return [(pair["q"], "\n".join(pair["a"])) for pair in case["pairs"]]


def test_the_corpus_has_the_shapes_the_issue_names() -> None:
    assert len(CASES) >= 30 and len(set(IDS)) == len(IDS)
    answers = [answer for case in CASES for _, answer in _pairs(case)]
    for start in ("A-", "A. ", "Human-", "Q-tip", '"', "\u201c", "- "):
        assert any(a.startswith(start) for a in answers), start
    assert any("\n\n" in a for a in answers) and any("**" in a for a in answers)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_both_parsers_give_the_exact_pairs(case: dict[str, Any]) -> None:
    reply, limit = _reply(case), case.get("limit")
    assert parse_pairs(reply, limit=limit) == _pairs(case)
    assert parse_free_pairs(reply, limit=limit) == _pairs(case)


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_an_answer_s_words_are_words_of_the_reply_in_order(case: dict[str, Any]) -> None:
    """Nothing is added, reworded or reordered: only layout around the answer goes."""
    reply = _words(_reply(case))
    for question, answer in parse_reply(_reply(case), limit=case.get("limit")):
        assert _words(answer) in reply and answer == answer.strip()
        assert _words(question) in reply


@pytest.fixture(scope="module")
def request_785() -> dict[str, kpit.ChatRequest]:
    ctx = kpit.load_coco(SAMPLE).get(785)
    requests = {}
    for recipe in ("kpit", "paper"):
        chosen = resolve_recipe(recipe)
        for task in ("conversation", "complex"):
            requests[f"{recipe}/{task}"] = chosen.task(task).build(
                ctx, key=request_key(task, 785), seed=0, options=chosen.prompt_options()
            )
    return requests


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_tasks_of_both_recipes_store_the_same_turns(
    case: dict[str, Any], request_785: dict[str, kpit.ChatRequest]
) -> None:
    task = "complex" if case.get("limit") == 1 else "conversation"
    expected = [text for pair in _pairs(case) for text in pair]
    parsers = {
        "kpit": {"conversation": ConversationTask(), "complex": ComplexTask()}[task],
        "paper": PaperRecipe().task(task),
    }
    for recipe, parser in parsers.items():
        turns = parser.parse(_reply(case), request_785[f"{recipe}/{task}"])
        assert [t.text for t in turns] == expected, recipe
        assert [t.role for t in turns] == ["human", "gpt"] * len(case["pairs"])


# --- the issue's examples, each of which the old parser got wrong ----------------------------


def test_an_answer_that_starts_with_a_hyphenated_a_keeps_it() -> None:
    """Before: "A-frame tents..." became "frame tents..." (read as an ``A-`` label)."""
    reply = "Question:\nWhat is behind them?\n===\nAnswer:\nA-frame tents, pitched on the grass."
    assert parse_pairs(reply) == [("What is behind them?", "A-frame tents, pitched on the grass.")]


def test_a_pair_whose_answer_starts_with_human_is_kept() -> None:
    """Before: "Human-powered..." on its own line opened a new question and the pair was lost."""
    reply = ("Question: What moves the boat?\nAnswer:\nHuman-powered rowing, four oars at once.\n"
             "Question: Are they in time?\nAnswer: Yes.")  # fmt: skip
    assert parse_pairs(reply) == [
        ("What moves the boat?", "Human-powered rowing, four oars at once."),
        ("Are they in time?", "Yes."),
    ]


def test_text_before_a_lettered_list_is_kept() -> None:
    """Before: "A. a slow jog" replaced the answer read so far."""
    reply = "Question: What drill is it?\nAnswer: Three stages:\nA. a slow jog,\nB. a sprint."
    assert parse_pairs(reply) == [
        ("What drill is it?", "Three stages:\nA. a slow jog,\nB. a sprint.")
    ]


def test_bold_and_bullets_stay_in_answers() -> None:
    """Before: ``**`` and leading bullets were removed from every line of an answer."""
    reply = "Question: How does he stand?\nAnswer: **Side-on**, with:\n- knees bent\n- bat up"
    assert parse_pairs(reply) == [
        ("How does he stand?", "**Side-on**, with:\n- knees bent\n- bat up")
    ]


def test_a_complex_reply_with_a_question_in_its_answer_is_one_pair(
    request_785: dict[str, kpit.ChatRequest],
) -> None:
    """Before: kpit's complex task cut an unlabelled answer at a paragraph that starts with a
    question, and dropped the rest."""
    reply = "Why is she leaning?\n\nTo turn.\n\nWhy not stand up?\nShe would fall."
    turns = ComplexTask().parse(reply, request_785["kpit/complex"])
    assert [t.text for t in turns] == [
        "Why is she leaning?",
        "To turn.\n\nWhy not stand up?\nShe would fall.",
    ]
