"""A DeepSpeed ZeRO-3 run on CPU, in a process of its own: ``python zero3_run.py WORK``.

DeepSpeed runs on the CPU as a single process over gloo once the distributed environment
variables are set. Builds the tiny LLaVA and a small data file in WORK, trains 10 steps
with kpit's shipped ZeRO-3 config, and prints the losses as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.update(
    RANK="0",
    LOCAL_RANK="0",
    WORLD_SIZE="1",
    MASTER_ADDR="127.0.0.1",
    MASTER_PORT=os.environ.get("KPIT_TEST_PORT", "29513"),
)

from tiny_llava import make_tiny_llava

from kpit.train.trainer import TrainConfig, train

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "data" / "coco-sample" / "val2017"

if __name__ == "__main__":
    work = Path(sys.argv[1])
    model = make_tiny_llava(work / "tiny")
    records = [
        {
            "id": str(i),
            "image": image.name,
            "conversations": [
                {"from": "human", "value": "what is the person doing ?"},
                {"from": "gpt", "value": "the person is skiing on the snow ."},
            ],
        }
        for i, image in enumerate(sorted(SAMPLE.glob("*.jpg")))
    ]
    (work / "data.json").write_text(json.dumps(records))
    config = TrainConfig(
        output_dir=str(work / "out"),
        data=str(work / "data.json"),
        images=str(SAMPLE),
        model=str(model),
        max_steps=10,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=1,
        learning_rate=1e-2,
        logging_steps=1,
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        disable_tqdm=True,
        deepspeed="zero3",
    )
    out = train(config)
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    print(json.dumps({"out": str(out), "losses": [h["loss"] for h in history if "loss" in h]}))
