"""``kpit train`` as one rank of several, with test hooks: ``torchrun ... ranks_run.py FLAGS``.

Runs the real CLI (``kpit.cli.train``, as ``python -m kpit.cli.train_main`` does) under a
launcher. Two hooks, each set by an environment variable:

- ``KPIT_TEST_IDS=DIR``: every sample a rank trains on (the dataset's ``__getitem__``, which
  the real sampler and data loader call) adds its record id as a line to
  ``DIR/ids.rank<RANK>.txt``.
- ``KPIT_TEST_BREAK_RANK=R``: on rank ``R`` alone, checking the training data fails, as a
  record only that node's copy holds would.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kpit.errors import DataError
from kpit.train import trainer
from kpit.train.data import LlavaDataset

RANK = int(os.environ.get("RANK", "0"))

if os.environ.get("KPIT_TEST_IDS"):
    ids = Path(os.environ["KPIT_TEST_IDS"]) / f"ids.rank{RANK}.txt"
    read = LlavaDataset.__getitem__

    def _recorded(self: LlavaDataset, index: int) -> dict[str, Any]:
        with ids.open("a", encoding="utf-8") as out:
            out.write(f"{self.records[index]['id']}\n")
        return read(self, index)

    LlavaDataset.__getitem__ = _recorded  # type: ignore[method-assign]

if os.environ.get("KPIT_TEST_BREAK_RANK") == str(RANK):
    prepare = trainer._prepare_data

    def _broken(config: Any) -> Any:
        prepare(config)
        raise DataError("a record only this rank sees", file=config.data, record="id 7")

    trainer._prepare_data = _broken

if __name__ == "__main__":
    from kpit.cli.train import train

    train(prog_name="kpit train")
