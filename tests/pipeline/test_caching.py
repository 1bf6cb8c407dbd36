"""Prompt caching: cached tokens read from every reply, stored, priced, budgeted, shown, and
estimated by the dry run; against a real HTTP server on 127.0.0.1 that reports
``prompt_tokens_details.cached_tokens`` as OpenAI's prompt cache would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bpe_openai
import pytest
from click.testing import CliRunner

import kpit
from kpit.cli import cli
from kpit.generators.openai.chat import read_usage
from kpit.generators.openai.pricing import (
    CACHE_INCREMENT,
    CACHE_MIN_TOKENS,
    batch_price,
    cacheable_tokens,
    parse_price,
    price_for,
)
from kpit.pipeline.plan import DryRun
from kpit.pipeline.setup import resolve_tasks
from kpit.plugins import resolve_recipe
from kpit.prompts.tokens import MESSAGE_OVERHEAD, common_prefix_tokens, count_message_tokens
from kpit.types import Message

from ..helpers.openai_server import FakeOpenAI

KEY = "sk-kpit-cache-0123456789abcdef"


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        fake.behaviour.prompt_cache = True
        yield fake


@pytest.fixture
def contexts(sample_root: Path) -> kpit.CocoContexts:
    return kpit.load_coco(sample_root)


def run(contexts: Any, server: FakeOpenAI, out: Path, *, generator: str = "openai",
        model: str = "gpt-4o", tasks: str = "all", **options: Any) -> kpit.Run:  # fmt: skip
    settings = {"base_url": server.base_url, "api_key": KEY, "backoff": 0.01,
                "poll_interval": 0.01} if generator == "openai-batch" else {
                "base_url": server.base_url, "api_key": KEY, "backoff": 0.01}  # fmt: skip
    result = kpit.generate(contexts, tasks, generator, model, out=out, progress=False,
                           concurrency=1, generator_options=settings | options)  # fmt: skip
    assert isinstance(result, kpit.Run)
    return result


def usages(result: kpit.Run) -> list[dict[str, int]]:
    """The samples' usage records, in the order they were stored."""
    return [s.meta["usage"] for s in result.samples()]


def priced(usage: dict[str, int], input_: float, cached: float, output: float) -> float:
    """Dollars for one usage record, computed here from the rates."""
    uncached = usage["prompt_tokens"] - usage["cached_tokens"]
    return (uncached * input_ + usage["cached_tokens"] * cached
            + usage["completion_tokens"] * output) / 1e6  # fmt: skip


# --- a run: stored, totalled, priced, shown ---------------------------------------------------


def test_cached_tokens_are_stored_priced_and_shown(contexts, server: FakeOpenAI,
                                                    tmp_path: Path) -> None:  # fmt: skip
    result = run(contexts, server, tmp_path / "run")
    samples = list(result.samples())
    assert len(samples) == 12 and not list(result.failures())
    first_of_task = {}
    for sample in samples:
        first_of_task.setdefault(sample.task, sample.meta["usage"])
    for sample in samples:
        usage = sample.meta["usage"]
        if usage is first_of_task[sample.task]:
            assert usage["cached_tokens"] == 0  # the first of a task finds nothing cached
        else:  # the system prompt and the example, from the cache, as OpenAI counts it
            assert usage["cached_tokens"] >= CACHE_MIN_TOKENS
            assert usage["cached_tokens"] % CACHE_INCREMENT == 0
            assert usage["cached_tokens"] < usage["prompt_tokens"]
    records = usages(result)
    cached = sum(u["cached_tokens"] for u in records)
    prompt = sum(u["prompt_tokens"] for u in records)
    assert cached > 0
    session = result.manifest["last_session"]
    assert session["cached_tokens"] == cached == result.manifest["totals"]["cached_tokens"]
    assert session["cached_share"] == pytest.approx(cached / prompt, abs=1e-4)
    assert session["cost_usd"] == pytest.approx(sum(priced(u, 2.5, 1.25, 10) for u in records),
                                                abs=1e-6)  # fmt: skip
    assert session["cache_saved_usd"] == pytest.approx(cached * 1.25 / 1e6, abs=1e-6)
    assert result.manifest["generator"]["price_per_million"]["cached_input"] == 1.25

    stats = kpit.run_stats(result)
    assert stats.cached_tokens == cached and stats.prompt_tokens == prompt
    assert stats.cache_saved_usd == pytest.approx(cached * 1.25 / 1e6)
    shown = CliRunner().invoke(cli, ["stats", str(result.folder)])
    assert shown.exit_code == 0, shown.output
    line = next(x for x in shown.output.splitlines() if x.startswith("cached prompt tokens"))
    saved = f"saved ${cached * 1.25 / 1e6:,.2f} ($1.25 instead of $2.5 per million)"
    share = f"({cached / prompt:.1%})"
    assert line == f"cached prompt tokens: {cached:,} of {prompt:,} {share}; {saved}"
    detail = sum(u["cached_tokens"] for s, u in zip(samples, records, strict=True)
                 if s.task == "detail")  # fmt: skip
    row = next(x for x in shown.output.splitlines() if x.startswith("detail"))
    assert f"{detail:,}" in row.split()


