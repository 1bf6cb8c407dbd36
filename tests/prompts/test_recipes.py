"""Recipes: the paper's prompts verbatim beside kpit's, selectable, comparable, pluggable.

The paper's side is checked against its own text (Table 1) and its released code and data,
kept in ``tests/data/paper/`` with their sources (see the README there).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shlex
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

import kpit
from kpit import plugins
from kpit.cli import cli
from kpit.generators.template import TemplateGenerator
from kpit.pipeline import plan_recipes, resolve_tasks
from kpit.pipeline.quality import QualityFilter
from kpit.plugins import resolve_recipe
from kpit.prompts.paper_recipe import PaperRecipe, parse_free_pairs
from kpit.prompts.recipes import Recipe
from kpit.prompts.render import format_box, keypoint_triples
from kpit.prompts.tasks import request_key
from kpit.prompts.tokens import tokenizer_name

PAPER = Path(__file__).resolve().parents[1] / "data" / "paper"
CODE = json.loads((PAPER / "code_strings.json").read_text(encoding="utf-8"))
TASKS = ("conversation", "detail", "complex")


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout + result.stderr


@pytest.fixture
def contexts(sample_root: Path) -> kpit.CocoContexts:
    return kpit.load_coco(sample_root)


def _request(recipe: str, task: str, ctx: kpit.ImageContext, **options: Any) -> kpit.ChatRequest:
    chosen = resolve_recipe(recipe)
    (task_object,) = resolve_tasks([task], chosen)
    return task_object.build(ctx, key=request_key(task, ctx.image_id), seed=0,
                             options=chosen.prompt_options(**options))  # fmt: skip


# --- the paper's templates, rendered for image 785 ------------------------------------------


def _table1_system() -> str:
    """Table 1's system message as the paper prints it, the PDF's line-break hyphens joined."""
    text = (PAPER / "table1.txt").read_text(encoding="utf-8")
    content = text.split('"content": f"""', 1)[1].split('"""]}', 1)[0]
    return re.sub(r"(\w)-\n(\w)", r"\1\2", content)


def test_complex_system_message_is_table_1_word_for_word(contexts) -> None:
    request = _request("paper", "complex", contexts.get(785))
    assert request.messages[0].role == "system"
    assert request.messages[0].content.split() == _table1_system().split()


@pytest.mark.parametrize("task", TASKS)
def test_system_messages_are_the_released_code_s_byte_for_byte(contexts, task: str) -> None:
    request = _request("paper", task, contexts.get(785))
    assert request.messages[0].content == CODE[task]["system"]


def test_complex_layout_is_the_code_s(contexts) -> None:
    """System, then ``caption: ...`` per caption, then one message per person and per object,
    each written by the code's loop: one ``f"{key}: {value}\n"`` line per field."""
    ctx = contexts.get(785)
    request = _request("paper", "complex", ctx)
    captions = [CODE["complex"]["caption"].format(caption=c) for c in ctx.captions]
    line = CODE["complex"]["person_line"]  # the code's f"{key}: {value}\n", per field
    people = [
        line.format(key="person", value=format_box(p.box))
        + line.format(key="keypoints", value=keypoint_triples(p))
        for p in ctx.people
    ]
    objects = [line.format(key=o.category, value=format_box(o.box)) for o in ctx.objects]
    assert len(objects) == 1
    count = 5 + len(ctx.people) + len(objects)
    assert [m.role for m in request.messages] == ["system"] + ["user"] * count
    assert [m.content for m in request.messages[1:]] == captions + people + objects
    assert request.messages[-1].content == "skis: [0.325, 0.8, 0.961, 0.939]\n"
    assert request.messages[6].content == (
        "person: [0.439, 0.105, 0.78, 0.921]\nkeypoints: [(0.573, 0.191, 2), (0.584, 0.172, 2), "
        "(0.562, 0.176, 2), (0.603, 0.184, 2), (0.556, 0.191, 2), (0.623, 0.254, 2), "
        "(0.559, 0.304, 2), (0.677, 0.334, 2), (0.533, 0.374, 2), (0.702, 0.388, 2), "
        "(0.483, 0.419, 2), (0.662, 0.478, 2), (0.614, 0.504, 2), (0.67, 0.692, 2), "
        "(0.573, 0.642, 2), (0.728, 0.852, 2), (0.619, 0.802, 2)]\n"
    )
    assert "skis" not in "".join(m.content for m in request.messages[1:] if "person:" in m.content)


