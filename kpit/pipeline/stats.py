"""Statistics of a run: samples per task, turns, lengths, tokens, why requests failed, and
what report-only filters flagged, with the words that broke each quality rule."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from kpit.generators.base import Price, cached_share
from kpit.pipeline.quality import PHRASE_RULES
from kpit.pipeline.store import SAMPLES, Run, read_samples
from kpit.prompts.tokens import estimate_tokens

__all__ = ["RunStats", "TaskStats", "run_stats"]


@dataclass(slots=True)
class TaskStats:
    """Counts for one task."""

    samples: int = 0
    pairs: int = 0
    answer_words: int = 0
    answer_chars: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens the provider served from its prompt cache (part of ``prompt_tokens``)."""
    failures: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)
    """What report-only filters found (``filters="flag"``), by reason, one per sample each."""
    flag_details: Counter[tuple[str, str]] = field(default_factory=Counter)
    """The words each flag of a rule that looks for words found
    (:data:`kpit.pipeline.quality.PHRASE_RULES`), as ``(reason, phrase)``."""
    failure_details: Counter[tuple[str, str]] = field(default_factory=Counter)
    """The same for open failures: ``("quality:leak", "From the image details provided")``."""
    flagged: int = 0
    """Samples with at least one flag."""
    checked: int = 0
    """Samples stored by report-only filters (flagged or not)."""

    @property
    def mean_answer_words(self) -> float:
        """Mean words per answer."""
        return self.answer_words / self.pairs if self.pairs else 0.0