def test_the_budget_counts_cached_tokens_at_their_rate(contexts, server: FakeOpenAI,
                                                       tmp_path: Path) -> None:  # fmt: skip
    budget = 10.0  # a request is sent only if what it is likely to cost still fits
    prices = {"gpt-4o": [1000.0, 1000.0, 0.0]}  # cached tokens free, the rest $1,000 a million
    result = run(contexts, server, tmp_path / "run", max_cost=budget, prices=prices,
                 max_tokens=100)  # fmt: skip
    session = result.manifest["last_session"]
    assert session["stopped"].startswith(f"the budget of ${budget:.2f} is spent")
    spent = [priced(u, 1000, 0, 1000) for u in usages(result)]
    full = [priced(u | {"cached_tokens": 0}, 1000, 0, 1000) for u in usages(result)]
    assert session["cost_usd"] == pytest.approx(sum(spent), abs=1e-6)  # cached at their rate
    assert sum(spent) <= budget < sum(full)  # stopped at the right money, never past it
    assert len(spent) == server.counts["chat"] < 12


def test_batch_mode_reads_and_prices_cached_tokens(contexts, server: FakeOpenAI,
                                                   tmp_path: Path) -> None:  # fmt: skip
    result = run(contexts, server, tmp_path / "gpt-4o", generator="openai-batch")
    records = usages(result)
    assert len(records) == 12 and sum(u["cached_tokens"] for u in records) > 0
    session = result.manifest["last_session"]
    # gpt-4o through the Batch API: no caching discount, cached tokens at the batch input rate
    assert result.manifest["generator"]["price_per_million"] == {
        "input": 1.25, "output": 5.0, "cached_input": None}  # fmt: skip
    assert session["cost_usd"] == pytest.approx(sum(priced(u, 1.25, 1.25, 5) for u in records),
                                                abs=1e-6)  # fmt: skip
    assert session["cache_saved_usd"] == 0
    # a GPT-5 model: both discounts
    server.prompts.clear()
    prices = {"gpt-5-mini": [250.0, 2000.0, 25.0]}  # a thousand times the list price
    result = run(contexts, server, tmp_path / "gpt-5", generator="openai-batch",
                 model="gpt-5-mini", prices=prices)  # fmt: skip
    records = usages(result)
    cached = sum(u["cached_tokens"] for u in records)
    session = result.manifest["last_session"]
    assert cached > 0 and session["cached_tokens"] == cached
    expected = sum(priced(u, 125, 12.5, 1000) for u in records)
    assert session["cost_usd"] == pytest.approx(expected, abs=1e-6)
    assert session["cache_saved_usd"] == pytest.approx(cached * (125 - 12.5) / 1e6, abs=1e-6)


# --- replies that say nothing, or nonsense ----------------------------------------------------