def test_complex_marks_crowd_regions_and_detail_sends_no_objects(contexts) -> None:
    ctx = contexts.get(40083)
    crowd = kpit.ObjectBox("person", kpit.Box(0.1, 0.2, 0.3, 0.4), iscrowd=True)
    ctx = dataclasses.replace(ctx, objects=(*ctx.objects, crowd))
    messages = _request("paper", "complex", ctx).messages
    assert [m.content for m in messages[-len(ctx.objects) :]] == [
        *(f"{o.category}: {format_box(o.box)}\n" for o in ctx.objects[:-1]),
        "person (crowd): [0.1, 0.2, 0.3, 0.4]\n",
    ]
    detail = _request("paper", "detail", ctx).messages
    assert not [m for m in detail if m.content.startswith(("umbrella:", "car:", "person (crowd)"))]
    assert len(detail) == 1 + len(ctx.captions) + len(ctx.people) + 1


def _spaced_captions(sample_root: Path, folder: Path) -> Path:
    """The bundled sample with image 785's first caption padded with spaces and a line break."""
    (folder / "annotations").mkdir(parents=True)
    for source in (sample_root / "annotations").glob("*_val2017.json"):
        data = json.loads(source.read_text(encoding="utf-8"))
        if source.name.startswith("captions"):
            first = next(a for a in data["annotations"] if a["image_id"] == 785)
            first["caption"] = "  " + first["caption"] + " \n"
        (folder / "annotations" / source.name).write_text(json.dumps(data), encoding="utf-8")
    return folder


def test_the_paper_recipe_sends_captions_as_the_file_holds_them(sample_root, tmp_path) -> None:
    spaced = kpit.load_coco(_spaced_captions(sample_root, tmp_path / "coco")).get(785)
    plain = kpit.load_coco(sample_root).get(785)
    raw = "  " + plain.captions[0] + " \n"
    assert spaced.captions == plain.captions  # what everything else reads: stripped
    assert spaced.file_captions() == (raw, *plain.captions[1:])
    assert plain.raw_captions is None and plain.file_captions() == plain.captions
    for task in ("complex", "detail"):
        assert _request("paper", task, spaced).messages[1].content == f"caption: {raw}"
    conversation = _request("paper", "conversation", spaced).messages
    assert (conversation[2].role, conversation[2].content) == ("assistant", raw)
    for task in TASKS:  # kpit's own recipe is unchanged
        assert _request("kpit", task, spaced).messages == _request("kpit", task, plain).messages
    assert kpit.ImageContext.from_dict(spaced.to_dict()) == spaced
    assert "raw_captions" not in plain.to_dict()


def test_detail_layout_and_its_16_instructions(contexts) -> None:
    ctx = contexts.get(196141)  # five people
    request = _request("paper", "detail", ctx)
    code = CODE["detail"]
    people = [
        "person: {bbox}\n".replace("{bbox}", format_box(p.box))
        + "Keypoints: {kp}\n".replace("{kp}", keypoint_triples(p))
        for p in ctx.people
    ]
    assert code["person_lines"] == ["person: {item['bbox']}\n", "Keypoints: {item['keypoints']}\n"]
    roles = [m.role for m in request.messages]
    assert roles == ["system"] + ["user"] * (len(ctx.captions) + len(ctx.people) + 1)
    contents = [m.content for m in request.messages]
    assert contents[1 : 1 + len(ctx.captions)] == [f"caption: {c}" for c in ctx.captions]
    assert contents[1 + len(ctx.captions) : -1] == people
    assert contents[-1] == request.meta["instruction"]
    task = PaperRecipe().task("detail")
    assert task.instructions() == code["instructions"]  # type: ignore[attr-defined]
    assert len(code["instructions"]) == 16
    seen = {
        task.build(ctx, key=request_key("detail", i), seed=0,
                   options=PaperRecipe().prompt_options()).meta["instruction"]
        for i in range(80)
    }  # fmt: skip
    assert seen == set(code["instructions"])


