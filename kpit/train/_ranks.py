"""Several training processes (ranks, from ``torchrun``, ``accelerate launch`` or ``deepspeed``)
as one run: work every rank must agree on, values gathered from every rank, and DeepSpeed's
communication joined to the process group ``transformers`` started.

Every function here works in one process too (a world of one): nothing is gathered then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from kpit.errors import ConfigError

T = TypeVar("T")


def _distributed() -> Any:
    """``torch.distributed`` where a process group is up, else ``None``."""
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def gather(value: Any) -> list[Any]:
    """``value`` from every rank, in rank order (``[value]`` in a world of one)."""
    dist = _distributed()
    if dist is None or dist.get_world_size() == 1:
        return [value]
    values: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values


def agreed(compute: Callable[[], T], summary: Callable[[T], Any], *, field: str) -> T:
    """``compute()`` on every rank, which must come out the same everywhere.

    An error on any rank is raised on every rank (its own where it failed, a ConfigError
    naming the failed rank and its message elsewhere), so no rank is left waiting for
    one that stopped; ranks whose ``summary`` of the result differs (two nodes reading
    different files) stop too, naming both.
    """
    try:
        result = compute()
    except Exception as exc:
        gather(("error", str(exc)))
        raise
    outcomes = gather(("ok", summary(result)))
    for rank, (kind, value) in enumerate(outcomes):
        if kind == "error":
            raise ConfigError(f"rank {rank} stopped: {value}", field=field)
    first = outcomes[0][1]
    for rank, (_, value) in enumerate(outcomes):
        if value != first:
            raise ConfigError(
                f"rank {rank} sees other training data than rank 0 ({value} against {first}): "
                "every node needs the same data file and image folder",
                field=field,
            )
    return result


def one_writer(config: Any) -> None:
    """Stop every rank before training where more than one would save (``--save_on_each_node``
    over several nodes).

    transformers 5 writes a model's weights on the first rank of the process group alone
    (``save_pretrained`` ANDs its ``is_main_process`` with being rank 0), so every other
    node's writer would save the processor and the report but no weights, and fail the
    saved-weights check after all the training. Every rank gathers the same list and so
    decides alike.
    """
    writers = [rank for rank, saves in enumerate(gather(bool(config.should_save))) if saves]
    if len(writers) > 1:
        raise ConfigError(
            f"ranks {writers} would each save the model, but transformers writes the weights on "
            "rank 0 alone (the other nodes would get folders without weights): leave "
            "--save-on-each-node off and copy --output-dir from rank 0's node",
            field="save_on_each_node",
        )


def join_deepspeed(config: Any) -> None:
    """Give DeepSpeed's communication the process group ``transformers`` started.

    With ``--use_cpu``, ``TrainingArguments`` starts ``torch.distributed`` itself (gloo) and
    never calls ``deepspeed.init_distributed``, which it does only on its GPU path. ZeRO-3
    then builds the model under ``deepspeed.zero.Init``, whose config asks
    ``deepspeed.comm`` for the world size, finds it uninitialised, takes a world of one,
    and fails its batch check (train_batch_size 4 != 2 * 1 * 1 on two ranks). Called
    before the model is built, this wraps the running group (DeepSpeed's own
    ``init_distributed`` does exactly that when ``torch.distributed`` is already up).
    """
    if not getattr(config, "deepspeed", None):
        return
    dist = _distributed()
    if dist is None:
        return
    import deepspeed  # type: ignore[import-untyped]

    deepspeed.init_distributed(dist_backend=dist.get_backend(), auto_mpi_discovery=False)
