"""The training config: a light ``import kpit.train``, and ``TrainConfig`` as a class."""

from __future__ import annotations

import json
import subprocess
import sys


def test_import_kpit_train_does_not_import_torch_or_transformers() -> None:
    """``kpit.train``'s heavy names come on first use, in a fresh process to be sure."""
    script = (
        "import json, sys\n"
        "import kpit.train\n"
        "light = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\n"
        "config = kpit.train.TrainConfig\n"
        "name = f'{config.__module__}.{config.__qualname__}'\n"
        "print(json.dumps({'on_import': light, 'TrainConfig': name}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["on_import"] == []
    assert result["TrainConfig"] == "kpit.train.trainer.TrainConfig"