def test_conversation_is_built_from_the_captions_only(contexts) -> None:
    ctx = contexts.get(785)
    request = _request("paper", "conversation", ctx)
    code = CODE["conversation"]
    expected = [("system", code["system"])]
    for caption in ctx.captions:
        expected += [("user", code["caption_question"]), ("assistant", caption)]
    expected.append(("user", code["request"]))
    assert [(m.role, m.content) for m in request.messages] == expected
    text = "".join(m.content for m in request.messages)
    assert "keypoint" not in text.lower() and "0.439" not in text


def test_template_dir_overrides_the_paper_recipe_s_files_by_name(contexts, tmp_path) -> None:
    (tmp_path / "complex").mkdir()
    (tmp_path / "complex" / "caption.j2").write_text("Caption -> {{ caption }}")
    request = _request("paper", "complex", contexts.get(785), template_dir=str(tmp_path))
    assert request.messages[0].content == CODE["complex"]["system"]  # not overridden
    assert request.messages[1].content == f"Caption -> {contexts.get(785).captions[0]}"


@pytest.mark.parametrize(
    ("options", "field"),
    [({"style": "compact"}, "style"), ({"pose_notes": True}, "pose_notes")],
)  # fmt: skip
def test_the_paper_recipe_refuses_what_the_paper_did_not_send(options, field) -> None:
    with pytest.raises(kpit.ConfigError) as info:
        PaperRecipe().prompt_options(**options)
    assert info.value.field == field


def test_no_fewshot_changes_nothing_in_the_paper_recipe(contexts) -> None:
    for task in TASKS:  # it has no example to leave out
        without = _request("paper", task, contexts.get(785), fewshot=False)
        assert without.messages == _request("paper", task, contexts.get(785)).messages


def test_the_kpit_recipe_is_today_s_prompts(contexts) -> None:
    ctx = contexts.get(785)
    for task in TASKS:
        (legacy,) = resolve_tasks([task])
        key = request_key(task, 785)
        plain = legacy.build(ctx, key=key, seed=0, options=kpit.prompts.tasks.PromptOptions())
        assert _request("kpit", task, ctx).messages == plain.messages
    hashes = (
        resolve_recipe("kpit").task("complex").template_hashes(kpit.prompts.tasks.PromptOptions())
    )
    assert set(hashes) == {"complex/system.j2", "complex/user.j2", "complex/fewshot.json"}


def test_paper_prompts_are_a_third_of_kpit_s(contexts) -> None:
    """About 800 prompt tokens against about 2,500 for image 785's complex question."""
    ctx = contexts.get(785)
    paper = kpit.prompts.tokens.count_message_tokens(_request("paper", "complex", ctx).messages)
    ours = kpit.prompts.tokens.count_message_tokens(_request("kpit", "complex", ctx).messages)
    assert 700 < paper < 1000 and 2200 < ours < 2800


# --- generating with the paper recipe -------------------------------------------------------


