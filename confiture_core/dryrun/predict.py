"""Predicted durations on the target: shadow timings at two sample sizes, fitted per work kind, scaled up."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .facts import TargetFacts
from .report import DryRunReport, StatementReport
from .work import INDEX, REWRITE, work_of_sql

#: the interval's half-width is at least this fraction of the prediction
MIN_SPREAD = 0.2
#: a fitted fixed cost above this fraction of the larger sample's time is not trusted (measurement noise)
MAX_OVERHEAD = 0.5


@dataclass(frozen=True)
class Point:
    """One measurement: the table's rows in a shadow and the statement's duration there (ms)."""

    rows: int
    ms: float


def _size(rows: float, kind: str) -> float:
    """The model's size term: ``n`` for a rewrite, scan, validation or row update; ``n·log2 n`` for an
    index build (a sort)."""
    n = max(rows, 1.0)
    return n * math.log2(n + 1) if kind == INDEX else n


def fit(kind: str, small: Point | None, big: Point, target_rows: float) -> tuple[float, float, float]:
    """``t(N) = a + b·g(N)`` through the two points (``g`` from :func:`_size`), evaluated at ``target_rows``.

    When the points do not give a plausible line (a slope ≤ 0, a negative or dominant fixed
    cost: timing noise at small sizes) the fixed cost is dropped and ``t`` is proportional to
    ``g`` through the larger sample. The interval spans both the fitted and the proportional
    model, at least ±:data:`MIN_SPREAD`.

    :returns: (predicted, low, high) in milliseconds.
    """
    g_big, g_n = _size(big.rows, kind), _size(target_rows, kind)
    proportional = big.ms * g_n / g_big
    predicted = proportional
    if small is not None and small.rows < big.rows:
        g_small = _size(small.rows, kind)
        slope = (big.ms - small.ms) / (g_big - g_small)
        overhead = big.ms - slope * g_big
        if slope > 0 and 0 <= overhead <= MAX_OVERHEAD * big.ms:
            predicted = overhead + slope * g_n
    spread = max(abs(proportional - predicted), MIN_SPREAD * predicted)
    return predicted, max(predicted - spread, 0.0), predicted + spread


def _rows_of(table: str, facts: TargetFacts, shadow: Mapping[str, tuple[int, int]]) -> tuple[float, int] | None:
    """The target's rows and bytes of ``table`` (rows estimated from bytes when never analyzed)."""
    t = facts.by_name(table)
    if t is None:
        return None
    rows = t.rows
    if rows < 0:
        n, b = shadow.get(table, (0, 0))
        rows = t.bytes * n / b if b else 0.0
    return rows, t.bytes


Timings = Mapping[tuple[int, int], float]


def timings(runs: Sequence[DryRunReport]) -> dict[tuple[int, int], float]:
    """The shortest duration (ms) of each statement over several dry runs of the same migrations, keyed by
    (version, position in its migration): the least disturbed by other work on the server."""
    best: dict[tuple[int, int], float] = {}
    for run in runs:
        for m in run.migrations:
            for i, s in enumerate(m.statements):
                if s.executed and s.duration_ms is not None and not s.note:
                    key = (m.version, i)
                    best[key] = min(best.get(key, s.duration_ms), s.duration_ms)
    return best


def predict(report: DryRunReport, big: Timings, small: Timings, facts: TargetFacts,
            big_sizes: Mapping[str, tuple[int, int]], small_sizes: Mapping[str, tuple[int, int]]) -> int:
    """Set ``predicted_ms`` (and low, high, ``target_rows``, ``target_bytes``) on every statement of ``report``
    that rewrites a table (measured: its ``rewritten``), builds an index, validates a constraint or
    updates rows of a table that exists on the target.

    :param report: the dry run on the shadow with the full sample.
    :param big: the statements' durations there (see :func:`timings`).
    :param small: the same on the smaller sample (empty: proportional scaling only).
    :param big_sizes: rows and bytes of each table in the full sample's shadow (see ``sample.sizes``).
    :param small_sizes: the same in the smaller sample's shadow.
    :returns: how many statements got a prediction.
    """
    done = 0
    for m in report.migrations:
        for i, s in enumerate(m.statements):
            ms = big.get((m.version, i))
            if ms is None:
                continue
            work = work_of_sql(s.sql)
            if work is None:
                continue
            kind, table = work
            if kind == REWRITE and not s.rewritten:
                continue  # ADD COLUMN with a constant default, a type change that keeps the bytes: no rewrite
            target = _rows_of(table, facts, big_sizes)
            n_big = big_sizes.get(table, (0, 0))[0]
            if target is None or n_big <= 0:
                continue
            other = small.get((m.version, i))
            small_point = None if other is None else Point(small_sizes.get(table, (0, 0))[0], other)
            predicted, low, high = fit(kind, small_point, Point(n_big, ms), target[0])
            s.predicted_ms, s.predicted_ms_low, s.predicted_ms_high = predicted, low, high
            s.target_rows, s.target_bytes, s.predicted_table = int(target[0]), target[1], table
            done += 1
    return done


def seconds(ms: float) -> str:
    """A duration for people: ``"850 ms"``, ``"41 s"``, ``"12 min"``, ``"2.1 h"``."""
    if ms < 1000:
        return f"{ms:.0f} ms"
    s = ms / 1000
    if s < 100:
        return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"
    if s < 6000:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def count(n: float) -> str:
    """Rows for people: ``"950"``, ``"12.4 k"``, ``"12.4 M"``."""
    if n < 10_000:
        return f"{n:.0f}"
    if n < 1_000_000:
        return f"{n / 1000:.1f} k" if n < 100_000 else f"{n / 1000:.0f} k"
    return f"{n / 1_000_000:.1f} M"


def describe(s: StatementReport) -> str | None:
    """``"ACCESS EXCLUSIVE on orders for ~41 s (30-55 s), 12.4 M rows"``, or ``None`` without a prediction."""
    if s.predicted_ms is None:
        return None
    table = s.predicted_table or ""
    modes = [lk.mode for lk in s.locks if lk.relation == table]
    from ..risk import strongest

    lock = f"{strongest(modes)} on {table}" if modes else f"on {table}"
    low, high = seconds(s.predicted_ms_low or 0), seconds(s.predicted_ms_high or 0)
    if low.split()[-1] == high.split()[-1]:
        low = low.split()[0]  # "30-55 s"
    return (f"{lock} for ~{seconds(s.predicted_ms)} ({low}-{high}), "
            f"{count(s.target_rows or 0)} rows")
