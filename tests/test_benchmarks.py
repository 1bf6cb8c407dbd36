"""Every script in ``benchmarks/`` runs once in its quick mode, as CI does.

Each is found by name (a new benchmark is picked up without a change here), run in a fresh
process with ``--quick``, and must exit 0 and print its figures: numbers, and a comparison
with its baseline (a ratio, a speed-up, "now / before"). For the benchmarks known here, the
lines that carry their ratios are checked too. The figures themselves are not judged: speed
is the scripts' business, on a machine of known load, never a test's.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((REPO / "benchmarks").glob("*.py"))

RUN_ELSEWHERE = {"bench_pose_judge.py": "tests/judges/test_pose.py"}
"""Benchmarks whose measurements a test file already runs (on smaller sets): not run twice."""

FIGURES = {
    "bench_answer.py": [r"batch_size +8: .* speed-up x\d+\.\d\d", r"answers equal: 16/16"],
    "bench_caching.py": [
        r"kpit +\d+\.\d% +\$[\d,]+ +\$[\d,]+ +0\.\d{3}",
        r"ratio measured / estimate \d\.\d{3}",
    ],
    "bench_coco.py": [
        r"ratio kpit / json.load +time \d\.\d\d, peak \d\.\d\d",
        r"ratio kpit / pycocotools +time \d\.\d\d",
    ],
    "bench_endpoints.py": [
        r"throughput ratio three / one: \d\.\d\d",
        r"\d+ of \d+ stored, \d+ stored twice, \d+ failed",
    ],
    "bench_generate.py": [r"pipeline / bare \d+x", r"ratio \d+\.\dx", r"[\d,]+ images/s"],
    "bench_kill_resume.py": [r"ratio billed / budget \d\.\d{3}", r"\d+ stored twice"],
    "bench_openai.py": [r"kpit / sequential \d+x"],
    "bench_pose.py": [r"ratio batch / one-by-one: \d+x"],
    "bench_pose_paragraphs.py": [
        r"held-out-3: \d+ answers",
        r"goals: false contradictions <= 1% (?:met|NOT met), flips found >= 95% (?:met|NOT met)",
        r"now / before: false contradictions \d+\.\d% / \d+\.\d%",
        r"now / round 1: false contradictions \d+\.\d% / \d+\.\d%",
        r"now / round 2: false contradictions \d+\.\d% / \d+\.\d%",
    ],
    "bench_quality.py": [r"held-out: precision \d\.\d\d, recall \d\.\d\d", r"now / before \d"],
    "bench_tokens.py": [r"compact now +\d+\.\d +\d\.\d{3}", r"\d+\.\d% fewer, met"],
    "bench_train.py": [r"ZeRO-3 / plain: speed \d+\.\d\d, peak memory \d+\.\d\d"],
}
"""Lines that each known benchmark prints with its ratios, as patterns."""

COMPARISON = re.compile(r"ratio|speed-up|\d(?:\.\d+)?x\b|\bx\d|\w / \w", re.IGNORECASE)


def _params() -> list[object]:
    params: list[object] = []
    for script in SCRIPTS:
        if script.name in RUN_ELSEWHERE:
            continue
        params.append(pytest.param(script, id=script.name))
    return params


def test_the_benchmarks_are_found() -> None:
    names = {script.name for script in SCRIPTS}
    assert {"bench_answer.py", "bench_train.py", "bench_pose.py"} <= names
    assert set(FIGURES) <= names  # a renamed benchmark must not drop out unnoticed
    for name, test in RUN_ELSEWHERE.items():  # and what is left out really runs elsewhere
        assert name in names and name in (REPO / test).read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.timeout(660)
@pytest.mark.parametrize("script", _params())
def test_each_benchmark_runs_in_quick_mode(script: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script), "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{script.name} --quick failed:\n{done.stderr[-3000:]}"
    out = done.stdout
    assert re.search(r"\d", out) and COMPARISON.search(out), f"no figures or ratio:\n{out}"
    for pattern in FIGURES.get(script.name, []):
        assert re.search(pattern, out), f"{script.name} did not print {pattern!r}:\n{out}"
