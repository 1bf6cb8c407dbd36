"""The tables and the chart at the top of the benchmark page, as ``kpit bench report`` makes
them: the paper's table for pairwise reviews, LLaVA-Bench's for reviews against the
references, the pose judge's own table; each one from :mod:`kpit.bench.report`'s
Markdown, turned into rows of cells."""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kpit.bench.plot import plot_scores
from kpit.bench.pose_report import pose_scores, pose_table
from kpit.bench.report import (
    ReviewFile,
    Score,
    category_table,
    flip_rate,
    markdown_table,
    paper_scores,
    paper_table,
    repeated_note,
    report_reviews,
    run_spread,
)
from kpit.bench.report_notes import LLAVA_NOTE, POSE_NOTE, judges_of, paper_note
from kpit.errors import ConfigError

__all__ = ["Section", "Table", "chart_uri", "sections", "table_of"]


@dataclass(frozen=True, slots=True)
class Table:
    """A Markdown table's header and rows, cell by cell (text, escaped where shown)."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(slots=True)
class Section:
    """One protocol's tables, notes and the scores its chart draws."""

    title: str
    tables: list[Table]
    notes: list[str] = field(default_factory=list)
    results: dict[str, Mapping[str, Score]] = field(default_factory=dict)
    chart: str = ""


def _cells(line: str) -> tuple[str, ...]:
    return tuple(cell.strip() for cell in line.strip().strip("|").split("|"))


def table_of(markdown: str, caption: str = "") -> Table:
    """A Markdown table (a header line, a ``---`` line, then rows) as cells."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    return Table(_cells(lines[0]), tuple(_cells(line) for line in lines[2:]), caption)


def _judges(files: Sequence[ReviewFile]) -> str:
    """The judges of ``files``, as ``name/model`` (the page names no server)."""
    return judges_of((r for f in files for r in f.reviews), server=False)


def _paper(files: list[ReviewFile], baseline: str | None) -> Section:
    scores = paper_scores(files)
    notes = [
        paper_note(swapped=True),
        f"Judge: {_judges(files)}; files: " + ", ".join(f.path.name for f in files),
    ]
    for f in files:
        flips = flip_rate(f.reviews)
        if flips is not None:
            notes.append(f"{f.path.name}: flip rate when the order is swapped {flips:.1%}")
        repeated = repeated_note(f)
        if repeated is not None:
            notes.append(repeated.removeprefix("- "))
    results = {model: score.as_scores() for model, score in scores.items()}
    return Section("The paper's protocol", [table_of(paper_table(scores, baseline))], notes,
                   dict(results))  # fmt: skip


def _llava(files: list[ReviewFile], seed: int) -> Section:
    counts: dict[str, int] = {}
    for f in files:
        counts[f.model_id] = counts.get(f.model_id, 0) + 1
    results: dict[str, Mapping[str, Score]] = {}
    details, notes = [], [LLAVA_NOTE]
    for f in files:
        label = f.model_id if counts[f.model_id] == 1 else f"{f.model_id} ({f.path.name})"
        results[label] = report_reviews(f.reviews + f.failed, seed=seed)
        details.append(table_of(category_table(results[label]), caption=label))
        note = f"{label}: {f.path.name}; judge {_judges([f])}"
        flips, spread = flip_rate(f.reviews), run_spread(f.reviews)
        if flips is not None:
            note += f"; flip rate when the order is swapped {flips:.1%}"
        if spread is not None:
            note += f"; across runs {spread[0]:.2f} ± {spread[1]:.2f}"
        notes.append(note)
    tables = [table_of(markdown_table(results)), *details]
    return Section("LLaVA-Bench's protocol (against the references)", tables, notes, results)


def _pose(files: list[ReviewFile]) -> Section:
    notes = [
        POSE_NOTE,
        f"Judge: {_judges(files)}; files: " + ", ".join(f.path.name for f in files),
    ]
    table = table_of(pose_table(pose_scores(files)))
    return Section("Pose judge (never pooled with the GPT judge's scores)", [table], notes)


def chart_uri(results: Mapping[str, Mapping[str, Score]], *, protocol: str = "llava") -> str:
    """The chart of ``kpit bench report --plot`` (under ``protocol``) as a PNG data URI."""
    with tempfile.TemporaryDirectory(prefix="kpit-page-") as folder:
        path = plot_scores(results, Path(folder) / "chart.png", protocol=protocol)
        data = path.read_bytes()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def sections(files: Sequence[ReviewFile], *, baseline: str | None = None,
             seed: int = 0) -> list[Section]:  # fmt: skip
    """The report's sections for ``files``: the paper's protocol for pairwise reviews,
    LLaVA-Bench's for reviews against the references, and the pose judge's table; none
    without reviews. Each GPT judge section carries its chart."""
    kinds: dict[str, list[ReviewFile]] = {}
    for f in files:
        kinds.setdefault(f.kind, []).append(f)
    out = []
    paper = None
    if "pairwise" in kinds:
        paper = _paper(kinds["pairwise"], baseline)
        out.append(paper)
    elif baseline is not None:
        raise ConfigError("a baseline belongs to the paper's protocol: give pairwise reviews "
                          "(kpit bench judge --versus)", field="baseline")  # fmt: skip
    if "reference" in kinds:
        out.append(_llava(kinds["reference"], seed))
    if "pose" in kinds:
        out.append(_pose(kinds["pose"]))
    for section in out:
        if section.results:
            protocol = "paper" if section is paper else "llava"
            section.chart = chart_uri(section.results, protocol=protocol)
    return out