@pytest.mark.parametrize(
    ("details", "fault"),
    [
        (None, None),
        ({}, None),
        ({"cached_tokens": None}, None),
        ("lots", "prompt_tokens_details is str"),
        ({"cached_tokens": "lots"}, "cached_tokens is 'lots'"),
        ({"cached_tokens": -128}, "cached_tokens is '-128'"),
        ({"cached_tokens": True}, "cached_tokens is 'True'"),
        ({"cached_tokens": 10**9}, "is more than prompt_tokens"),
    ],
)
def test_a_missing_or_malformed_cached_count_keeps_the_reply(
    sample_root: Path, server: FakeOpenAI, tmp_path: Path, details: Any, fault: str | None
) -> None:
    server.behaviour.details = details
    result = run(kpit.load_coco(sample_root, limit=2), server, tmp_path / "run", tasks="detail")
    samples = list(result.samples())
    assert len(samples) == 2 and not list(result.failures())
    for sample in samples:
        usage = sample.meta["usage"]
        assert usage["cached_tokens"] == 0 and usage["prompt_tokens"] > 1000
        extra = sample.meta.get("extra", {})
        if fault is None:
            assert "cached_unknown" not in extra
        else:
            assert fault in extra["cached_unknown"]
    session = result.manifest["last_session"]
    assert session["cached_unknown"] == (0 if fault is None else 2)
    assert session["cost_usd"] == pytest.approx(
        sum(priced(u, 2.5, 1.25, 10) for u in usages(result)), abs=1e-6)  # fmt: skip


def test_a_server_without_prompt_tokens_details(sample_root: Path, server: FakeOpenAI,
                                                tmp_path: Path) -> None:  # fmt: skip
    server.behaviour.usage = {"prompt_tokens": 2000, "completion_tokens": 100}  # as vLLM
    result = run(kpit.load_coco(sample_root, limit=1), server, tmp_path / "run", tasks="detail")
    (sample,) = result.samples()
    assert sample.meta["usage"] == {"prompt_tokens": 2000, "completion_tokens": 100,
                                    "cached_tokens": 0}  # fmt: skip
    assert read_usage({"prompt_tokens": 5, "completion_tokens": 1,
                       "prompt_tokens_details": {"cached_tokens": 4.0}}) == (
        kpit.Usage(5, 1, 4), "")  # fmt: skip


