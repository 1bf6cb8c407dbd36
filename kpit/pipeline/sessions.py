"""A run's books over its sessions: each session's record, and the run's totals.

:func:`add_totals` adds a session's figures (tokens, cost, each endpoint's counts) to the
run's totals; :func:`recover_sessions` rebuilds, before anything is sent, the records of
sessions that ended without writing theirs (a ``kill -9``, a full disk): from the spend
ledger (:class:`~kpit.pipeline.store.SpendLedger`), or from the usage stored with the
samples and failures that no record counts. The pipeline and ``kpit merge`` keep their
books with them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kpit.generators.base import TOKEN_FIELDS, UNPRICED, CostBound, cached_share
from kpit.pipeline.store import FAILURES, SAMPLES, RunStore, SpendLedger, stored_usage

__all__ = ["add_totals", "recover_sessions"]

log = logging.getLogger(__name__)


_SUMMED = ("requests_sent", "prompt_tokens", "completion_tokens", "cached_tokens", "cost_usd",
           "cache_saved_usd", "throttled", "budget_pauses", "usage_unknown", "usage_estimated",
           "cached_unknown", "cost_estimated_usd", "reserve_charged", *UNPRICED)  # fmt: skip
"""A backend's session totals that add up over a run's sessions."""

_LATEST = ("learned_limits",)
"""A backend's session figures that the run's totals keep the latest known of (the rate
limits a server announced)."""


def _earlier_totals(previous: Mapping[str, Any]) -> dict[str, Any]:
    """What the run's earlier sessions spent (manifests before commit b624a2a kept the last
    one only). Manifests that do not say which tokens were used without a price say so by
    their sessions without a cost, or by totals without one."""
    totals = previous.get("totals")
    last = previous.get("last_session") or {}
    if isinstance(totals, dict):
        out = dict(totals)
    else:
        out = {k: last[k] for k in _SUMMED if isinstance(last.get(k), (int, float))}
    if any(key in out for key in UNPRICED):
        return out
    if not isinstance(out.get("cost_usd"), (int, float)):  # nothing was priced
        sessions: list[Any] = [out]
    else:
        sessions = previous.get("sessions") or [last]
    for session in sessions:
        if isinstance(session, Mapping) and session.get("cost_usd") is None:
            for key, name in zip(UNPRICED, TOKEN_FIELDS, strict=True):
                value = session.get(name)
                if isinstance(value, int) and value > 0:
                    out[key] = out.get(key, 0) + value
    return out


def add_totals(earlier: Mapping[str, Any], session: Mapping[str, Any]) -> dict[str, Any]:
    """The run's totals with a session's figures added. A session that priced the earlier
    sessions' unpriced tokens (``earlier_priced_usd``) moves them into the cost."""
    out = dict(earlier)
    for key in _SUMMED:
        value = session.get(key)
        if isinstance(value, (int, float)):
            out[key] = round(out.get(key, 0) + value, 6)
    priced = session.get("earlier_priced_usd")
    if isinstance(priced, (int, float)):
        out["cost_usd"] = round(out.get("cost_usd", 0) + priced, 6)
        for key in UNPRICED:
            out[key] = session.get(key, 0)
    for key in _LATEST:
        if session.get(key) is not None:
            out[key] = session[key]
    if isinstance(session.get("endpoints"), Mapping):
        out["endpoints"] = _add_endpoints(out.get("endpoints"), session["endpoints"])
    if "cost_bound" in session:  # what the run's replies cost at most, learned so far
        bound = CostBound.from_dict(out.get("cost_bound"))
        out["cost_bound"] = bound.merge(CostBound.from_dict(session["cost_bound"])).to_dict()
    if "cached_tokens" in out:  # the share of the run's prompt tokens, not a sum of shares
        out["cached_share"] = cached_share(int(out["cached_tokens"]),
                                           int(out.get("prompt_tokens") or 0))  # fmt: skip
    return out


_BY_ENDPOINT = ("answered", "failed", "set_aside")
"""An endpoint's session figures that add up over a run's sessions."""


