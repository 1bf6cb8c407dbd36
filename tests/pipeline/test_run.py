"""The generation pipeline end to end: storing, resuming, failing, and being killed."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import kpit
import kpit.plugins
import kpit.prompts.tasks
from kpit.generators.base import FatalGeneratorError, GeneratorError
from kpit.generators.template import TemplateGenerator

from ..helpers.slow_run import SCRIPT as SLOW_RUN
from ..helpers.slow_run import contexts as slow_contexts
from ..helpers.waiting import HANG, count_lines, wait_for_exit, wait_for_lines

HERE = Path(__file__).resolve().parents[1]


@pytest.fixture
def contexts(sample_root: Path) -> kpit.CocoContexts:
    return kpit.load_coco(sample_root)


def _samples(run: kpit.Run) -> list[kpit.Sample]:
    """The run's samples without the time they were stored."""
    return [
        dataclasses.replace(s, meta={k: v for k, v in s.meta.items() if k != "created"})
        for s in run.samples()
    ]


def test_template_run_writes_samples_and_manifest(contexts, tmp_path: Path) -> None:
    run = kpit.generate(contexts, "all", "template", out=tmp_path / "run", progress=False)
    assert isinstance(run, kpit.Run)
    samples = _samples(run)
    assert Counter(s.task for s in samples) == {"conversation": 4, "detail": 4, "complex": 4}
    assert {s.id for s in samples} == {
        f"{t}/{i}/0" for t in ("conversation", "detail", "complex") for i in contexts.image_ids
    }
    for s in samples:
        assert s.turns[0].role == "human" and s.turns[1].role == "gpt"
        assert s.image.endswith(".jpg") and s.meta["model"] == "template-v1"
    detail = next(s for s in samples if s.task == "detail")
    assert detail.meta["instruction"] == detail.turns[0].text
    manifest = run.manifest
    assert manifest["generator"] == {
        "name": "template",
        "model": "template-v1",
        "options": {"seed": None, "min_confidence": 0.6},  # seed None: the run's seed
    }
    assert manifest["seed"] == 0 and manifest["kpit_version"] == kpit.__version__
    assert set(manifest["template_hashes"]) >= {
        "conversation/system.j2",
        "detail/instructions.json",
    }
    assert manifest["source"]["keypoints"].endswith("person_keypoints_val2017.json")
    assert manifest["last_session"]["samples"] == 12 and not manifest["last_session"]["interrupted"]


def test_the_same_run_twice_writes_the_same_data(contexts, tmp_path: Path) -> None:
    a = kpit.generate(contexts, "all", out=tmp_path / "a", progress=False, seed=3)
    b = kpit.generate(contexts, "all", out=tmp_path / "b", progress=False, seed=3)
    c = kpit.generate(contexts, "all", out=tmp_path / "c", progress=False, seed=4)
    key = lambda s: s.id  # noqa: E731
    assert sorted(_samples(a), key=key) == sorted(_samples(b), key=key)
    assert sorted(_samples(a), key=key) != sorted(_samples(c), key=key)


def test_rerun_resumes_and_adding_a_task_adds_only_it(contexts, tmp_path: Path) -> None:
    out = tmp_path / "run"
    kpit.generate(contexts, "detail", out=out, progress=False)
    run = kpit.generate(contexts, "detail,complex", out=out, progress=False)
    assert run.manifest["last_session"] == run.manifest["last_session"] | {
        "samples": 4,
        "skipped": 4,
    }
    assert run.manifest["tasks"] == ["complex", "detail"]
    assert len(_samples(run)) == 8
    with pytest.raises(kpit.ConfigError, match="seed") as info:
        kpit.generate(contexts, "detail", out=out, progress=False, seed=9)
    assert info.value.field == "seed"
    with pytest.raises(kpit.ConfigError, match="prompt"):
        kpit.generate(contexts, "detail", out=out, progress=False, style="compact")


def test_limit_dry_run_and_unknown_names(contexts, tmp_path: Path) -> None:
    plan = kpit.generate(contexts, "all", out=tmp_path / "run", dry_run=True, limit=2)
    assert isinstance(plan, kpit.DryRun)
    assert plan.total_requests == 6 and plan.requests["detail"] == 2
    assert plan.total_prompt_tokens > 6 * 1000  # system prompt + few-shot + context
    assert not (tmp_path / "run").exists()  # a dry run writes nothing
    kpit.generate(contexts, "detail", out=tmp_path / "run", limit=1, progress=False)
    plan = kpit.generate(contexts, "detail", out=tmp_path / "run", dry_run=True)
    assert (plan.total_requests, plan.skipped) == (3, 1)
    with pytest.raises(kpit.ConfigError, match=r"unknown task 'poses'; installed: .*conversation"):
        kpit.generate(contexts, "poses", out=tmp_path / "x")
    with pytest.raises(kpit.ConfigError, match="unknown generator 'gpt9'"):
        kpit.generate(contexts, "all", "gpt9", out=tmp_path / "x")


