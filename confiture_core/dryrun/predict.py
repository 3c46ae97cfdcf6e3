"""Predicted durations on the target: shadow timings at several sample sizes, fitted per work kind, scaled up."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .atscale import past_checkpoints, per_byte, sort_run_rows, sort_size
from .facts import TargetFacts
from .report import DryRunReport, StatementReport
from .work import INDEX, REWRITE, VALIDATE, first_node, foreign_key_parent_of, work_of

#: the interval's half-width is at least this fraction of the prediction
MIN_SPREAD = 0.2
#: a fitted fixed cost above this fraction of the larger sample's time is not trusted (measurement noise)
MAX_OVERHEAD = 0.9


@dataclass(frozen=True)
class Point:
    """One measurement: the table's rows in a shadow and the statement's duration there (ms)."""

    rows: int
    ms: float


def _size(rows: float, kind: str, run_rows: float | None = None) -> float:
    """The model's size term: ``n`` for a rewrite, scan, validation or row update; for an index build (a sort)
    ``n·log2(min(n, run_rows) + 1)`` (:func:`~.atscale.sort_size`)."""
    return sort_size(rows, run_rows) if kind == INDEX else max(rows, 1.0)


def fit_points(kind: str, points: Sequence[Point], target_rows: float,
               noise: float = 0.0, part_error: float | None = None,
               run_rows: float | None = None) -> tuple[float, float, float]:
    """``t(N) = a + b·g(N)`` fitted through ``points`` (least squares on relative errors; ``g`` from
    :func:`_size`, with ``run_rows`` for an index build), evaluated at ``target_rows``.

    When the points do not give a plausible line (a slope ≤ 0, a fixed cost above
    :data:`MAX_OVERHEAD` of the largest sample's time: timing noise at small sizes; a negative
    one: the cost per row grows with the size, and the largest sample is the closest to the
    target) ``t`` is the line through the measured fixed cost (a 0-row point) and the largest
    sample, or without one proportional to ``g`` through the largest sample.
    The interval spans both the fitted model and the line through the measured fixed cost (the
    0-row point) and the largest sample, or without a 0-row point the proportional model, and
    is at least ±max(:data:`MIN_SPREAD`, ``noise``). With a 0-row point it also spans the line through
    the fixed cost and the largest sample with the per-row part (their difference) moved by
    ``noise · (largest + fixed)``, the uncertainty of a difference of two medians that each move by
    ``noise`` of themselves: where the sample's per-row work is small beside its fixed cost, the
    interval says that the sample could not resolve it, instead of ±20% around a guess.

    :param points: one per sample size (its rows, its duration in ms), at least one with rows; one with
        0 rows (the tables emptied) measures the fixed cost itself.
    :param noise: the relative spread of the repeated measurements, e.g. ``0.3`` for ±30%.
    :param part_error: given (ms), the per-row part is moved by twice this instead of ``noise · (largest +
        fixed)``: the standard error of the difference of the two medians (see :func:`resolved`), about 95% of
        the moves the repeats allow (where ``noise``, a half-range, grows with the number of repeats).
    :returns: (predicted, low, high) in milliseconds.
    """
    big = max(points, key=lambda p: p.rows)
    g_big, g_n = _size(big.rows, kind, run_rows), _size(target_rows, kind, run_rows)
    proportional = big.ms * g_n / g_big
    predicted = proportional
    empty = [p.ms for p in points if p.rows == 0]
    fixed = min(statistics.median(empty), big.ms) if empty else 0.0
    other = fixed + (big.ms - fixed) * g_n / g_big  # the line through the fixed cost and the largest sample
    pts = [(_size(p.rows, kind, run_rows), p.ms) for p in points if p.rows >= 0 and p.ms > 0]
    if len({g for g, _ in pts}) >= 2:
        w = [1 / (t * t) for _, t in pts]
        sw = sum(w)
        sg = sum(wi * g for wi, (g, _) in zip(w, pts, strict=True))
        st = sum(wi * t for wi, (_, t) in zip(w, pts, strict=True))
        sgg = sum(wi * g * g for wi, (g, _) in zip(w, pts, strict=True))
        sgt = sum(wi * g * t for wi, (g, t) in zip(w, pts, strict=True))
        det = sw * sgg - sg * sg
        slope = (sw * sgt - sg * st) / det if det > 0 else 0.0
        overhead = (st - slope * sg) / sw
        if slope > 0 and 0 <= overhead <= MAX_OVERHEAD * big.ms * (1 + 1e-9):
            predicted = overhead + slope * g_n
        elif empty and big.ms > fixed:
            predicted = other  # no plausible line, but a measured fixed cost: it is not scaled
    spread = max(abs(other - predicted), max(MIN_SPREAD, noise) * predicted)
    low, high = max(predicted - spread, 0.0), predicted + spread
    if empty:  # the per-row part is a difference of two noisy medians: its uncertainty, scaled up, widens the interval
        delta = 2 * part_error if part_error is not None else noise * (big.ms + fixed)
        low = min(low, fixed + max(big.ms - fixed - delta, 0.0) * g_n / g_big)
        high = max(high, fixed + (big.ms - fixed + delta) * g_n / g_big)
    return predicted, low, high


def fit(kind: str, small: Point | None, big: Point, target_rows: float) -> tuple[float, float, float]:
    """:func:`fit_points` through two points (the smaller one may be missing)."""
    return fit_points(kind, [big] if small is None or small.rows >= big.rows else [small, big], target_rows)


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


@dataclass(frozen=True)
class Sample:
    """One sample size measured on the shadow.

    :ivar sizes: rows and bytes of each table in its shadow database (see ``sample.sizes``).
    :ivar ms: each statement's durations (ms) over the repeated applies, keyed by (version,
        position in its migration) (see :func:`~.measure.measure`).
    :ivar wal: each statement's WAL (bytes) over the same applies, same keys (see :func:`~.measure.wal_insert_lsn`).
    :ivar commit: each statement's share of its migration's end (ms, its ``COMMIT``: included in ``ms``) over the
        same applies, same keys (see :func:`~.measure.share_commit`).
    """

    sizes: Mapping[str, tuple[int, int]]
    ms: Mapping[tuple[int, int], Sequence[float]]
    wal: Mapping[tuple[int, int], Sequence[int]] = field(default_factory=dict)
    commit: Mapping[tuple[int, int], Sequence[float]] = field(default_factory=dict)


def typical(values: Sequence[float]) -> float:
    """The duration a statement is given from its repeats (ms): their median. Not the shortest: a real
    migration runs minutes and meets the server's usual load, a sample's apply runs milliseconds and
    its shortest repeat is a quiet moment (the bench's predictions were 15-60% too low with it)."""
    return statistics.median(values)


def lower(values: Sequence[float]) -> float:
    """The lower quartile of a statement's repeated durations (ms; the only one when there is one). Where its
    per-row part is not :func:`resolved`, the sizes' lower quartiles less the emptied copy's give it: the noise
    that hides it is one-sided (an ``fsync``, a moment of load: a repeat is never faster than its work), and a
    lower quantile moves less with it than the median does. Never below the fastest repeat (with two repeats
    the "exclusive" method of :func:`statistics.quantiles` extrapolates below it)."""
    return max(statistics.quantiles(values, n=4)[0], min(values)) if len(values) > 1 else values[0]


def median_error(values: Sequence[float]) -> float:
    """The standard error of the median of ``values`` (ms): ``1.253 · sd / √n``, the standard deviation ``sd``
    estimated robustly as ``1.4826 · MAD`` (the median absolute deviation; both constants the normal
    distribution's). 0 for fewer than two values."""
    if len(values) < 2:
        return 0.0
    m = statistics.median(values)
    sigma = 1.4826 * statistics.median(abs(v - m) for v in values)
    return 1.253 * sigma / math.sqrt(len(values))


#: a statement's per-row part is resolved when it is at least this many standard errors (see :func:`resolved`)
RESOLVED_AT = 5.0


def resolved(full: Sequence[float], empty: Sequence[float]) -> bool:
    """Whether a statement's per-row part on the full sample — the median of its durations there (``full``, ms)
    minus the median on the emptied copy (``empty``, ms: its fixed cost) — is at least :data:`RESOLVED_AT`
    times its standard error (:func:`median_error` of each, combined): known to ±20% or better. Where it is
    not, more repeats narrow it (the preflight's cheap small samples, where the per-row part of a statement
    is a few milliseconds beside a fixed cost as large)."""
    if not full or not empty:
        return True
    part = statistics.median(full) - statistics.median(empty)
    return part >= RESOLVED_AT * math.hypot(median_error(full), median_error(empty))


def scales(kind: str, rewritten: bool) -> bool:
    """Whether a statement of work ``kind`` (see :func:`~.work.work_of`) has a per-row part to scale: every kind
    does, except a rewrite whose dry run rewrote no table (``rewritten``: its report's ``rewritten`` is not
    empty; ``ADD COLUMN`` with a constant default, a type change that keeps the bytes do not rewrite:
    PostgreSQL docs, "ALTER TABLE", Notes)."""
    return kind != REWRITE or rewritten


def predict(report: DryRunReport, samples: Sequence[Sample], facts: TargetFacts) -> int:
    """Set ``predicted_ms`` (and low, high, ``target_rows``, ``target_bytes``) on every statement of ``report``
    that rewrites a table (measured: its ``rewritten``), builds an index, validates a constraint or
    updates rows of a table that exists on the target.

    Each sample size gives one point per statement: the table's rows in that shadow and the
    statement's :func:`typical` duration there; the interval is at least twice the relative standard
    error of the largest sample's median (:func:`median_error`), and spans the per-row part moved by twice
    its standard error (the largest sample's and the emptied copy's medians' errors combined).

    :param report: the dry run on the shadow with the full sample (it says which statements rewrote).
    :param samples: the sample sizes measured, the full sample first.
    :returns: how many statements got a prediction.
    """
    done = 0
    full = samples[0].sizes if samples else {}
    for m in report.migrations:
        for i, s in enumerate(m.statements):
            key = (m.version, i)
            used = [smp for smp in samples if smp.ms.get(key)]
            if not used:
                continue  # not measured (a CREATE INDEX CONCURRENTLY the dry run skips is: the applies run it)
            node = first_node(s.sql)  # parsed once here: its work kind, table and a foreign key's parent
            work = work_of(node) if node is not None else None
            if node is None or work is None:
                continue
            kind, table = work
            if not scales(kind, bool(s.rewritten)):
                continue
            target = _rows_of(table, facts, full)
            rows = [smp.sizes.get(table, (0, 0))[0] for smp in used]
            if target is None or not any(rows):
                continue
            parent = foreign_key_parent_of(node) if kind == VALIDATE else None
            predicted, low, high = _scaled(kind, table, key, used, rows, target[0], facts, parent)
            s.predicted_ms, s.predicted_ms_low, s.predicted_ms_high = predicted, low, high
            s.target_rows, s.target_bytes, s.predicted_table = int(target[0]), target[1], table
            done += 1
    return done


def _scaled(kind: str, table: str, key: tuple[int, int], used: Sequence[Sample], rows: Sequence[int],
            target_rows: float, facts: TargetFacts, parent: str | None) -> tuple[float, float, float]:
    """One statement's (predicted, low, high) in ms (see :func:`predict`); ``parent``: the table a foreign key it
    adds references."""
    points = [Point(n, typical(smp.ms[key])) for n, smp in zip(rows, used, strict=True)]
    largest = max(range(len(rows)), key=rows.__getitem__)
    big = used[largest]
    empty = next((smp for n, smp in zip(rows, used, strict=True) if n == 0), None)
    if empty is not None and not resolved(big.ms[key], empty.ms[key]):
        shift = typical(empty.ms[key]) - lower(empty.ms[key])  # the fixed cost stays the emptied copy's median
        points = [Point(n, lower(smp.ms[key]) + shift) for n, smp in zip(rows, used, strict=True)]
    error = math.hypot(median_error(big.ms[key]), median_error(empty.ms[key]) if empty else 0.0)
    noise = 2 * median_error(big.ms[key]) / typical(big.ms[key])
    part_error = error if empty else None
    t = facts.by_name(table)
    run_rows = sort_run_rows(facts, t.bytes / target_rows) if kind == INDEX and t and target_rows > 0 else None
    predicted, low, high = fit_points(kind, points, target_rows, noise, part_error, run_rows)
    if run_rows is not None and target_rows > run_rows:  # the target's sort spills, the sample's never did:
        alt = fit_points(kind, points, target_rows, noise, part_error)  # n·log2 n all the way says the most
        low, high = min(low, alt[1]), max(high, alt[0])
    p = _rows_of(parent, facts, used[0].sizes) if parent and parent != table else None  # never analyzed: by bytes
    if p is not None and p[0] > 0:
        predicted, low, high = _with_parents(kind, points, [smp.sizes.get(parent or "", (0, 0))[0] for smp in used],
                                             target_rows, p[0], (predicted, low, high), noise, part_error)
    if empty is not None and t is not None:  # its WAL past the checkpoint distance: pages written to disk meanwhile
        empty_wal = statistics.median(empty.wal.get(key) or [0])
        per_row = max(statistics.median(big.wal.get(key) or [0]) - empty_wal, 0) / max(rows[largest], 1)
        share, extra = past_checkpoints(facts, empty_wal + per_row * target_rows, t.bytes + t.index_bytes,
                                        per_byte(big.commit.get(key, []), empty.commit.get(key, []),
                                                 big.wal.get(key, []), empty.wal.get(key, [])))
        predicted, low = predicted + extra, low + extra
        high = max(high + extra, predicted * (1 + share))
    return predicted, low, high


def _with_parents(kind: str, points: Sequence[Point], parents: Sequence[int], target_rows: float,
                  target_parents: float, child_only: tuple[float, float, float], noise: float,
                  part_error: float | None) -> tuple[float, float, float]:
    """A foreign key's validation scaled by its child's rows and its parent's: the check joins every child row to
    the parent table (PostgreSQL source, src/backend/utils/adt/ri_triggers.c, ``RI_Initial_Check``), and a
    sample holds about as many parents as children where the target holds its own ratio. The parents' cost per
    row lies between none (``child_only``: the child's rows alone scaled) and a child's (the sum of both
    scaled); the prediction is the middle of the two, the interval spans both. (A fit of the two costs through
    the thinned sizes, which drop parents by ``f`` and children by about ``f²``, landed on either bound from
    the repeats' noise: -41% at 1 M rows, -53% at 5 M.)"""
    both = fit_points(kind, [Point(p.rows + q, p.ms) for p, q in zip(points, parents, strict=True)],
                      target_rows + target_parents, noise, part_error)
    predicted = (both[0] + child_only[0]) / 2
    return predicted, min(both[1], child_only[1]), max(both[2], child_only[2])


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