class Recording(TemplateGenerator):
    """The template backend, keeping every request it was sent."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.requests: list[kpit.ChatRequest] = []

    async def complete(self, request: kpit.ChatRequest) -> kpit.Reply:
        self.requests.append(request)
        return await super().complete(request)


def test_generate_with_the_paper_recipe_sends_the_paper_s_prompts(contexts, tmp_path) -> None:
    backend = Recording()
    run = kpit.generate(contexts, "all", backend, out=tmp_path / "run", recipe="paper",
                        progress=False)  # fmt: skip
    assert isinstance(run, kpit.Run)
    assert len(backend.requests) == 12
    for request in backend.requests:
        task, image_id = request.meta["task"], request.meta["image_id"]
        assert request.messages == _request("paper", task, contexts.get(image_id)).messages
        assert request.messages[0].content == CODE[task]["system"]
    samples = list(run.samples())
    assert len(samples) == 12 and all(s.meta["flags"] == [] for s in samples)
    for sample in samples:
        if sample.task == "detail":
            assert sample.turns[0].text in CODE["detail"]["instructions"]
    manifest = run.manifest
    recipe = (manifest["recipe"], manifest["recipe_version"], manifest["filters"])
    assert recipe == ("paper", "1", "flag")
    assert "paper/complex/system.j2" in manifest["template_hashes"]


def test_generate_recipe_paper_on_the_command_line(sample_root, tmp_path) -> None:
    out = tmp_path / "run"
    code, text = run_cli("generate", str(sample_root), "--recipe", "paper", "-o", str(out),
                         "--no-progress")  # fmt: skip
    assert code == 0, text
    assert "flagged samples (report-only filters): 0 of 12" in text
    code, text = run_cli("export", str(out), "--per-pair", "-o", str(tmp_path / "pairs.json"))
    assert code == 0, text
    records = json.loads((tmp_path / "pairs.json").read_text())
    assert all(len(r["conversations"]) == 2 for r in records)  # one pair each, as released
    assert records[0]["conversations"][0]["value"].startswith("<image>\n")
    code, text = run_cli("prompts", "show", str(sample_root), "--recipe", "paper", "--task",
                         "complex", "--image-id", "785")  # fmt: skip
    assert code == 0 and "=== user (~" in text and "caption: A woman in a red jacket" in text


def test_resuming_with_another_recipe_is_refused(contexts, tmp_path) -> None:
    out = tmp_path / "run"
    kpit.generate(contexts, "complex", out=out, recipe="paper", limit=1, progress=False)
    with pytest.raises(kpit.ConfigError, match="recipe='paper', not 'kpit'") as info:
        kpit.generate(contexts, "complex", out=out, limit=1, progress=False)
    assert info.value.field == "recipe"
    with pytest.raises(kpit.ConfigError, match="recipe='paper', not 'kpit'"):
        kpit.generate(contexts, "complex", out=out, dry_run=True)
    kpit.generate(contexts, "complex", out=out, recipe="paper", limit=2, progress=False)  # resumes


def test_a_run_from_before_recipes_resumes_as_kpit_s(contexts, tmp_path) -> None:
    out = tmp_path / "run"
    kpit.generate(contexts, "complex", out=out, limit=1, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["recipe"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    run = kpit.generate(contexts, "complex", out=out, limit=2, progress=False)
    assert isinstance(run, kpit.Run) and run.manifest["last_session"]["skipped"] == 1
    with pytest.raises(kpit.ConfigError, match="recipe='kpit', not 'paper'"):
        kpit.generate(contexts, "complex", out=out, recipe="paper", progress=False)


# --- filters that report ----------------------------------------------------------------------


class Leaky(kpit.Generator):
    """Replies that kpit's filters reject: a leak and a coordinate."""

    name = "leaky-test"

    async def complete(self, request: kpit.ChatRequest) -> kpit.Reply:
        text = "The keypoints show the skier's left knee at (0.67, 0.69), bent for the slope. "
        text *= 3  # long enough for every task
        if request.meta["task"] != "detail":
            text = f"Question: Why is the skier's knee bent?\nAnswer: {text}"
        return kpit.Reply(request.key, text=text)


@pytest.mark.parametrize(
    ("recipe", "filters", "flagged", "failed"),
    [("paper", None, 6, 0), ("paper", "reject", 0, 6), ("paper", "off", 0, 0),
     ("kpit", None, 0, 6), ("kpit", "flag", 6, 0)],
)  # fmt: skip
def test_filters_reject_flag_or_do_nothing(contexts, tmp_path, recipe, filters, flagged, failed):
    run = kpit.generate(contexts, "detail,complex", Leaky(), out=tmp_path / "run", limit=3,
                        recipe=recipe, filters=filters, reply_retries=0,
                        progress=False)  # fmt: skip
    assert isinstance(run, kpit.Run)
    samples = list(run.samples())
    assert len(samples) == 6 - failed and len(run.open_failures()) == failed
    assert sum(bool(s.meta.get("flags")) for s in samples) == flagged
    stats = kpit.run_stats(run)
    if flagged:
        first = samples[0].meta
        assert first["flags"] == ["leak", "coordinates"]
        assert first["flag_details"]["leak"] == "keypoints"
        assert stats.flags["leak"] == 6 and stats.flags["coordinates"] == 6 and stats.flagged == 6
        assert "flagged samples (report-only filters): 6 of 6; " in stats.to_text()
        assert stats.tasks["complex"].flags["leak"] == 3
        text = stats.to_text()  # with the words behind each flag
        assert text.endswith("\n  coordinates: '(0.67, 0.69' 6\n  leak: 'keypoints' 6")
    else:
        assert not stats.flags and "flagged" not in stats.to_text()
    if failed:
        assert {f["reason"] for f in run.open_failures()} == {"quality:leak"}
        assert "\n  quality:leak: 'keypoints' 6" in stats.to_text()
        assert stats.failure_details == {("quality:leak", "keypoints"): 6}
    assert run.manifest["filters"] == (filters or {"paper": "flag", "kpit": "reject"}[recipe])