class Scripted(TemplateGenerator):
    """Replies by script: fail, garble, leak, or answer like the template generator.

    With ``gather``, the first replies wait until that many requests are in flight at once
    (an event, not a delay: how fast the requests are built does not matter).
    """

    name = "scripted"

    def __init__(
        self, script: dict[str, str], concurrency_seen: list[int] | None = None, gather: int = 0
    ) -> None:
        super().__init__()
        self.script = script
        self.calls: Counter[str] = Counter()
        self.in_flight = 0
        self.concurrency_seen = concurrency_seen if concurrency_seen is not None else []
        self.gather = gather
        self.gathered: asyncio.Event | None = None

    async def _wait_for_company(self) -> None:
        if self.gathered is None:
            self.gathered = asyncio.Event()
        if self.in_flight >= self.gather:
            self.gathered.set()
        await asyncio.wait_for(self.gathered.wait(), HANG)

    async def complete(self, request: kpit.ChatRequest) -> kpit.Reply:
        self.calls[request.key] += 1
        self.in_flight += 1
        self.concurrency_seen.append(self.in_flight)
        try:
            await asyncio.sleep(0.01)
            if self.gather:
                await self._wait_for_company()
            action = self.script.get(request.key, "ok")
            if action == "timeout":
                raise GeneratorError("the server took too long", record=request.key)
            if action == "crash":
                raise RuntimeError("a bug in the backend")
            if action == "fatal":
                raise FatalGeneratorError("invalid API key (401)")
            if action == "garbage":
                return kpit.Reply(request.key, text="lorem ipsum")
            if action == "leak":
                return kpit.Reply(
                    request.key,
                    text="Question:\nWhat?\nAnswer:\nThe keypoints "
                    "show the person is standing upright near the car.",
                )
            return self.write(request)
        finally:
            self.in_flight -= 1


def test_failures_are_recorded_with_reasons_and_retried_on_request(contexts, tmp_path) -> None:
    script = {
        "conversation/785/0": "timeout",
        "conversation/40083/0": "garbage",
        "conversation/196141/0": "leak",
        "conversation/197388/0": "crash",
    }
    backend = Scripted(script)
    out = tmp_path / "run"
    run = kpit.generate(contexts, "conversation,detail", backend, out=out, progress=False)
    reasons = {f["key"]: f["reason"] for f in run.open_failures()}
    assert reasons == {
        "conversation/785/0": "error",
        "conversation/40083/0": "parse",
        "conversation/196141/0": "quality:leak",
        "conversation/197388/0": "error",
    }
    failures = {f["key"]: f for f in run.failures()}
    assert failures["conversation/40083/0"]["reply"] == "lorem ipsum"  # kept for inspection
    assert "RuntimeError: a bug in the backend" in failures["conversation/197388/0"]["detail"]
    assert len(_samples(run)) == 4
    # a plain rerun leaves failures alone; --retry-failed sends exactly those again
    kpit.generate(contexts, "conversation,detail", Scripted(script), out=out, progress=False)
    fixed = Scripted({})
    run = kpit.generate(
        contexts, "conversation,detail", fixed, out=out, progress=False, retry_failed=True
    )
    assert set(fixed.calls) == set(script) and all(n == 1 for n in fixed.calls.values())
    assert run.open_failures() == [] and len(_samples(run)) == 8
    stats = kpit.run_stats(run)
    assert stats.samples == 8 and stats.failures == Counter()


def test_a_fatal_error_stops_the_run_keeping_finished_work(contexts, tmp_path: Path) -> None:
    backend = Scripted({"detail/196141/0": "fatal"})
    with pytest.raises(FatalGeneratorError, match="invalid API key"):
        kpit.generate(
            contexts, "detail", backend, out=tmp_path / "run", concurrency=1, progress=False
        )
    run = kpit.Run(tmp_path / "run")
    assert [s.id for s in run.samples()] == ["detail/785/0", "detail/40083/0"]
    assert run.manifest["last_session"]["interrupted"]
    assert "detail/197388/0" not in backend.calls  # stopped early, nothing burnt


def test_an_error_while_building_requests_is_raised(contexts, tmp_path: Path) -> None:
    """A task whose templates are missing stops the run with the error, not silently."""

    class NoTemplates(kpit.prompts.tasks.DetailTask):
        name = "no-templates"

    class Plugin:
        @kpit.hookimpl
        def kpit_register_tasks(self, register):  # type: ignore[no-untyped-def]
            register(NoTemplates)

    pm = kpit.plugins.get_plugin_manager()
    plugin = Plugin()
    pm.register(plugin)
    try:
        with pytest.raises(kpit.TemplateError, match=r"no-templates/system\.j2 not found"):
            kpit.generate(contexts, "no-templates", out=tmp_path / "run", progress=False)
    finally:
        pm.unregister(plugin)