@dataclass(slots=True)
class RunStats:
    """Counts for a whole run, per task and in total."""

    tasks: dict[str, TaskStats]
    images: int
    duplicates: int = 0
    """Samples stored twice under one id (read, counted and exported once)."""
    price: Price | None = None
    """What the run's backend paid per million tokens (from the manifest), when known."""

    @property
    def samples(self) -> int:
        """Samples in all tasks."""
        return sum(t.samples for t in self.tasks.values())

    @property
    def pairs(self) -> int:
        """Question/answer pairs in all tasks (kpit's reading of the paper's sample count)."""
        return sum(t.pairs for t in self.tasks.values())

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens of the stored samples, over all tasks."""
        return sum(t.prompt_tokens for t in self.tasks.values())

    @property
    def cached_tokens(self) -> int:
        """Cached prompt tokens of the stored samples, over all tasks."""
        return sum(t.cached_tokens for t in self.tasks.values())

    @property
    def cached_share(self) -> float | None:
        """The share of the prompt tokens that were cached; ``None`` without prompt tokens."""
        return cached_share(self.cached_tokens, self.prompt_tokens)

    @property
    def cache_saved_usd(self) -> float | None:
        """Dollars the cached tokens cost less than at the input rate, if the price is known."""
        return None if self.price is None else self.price.saving(self.cached_tokens)

    @property
    def flags(self) -> Counter[str]:
        """Flags of report-only filters by reason, over all tasks."""
        total: Counter[str] = Counter()
        for t in self.tasks.values():
            total.update(t.flags)
        return total

    @property
    def flagged(self) -> int:
        """Samples with at least one flag, over all tasks."""
        return sum(t.flagged for t in self.tasks.values())

    @property
    def flag_details(self) -> Counter[tuple[str, str]]:
        """What the flags found, ``(reason, phrase)``, over all tasks."""
        total: Counter[tuple[str, str]] = Counter()
        for t in self.tasks.values():
            total.update(t.flag_details)
        return total

    @property
    def failure_details(self) -> Counter[tuple[str, str]]:
        """The words behind open quality failures, ``(reason, detail)``, over all tasks."""
        total: Counter[tuple[str, str]] = Counter()
        for t in self.tasks.values():
            total.update(t.failure_details)
        return total

    @property
    def failures(self) -> Counter[str]:
        """Open failures by reason, over all tasks."""
        total: Counter[str] = Counter()
        for t in self.tasks.values():
            total.update(t.failures)
        return total

    def to_text(self) -> str:
        """A table for the terminal."""
        header = (f"{'task':<14}{'samples':>9}{'pairs':>9}{'words/answer':>14}"
                  f"{'prompt tok':>13}{'cached tok':>12}{'completion tok':>16}")  # fmt: skip
        lines = [header, "-" * len(header)]
        for name, t in sorted(self.tasks.items()):
            lines.append(f"{name:<14}{t.samples:>9,}{t.pairs:>9,}{t.mean_answer_words:>14.1f}"
                         f"{t.prompt_tokens:>13,}{t.cached_tokens:>12,}"
                         f"{t.completion_tokens:>16,}")  # fmt: skip
        lines.append(f"{'all':<14}{self.samples:>9,}{self.pairs:>9,}")
        lines.append(f"images: {self.images:,}")
        if self.prompt_tokens and (self.cached_tokens or self.price is not None):
            lines.append(self._caching_line())
        if self.failures:
            lines.append("open failures: " + ", ".join(
                f"{reason} {n:,}" for reason, n in self.failures.most_common()))  # fmt: skip
            lines += _detail_lines(self.failure_details)
        else:
            lines.append("open failures: none")
        if self.duplicates:
            lines.append(f"duplicates: {self.duplicates:,} samples stored twice under one id "
                         "(counted and exported once)")  # fmt: skip
        checked = sum(t.checked for t in self.tasks.values())
        if checked:  # report-only filters stored these samples with what they found
            found = ", ".join(f"{reason} {n:,}" for reason, n in self.flags.most_common())
            lines.append(f"flagged samples (report-only filters): {self.flagged:,} of {checked:,}"
                         + (f"; {found}" if found else ""))  # fmt: skip
            lines += _detail_lines(self.flag_details)
        return "\n".join(lines)

    def _caching_line(self) -> str:
        line = (f"cached prompt tokens: {self.cached_tokens:,} of {self.prompt_tokens:,} "
                f"({self.cached_share or 0:.1%})")  # fmt: skip
        price, saved = self.price, self.cache_saved_usd
        if price is None or saved is None:
            return line + "; saved: unknown (no price in the run's manifest)"
        if price.cached_input is None:
            return line + "; saved $0.00 (the run's price has no cached rate)"
        return (f"{line}; saved ${saved:,.2f} (${price.cached_input:g} instead of "
                f"${price.input:g} per million)")  # fmt: skip


def _detail_lines(details: Counter[tuple[str, str]], most: int = 5) -> list[str]:
    """One line per reason: the phrases that broke it, the most frequent first.

    Phrases that differ only in case count as one, shown as first seen.
    """
    by_reason: dict[str, Counter[str]] = defaultdict(Counter)
    shown: dict[tuple[str, str], str] = {}
    for (reason, phrase), n in details.items():
        key = phrase.lower()
        shown.setdefault((reason, key), phrase)
        by_reason[reason][key] += n
    lines = []
    for reason, phrases in sorted(by_reason.items(), key=lambda kv: (-kv[1].total(), kv[0])):
        common = phrases.most_common()
        text = ", ".join(f"{shown[reason, key]!r} {n:,}" for key, n in common[:most])
        more = f", and {len(common) - most:,} more" if len(common) > most else ""
        lines.append(f"  {reason}: {text}{more}")
    return lines


def run_stats(run: Run | str | os.PathLike[str]) -> RunStats:
    """Count a run's samples, pairs, answer lengths, tokens and open failures per task, and
    the flags of report-only filters (``filters="flag"``, the ``paper`` recipe's policy);
    for the quality rules, the words that broke them (``failure_details``, ``flag_details``).

    Token counts are the server's where it reported usage, else estimates; cached prompt
    tokens and what they saved at the price in the run's manifest are counted too (runs
    written before kpit read cached tokens count none).
    """
    run = run if isinstance(run, Run) else Run(run)
    tasks: dict[str, TaskStats] = defaultdict(TaskStats)
    images: set[Any] = set()
    seen: set[str] = set()
    duplicates = 0
    for sample in read_samples(run.folder / SAMPLES, unique=False):  # one pass: count repeats
        if sample.id in seen:
            duplicates += 1
            continue
        seen.add(sample.id)
        t = tasks[sample.task]
        images.add(sample.image)
        t.samples += 1
        answers = [turn.text for turn in sample.turns if turn.role == "gpt"]
        t.pairs += len(answers)
        t.answer_words += sum(len(a.split()) for a in answers)
        t.answer_chars += sum(len(a) for a in answers)
        usage = sample.meta.get("usage") or {}
        t.prompt_tokens += int(usage.get("prompt_tokens", 0))
        t.cached_tokens += int(usage.get("cached_tokens") or 0)  # absent in older runs
        t.completion_tokens += int(usage.get("completion_tokens") or
                                   sum(estimate_tokens(a) for a in answers))  # fmt: skip
        flags = sample.meta.get("flags")
        if isinstance(flags, list):
            t.checked += 1
            t.flagged += bool(flags)
            t.flags.update(str(f) for f in set(flags))
            details = sample.meta.get("flag_details")
            if isinstance(details, dict):
                t.flag_details.update((str(k), str(v)) for k, v in details.items()
                                      if k in PHRASE_RULES)  # fmt: skip
    for failure in run.open_failures():
        t = tasks[failure["task"]]
        reason = str(failure["reason"])
        t.failures[reason] += 1
        if reason.removeprefix("quality:") in PHRASE_RULES and failure.get("detail"):
            t.failure_details[reason, str(failure["detail"])] += 1
    return RunStats(dict(tasks), len(images), duplicates, _price(run.manifest))


def _price(manifest: dict[str, Any]) -> Price | None:
    """The price per million tokens a run's manifest records, if it holds a readable one."""
    recorded = (manifest.get("generator") or {}).get("price_per_million")
    if not isinstance(recorded, dict):
        return None
    try:
        return Price.from_dict(recorded)
    except (KeyError, TypeError, ValueError):
        return None