def _add_endpoints(earlier: Any, session: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each endpoint's figures (by URL, no credentials) over the run: its counts added, its
    learned limits the latest known, its lowest concurrency the lowest of all."""
    out = {url: dict(figures) for url, figures in (earlier or {}).items()
           if isinstance(figures, Mapping)} if isinstance(earlier, Mapping) else {}  # fmt: skip
    for url, figures in session.items():
        if not isinstance(figures, Mapping):
            continue
        mine = out.setdefault(url, {})
        for key in _BY_ENDPOINT:
            value = figures.get(key)
            if isinstance(value, int):
                mine[key] = int(mine.get(key) or 0) + value
        if figures.get("learned_limits") is not None:
            mine["learned_limits"] = figures["learned_limits"]
        lowest = figures.get("concurrency_lowest")
        if isinstance(lowest, int):
            before = mine.get("concurrency_lowest")
            mine["concurrency_lowest"] = min(before, lowest) if isinstance(before, int) else lowest
    return out


def recover_sessions(
    store: RunStore, previous: Mapping[str, Any], ledger: SpendLedger
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The run's session records and totals, with the sessions that ended without writing
    their record rebuilt (and added to the totals) before anything is sent.

    A ``"running"`` record, or a ledger whose session the manifest lacks, is such a session:
    its ledger says what it spent. The samples and failures that no record counts (a
    session that left no ledger, or a manifest that lost its sessions) are charged by the
    usage stored with them, as tokens without a price (priced by a session that knows one).
    """
    sessions = [dict(s) for s in previous.get("sessions") or () if isinstance(s, Mapping)]
    if "sessions" not in previous and previous.get("last_session"):
        sessions = [dict(previous["last_session"])]  # a manifest before commit b624a2a
    bound = CostBound.from_dict(_earlier_totals(previous).get("cost_bound"))
    rebuilt = _ledger_session(sessions, ledger.read(bound))
    fresh = [] if rebuilt is None else [rebuilt]
    samples, s_usage = stored_usage(
        store.folder / SAMPLES, sum(_count(s, "samples") for s in sessions)
    )
    failures, f_usage = stored_usage(
        store.folder / FAILURES, sum(_count(s, "failures") for s in sessions)
    )
    dead = [s for s in sessions if s.get("status") == "running"]
    for record in dead:
        record.update(status="recovered", interrupted=True, recovered_from="stored records")
        fresh.append(record)
    if samples or failures or dead:  # records that no session counts: the last one's
        if rebuilt is None and not dead:
            dead = [{"id": None, "status": "recovered", "interrupted": True}]
            sessions.append(dead[0])
            fresh.append(dead[0])
        record = rebuilt or dead[-1]
        record.update(samples=samples, failures=failures)
        if rebuilt is None:  # its spending is known only by what it stored
            _charge_stored(record, s_usage, f_usage)
    totals = _earlier_totals(previous)
    for record in fresh:
        totals = add_totals(totals, record)
    if fresh:
        log.warning("%s: %d session(s) ended without writing their record (killed, or a full "
                    "disk); rebuilt what they spent", store.manifest_path, len(fresh))  # fmt: skip
    return sessions, totals


def _count(session: Mapping[str, Any], name: str) -> int:
    value = session.get(name)
    return value if isinstance(value, int) and value > 0 else 0


def _ledger_session(
    sessions: list[dict[str, Any]], found: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The record of the session that left the ledger, rebuilt from it, in place of its
    ``"running"`` record; ``None`` if the ledger is gone or its session's record complete."""
    if found is None:
        return None
    for n, session in enumerate(sessions):
        if session.get("id") == found["id"] and found["id"] is not None:
            if session.get("status") != "running":
                return None  # the manifest was written, the ledger not yet removed
            sessions[n] = session | found
            return sessions[n]
    sessions.append(found)
    return found


def _charge_stored(
    record: dict[str, Any], samples: Mapping[str, int], failures: Mapping[str, int]
) -> None:
    """Charge a session rebuilt from its stored records by their usage, without a price."""
    record["recovered_from"] = "stored records"
    for name, key in zip(TOKEN_FIELDS, UNPRICED, strict=True):
        record[name] = record[key] = samples[name] + failures[name]
    record["cost_usd"] = None