def test_an_unknown_filter_mode_is_refused(contexts, tmp_path) -> None:
    with pytest.raises(kpit.ConfigError) as info:
        kpit.generate(contexts, "complex", out=tmp_path / "run", filters="warn", dry_run=True)
    assert info.value.field == "filters"


def test_replies_in_the_released_shapes_through_kpit_s_filters() -> None:
    """What kpit's recipe rejects of replies in the released data's shapes (kpit's own text)."""
    checker = QualityFilter(task_minimums={"conversation": 10, "detail": 150, "complex": 100})
    found: dict[str, list[str]] = {}
    for task, name in (("conversation", "conversation"), ("detail", "detailed"),
                       ("complex", "reasoning")):  # fmt: skip
        records = json.loads((PAPER / "shapes" / f"{name}.json").read_text())
        for record in records:
            turns = tuple(kpit.Turn(t["from"], t["value"].removeprefix("<image>\n"))
                          for t in record["conversations"])  # fmt: skip
            found[f"{task}/{record['id']}/{turns[0].text[:22]}"] = [
                f.reason for f in checker.flags(task, turns)
            ]
    assert found["detail/785/Carefully observe the "] == ["leak"]  # "His keypoints indicate"
    assert found["complex/785/From the image details"] == ["leak"]  # "From their keypoints"
    assert sum(bool(f) for f in found.values()) == 2
    assert all(not f for k, f in found.items() if k.startswith("conversation"))


# --- the free-form parser, on pairs in the released samples' shapes ---------------------------


def _shaped_pairs(name: str) -> dict[str, list[tuple[str, str]]]:
    records = json.loads((PAPER / "shapes" / f"{name}.json").read_text())
    pairs: dict[str, list[tuple[str, str]]] = {}
    for record in records:
        question, answer = (t["value"] for t in record["conversations"])
        pairs.setdefault(record["id"], []).append((question.removeprefix("<image>\n"), answer))
    return pairs


INTRO = (
    "Sure! Here are some questions and answers focusing on the poses and actions of people in "
    "the image:\n\n"
)
OUTRO = "\n\nThese questions and answers highlight the poses and actions of the people shown."
CONVERSATION_SHAPES = {
    "numbered bold labels": lambda ps: INTRO + "\n\n".join(
        f"{i}. **Question:** {q}\n   **Answer:** {a}" for i, (q, a) in enumerate(ps, 1)) + OUTRO,
    "Q1/A1 labels": lambda ps: "\n\n".join(
        f"**Q{i}: {q}**\nA{i}: {a}" for i, (q, a) in enumerate(ps, 1)),
    "headings": lambda ps: "\n\n".join(
        f"### Question {i}\n{q}\n\n### Answer {i}\n{a}" for i, (q, a) in enumerate(ps, 1)),
    "bold questions, bulleted answers": lambda ps: INTRO + "\n\n".join(
        f"{i}. **{q}**\n   - {a}" for i, (q, a) in enumerate(ps, 1)) + OUTRO,
    "bold questions, answers inline": lambda ps: "\n".join(
        f"{i}. **{q}** {a}" for i, (q, a) in enumerate(ps, 1)),
    "numbered questions, answers below": lambda ps: "\n\n".join(
        f"{i}. {q}\n{a}" for i, (q, a) in enumerate(ps, 1)),
    "LLaVA's format": lambda ps: "\n===\n".join(
        f"Question:\n{q}\n===\nAnswer:\n{a}" for q, a in ps),
    "a rule, then a closing line": lambda ps: "\n\n".join(
        f"**Question {i}:** {q}\n**Answer {i}:** {a}" for i, (q, a) in enumerate(ps, 1))
        + "\n\n---\n\nI hope these help you understand the scene!",
}  # fmt: skip


@pytest.mark.parametrize("shape", CONVERSATION_SHAPES)
def test_free_form_conversations_give_back_the_shaped_pairs(shape: str) -> None:
    for image, pairs in _shaped_pairs("conversation").items():
        reply = CONVERSATION_SHAPES[shape](pairs)
        assert parse_free_pairs(reply) == pairs, (shape, image)


COMPLEX_SHAPES = {
    "bold labels on their own lines": "**Question:**\n{q}\n\n**Answer:**\n{a}",
    "headings": "### Question\n{q}\n\n### Answer\n{a}",
    "inline labels": "Question: {q}\n\nAnswer: {a}",
    "LLaVA's format": "Question:\n{q}\n===\nAnswer:\n{a}",
}


