"""The benchmark as one HTML page, on the bundled sample, offline.

Builds an HPAUB of the four bundled images (questions and references by the ``template``
backend), gives it two scripted models' answers (one copies the start of each reference,
one describes every picture wrongly), judges them with the ``pose`` judge and with the
``gpt`` judge against a loopback server (word overlap with the context, both orders), and
writes ``kpit bench page``'s page. The answers and scores are scripted to show the page;
they are no model's result.

    python examples/bench_page.py [--out DIR] [--screenshot PNG]

``--screenshot`` also photographs the page with a headless Chromium (``chromium`` on the
PATH; on Debian ``apt-get install chromium``): this is how ``docs/images/bench_page.png``
is made (``python examples/bench_page.py --screenshot docs/images/bench_page.png``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import kpit
from kpit.bench import Answer, build_bench, judge_answers
from kpit.bench.files import write_jsonl
from kpit.cli import cli
from kpit.testing import LoopbackJudge

SAMPLE = Path(__file__).resolve().parent / "data" / "coco-sample"
WRONG = "There are two people. The person is sitting, facing away from the camera."


def make(out: Path) -> Path:
    """Build, answer, judge, and write ``out/page.html`` with ``kpit bench page``."""
    contexts = list(kpit.load_coco(SAMPLE, split="val2017"))
    bench = build_bench(contexts, out / "hpaub", num_images=4, seed=0)
    careful = {
        q.question_id: Answer(
            q.question_id,
            ". ".join(bench.references[q.question_id].text.split(". ")[:3]),
            "careful",
        )
        for q in bench.questions
    }
    careless = {q.question_id: Answer(q.question_id, WRONG, "careless") for q in bench.questions}
    for name, answers in (("careful", careful), ("careless", careless)):
        write_jsonl(out / f"{name}.jsonl", (a.to_dict() for a in answers.values()))
        judge_answers(bench, answers, out / f"pose-{name}.jsonl", judge="pose")
    with LoopbackJudge() as server:
        judge_answers(bench, careful, out / "gpt.jsonl", versus=careless, swap=True,
                      model="loopback", judge_options={"base_url": server.base_url,
                                                       "api_key": "sk-local"})  # fmt: skip
    args = ["bench", "page", str(out / "hpaub"), "--answers", str(out / "careful.jsonl"),
            "--answers", str(out / "careless.jsonl"), "--reviews", str(out / "gpt.jsonl"),
            "--reviews", str(out / "pose-careful.jsonl"), "--reviews",
            str(out / "pose-careless.jsonl"), "--images", str(SAMPLE / "val2017"),
            "--baseline", "careless", "--title", "HPAUB on the bundled sample",
            "-o", str(out / "page.html")]  # fmt: skip
    print("$ kpit " + " ".join(args), flush=True)
    cli.main(args, prog_name="kpit", standalone_mode=False)
    return out / "page.html"


def screenshot(page: Path, png: Path, size: str = "1280,1900") -> None:
    """Photograph ``page`` with a headless Chromium."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("no chromium on the PATH (Debian: apt-get install chromium)")
    png.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={png.resolve()}", f"--window-size={size}",
                    page.resolve().as_uri()], check=True, capture_output=True)  # fmt: skip
    print(f"{png}: a screenshot of {page}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="Folder to write into (default: a temporary one).")
    parser.add_argument("--screenshot", type=Path, help="Also save a screenshot of the page here.")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        out = options.out or Path(scratch)
        page = make(out)
        print(f"{page}: {page.stat().st_size / 1e6:.2f} MB, open it in any browser")
        if options.screenshot is not None:
            screenshot(page, options.screenshot)


if __name__ == "__main__":
    main()
