"""Catalog snapshots of the dry run's own session: relation locks (pg_locks), relfilenodes, sequence states."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from ..risk import mode_name

Conn = psycopg.Connection[Any]

TABLE_KINDS = {"r", "p", "m", "v", "f"}
KIND_NAMES = {"r": "table", "p": "partitioned table", "m": "materialized view", "v": "view", "f": "foreign table",
               "i": "index", "I": "partitioned index", "S": "sequence", "t": "toast table", "c": "type"}

# What our backend holds, and only that: its relation locks (catalogs have oids below
# FirstNormalObjectId, 16384), then, in a second query, the name and kind of the relations not seen
# yet, the relfilenode of each table and the state of each sequence it holds a lock on. A rewrite
# needs ACCESS EXCLUSIVE and nextval / setval take ROW EXCLUSIVE on the sequence (PostgreSQL docs,
# "Explicit Locking"; sequence.c), all held to the end of the transaction: what a statement
# rewrote or advanced is among what we hold after it.
_LOCKS_SQL = """
SELECT coalesce(array_agg(l.relation::bigint), '{}'), coalesce(array_agg(l.mode), '{}')
  FROM pg_locks l
 WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted AND l.relation >= 16384
   AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
"""
_DETAILS_SQL = """
SELECT c.oid::bigint, n.nspname, c.relname, c.relkind, c.relfilenode::bigint,
       CASE WHEN c.relkind = 'S' AND c.relpersistence <> 't' AND has_sequence_privilege(c.oid, 'SELECT,USAGE')
            THEN pg_sequence_last_value(c.oid) END,
       s.seqstart, s.seqincrement
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_sequence s ON s.seqrelid = c.oid
 WHERE c.oid = ANY(%s::oid[])
"""
_HIDDEN = "hidden"  # kind cached for relations of pg_catalog, information_schema, pg_toast*, pg_temp*

# Once, before the run: every table's relfilenode and every sequence's state (pre-existing
# relations, sequences to put back).
_START_SQL = """
SELECT
  (SELECT coalesce(json_agg(json_build_array(c.oid::bigint, c.relfilenode::bigint, n.nspname, c.relname,
                                             c.relkind)), '[]')
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'm', 'p', 'v', 'f') AND c.relpersistence <> 't'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%'),
  (SELECT coalesce(json_agg(json_build_array(c.oid::bigint, n.nspname, c.relname,
            CASE WHEN has_sequence_privilege(c.oid, 'SELECT,USAGE') THEN pg_sequence_last_value(c.oid) END,
            s.seqstart, s.seqincrement, c.relfilenode::bigint)), '[]')
     FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relpersistence <> 't')
"""

# Which of these relations' pg_class rows our (still open) transaction wrote: a visible row whose
# xmin is "in progress" can only be ours (a table we did not hold a lock on may have been rewritten
# by another session since we last saw it).
OURS_SQL = """
SELECT c.oid::bigint FROM pg_class c
 WHERE c.oid = ANY(%s::oid[]) AND pg_current_xact_id_if_assigned() IS NOT NULL
   AND pg_xact_status(((pg_current_xact_id_if_assigned()::text::bigint >> 32 << 32)
                       + c.xmin::text::bigint)::text::xid8) = 'in progress'
"""


def _qname(schema: str | None, name: str | None, oid: int) -> str:
    if name is None:
        return f"(dropped relation, oid {oid})"
    return name if schema in (None, "public") else f"{schema}.{name}"


@dataclass(frozen=True)
class SeqState:
    """A sequence's state: ``last_value`` is ``None`` until nextval/setval(…, true) was called.

    ``filenode`` changes with a transactional ``ALTER SEQUENCE ... RESTART`` (rolled back with the run).
    """

    name: str
    last_value: int | None
    start: int
    increment: int = 1
    filenode: int | None = None

    def next_value(self) -> int:
        """The value the next ``nextval`` hands out (when nobody changes the sequence otherwise)."""
        return self.start if self.last_value is None else self.last_value + self.increment


@dataclass
class Snapshot:
    """One read of locks, relfilenodes and sequences.

    :func:`take_snapshot` reads every table and sequence (once per run);
    :func:`take_held` only those our backend holds a lock on (around each statement).
    """

    locks: dict[tuple[int, str], tuple[str, str]]  # (oid, SQL mode) -> (qualified name, relkind)
    tables: dict[int, tuple[int, str, str]]  # oid -> (relfilenode, qualified name, relkind)
    sequences: dict[int, SeqState]


def take_snapshot(conn: Conn) -> Snapshot:
    """Read every table's relfilenode and every sequence's state (no locks).

    Run it outside a transaction: ``pg_sequence_last_value`` takes ROW
    EXCLUSIVE on each sequence, held to the end of the transaction.

    :param conn: the runner's connection.
    :raises psycopg.Error: the catalog cannot be read (aborted transaction...).
    """
    row = conn.execute(_START_SQL).fetchone()
    assert row is not None
    tables = {int(o): (int(f), _qname(s, n, int(o)), k) for o, f, s, n, k in row[0]}
    seqs = {int(o): SeqState(_qname(s, n, int(o)), None if v is None else int(v), int(st), int(inc), int(f))
            for o, s, n, v, st, inc, f in row[1]}
    return Snapshot({}, tables, seqs)


def take_held(conn: Conn, kinds: dict[int, tuple[str, str]] | None = None,
              fresh: set[tuple[int, str]] | None = None) -> Snapshot:
    """Read our backend's relation locks, and the relfilenode / state of the tables / sequences it locks.

    :param conn: the runner's connection (inside the dry run's transaction, or not).
    :param kinds: cache oid -> (qualified name, relkind), filled here (a relkind never changes).
    :param fresh: the locks held before: the name is re-read for the other locks, and for every
        table and sequence held; ``None``: re-read everything.
    :raises psycopg.Error: the catalog cannot be read (aborted transaction...).
    """
    kinds = {} if kinds is None else kinds
    row = conn.execute(_LOCKS_SQL).fetchone()
    assert row is not None
    held = [(int(o), mode_name(m)) for o, m in zip(row[0], row[1], strict=True)]
    want = {o for o, m in held if fresh is None or (o, m) not in fresh or o not in kinds
            or kinds[o][1] in TABLE_KINDS or kinds[o][1] == "S"}
    tables: dict[int, tuple[int, str, str]] = {}
    seqs: dict[int, SeqState] = {}
    if want:
        found: set[int] = set()
        for o, sch, n, k, f, v, st, inc in conn.execute(_DETAILS_SQL, [sorted(want)]).fetchall():
            oid = int(o)
            found.add(oid)
            if sch in ("pg_catalog", "information_schema") or sch.startswith(("pg_toast", "pg_temp")):
                kinds[oid] = ("", _HIDDEN)
                continue
            name = _qname(sch, n, oid)
            kinds[oid] = (name, k)
            if k in TABLE_KINDS and f is not None:
                tables[oid] = (int(f), name, k)
            elif k == "S" and st is not None:
                seqs[oid] = SeqState(name, None if v is None else int(v), int(st), int(inc or 1),
                                     None if f is None else int(f))
        for oid in want - found:
            kinds[oid] = (_qname(None, None, oid), "?")
    locks: dict[tuple[int, str], tuple[str, str]] = {}
    for oid, mode in held:
        name, kind = kinds[oid]
        if kind != _HIDDEN:
            locks[(oid, mode)] = (name, kind)
    return Snapshot(locks, tables, seqs)