def test_concurrency_is_bounded(tmp_path: Path) -> None:
    seen: list[int] = []
    kpit.generate(
        slow_contexts()[:12],
        "all",
        Scripted({}, seen, gather=3),
        out=tmp_path / "run",
        concurrency=3,
        progress=False,
        reply_retries=0,  # the repeated images give repeated answers: no asking again
    )
    assert max(seen) == 3 and len(seen) == 36


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_run_resumes_with_no_loss_and_no_duplicate(tmp_path: Path, how: int) -> None:
    out = tmp_path / "run"
    command = [sys.executable, str(SLOW_RUN), str(out)]
    env = os.environ | {"PYTHONPATH": str(HERE.parent)}
    # 20 requests are answered, the rest held: the signal lands while the run is unfinished
    process = subprocess.Popen([*command, "--hold-after", "20"], env=env, stderr=subprocess.PIPE)
    wait_for_lines(out / "samples.jsonl", 15, process=process)
    process.send_signal(how)
    stderr = wait_for_exit(process)
    stored = count_lines(out / "samples.jsonl")
    assert 15 <= stored < 120, "killed too late to test anything"
    if how == signal.SIGINT:
        # kpit.generate records the interruption, then lets KeyboardInterrupt go on up
        assert stderr.rstrip().endswith(b"KeyboardInterrupt")
        assert process.returncode == -signal.SIGINT
        assert json.loads((out / "manifest.json").read_text())["last_session"]["interrupted"]
    done = subprocess.run(command, env=env, capture_output=True, timeout=HANG, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    keys = [json.loads(line)["id"] for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 120  # 40 images x 3 tasks, each once
    session = json.loads((out / "manifest.json").read_text())["last_session"]
    assert session["skipped"] == stored and session["samples"] == 120 - stored


def test_the_readme_main_command(sample_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "demo"
    commands = [
        ["generate", str(sample_root), "--split", "val2017", "-o", str(run)],
        ["export", str(run), "--format", "llava", "-o", str(run / "llava.json")],
    ]
    for args in commands:
        done = subprocess.run(
            [sys.executable, "-m", "kpit", *args], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
    records = json.loads((run / "llava.json").read_text())
    assert len(records) == 12
    assert records[0]["conversations"][0]["value"].startswith("<image>\n")


def test_the_sync_api_works_inside_a_running_event_loop(sample_root: Path, tmp_path: Path) -> None:
    """In a notebook an event loop already runs: the sync functions must still work."""
    from kpit.bench import answer_bench, build_bench, judge_answers

    contexts = kpit.load_coco(sample_root, limit=1)

    async def notebook_cell() -> tuple[kpit.Run | kpit.DryRun, kpit.bench.Bench]:
        asyncio.get_running_loop()  # as in Jupyter
        run = kpit.generate(contexts, "detail", out=tmp_path / "run", progress=False)
        bench = build_bench(list(contexts), tmp_path / "bench", num_images=1)
        # Both reach their own checks of the input, not a "loop already running" error:
        with pytest.raises(kpit.DataError, match="no such image"):
            answer_bench(
                bench, tmp_path / "answers.jsonl", tmp_path, generator_options={"api_key": "k"}
            )
        with pytest.raises(kpit.DataError, match="no answer"):
            judge_answers(bench, {}, tmp_path / "reviews.jsonl")
        return run, bench

    run, bench = asyncio.run(notebook_cell())
    assert isinstance(run, kpit.Run) and len(list(run.samples())) == 1
    assert len(bench.questions) == 3


def test_no_public_function_shadows_its_own_module() -> None:
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(kpit.__path__, "kpit."):
        if not info.ispkg:
            continue
        package = importlib.import_module(info.name)
        submodules = {m.name for m in pkgutil.iter_modules(package.__path__)}
        assert not submodules & set(getattr(package, "__all__", ())), info.name
    top = {m.name for m in pkgutil.iter_modules(kpit.__path__)}
    assert not top & set(kpit.__all__)


def test_the_progress_bar_counts_resumed_work(
    sample_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contexts = kpit.load_coco(sample_root)
    kpit.generate(contexts, out=tmp_path / "run", limit=2, progress=False)
    run = kpit.generate(contexts, out=tmp_path / "run", progress=True)
    assert isinstance(run, kpit.Run)
    assert run.manifest["last_session"]["skipped"] == 6
    bar = capsys.readouterr().err.replace("\r", "\n").splitlines()
    assert any("12/12" in line for line in bar), bar[-3:]  # 6 resumed + 6 new, out of 12