@pytest.mark.parametrize("shape", COMPLEX_SHAPES)
def test_free_form_complex_replies_give_back_the_pair(shape: str, contexts) -> None:
    task = PaperRecipe().task("complex")
    request = _request("paper", "complex", contexts.get(785))
    for image, pairs in _shaped_pairs("reasoning").items():
        ((question, answer),) = pairs
        reply = COMPLEX_SHAPES[shape].replace("{q}", question).replace("{a}", answer)
        turns = task.parse(reply, request)
        assert [t.text for t in turns] == [question, answer], (shape, image)


def test_an_unlabelled_complex_reply_keeps_its_whole_answer() -> None:
    ((question, answer),) = _shaped_pairs("reasoning")["40083"]
    reply = f"{question}\n\n{answer}\n\nWhat could they do next? They could measure again."
    assert parse_free_pairs(reply, limit=1) == [
        (question, f"{answer}\n\nWhat could they do next? They could measure again.")
    ]


def test_detailed_descriptions_are_kept_as_written(contexts) -> None:
    task = PaperRecipe().task("detail")
    request = _request("paper", "detail", contexts.get(785))
    for _, pairs in _shaped_pairs("detailed").items():
        ((_, description),) = pairs
        turns = task.parse(f"\n{description}\n", request)
        assert turns[1].text == description and turns[0].text == request.meta["instruction"]


def test_replies_without_pairs_are_parse_errors(contexts) -> None:
    for task in ("conversation", "complex"):
        request = _request("paper", task, contexts.get(785))
        with pytest.raises(kpit.ParseError):
            PaperRecipe().task(task).parse("I'm sorry, I can't help with that.", request)


# --- the dry run, side by side --------------------------------------------------------------------


def test_dry_run_prints_recipes_side_by_side(sample_root, contexts, tmp_path) -> None:
    out = str(tmp_path / "run")
    code, text = run_cli("generate", str(sample_root), "--generator", "openai", "--model",
                         "gpt-4o", "-O", "api_key=sk-test", "-o", out, "--dry-run",
                         "--recipe", "paper,kpit")  # fmt: skip
    assert code == 0, text
    plans = plan_recipes(contexts, "paper,kpit", "all", "openai", "gpt-4o", out,
                         generator_options={"api_key": "sk-test"})  # fmt: skip
    lines = text.splitlines()
    assert re.fullmatch(r"recipe\s+paper\s+kpit", lines[0])
    for task in TASKS:
        start = next(i for i, line in enumerate(lines) if line.startswith(task))
        numbers = [re.split(r"\s{2,}", line.strip())[-2:] for line in lines[start : start + 5]]
        paper, ours = plans["paper"], plans["kpit"]
        assert numbers[1] == [f"{p.prompt_tokens[task]:,}" for p in (paper, ours)]
        assert numbers[2] == [f"{p.tokens_per_request(task):,.0f}" for p in (paper, ours)]
        assert numbers[4][0].startswith("$")
    assert plans["paper"].total_prompt_tokens * 2 < plans["kpit"].total_prompt_tokens
    assert "price: $2.5 / $10 / $1.25 per million input / output / cached input tokens" in text
    assert not (tmp_path / "run").exists()
    code, text = run_cli("generate", str(sample_root), "-o", out, "--recipe", "paper,kpit")
    assert code != 0 and "several recipes go with --dry-run only" in text


def test_plan_run_takes_a_recipe(contexts, tmp_path) -> None:
    plan = kpit.plan_run(contexts, "complex", out=tmp_path / "run", recipe="paper")
    assert plan.recipe == "paper" and plan.requests["complex"] == 4
    assert plan.examples[0].messages[1].content.startswith("caption: ")


# --- recipes from plugins ------------------------------------------------------------------------


class ShortRecipe(Recipe):
    """kpit's tasks with one template of its own (its folder is set by the test)."""

    name = "short-test"
    description = "a test recipe"
    filters = "off"


class RecipePlugin:
    recipe: ClassVar[type[Recipe]] = ShortRecipe

    @kpit.hookimpl
    def kpit_register_recipes(self, register):  # type: ignore[no-untyped-def]
        register(self.recipe)


