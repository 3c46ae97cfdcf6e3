"""How the cost per byte of work grows from the sample's size to the target's on the shadow server."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from .work import INDEX, REWRITE, UPDATE, VALIDATE

Conn = psycopg.Connection[Any]

#: below this size (bytes) the cost per byte is taken as constant (a table this small stays in shared_buffers)
FLOOR_BYTES = 8 * 1024**2
#: the synthetic table is at most this large (bytes); beyond, the cost per byte is taken as constant
CAP_BYTES = 512 * 1024**2
#: heap bytes per synthetic row (bigint, md5 text, tuple header, line pointer)
ROW_BYTES = 72
#: the regime factor is kept within these bounds (a wild value is timing noise)
BOUNDS = (0.5, 20.0)

#: one statement per work kind, run on the synthetic table ``cal(id bigint, note text)`` and rolled back
PROBES = {
    REWRITE: "ALTER TABLE cal ADD COLUMN r float8 DEFAULT random()",
    UPDATE: "UPDATE cal SET note = note || 'x'",
    INDEX: "CREATE INDEX ON cal (note)",
    VALIDATE: "ALTER TABLE cal ADD CONSTRAINT positive CHECK (id > 0)",
}


def _probe_ms(conn: Conn, kind: str, runs: int = 2) -> float:
    """The probe's shortest time of ``runs`` runs (each rolled back), in ms."""
    best = float("inf")
    for _ in range(runs):
        with conn.transaction(force_rollback=True):
            t = time.perf_counter()
            conn.execute(PROBES[kind])
            best = min(best, (time.perf_counter() - t) * 1000)
    return best


def _table(conn: Conn, rows: int) -> int:
    """(Re)create ``cal`` with ``rows`` rows, frozen and analyzed; its heap size in bytes."""
    conn.execute("DROP TABLE IF EXISTS cal")
    conn.execute("CREATE TABLE cal AS SELECT g::bigint AS id, md5(g::text) AS note FROM generate_series(1, %s) g",
                 [max(rows, 1)])
    conn.execute("VACUUM (FREEZE, ANALYZE) cal")
    row = conn.execute("SELECT pg_table_size('cal')").fetchone()
    return int(row[0]) if row else 0


def regime(conn: Conn, kinds: set[str], sample_bytes: int, target_bytes: int) -> dict[str, float]:
    """Per work kind, the cost per byte of its probe on a synthetic table of the target's size (at most
    :data:`CAP_BYTES`) over that on one of the sample's size (at least :data:`FLOOR_BYTES`), fixed cost (the
    probe on one row) taken off both.

    Measured on the shadow server, so it carries what changes with size there: a table larger than
    shared_buffers, WAL written by the backend itself, a sort spilling to disk. ``1`` for every kind when
    the target's table is not at least twice the floor.

    :param conn: an autocommit connection to a scratch database (a table ``cal`` is created and dropped).
    :returns: the factor per kind, within :data:`BOUNDS`.
    """
    small_bytes, big_bytes = max(sample_bytes, FLOOR_BYTES), min(target_bytes, CAP_BYTES)
    if not kinds or big_bytes < 2 * small_bytes:
        return {k: 1.0 for k in kinds}
    _table(conn, 1)
    fixed = {k: _probe_ms(conn, k) for k in sorted(kinds)}
    small_real = _table(conn, small_bytes // ROW_BYTES)
    small = {k: _probe_ms(conn, k) for k in sorted(kinds)}
    big_real = _table(conn, big_bytes // ROW_BYTES)
    big = {k: _probe_ms(conn, k, runs=1) for k in sorted(kinds)}
    conn.execute("DROP TABLE cal")
    out: dict[str, float] = {}
    for k in kinds:
        per_small = (small[k] - fixed[k]) / small_real
        per_big = (big[k] - fixed[k]) / big_real
        out[k] = min(max(per_big / per_small, BOUNDS[0]), BOUNDS[1]) if per_small > 0 and per_big > 0 else 1.0
    return out
