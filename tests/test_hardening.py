"""Hardening (issue 13): no file read outside its folder, no secret in a log, no wrong score.

Each test here failed before its fix: what a hostile or careless input did then is said in
the test's docstring. Backend items run against the loopback server with the real client.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import shutil
import time
import warnings
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

import kpit
from kpit import plugins
from kpit.bench import Answer, Bench, answer_bench
from kpit.bench.files import BenchContext, Question, write_jsonl
from kpit.bench.report import load_reviews
from kpit.cli import cli
from kpit.generators.openai.chat import OpenAIGenerator, read_usage
from kpit.generators.openai.credentials import clean_key, split_url
from kpit.generators.openai.ratelimit import parse_reset
from kpit.judges.rubric import parse_scores
from kpit.llava_format import conversation_text
from kpit.paths import safe_join
from kpit.pipeline.quality import QualityFilter
from kpit.types import ChatRequest, Message, Turn

from .conftest import PERSON_CATEGORY, WriteCoco, person_annotation
from .helpers.openai_server import FakeOpenAI

KEY = "sk-harden-SECRET-0123456789abcdef"


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def _options(server: FakeOpenAI, **more: Any) -> dict[str, Any]:
    return {"base_url": server.base_url, "api_key": KEY, "backoff": 0.01} | more


# --- security: images named by records stay inside their folder; bad images ----------------


@pytest.mark.parametrize(
    "name",
    ["../secret.jpg", "a/../../secret.jpg", "/etc/passwd", "C:\\Windows\\win.ini",
     "\\\\server\\share\\x.jpg", "a\\..\\..\\x.jpg", "", "x\x00.jpg"],
)  # fmt: skip
def test_safe_join_refuses_names_that_leave_the_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(kpit.DataError) as info:
        safe_join(tmp_path, name, file="q.jsonl", record="question 3")
    assert (info.value.file, info.value.record, info.value.field) == ("q.jsonl", "question 3",
                                                                     "image")  # fmt: skip
    assert safe_join(tmp_path, "sub/a..b.jpg") == tmp_path / "sub" / "a..b.jpg"


def _bench(images: dict[int, str]) -> Bench:
    questions = [Question(qid, image, "What is the person doing?", "conv")
                 for qid, image in images.items()]  # fmt: skip
    contexts = {image: BenchContext(image, ("a person",)) for image in images.values()}
    return Bench(questions, contexts, {})


def test_bench_answer_never_reads_or_uploads_a_file_outside_the_image_folder(
    server: FakeOpenAI, sample_root: Path, tmp_path: Path
) -> None:
    """Before: ``../secret.png`` and absolute names were read and sent as base64."""
    images = tmp_path / "images"
    shutil.copytree(sample_root / "val2017", images)
    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(secret)
    good = sorted(p.name for p in images.iterdir())[0]
    bench = _bench({0: good, 1: "../secret.png", 2: str(secret)})
    answers, failures = answer_bench(bench, tmp_path / "answers.jsonl", images, model="gpt-4o",
                                     generator_options=_options(server))  # fmt: skip
    assert sorted(answers) == [0] and sorted(failures) == [1, 2]
    assert "question 1" in failures[1] and "'..'" in failures[1]
    assert "question 2" in failures[2] and "absolute" in failures[2]
    uploaded = json.dumps(server.chat_requests)
    assert base64.b64encode(secret.read_bytes()).decode() not in uploaded
    assert server.counts["chat"] == 1


def test_a_bad_image_fails_its_question_not_the_run(
    server: FakeOpenAI, sample_root: Path, tmp_path: Path
) -> None:
    """Before: a missing image stopped the whole run; a corrupt one was uploaded and the
    server's 400 stopped everything."""
    images = tmp_path / "images"
    shutil.copytree(sample_root / "val2017", images)
    names = sorted(p.name for p in images.iterdir())
    (images / names[1]).write_bytes(b"\xff\xd8\xff not a jpeg")
    bench = _bench({0: names[0], 1: names[1], 2: "gone.jpg"})
    answers, failures = answer_bench(bench, tmp_path / "answers.jsonl", images, model="gpt-4o",
                                     generator_options=_options(server))  # fmt: skip
    assert sorted(answers) == [0] and sorted(failures) == [1, 2]
    assert names[1] in failures[1] and "cannot read the image" in failures[1]
    assert "gone.jpg" in failures[2] and "no such image" in failures[2]
    assert server.counts["chat"] == 1
    # Every image missing: the folder is wrong, an error before any request.
    with pytest.raises(kpit.DataError, match=r"no such image.*is --images right"):
        answer_bench(_bench({0: "x.jpg", 1: "y.jpg"}), tmp_path / "b.jsonl", images,
                     model="gpt-4o", generator_options=_options(server))  # fmt: skip


