"""Who holds the lock a statement waits for: sessions described from pg_stat_activity and pg_locks.

Facts: ``pg_blocking_pids`` and ``pg_stat_activity`` (PostgreSQL docs, "System Information
Functions" and "The Cumulative Statistics System"), ``pg_locks`` ("System Views"), the lock
conflict table of "Explicit Locking" (:data:`confiture_core.risk.CONFLICTS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from .risk import CONFLICTS, MODE_NAMES

Conn = psycopg.Connection[Any]


@dataclass
class Blocker:
    """A backend that held (or queued ahead for) the lock our statement waited for.

    :ivar holds: ``"AccessShareLock on t, ..."``: its granted locks on the contested relations.
    :ivar waiting_for: what our backend waited for (watch) or what the blocker itself queues for.
    :ivar query_start: when its current (or last) query started, text with time zone.
    """

    pid: int
    user: str | None
    application: str | None
    state: str | None
    backend_start: str | None
    xact_start: str | None
    query: str | None
    holds: str | None
    waiting_for: str | None
    query_start: str | None = None

    def describe(self) -> str:
        """One line for the error message: pid, user, application, transaction and query start, state, locks."""
        bits = [f"pid {self.pid}"]
        if self.user:
            bits.append(f"user {self.user}")
        if self.application:
            bits.append(f"application {self.application!r}")
        if self.backend_start:
            bits.append(f"connected since {self.backend_start}")
        if self.xact_start:
            bits.append(f"transaction open since {self.xact_start}")
        if self.query_start:
            bits.append(f"query started {self.query_start}")
        if self.state:
            bits.append(f"state {self.state}")
        if self.holds:
            bits.append(f"holding {self.holds}")
        return ", ".join(bits)


_TS = "'YYYY-MM-DD HH24:MI:SS TZ'"

#: the backends ``pg_blocking_pids(%(me)s)`` names while ``me`` waits (seen from another connection)
BLOCKERS_SQL = f"""
SELECT a.pid, a.usename, a.application_name, a.state,
       to_char(a.backend_start, {_TS}), to_char(a.xact_start, {_TS}),
       left(a.query, 200),
       (SELECT string_agg(DISTINCT format('%%s on %%s', l.mode, l.relation::regclass), ', ')
          FROM pg_locks l
         WHERE l.pid = a.pid AND l.granted AND l.locktype = 'relation'
           AND l.relation IN (SELECT w.relation FROM pg_locks w WHERE w.pid = %(me)s AND NOT w.granted)),
       (SELECT string_agg(format('%%s on %%s', w.mode, w.relation::regclass), ', ')
          FROM pg_locks w WHERE w.pid = %(me)s AND NOT w.granted AND w.locktype = 'relation'),
       to_char(a.query_start, {_TS})
  FROM pg_stat_activity a
 WHERE a.pid = ANY(pg_blocking_pids(%(me)s))
 ORDER BY a.pid
"""

#: the other backends holding, or queued for, a lock on ``%(rels)s`` that conflicts with ``%(modes)s``
_HOLDERS_SQL = f"""
WITH rel AS (SELECT to_regclass(r)::oid AS oid FROM unnest(%(rels)s::text[]) AS r),
     held AS (SELECT l.pid, l.granted, format('%%s on %%s', l.mode, l.relation::regclass) AS what
                FROM pg_locks l
               WHERE l.locktype = 'relation' AND l.relation IN (SELECT oid FROM rel WHERE oid IS NOT NULL)
                 AND l.mode = ANY(%(modes)s) AND l.pid <> pg_backend_pid())
SELECT a.pid, a.usename, a.application_name, a.state,
       to_char(a.backend_start, {_TS}), to_char(a.xact_start, {_TS}), left(a.query, 200),
       (SELECT string_agg(DISTINCT h.what, ', ') FROM held h WHERE h.pid = a.pid AND h.granted),
       (SELECT string_agg(DISTINCT h.what, ', ') FROM held h WHERE h.pid = a.pid AND NOT h.granted),
       to_char(a.query_start, {_TS})
  FROM pg_stat_activity a
 WHERE a.pid IN (SELECT pid FROM held)
 ORDER BY a.xact_start NULLS LAST, a.pid
"""

_PG_MODE = {sql: pg for pg, sql in MODE_NAMES.items()}


def _rows(rows: Sequence[Sequence[Any]]) -> list[Blocker]:
    return [Blocker(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]) for r in rows]


def blockers_of(conn: Conn, pid: int) -> list[Blocker]:
    """The backends blocking ``pid`` now (``pg_blocking_pids``), asked on ``conn`` (another session).

    :raises psycopg.Error: the catalog read failed.
    """
    return _rows(conn.execute(BLOCKERS_SQL, {"me": pid}).fetchall())


def holders(conn: Conn, relations: Sequence[str], mode: str) -> list[Blocker]:
    """The other backends holding, or queued for, a lock on one of ``relations`` that conflicts with ``mode``.

    Asked after our statement gave up (a lock timeout): who stood in its way then, and still does.
    A read of ``pg_locks`` and ``pg_stat_activity`` only (ACCESS SHARE on nothing).

    :param relations: relation names as the statement wrote them (resolved with ``to_regclass`` on
        ``conn``'s search_path; names that resolve to nothing are ignored).
    :param mode: the SQL lock-mode name the statement requested, e.g. ``"ACCESS EXCLUSIVE"``.
    :raises psycopg.Error: the catalog read failed (``conn`` in an aborted transaction, say).
    """
    if not relations:
        return []
    modes = [_PG_MODE[m] for m in CONFLICTS.get(mode, frozenset()) if m in _PG_MODE]
    return _rows(conn.execute(_HOLDERS_SQL, {"rels": list(relations), "modes": modes}).fetchall())
