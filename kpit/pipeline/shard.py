"""Shards: the I-th of N disjoint shares of a run's requests, chosen by each request's key.

``kpit generate --shard I/N`` and ``kpit bench answer --shard I/N`` run one share each, on N
machines into N folders, joined by ``kpit merge``. A request's share is a SHA-256 of its
key (:func:`shard_of`): the same on every machine and in every session.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from kpit._checks import shown
from kpit.errors import ConfigError

__all__ = ["Shard", "shard_of"]


@dataclass(frozen=True, slots=True)
class Shard:
    """The ``index``-th of ``count`` disjoint shares of a run's requests (1-based), chosen
    by each request's key: a request belongs to share ``sha256(key) mod count + 1``, the
    same on every machine and in every session, whatever order the images come in. The
    ``count`` shares together are the whole run, each request in exactly one.

    Written ``"I/N"`` (:meth:`parse`, ``str()``), as ``--shard`` takes it."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not (isinstance(self.count, int) and isinstance(self.index, int)) or self.count < 1:
            raise ConfigError(f"not a shard: {self.index}/{self.count} (the share count N in "
                              "I/N must be 1 or more)", field="shard")  # fmt: skip
        if not 1 <= self.index <= self.count:
            raise ConfigError(f"not a shard: {self.index}/{self.count} (I in I/N runs from 1 "
                              f"to {self.count})", field="shard")  # fmt: skip

    @classmethod
    def parse(cls, value: str | Shard) -> Shard:
        """A shard from ``"I/N"`` (``"2/3"``: the second of three shares).

        Raises:
            ConfigError: not two whole numbers with ``1 <= I <= N`` (naming ``shard``).
        """
        if isinstance(value, Shard):
            return value
        if not isinstance(value, str):
            raise ConfigError(f"expected a shard as 'I/N' (such as '1/3'), not {shown(value)}",
                              field="shard")  # fmt: skip
        index, slash, count = value.strip().partition("/")
        if not (slash and index.strip().isdigit() and count.strip().isdigit()):
            raise ConfigError(f"not a shard: {value!r}; write I/N, the I-th of N shares "
                              "(such as 1/3)", field="shard")  # fmt: skip
        return cls(int(index), int(count))

    def holds(self, key: str) -> bool:
        """Whether the request with this key is in this share."""
        return shard_of(key, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(key: str, count: int) -> int:
    """The share (1 to ``count``) a request key belongs to: a SHA-256 of the key, so the
    same on every machine and Python (never Python's per-process string hash)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1