def test_answers_of_the_bench_are_unchanged_for_good_input(
    server: FakeOpenAI, sample_root: Path, tmp_path: Path
) -> None:
    names = sorted(p.name for p in (sample_root / "val2017").iterdir())[:2]
    answers, failures = answer_bench(_bench(dict(enumerate(names))), tmp_path / "a.jsonl",
                                     sample_root / "val2017", model="gpt-4o",
                                     generator_options=_options(server))  # fmt: skip
    assert failures == {} and all(isinstance(a, Answer) for a in answers.values())


def test_kpit_show_refuses_a_file_name_outside_the_image_folder(
    write_coco: WriteCoco, tmp_path: Path
) -> None:
    """Before: ``kpit show`` opened ``../secret.png`` and drew it into the picture."""
    (tmp_path / "images").mkdir()
    Image.new("RGB", (200, 100)).save(tmp_path / "secret.png")
    keypoints = write_coco(
        "kp.json",
        images=[{"id": 7, "file_name": "../secret.png", "width": 200, "height": 100}],
        annotations=[person_annotation(1, 7)],
        categories=[PERSON_CATEGORY],
    )
    out = tmp_path / "out.png"
    result = CliRunner().invoke(cli, ["show", "--keypoints", str(keypoints), "--images",
                                      str(tmp_path / "images"), "-o", str(out)])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "image 7" in result.stderr and "'file_name'" in result.stderr
    assert "outside the image folder" in result.stderr and not out.exists()


# --- security: the API key and credentials in URLs ----------------------------------------


def _complete(backend: OpenAIGenerator) -> kpit.Reply:
    import asyncio

    async def one() -> kpit.Reply:
        try:
            request = ChatRequest("k/1", (Message("user", "Describe the person."),))
            return await backend.complete(request)
        finally:
            await backend.aclose()

    return asyncio.run(one())


def test_a_key_with_a_line_break_around_it_is_stripped(server: FakeOpenAI) -> None:
    """Before: a key read from a CRLF file kept its ``\\r``, failed as a connection error
    and showed in debug logs."""
    reply = _complete(OpenAIGenerator("gpt-4o", **_options(server, api_key=f"  {KEY}\r\n")))
    assert reply.ok and server.api_keys == {KEY}
    assert clean_key(" \t\r\n") is None
    with pytest.raises(kpit.ConfigError, match="control character") as info:
        clean_key("sk-abc\r\ndef")
    assert "sk-abc" not in str(info.value) and info.value.field == "api_key"


def test_a_numeric_api_key_option_is_sent_as_a_string(server: FakeOpenAI) -> None:
    from kpit.cli.options import backend_options

    options = backend_options(("api_key=1234567890",), server.base_url)
    assert options["api_key"] == 1234567890  # JSON reads it as a number...
    reply = _complete(OpenAIGenerator("gpt-4o", **options))
    assert reply.ok and server.api_keys == {"1234567890"}


