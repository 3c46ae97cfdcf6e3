"""What a statement meets on the target's table that its sample never did: checkpoints, a spilled sort, parents."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from .facts import TargetFacts

#: bytes of one ``SortTuple`` beside each tuple a sort holds in memory (64-bit builds: a pointer, a ``Datum``,
#: a flag and a tape number; PostgreSQL source, src/backend/utils/sort/tuplesort.c, ``SortTuple``)
SORT_TUPLE_BYTES = 24
#: PostgreSQL's defaults, used when the target's setting could not be read (docs, "Server Configuration")
DEFAULTS = {"max_wal_size": 1024.0**3, "checkpoint_completion_target": 0.9, "maintenance_work_mem": 64 * 1024.0**2}


def checkpoint_distance(facts: TargetFacts) -> float:
    """The WAL (bytes) after which the target's server requests a checkpoint: ``max_wal_size / (1 +
    checkpoint_completion_target)`` (PostgreSQL source, src/backend/access/transam/xlog.c,
    ``CalculateCheckpointSegments``; docs, "WAL Configuration")."""
    return facts.setting("max_wal_size", DEFAULTS["max_wal_size"]) / (
        1 + facts.setting("checkpoint_completion_target", DEFAULTS["checkpoint_completion_target"]))


def sort_run_rows(facts: TargetFacts, row_bytes: float) -> float:
    """The rows an index build's sort holds in memory at once on the target (rows): ``maintenance_work_mem`` over
    the bytes of a tuple plus its ``SortTuple`` (:data:`SORT_TUPLE_BYTES`). Past that the sort writes sorted runs
    of about this many rows to temporary files and merges them (docs, "Resource Consumption",
    ``maintenance_work_mem``; source, tuplesort.c).

    :param row_bytes: bytes per row of the table (its heap bytes over its rows: at least an index tuple's).
    """
    mwm = facts.setting("maintenance_work_mem", DEFAULTS["maintenance_work_mem"])
    return max(mwm / (max(row_bytes, 1.0) + SORT_TUPLE_BYTES), 2.0)


def sort_size(rows: float, run_rows: float | None) -> float:
    """An index build's size term: ``n·log2(min(n, run_rows) + 1)``, ``n·log2(n + 1)`` without ``run_rows`` (see
    :func:`sort_run_rows`): a sort in memory compares each row ``log2 n`` times, a sort past memory about
    ``log2 run_rows`` times while forming its runs; the merge's comparisons (``log2`` of the number of runs per
    row) are left out, the real builds of bench/predict_bench.py costing the same per row at 1, 5 and 20 M
    rows."""
    n = max(rows, 1.0)
    return n * math.log2(min(n, run_rows if run_rows is not None else n) + 1)


def per_byte(full: Sequence[float], empty: Sequence[float], full_wal: Sequence[int],
             empty_wal: Sequence[int]) -> float | None:
    """What one more byte of WAL cost a statement's migration's ``COMMIT`` on the shadow (ms per byte): the medians'
    difference between the full sample and the emptied copy, of the statement's share of its ``COMMIT`` (``full``,
    ``empty``: ms) over that of its WAL (``full_wal``, ``empty_wal``: bytes). The ``COMMIT`` writes and flushes
    the WAL not yet on disk (docs, "WAL Configuration"): the shadow's disk's cost of writing a byte for good.
    ``None`` when it cannot be told (no measure, no more WAL, or no more time on the full sample)."""
    if not full or not empty or not full_wal or not empty_wal:
        return None
    bytes_ = statistics.median(full_wal) - statistics.median(empty_wal)
    ms = statistics.median(full) - statistics.median(empty)
    return ms / bytes_ if bytes_ > 0 and ms > 0 else None


def past_checkpoints(facts: TargetFacts, wal_bytes: float, written_bytes: float,
                     ms_per_byte: float | None) -> tuple[float, float]:
    """The share of a statement's WAL written past the target's :func:`checkpoint_distance` (0 to 1) and what
    writing its pages to disk during the statement may add (ms).

    A sample's statement writes a few MB: its pages stay in memory and no checkpoint starts while it runs.
    On the target, once its WAL passes the checkpoint distance, each checkpoint the server requests writes
    and ``fsync`` s the pages the statement dirtied so far (docs, "WAL Configuration"), on the disk the
    statement also writes its WAL to. The share of its ``written_bytes`` (the table and its indexes, bytes)
    dirtied past the first checkpoint then goes to disk while it runs, at most at the shadow's cost of a byte
    written for good (:func:`per_byte`); how much of it overlaps with the statement's own work the sample
    cannot tell.

    :param wal_bytes: the statement's WAL on the target (bytes: the sample's WAL per row times the rows).
    :returns: (share past the distance, added ms at most; 0 without ``ms_per_byte``).
    """
    distance = checkpoint_distance(facts)
    if wal_bytes <= distance:
        return 0.0, 0.0
    share = (wal_bytes - distance) / wal_bytes
    return share, (ms_per_byte or 0.0) * written_bytes * share