@pytest.fixture
def recipe_plugin(tmp_path) -> Iterator[RecipePlugin]:
    (tmp_path / "recipe" / "complex").mkdir(parents=True)
    (tmp_path / "recipe" / "complex" / "system.j2").write_text("Ask one question. Be brief.")
    ShortRecipe.folder = tmp_path / "recipe"
    plugin = RecipePlugin()
    plugins.get_plugin_manager().register(plugin, name="recipe-test")
    try:
        yield plugin
    finally:
        if plugins.get_plugin_manager().is_registered(plugin):
            plugins.get_plugin_manager().unregister(plugin)


def test_a_plugin_recipe_registers_and_unregisters(recipe_plugin, contexts, tmp_path) -> None:
    assert plugins.get_recipe("short-test") is ShortRecipe
    assert set(plugins.recipes()) >= {"kpit", "paper", "short-test"}
    run = kpit.generate(contexts, "complex,detail", out=tmp_path / "run", recipe="short-test",
                        limit=1, progress=False)  # fmt: skip
    assert isinstance(run, kpit.Run)
    assert run.manifest["recipe"] == "short-test" and run.manifest["filters"] == "off"
    hashes, kpit_hashes = run.manifest["template_hashes"], {}
    for task in ("complex", "detail"):
        kpit_hashes |= (
            resolve_recipe("kpit").task(task).template_hashes(kpit.prompts.tasks.PromptOptions())
        )
    assert hashes["recipe/complex/system.j2"] != kpit_hashes["complex/system.j2"]  # its own
    assert hashes["recipe/detail/system.j2"] == kpit_hashes["detail/system.j2"]  # kpit's
    request = _request("short-test", "complex", contexts.get(785))
    assert request.messages[0].content == "Ask one question. Be brief."
    assert request.messages[-1].content == kpit.render_context(contexts.get(785))
    code, text = run_cli("prompts", "list")
    assert code == 0 and "short-test: version 1; filters off" in text and "paper: version 1" in text
    plugins.get_plugin_manager().unregister(recipe_plugin)
    assert "short-test" not in plugins.recipes()
    with pytest.raises(kpit.ConfigError, match="recipe 'short-test'; installed: kpit, paper"):
        kpit.generate(contexts, "complex", out=tmp_path / "other", recipe="short-test")


def test_a_plugin_recipe_wins_a_name_clash_with_a_built_in_one() -> None:
    class MyPaper(PaperRecipe):
        version = "2"

    class Clash(RecipePlugin):
        recipe = MyPaper

    plugin = Clash()
    plugins.get_plugin_manager().register(plugin, name="clash")
    try:
        with pytest.warns(RuntimeWarning, match="kpit recipe 'paper' from plugin 'clash'"):
            assert plugins.get_recipe("paper") is MyPaper
    finally:
        plugins.get_plugin_manager().unregister(plugin)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plugins.get_recipe("paper") is PaperRecipe


def test_a_recipe_without_a_task_says_which_it_has() -> None:
    with pytest.raises(kpit.ConfigError, match="recipe 'paper' has no task 'activity'"):
        resolve_tasks("activity", "paper")


def test_bench_build_with_the_paper_recipe(sample_root, tmp_path) -> None:
    code, text = run_cli("bench", "build", str(sample_root), "--split", "val2017", "--num-images",
                         "2", "--recipe", "paper", "-o", str(tmp_path / "bench"))  # fmt: skip
    assert code == 0, text
    manifest = json.loads((tmp_path / "bench" / "manifest.json").read_text())
    assert manifest["recipe"] == "paper"
    run = kpit.Run(tmp_path / "bench" / "run")
    assert run.manifest["recipe"] == "paper"
    detail = next(s for s in run.samples() if s.task == "detail")
    assert detail.turns[0].text in CODE["detail"]["instructions"]


def _as_val2014(sample_root: Path, root: Path) -> Path:
    """The bundled sample's annotation files under the paper's split name."""
    (root / "annotations").mkdir(parents=True)
    for source in (sample_root / "annotations").glob("*_val2017.json"):
        target = root / "annotations" / source.name.replace("val2017", "val2014")
        target.write_bytes(source.read_bytes())
    return root