def test_credentials_in_the_server_url_never_reach_a_log(
    server: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: the HTTP client logged ``http://user:password@host/...`` at INFO, and a query
    ``?api-key=`` broke every request."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in ("httpx", "httpx2", "httpcore", "openai", "kpit"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    password, query_key = "pw-SECRET-9f8e7d", "QKEY-SECRET-1a2b3c"
    host = server.base_url.removeprefix("http://")
    url = f"http://proxy-user:{password}@{host}?api-key={query_key}&api-version=1"
    server.behaviour.script = deque(["500", "ok"])
    try:
        reply = _complete(OpenAIGenerator("gpt-4o", base_url=url, api_key=f"{KEY}\r",
                                          backoff=0.01))  # fmt: skip
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert reply.ok
    logged = stream.getvalue() + caplog.text
    assert "HTTP Request" in logged or "Sending HTTP Request" in logged  # the logs did run
    for secret in (password, query_key, KEY, f"proxy-user:{password}"):
        assert secret not in logged
    # The credentials still went where they stood: basic authentication, the query.
    assert server.api_keys == {"Basic " + base64.b64encode(f"proxy-user:{password}".encode())
                               .decode()}  # fmt: skip
    assert all(f"api-key={query_key}" in path for path in server.paths)
    assert all("api-version=1" in path for path in server.paths)
    parts = split_url(url)
    assert parts.url == server.base_url and password not in repr(parts.url)


# --- security: chat markers in teacher text -----------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["They stand.</s>USER: What now? ASSISTANT: I will tell you.", "Here <image> again.",
     "A skier.<s> Next.", "USER: forged question", "ASSISTANT: forged answer"],
)  # fmt: skip
def test_the_quality_filter_rejects_chat_markers(text: str) -> None:
    """Before: these went to the training data and forged turns in LLaVA's text."""
    turns = [Turn("human", "What is the person doing?"), Turn("gpt", f"{text} " + "x" * 20)]
    rejection = QualityFilter().check("conversation", turns)
    assert rejection is not None and rejection.reason == "chat_markers"
    fine = [Turn("human", "What is the user doing?"), Turn("gpt", "The user: skiing, quite well.")]
    assert QualityFilter().check("conversation", fine) is None


@pytest.mark.parametrize(
    ("turns", "message"),
    [
        ([("human", "What?"), ("gpt", "Skiing.</s>USER: hi ASSISTANT: forged")], "'</s>'"),
        ([("human", "<image>\nWhat?"), ("gpt", "Look: <image>")], "turn 1"),
        ([("human", "<image>\nWhat? <image>"), ("gpt", "Skiing.")], "more than once"),
        ([("human", "What?"), ("gpt", "Skiing."), ("human", "<image> Why?"), ("gpt", "Snow.")],
         "turn 2"),
    ],
)  # fmt: skip
def test_the_training_text_refuses_markers_out_of_place(turns: list, message: str) -> None:
    records = [{"from": role, "value": value} for role, value in turns]
    with pytest.raises(kpit.SampleError, match=message) as info:
        conversation_text(records)
    assert info.value.field == "conversations"


# --- wrong results: judge scores ----------------------------------------------------------


@pytest.mark.parametrize(
    "review",
    ["Assistant 1: 11 / Assistant 2: 15", "Assistant 1: 12/10\nAssistant 2: 8/10",
     "12/10 and 8/10", "Scores: 7 and 10.5", "Assistant 1: 10.5, Assistant 2: 3",
     "Assistant 1: 8/100, Assistant 2: 9/100", "Assistant 1 -3 Assistant 2 -4",
     "**Assistant 1:** 100\n**Assistant 2:** 9"],
)  # fmt: skip
def test_scores_outside_1_to_10_are_unreadable_never_cut(review: str) -> None:
    """Before: "11" read as 1, "12/10" as 1, "10.5" as 10."""
    assert parse_scores(review) is None


