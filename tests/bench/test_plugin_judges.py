"""A plugin's judges end to end: the example plugin's pairwise ``overlap`` judge and
single-answer ``length`` judge, registered for the test, through judge, report and show."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

import kpit
from kpit import plugins
from kpit.bench import build_bench, load_bench
from kpit.bench.files import write_jsonl
from kpit.bench.plugin_reviews import finish_review
from kpit.bench.report import load_reviews
from kpit.cli import cli
from kpit.judges import AnswerJudge

from ..conftest import REPO, SAMPLE
from ..helpers.cli_results import one_clear_line

EXAMPLE = (
    REPO / "examples" / "kpit-plugin-example" / "src" / "kpit_caption_baseline" / "__init__.py"
)


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kpit_caption_baseline_under_test", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return _load_example()


@pytest.fixture
def registered(example: ModuleType) -> Iterator[ModuleType]:
    """The example plugin registered for the test (the conftest guard unregisters it too)."""
    pm = plugins.get_plugin_manager()
    pm.register(example, name="caption-baseline-test")
    pm.check_pending()
    try:
        yield example
    finally:
        pm.unregister(example)


@pytest.fixture(scope="module")
def hpaub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hpaub")
    build_bench(list(kpit.load_coco(SAMPLE, split="val2017")), folder, num_images=4, seed=0)
    return folder


def _answers(hpaub: Path, folder: Path, model: str, text: str) -> Path:
    bench = load_bench(hpaub, require_references=False)
    path = folder / f"{model}.jsonl"
    records = ({"question_id": q.question_id, "text": text, "model_id": model,
                "answer_id": f"{model}-{q.question_id}"} for q in bench.questions)  # fmt: skip
    write_jsonl(path, records)
    return path


def _run(*args: str) -> Result:
    flags = ["--no-progress"] if args[:2] == ("bench", "judge") else []
    return CliRunner().invoke(cli, [*args, *flags])


def test_a_plugin_answer_judge_is_judged_reported_and_shown(
    registered: ModuleType, hpaub: Path, tmp_path: Path
) -> None:
    """Before: the pose judge's summary ("12 answers, 0 claims: 0 supported, ..."), then
    ``bench report`` and ``bench show`` failed with ``field 'tuple': not two scores from 1
    to 10: None``."""
    short = _answers(hpaub, tmp_path, "short", "A man. He stands.")
    wordy = _answers(hpaub, tmp_path, "wordy", "A man is standing on a field. He holds a bat. "
                     "People watch him from the stands.")  # fmt: skip
    for answers in (short, wordy):
        out = tmp_path / f"length-{answers.stem}.jsonl"
        judged = _run("bench", "judge", str(hpaub), "--answers", str(answers), "--judge",
                      "length", "-o", str(out))  # fmt: skip
        assert judged.exit_code == 0, judged.output
        assert "claims" not in judged.output and "supported" not in judged.output
        assert judged.output.strip() == (f"{out}: 12 answers reviewed by judge 'length', 0 "
                                         "failed; mean sentences " + ("2.00" if answers is short
                                         else "3.00") + ", words " + ("4.00" if answers is short
                                         else "17.00"))  # fmt: skip
    first = json.loads((tmp_path / "length-short.jsonl").read_text().splitlines()[0])
    assert first["kind"] == "length" and first["judge"] == {"name": "length", "model": None}
    report = _run("bench", "report", str(tmp_path / "length-short.jsonl"),
                  str(tmp_path / "length-wordy.jsonl"))  # fmt: skip
    assert report.exit_code == 0, report.output
    lines = report.output.splitlines()
    assert lines[0] == "| model | answers | sentences | words |"
    assert "| short | 12 | 2.00 | 4.00 |" in lines and "| wordy | 12 | 3.00 | 17.00 |" in lines
    assert "| short (Conversation) | 4 | 2.00 | 4.00 |" in lines
    assert "Judge: length; files: length-short.jsonl, length-wordy.jsonl" in report.output
    qid = load_bench(hpaub, require_references=False).questions[0].question_id
    shown = _run("bench", "show", str(qid), "--reviews", str(tmp_path / "length-wordy.jsonl"))
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[0].startswith(f"question {qid} (")
    assert "model wordy, judge length: words 17, sentences 3" in shown.output
    assert "He holds a bat." in shown.output


def test_a_plugin_review_kind_is_reported_beside_the_gpt_judges(
    registered: ModuleType, hpaub: Path, tmp_path: Path
) -> None:
    """Each kind has a table of its own, with a heading, never pooled."""
    ours = _answers(hpaub, tmp_path, "ours", "A man is standing on a field.")
    theirs = _answers(hpaub, tmp_path, "theirs", "Something happens.")
    pairwise, length = tmp_path / "pairwise.jsonl", tmp_path / "length.jsonl"
    judged = _run("bench", "judge", str(hpaub), "--answers", str(ours), "--versus", str(theirs),
                  "--judge", "overlap", "-o", str(pairwise))  # fmt: skip
    assert judged.exit_code == 0, judged.output
    assert _run("bench", "judge", str(hpaub), "--answers", str(ours), "--judge", "length",
                "-o", str(length)).exit_code == 0  # fmt: skip
    report = _run("bench", "report", str(pairwise), str(length), "--protocol", "paper")
    assert report.exit_code == 0, report.output
    paper, plugin = report.output.split("## Judge reviews of kind 'length'")
    assert "| ours |" in paper and "| theirs |" in paper and "words" not in paper
    assert "| ours | 12 |" in plugin and "theirs" not in plugin


def test_a_pairwise_plugin_judge_records_its_own_name_and_model(
    registered: ModuleType, hpaub: Path, tmp_path: Path
) -> None:
    """Before: every judge but ``pose`` was recorded as ``gpt-4o``."""
    ours = _answers(hpaub, tmp_path, "ours", "A man is standing on a field.")
    theirs = _answers(hpaub, tmp_path, "theirs", "Something happens.")
    out = tmp_path / "overlap.jsonl"
    judged = _run("bench", "judge", str(hpaub), "--answers", str(ours), "--versus", str(theirs),
                  "--judge", "overlap", "-o", str(out))  # fmt: skip
    assert judged.exit_code == 0, judged.output
    assert judged.output.strip() == f"{out}: 12 reviews, 0 without scores"
    reviews = [json.loads(line) for line in out.read_text().splitlines()]
    assert {json.dumps(r["judge"]) for r in reviews} == {
        json.dumps({"name": "overlap", "model": "word-overlap-1"})
    }
    assert all(r["scores"]["ours"] > r["scores"]["theirs"] for r in reviews)
    named = tmp_path / "named.jsonl"
    assert _run("bench", "judge", str(hpaub), "--answers", str(ours), "--versus", str(theirs),
                "--judge", "overlap", "--model", "v2", "-o", str(named)).exit_code == 0  # fmt: skip
    assert json.loads(named.read_text().splitlines()[0])["judge"]["model"] == "v2"
    report = _run("bench", "report", str(out), "--protocol", "paper")
    assert report.exit_code == 0 and "Judge: overlap/word-overlap-1" in report.output


class _Careless(AnswerJudge):
    """Returns a record without scores."""

    name = "careless-test"

    def assess(self, question: Any, context: Any, answer: Any) -> Any:
        class Review:
            kind = "careless"

            def to_dict(self) -> dict[str, Any]:
                return {"kind": "careless", "question_id": question.question_id,
                        "category": question.category, "model_id": answer.model_id}  # fmt: skip

        return Review()


class _CarelessPlugin:
    @kpit.hookimpl
    def kpit_register_judges(self, register):  # type: ignore[no-untyped-def]
        register(_Careless)


def test_a_review_without_what_a_record_must_hold_is_one_clear_error(
    hpaub: Path, tmp_path: Path
) -> None:
    plugins.get_plugin_manager().register(_CarelessPlugin(), name="careless-test")
    answers = _answers(hpaub, tmp_path, "m", "A man.")
    out = tmp_path / "careless.jsonl"
    result = _run("bench", "judge", str(hpaub), "--answers", str(answers), "--judge",
                  "careless-test", "-o", str(out))  # fmt: skip
    one_clear_line(result, "judge 'careless-test'", "no scores", "scores")
    assert not out.exists()


def test_a_plugin_review_file_with_bad_scores_names_the_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "reviews.jsonl"
    good = {"kind": "length", "question_id": 1, "category": "conv", "model_id": "m",
            "scores": {"words": 3}}  # fmt: skip
    path.write_text(json.dumps(good) + "\n" + json.dumps(good | {"question_id": 2,
                    "scores": {"words": "many"}}) + "\n")  # fmt: skip
    with pytest.raises(kpit.DataError) as caught:
        load_reviews(path)
    assert (caught.value.file, caught.value.record, caught.value.field) == (str(path), "line 2",
                                                                             "scores")  # fmt: skip
    result = _run("bench", "report", str(path))
    one_clear_line(result, "line 2", "scores", "'many'")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(["length", "x"]) | st.text(max_size=6),
    question_id=_JSON,
    category=_JSON,
    scores=st.dictionaries(st.text(max_size=4), _JSON, max_size=3) | _JSON,
)
def test_any_plugin_record_loads_or_is_a_data_error(
    tmp_path_factory: pytest.TempPathFactory, kind: str, question_id: Any, category: Any,
    scores: Any
) -> None:  # fmt: skip
    path = tmp_path_factory.mktemp("fuzz") / "reviews.jsonl"
    record = {"kind": kind, "question_id": question_id, "category": category, "model_id": "m",
              "scores": scores}  # fmt: skip
    path.write_text(json.dumps(record) + "\n")
    try:
        loaded = load_reviews(path)
    except kpit.DataError as exc:
        assert exc.file == str(path)
        return
    if loaded.kind not in ("reference", "pairwise", "pose"):
        assert isinstance(loaded.reviews[0]["scores"], dict)


def test_finish_review_fills_in_the_judge_and_keeps_one_given() -> None:
    record = {"kind": "length", "question_id": 1, "category": "conv", "model_id": "m",
              "scores": {"words": 2}}  # fmt: skip
    assert finish_review(dict(record), "length", {"name": "length", "model": "v1"})["judge"] == {
        "name": "length", "model": "v1"}  # fmt: skip
    mine = record | {"judge": {"name": "mine"}}
    assert finish_review(dict(mine), "length", {"name": "length"})["judge"] == {"name": "mine"}
    with pytest.raises(kpit.ConfigError, match="not a finite number"):
        finish_review(record | {"scores": {"words": float("nan")}}, "length", {})