def test_runs_written_before_cached_tokens_still_read_and_resume(
    contexts, sample_root: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    run(kpit.load_coco(sample_root, limit=2), server, out)
    # as kpit wrote it before: no cached_tokens in the usage, the totals or the price
    lines = (out / "samples.jsonl").read_text().splitlines()
    old = []
    for line in lines:
        record = json.loads(line)
        record["meta"]["usage"].pop("cached_tokens")
        old.append(json.dumps(record))
    (out / "samples.jsonl").write_text("\n".join(old) + "\n")
    manifest = json.loads((out / "manifest.json").read_text())
    for figures in (manifest["last_session"], manifest["totals"], *manifest["sessions"]):
        for key in ("cached_tokens", "cached_share", "cache_saved_usd", "cached_unknown"):
            figures.pop(key, None)
    manifest["generator"]["price_per_million"].pop("cached_input")
    (out / "manifest.json").write_text(json.dumps(manifest))

    stats = kpit.run_stats(out)
    assert stats.cached_tokens == 0 and stats.prompt_tokens > 0
    assert "saved $0.00 (the run's price has no cached rate)" in stats.to_text()
    result = run(contexts, server, out)  # resumed: the other 6 requests
    assert len(list(result.samples())) == 12
    new = [s.meta["usage"] for s in result.samples()][6:]
    totals = result.manifest["totals"]
    assert totals["cached_tokens"] == sum(u["cached_tokens"] for u in new) > 0
    assert totals["prompt_tokens"] == sum(s.meta["usage"]["prompt_tokens"]
                                          for s in result.samples())  # fmt: skip
    assert totals["cached_share"] == pytest.approx(
        totals["cached_tokens"] / totals["prompt_tokens"], abs=1e-4)  # fmt: skip
    assert kpit.run_stats(out).cached_tokens == totals["cached_tokens"]


# --- prices -----------------------------------------------------------------------------------


def test_prices_and_the_cache_rules() -> None:
    assert price_for("gpt-4o") == kpit.Price(2.5, 10.0, 1.25)
    assert price_for("gpt-4o-2024-08-06") == kpit.Price(2.5, 10.0, 1.25)
    assert price_for("gpt-4o-2024-05-13") == kpit.Price(5.0, 15.0)  # its own price, no cache
    assert price_for("gpt-4.1-mini-2025-04-14") == kpit.Price(0.4, 1.6, 0.1)
    price = kpit.Price(2.0, 8.0, 0.5)
    assert price.cost(3000, 100, 2048) == pytest.approx((952 * 2 + 2048 * 0.5 + 100 * 8) / 1e6)
    assert price.saving(2048) == pytest.approx(2048 * 1.5 / 1e6)
    assert kpit.Price(30, 60).cost(3000, 0, 2048) == kpit.Price(30, 60).cost(3000, 0)
    assert kpit.Price(30, 60).saving(2048) == 0
    assert parse_price("m=1,2,0.5") == ("m", kpit.Price(1, 2, 0.5))
    assert parse_price("m=1,2") == ("m", kpit.Price(1, 2))
    for bad in ("m=1", "m=1,2,3,4", "m=1,-2"):
        with pytest.raises(ValueError):
            parse_price(bad)
    assert batch_price(kpit.Price(2.5, 10, 1.25), "gpt-4o") == kpit.Price(1.25, 5)
    assert batch_price(kpit.Price(1.25, 10, 0.125), "gpt-5") == kpit.Price(0.625, 5, 0.0625)
    assert [cacheable_tokens(n) for n in (0, 1023, 1024, 1151, 1152, 2207)] == [
        0, 0, 1024, 1024, 1152, 2176]  # fmt: skip


def test_a_price_carries_its_provider_s_caching_rule() -> None:
    """OpenAI's rule by default; another provider's price says its own, and the dry run's
    estimate follows the backend's price (OpenAI's rule when the price is unknown)."""
    openai = kpit.Price(2.5, 10, 1.25)
    assert (openai.cache_min_tokens, openai.cache_increment) == (CACHE_MIN_TOKENS, CACHE_INCREMENT)
    assert [openai.cacheable_tokens(n) for n in (0, 1023, 1024, 2207)] == [
        cacheable_tokens(n) for n in (0, 1023, 1024, 2207)]  # fmt: skip
    other = kpit.Price(1, 2, 0.5, cache_min_tokens=2048, cache_increment=256)
    assert [other.cacheable_tokens(n) for n in (1024, 2047, 2048, 2303, 2304)] == [
        0, 0, 2048, 2048, 2304]  # fmt: skip
    # what a manifest records, and how a price shows, leave the rule out
    assert repr(openai) == "Price(input=2.5, output=10, cached_input=1.25)"
    assert other.to_dict() == {"input": 1, "output": 2, "cached_input": 0.5}
    assert batch_price(other, "gpt-5").cacheable_tokens(2303) == 2048
    for price, per_request in ((openai, 2176), (other, 2048), (None, 2176)):
        plan = DryRun(price=price, prefix_tokens={"detail": 2300})
        plan.requests["detail"] = 3
        assert plan.cached_per_request("detail") == per_request
        assert plan.cached_tokens() == 2 * per_request


def test_a_price_with_a_cached_rate_from_the_command_line(sample_root: Path, server: FakeOpenAI,
                                                           tmp_path: Path) -> None:  # fmt: skip
    out = tmp_path / "run"
    done = CliRunner().invoke(cli, [
        "generate", str(sample_root), "--generator", "openai", "--model", "my-model",
        "--base-url", server.base_url, "--price", "my-model=4,8,1", "-O", f"api_key={KEY}",
        "-o", str(out), "--concurrency", "1", "--no-progress"])  # fmt: skip
    assert done.exit_code == 0, done.output
    result = kpit.Run(out)
    records = usages(result)
    assert sum(u["cached_tokens"] for u in records) > 0
    assert result.manifest["last_session"]["cost_usd"] == pytest.approx(
        sum(priced(u, 4, 1, 8) for u in records), abs=1e-6)  # fmt: skip
    assert (
        "cached prompt tokens:" in done.output and "($1 instead of $4 per million)" in done.output
    )


# --- the dry run's estimate -------------------------------------------------------------------


def rendered(messages: tuple[Message, ...]) -> list[object]:
    """A request as the tokens the model reads, rendered here: each message's header (its
    role), its text's o200k tokens, and a closing token."""
    encoding = bpe_openai.get_encoding("o200k_base")
    tokens: list[object] = []
    for message in messages:
        tokens += [("header", message.role)] * (MESSAGE_OVERHEAD - 1)
        tokens += list(encoding.encode(message.content))
        tokens.append("end")
    return tokens


def common_prefix(sequences: list[list[object]]) -> int:
    first = sequences[0]
    length = len(first)
    for other in sequences[1:]:
        n = 0
        while n < min(length, len(other)) and first[n] == other[n]:
            n += 1
        length = n
    return length


@pytest.mark.parametrize("recipe", ["kpit", "paper"])
def test_the_dry_run_estimates_caching(contexts, tmp_path: Path, recipe: str) -> None:
    plan = kpit.plan_run(contexts, "all", "openai", "gpt-4o", out=tmp_path / "run",
                         recipe=recipe, generator_options={"api_key": KEY})  # fmt: skip
    price = plan.price
    assert price is not None
    saved = 0.0
    options = resolve_recipe(recipe).prompt_options()
    for task in resolve_tasks("all", recipe):
        requests = [task.build(ctx, key=f"{task.name}/{ctx.image_id}/0", seed=0,
                               options=options).messages for ctx in contexts]  # fmt: skip
        shared = common_prefix([rendered(r) for r in requests])
        assert plan.prefix_tokens[task.name] == shared
        # the prompt tokens, counted along with the prefix, as each request counts alone:
        assert plan.prompt_tokens[task.name] == sum(count_message_tokens(r) for r in requests)
        assert common_prefix_tokens(requests[0], requests[1]) == common_prefix(
            [rendered(requests[0]), rendered(requests[1])])  # fmt: skip
        per_request = shared // 128 * 128 if shared >= 1024 else 0
        assert plan.cached_per_request(task.name) == per_request
        cached = per_request * (len(requests) - 1)
        assert plan.cached_tokens(task.name) == cached
        expected = ((plan.prompt_tokens[task.name] - cached) * 2.5 + cached * 1.25
                    + plan.completion_tokens[task.name] * 10) / 1e6  # fmt: skip
        assert plan.cost(task.name, caching=True) == pytest.approx(expected)
        saved += cached * 1.25 / 1e6
    assert plan.saving() == pytest.approx(saved)
    assert plan.cost() - plan.cost(caching=True) == pytest.approx(saved)
    job = plan.scaled(56_599)  # the paper's job, extrapolated from the sample
    for task in plan.requests:
        assert job.requests[task] == 56_599
        assert job.prompt_tokens[task] == round(plan.tokens_per_request(task) * 56_599)
        assert job.cached_tokens(task) == plan.cached_per_request(task) * 56_598
    if recipe == "kpit":  # the system prompt and the example: over 1,024 tokens
        assert all(plan.cached_per_request(t) >= 1024 for t in plan.requests)
    else:  # the paper's system prompts alone are the same in every request: too short
        assert plan.cached_tokens() == 0 and plan.cost(caching=True) == plan.cost()


def test_the_dry_run_prints_both_estimates(sample_root: Path, tmp_path: Path) -> None:
    args = ["generate", str(sample_root), "--generator", "openai", "--model", "gpt-4o",
            "-o", str(tmp_path / "run"), "--dry-run"]  # fmt: skip
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0, done.output
    plan = kpit.plan_run(kpit.load_coco(sample_root), "all", "openai", "gpt-4o",
                         out=tmp_path / "run")  # fmt: skip
    lines = done.output.splitlines()
    start = lines.index("with prompt caching (est.):")
    row = lines[start + 2].split()
    assert row == ["conversation", f"{plan.prefix_tokens['conversation']:,}",
                   f"{plan.cached_per_request('conversation'):,}",
                   f"{plan.cached_tokens('conversation'):,}",
                   f"${plan.cost('conversation', caching=True):,.2f}",
                   f"${plan.saving('conversation'):,.2f}"]  # fmt: skip
    assert "every request of a task but the first" in done.output
    assert "$2.5 / $10 / $1.25 per million input / output / cached input tokens" in done.output

    both = CliRunner().invoke(cli, [*args, "--recipe", "paper,kpit"])
    assert both.exit_code == 0, both.output
    plans = kpit.plan_recipes(kpit.load_coco(sample_root), "paper,kpit", "all", "openai",
                              "gpt-4o", out=tmp_path / "run")  # fmt: skip
    rows = [x for x in both.output.splitlines() if x[14:33].strip() == "with caching"]
    assert rows[-1].split()[-2:] == [f"${plans['paper'].cost(caching=True):,.2f}",
                                     f"${plans['kpit'].cost(caching=True):,.2f}"]  # fmt: skip
    cached = [x for x in both.output.splitlines() if x[14:33].strip() == "cached (est.)"]
    assert len(rows) == len(cached) == 4  # three tasks and all
    assert cached[-1].split()[-2:] == ["0", f"{plans['kpit'].cached_tokens():,}"]