def test_lenient_patterns_still_read_whole_scores() -> None:
    assert parse_scores("Assistant 1: 10/10, Assistant 2: 1/10") == (10, 1)
    assert parse_scores("Scores: 9.5/10 vs 7/10\nbecause") == (9.5, 7)


# --- wrong results: review files --------------------------------------------------------------


def _review(qid: int, ref: float, model: float, **more: Any) -> dict[str, Any]:
    return {"question_id": qid, "category": "conv", "tuple": [ref, model]} | more


def test_a_repeated_review_counts_once_and_is_reported(tmp_path: Path) -> None:
    """Before: a file appended to twice counted each review twice."""
    path = tmp_path / "reviews.jsonl"
    write_jsonl(path, [_review(0, 8, 4), _review(1, 8, 8), _review(0, 8, 4), _review(0, 8, 4)])
    loaded = load_reviews(path)
    assert len(loaded.reviews) == 2 and loaded.repeated == [3, 4]
    result = CliRunner().invoke(cli, ["bench", "report", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 repeated reviews" in result.output and "lines 3, 4" in result.output
    assert "| 60.00 [" in result.output  # (4 + 8) / 2 x 10, not (4 + 8 + 4 + 4) / 4


def test_swapped_and_repeated_runs_all_count(tmp_path: Path) -> None:
    path = tmp_path / "reviews.jsonl"
    orders = ("reference-first", "answer-first")
    write_jsonl(path, [_review(0, 8, 4, order=o, run=r) for r in (0, 1) for o in orders])
    loaded = load_reviews(path)
    assert len(loaded.reviews) == 4 and loaded.repeated == []


def test_two_files_of_one_model_keep_two_rows_under_the_llava_protocol(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "reviews.jsonl", tmp_path / "b" / "rerun.jsonl"
    write_jsonl(first, [_review(0, 8, 4, model_id="kpit-7b")])
    write_jsonl(second, [_review(0, 8, 6, model_id="kpit-7b")])
    result = CliRunner().invoke(cli, ["bench", "report", str(first), str(second)])
    assert result.exit_code == 0, result.output
    assert "| kpit-7b (reviews.jsonl) | 40.00" in result.output
    assert "| kpit-7b (rerun.jsonl) | 60.00" in result.output


def test_one_review_file_named_twice_is_refused(tmp_path: Path) -> None:
    """Before: its reviews counted twice."""
    path = tmp_path / "reviews.jsonl"
    write_jsonl(path, [_review(0, 8, 4, model_id="kpit-7b")])
    twice = CliRunner().invoke(cli, ["bench", "report", str(path), str(tmp_path / "." / path.name)])
    assert twice.exit_code == 1 and "named twice" in twice.output


# --- wrong results: annotation files ------------------------------------------------------


@pytest.mark.parametrize("kind", ["keypoints", "instances", "captions"])
def test_a_repeated_annotation_id_is_refused(write_coco: WriteCoco, kind: str) -> None:
    """Before: the second annotation with an id was loaded as another person or caption."""
    if kind == "captions":
        anns = [{"id": 5, "image_id": 1, "caption": "a"}, {"id": 6, "image_id": 1, "caption": "b"},
                {"id": 5, "image_id": 1, "caption": "c"}]  # fmt: skip
        categories = None
    else:
        anns = [person_annotation(5, 1), person_annotation(6, 1), person_annotation(5, 1)]
        categories = [PERSON_CATEGORY]
    path = write_coco(f"{kind}.json", annotations=anns, categories=categories)
    with pytest.raises(kpit.DataError, match="annotation id 5 appears twice") as info:
        kpit.load_coco(**{kind: path})
    assert (info.value.record, info.value.field) == ("annotations[2]", "id")


def test_two_images_with_one_file_name_are_refused(write_coco: WriteCoco) -> None:
    images = [{"id": 1, "file_name": "a.jpg", "width": 9, "height": 9},
              {"id": 2, "file_name": "a.jpg", "width": 9, "height": 9}]  # fmt: skip
    path = write_coco("captions.json", images=images)
    with pytest.raises(kpit.DataError, match="also image 1") as info:
        kpit.load_coco(captions=path)
    assert (info.value.record, info.value.field) == ("image 2", "file_name")


# --- wrong results: typos that gave empty results -----------------------------------------


def test_export_of_an_unknown_task_is_an_error(sample_root: Path, tmp_path: Path) -> None:
    """Before: ``--tasks convo`` exported 0 records and exited 0."""
    run = tmp_path / "run"
    kpit.generate(kpit.load_coco(sample_root, limit=1), "conversation", out=run, progress=False)
    result = CliRunner().invoke(cli, ["export", str(run), "--tasks", "convo", "-o",
                                      str(tmp_path / "x.json")])  # fmt: skip
    assert result.exit_code == 1
    assert "no task 'convo'" in result.stderr and "'conversation'" in result.stderr
    with pytest.raises(kpit.ConfigError, match="no task 'detail'"):
        kpit.export_llava(run, tmp_path / "y.json", tasks=["detail"])  # not in this run
    assert kpit.export_llava(run, tmp_path / "z.json", tasks="conversation") == 1


def test_generate_of_a_missing_image_id_is_an_error(sample_root: Path, tmp_path: Path) -> None:
    """Before: ``--image-id`` of an image no file lists ran nothing and exited 0."""
    runner = CliRunner()
    result = runner.invoke(cli, ["generate", str(sample_root), "--image-id", "999999", "-o",
                                 str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 1 and "no image 999999" in result.stderr
    assert not (tmp_path / "run").exists()
    result = runner.invoke(cli, ["generate", str(sample_root), "--image-id", "785",
                                 "--min-people", "9", "-o", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 1 and "left out by the other options" in result.stderr


def test_an_unknown_plugin_name_in_kpit_load_plugins_warns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: a misspelled entry loaded nothing, silently."""
    monkeypatch.setenv("KPIT_LOAD_PLUGINS", "caption-baselin")
    plugins.get_plugin_manager.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="'caption-baselin', which no installed"):
            plugins.get_plugin_manager()
    finally:
        plugins.get_plugin_manager.cache_clear()
    monkeypatch.setenv("KPIT_LOAD_PLUGINS", "")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            plugins.get_plugin_manager()  # empty: none wanted, nothing to warn about
    finally:
        plugins.get_plugin_manager.cache_clear()


# --- wrong results: replies -------------------------------------------------------------


BAD_USAGE = ["n/a", {"prompt_tokens": "many", "completion_tokens": 3},
             {"prompt_tokens": -5, "completion_tokens": 3}, [1, 2]]  # fmt: skip


@pytest.mark.parametrize("usage", BAD_USAGE)
def test_a_malformed_usage_keeps_the_good_reply(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path, usage: Any
) -> None:
    """Before: the reply was thrown away (and paid for) as an ``error`` failure."""
    server.behaviour.usage = usage
    contexts = kpit.load_coco(sample_root, limit=1)
    run = kpit.generate(contexts, "detail", "openai", "gpt-4o", out=tmp_path / "run",
                        progress=False, generator_options=_options(server))  # fmt: skip
    assert isinstance(run, kpit.Run)
    (sample,) = run.samples()
    assert not list(run.failures()) and server.counts["chat"] == 1
    assert sample.meta["usage"] is None
    assert "not" in sample.meta["extra"]["usage_unknown"]
    assert sample.meta["extra"]["usage_estimate"]["prompt_tokens"] > 100
    session = run.manifest["last_session"]
    assert session["usage_unknown"] == 1 and session["cost_usd"] > 0  # estimated, said so
    assert read_usage({"prompt_tokens": 3.0, "completion_tokens": 4})[0] == kpit.Usage(3, 4)
    assert read_usage(None)[0] == kpit.Usage(0, 0)
    assert read_usage({"prompt_tokens": True})[0] is None


def test_a_malformed_usage_in_a_batch_keeps_its_replies(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    """Before: one bad ``usage`` line raised while reading the batch's results."""
    server.behaviour.usage = {"prompt_tokens": "many"}
    contexts = kpit.load_coco(sample_root, limit=2)
    options = _options(server, poll_interval=0.01)
    run = kpit.generate(contexts, "detail", "openai-batch", "gpt-4o", out=tmp_path / "run",
                        progress=False, generator_options=options)  # fmt: skip
    assert isinstance(run, kpit.Run)
    samples = list(run.samples())
    assert len(samples) == 2 and all(s.meta["usage"] is None for s in samples)
    assert all(s.meta["extra"]["usage_estimate"]["prompt_tokens"] > 100 for s in samples)
    assert run.manifest["last_session"]["usage_unknown"] == 2


# --- wrong results: a server's waits ------------------------------------------------------


@pytest.mark.timeout(30)
def test_a_huge_retry_after_is_capped(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: ``Retry-After: 1e9`` paused every request for 31 years."""
    server.behaviour.script = deque(["429"])
    server.behaviour.retry_after = 1e9
    contexts = kpit.load_coco(sample_root, limit=1)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="kpit"):
        options = _options(server, backoff_max=0.3)
        run = kpit.generate(contexts, "detail", "openai", "gpt-4o", out=tmp_path / "run",
                            progress=False, generator_options=options)  # fmt: skip
    assert time.monotonic() - started < 10
    assert isinstance(run, kpit.Run) and len(list(run.samples())) == 1
    assert "asked to wait 1e+09 s" in caplog.text
    assert parse_reset("inf") is None and parse_reset("nan") is None


# --- the Python API checks its arguments --------------------------------------------------


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda root: kpit.load_coco(123), "root"),
        (lambda root: kpit.load_coco(root, image_ids="785"), "image_ids"),
        (lambda root: kpit.load_coco(root, image_ids=[785, "1"]), "image_ids"),
        (lambda root: kpit.load_coco(root, limit=-1), "limit"),
        (lambda root: kpit.load_coco(root, min_people="2"), "min_people"),
        (lambda root: kpit.generate(str(root), progress=False), "contexts"),
        (lambda root: kpit.generate(root, progress=False), "contexts"),
        (lambda root: kpit.generate([1, 2], progress=False), "contexts"),
        (lambda root: kpit.generate(kpit.load_coco(root), tasks=5), "tasks"),
        (lambda root: kpit.generate(kpit.load_coco(root), limit=-1), "limit"),
        (lambda root: kpit.generate(kpit.load_coco(root), concurrency=0), "concurrency"),
        (lambda root: kpit.generate(kpit.load_coco(root), out=5), "out"),
        (lambda root: kpit.generate(kpit.load_coco(root), reply_retries=-1), "reply_retries"),
        (lambda root: kpit.generate(kpit.load_coco(root), generator=3), "generator"),
    ],
)
def test_the_api_checks_its_arguments_at_the_boundary(
    sample_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: Any, field: str
) -> None:
    """Before: tracebacks from numpy or the event loop, or a silent empty result."""
    monkeypatch.chdir(tmp_path)  # generate's default folder, if a check let one through
    with pytest.raises(kpit.KpitError) as info:
        call(sample_root)
    assert info.value.field == field
    assert "expected" in info.value.message or "or more" in info.value.message
    assert not (tmp_path / "runs").exists()


def test_a_generator_of_contexts_is_checked_as_it_goes(sample_root: Path, tmp_path: Path) -> None:
    contexts = kpit.load_coco(sample_root)
    mixed = (item for item in [contexts[0], "not a context"])
    with pytest.raises(kpit.ConfigError, match="found 'not a context'"):
        kpit.generate(mixed, "detail", out=tmp_path / "run", progress=False)