def test_bench_build_with_the_paper_recipe_defaults_to_val2014_and_says_so(
    sample_root, tmp_path
) -> None:
    root = _as_val2014(sample_root, tmp_path / "coco")
    args = ["bench", "build", str(root), "--num-images", "1", "--recipe", "paper", "-o",
            str(tmp_path / "paper")]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "--recipe paper: --split val2014, the paper's benchmark split" in result.stderr
    code, text = run_cli("bench", "build", str(root), "--num-images", "1", "-o",
                         str(tmp_path / "kpit"))  # fmt: skip
    assert code != 0 and "captions_val2017.json" in text  # kpit's recipe keeps val2017
    code, text = run_cli("bench", "build", str(sample_root), "--num-images", "1", "--recipe",
                         "paper", "-o", str(tmp_path / "missing"))  # fmt: skip
    assert code != 0 and "val2014" in text


@pytest.mark.parametrize("recipe", ["paper", "kpit"])
def test_bench_build_without_disjoint_from_warns_of_the_overlap(
    sample_root, tmp_path, caplog, recipe: str
) -> None:
    args = ["bench", "build", str(sample_root), "--split", "val2017", "--num-images", "1",
            "--recipe", recipe]  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="kpit.bench.build"):
        result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "open")])
    assert result.exit_code == 0, result.output
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "kpit.bench.build"]
    assert "a val2014 benchmark overlaps train2017 training data" in warning
    assert "--disjoint-from" in warning
    caplog.clear()
    training = tmp_path / "person_keypoints_train2017.json"
    training.write_text(json.dumps({"images": [{"id": 785}], "annotations": []}))
    with caplog.at_level(logging.WARNING, logger="kpit.bench.build"):
        result = CliRunner().invoke(cli, [*args, "--disjoint-from", str(training),
                                          "-o", str(tmp_path / "closed")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not [r for r in caplog.records if r.name == "kpit.bench.build"]


def test_the_overlap_warning_is_printed_by_the_command(sample_root, tmp_path) -> None:
    """The real command line: the warning reaches stderr through kpit's logging set-up."""
    result = subprocess.run(
        [sys.executable, "-m", "kpit", "bench", "build", str(sample_root), "--num-images", "1",
         "-o", str(tmp_path / "bench")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "WARNING kpit.bench.build: built without --disjoint-from" in result.stderr
    assert "a val2014 benchmark overlaps train2017 training data" in result.stderr


# --- the documentation's commands run as written --------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "recipes.md"


def _blocks(text: str) -> list[tuple[str, str]]:
    """The fenced blocks of a markdown text: (language, body)."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", text, flags=re.S | re.M)


def _commands(body: str) -> list[list[str]]:
    return [shlex.split(line, comments=True) for line in body.replace("\\\n", " ").splitlines()
            if line.startswith("kpit ")]  # fmt: skip


def test_the_recipes_doc_s_commands_run_as_written(monkeypatch, tmp_path) -> None:
    """Every block that runs on the bundled sample, in order; the dry run prints what it shows."""
    (tmp_path / "examples").symlink_to(Path(__file__).resolve().parents[2] / "examples")
    monkeypatch.chdir(tmp_path)
    blocks = _blocks(DOC.read_text(encoding="utf-8"))
    ran = 0
    for n, (language, body) in enumerate(blocks):
        if language != "bash" or "coco/ " in body:  # the full-scale job needs COCO and GPUs
            continue
        for args in _commands(body):
            result = CliRunner().invoke(cli, args[1:])
            assert result.exit_code == 0, (args, result.output)
            ran += 1
            if "--dry-run" in args and tokenizer_name().startswith("o200k_base"):
                assert result.stdout == blocks[n + 1][1], "the doc's dry-run output is stale"
    assert ran >= 9
    records = json.loads(Path("runs/ablation/paper.json").read_text())
    assert records[0]["image"].startswith("val2017/")


def test_chat_markers_are_rejected_by_kpit_and_flagged_by_the_paper_recipe() -> None:
    turns = (kpit.Turn("human", "What is he doing?"),
             kpit.Turn("gpt", "He swings the bat.</s> USER: now say something else"))  # fmt: skip
    checker = QualityFilter(task_minimums={"complex": 5})
    rejection = checker.check("complex", turns, remember=False)
    assert rejection is not None and rejection.reason == "chat_markers"
    assert "chat_markers" in [f.reason for f in checker.flags("complex", turns, remember=False)]
    assert PaperRecipe().filter_mode(None) == "flag"  # the paper recipe stores it, flagged
