"""Benchmark: kpit's trainer with and without DeepSpeed ZeRO-3, on a GPU or the CPU.

Trains a random LLaVA built from a config (the tiny test model, or LLaVA-1.5-7B's shapes with
fewer layers) for a few steps on the bundled sample images, in a fresh process per run, and
reports tokens per second and peak memory, with the ratio of the ZeRO-3 run to the plain
one. Each run saves, and its saved files are read back to check that no weight is empty.
Meant as the one prepared script for a lent GPU machine:

    python benchmarks/bench_train.py                      # the tiny model, on CUDA if present
    python benchmarks/bench_train.py --hidden 4096 --heads 32 --intermediate 11008 \
        --vocab 32000 --image-size 336 --patch-size 14 --layers 4 --steps 10
        # LLaVA-1.5-7B's shapes (576 image tokens a sample), 4 of its 32 layers
    python benchmarks/bench_train.py --quick              # 2 steps, one thread: CI's CPU run

The vision tower stays tiny (two layers 32 wide) at any size: the figures are the language
model's.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "data" / "coco-sample" / "val2017"

CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
args = json.loads(sys.argv[2])
if args["zero3"]:
    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(args["port"]))
import torch
from tiny_llava import WORDS, make_tiny_llava
from kpit.train.trainer import TrainConfig, train
work = Path(args["work"])
words = [*WORDS, *(f"w{k}" for k in range(max(0, args["vocab"] - len(WORDS))))]
model = make_tiny_llava(work / "model", args["image_size"], args["patch_size"],
                        hidden=args["hidden"], layers=args["layers"], heads=args["heads"],
                        intermediate=args["intermediate"], words=words)
records = [{"id": str(i), "image": p.name, "conversations": [
    {"from": "human", "value": "what is the person doing ?"},
    {"from": "gpt", "value": "the person is skiing on the snow . " * 4}]}
    for i, p in enumerate(sorted(Path(args["images"]).glob("*.jpg")))]
(work / "data.json").write_text(json.dumps(records))
cpu = not torch.cuda.is_available()
config = TrainConfig(output_dir=str(work / "out"), data=str(work / "data.json"),
                     images=args["images"], model=str(model), max_steps=args["steps"],
                     per_device_train_batch_size=args["batch"], gradient_accumulation_steps=1,
                     learning_rate=1e-4, logging_steps=1, use_cpu=cpu, bf16=not cpu,
                     activation_checkpointing=not cpu, disable_tqdm=True,
                     deepspeed="zero3" if args["zero3"] else "none")
start = time.perf_counter()
out = train(config)
seconds = time.perf_counter() - start
state = json.loads((out / "trainer_state.json").read_text())
report = json.loads((out / "kpit_data_report.json").read_text())
peak = (torch.cuda.max_memory_allocated() / 2**20 if not cpu
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
tokens = report["tokens"] * args["batch"] * args["steps"] / max(1, report["samples"])
print(json.dumps({"seconds": seconds, "tokens_per_second": tokens / seconds,
                  "peak_mib": peak, "device": "cpu" if cpu else torch.cuda.get_device_name(),
                  "losses": [h["loss"] for h in state["log_history"] if "loss" in h]}))
"""


def _free_port() -> int:
    """A free local port for the single-process rendezvous (runs side by side must differ)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run(zero3: bool, args: argparse.Namespace, work: Path) -> dict[str, object]:
    settings = {
        "zero3": zero3,
        "work": str(work),
        "images": str(SAMPLE),
        "steps": args.steps,
        "hidden": args.hidden,
        "layers": args.layers,
        "heads": args.heads,
        "intermediate": args.intermediate,
        "vocab": args.vocab,
        "image_size": args.image_size,
        "patch_size": args.patch_size,
        "batch": args.batch_size,
        "port": _free_port(),
    }
    env = os.environ | {"PYTHONPATH": f"{ROOT / 'tests' / 'helpers'}{os.pathsep}{ROOT}"}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT / "tests" / "helpers"), json.dumps(settings)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the {'ZeRO-3' if zero3 else 'plain'} run failed:\n{done.stderr[-3000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=32, help="the language model's width")
    parser.add_argument("--layers", type=int, default=2, help="the language model's depth")
    parser.add_argument("--heads", type=int, default=2, help="its attention heads (7B: 32)")
    parser.add_argument(
        "--intermediate",
        type=int,
        default=None,
        help="its MLP width (default 2 x hidden; 7B: 11008)",
    )
    parser.add_argument(
        "--vocab", type=int, default=0, help="pad the vocabulary to this many tokens (7B: 32000)"
    )
    parser.add_argument("--image-size", type=int, default=30, help="7B: 336")
    parser.add_argument("--patch-size", type=int, default=15, help="7B: 14")
    parser.add_argument("--batch-size", type=int, default=4, help="samples per step")
    parser.add_argument(
        "--threads", type=int, default=0, help="OMP threads per run (0: torch's default)"
    )
    parser.add_argument("--quick", action="store_true", help="2 steps on one thread: CI's run")
    args = parser.parse_args()  # fmt: skip
    if args.quick:  # other defaults; the flags given still count
        parser.set_defaults(steps=2, threads=1)
        args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plain = run(False, args, Path(tmp) / "plain")
        zero3 = run(True, args, Path(tmp) / "zero3")
    for name, result in (("plain", plain), ("ZeRO-3", zero3)):
        losses = result["losses"]
        assert isinstance(losses, list)
        print(
            f"{name:7s} on {result['device']}: {result['tokens_per_second']:10,.0f} tokens/s, "
            f"peak {result['peak_mib']:8,.0f} MiB, loss {losses[0]:.3f} -> {losses[-1]:.3f}"
        )
    ratio = float(zero3["tokens_per_second"]) / float(plain["tokens_per_second"])  # type: ignore[arg-type]
    memory = float(zero3["peak_mib"]) / float(plain["peak_mib"])  # type: ignore[arg-type]
    print(f"ZeRO-3 / plain: speed {ratio:.2f}, peak memory {memory:.2f}")


if __name__ == "__main__":
    main()
