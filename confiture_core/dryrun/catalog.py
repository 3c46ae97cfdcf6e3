"""Catalog snapshots of the dry run's own session: relation locks (pg_locks), relfilenodes, sequence states."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from ..risk import MODE_NAMES, MODES

Conn = psycopg.Connection[Any]

TABLE_KINDS = {"r", "p", "m", "v", "f"}
KIND_NAMES = {"r": "table", "p": "partitioned table", "m": "materialized view", "v": "view", "f": "foreign table",
               "i": "index", "I": "partitioned index", "S": "sequence", "t": "toast table", "c": "type"}

# What our backend holds that it did not hold at the previous read, with no cost growing with what it
# held before: the (relation, mode) pairs already seen live in a transaction-local setting
# (``confiture.held_locks``, codes oid * 10 + mode number) that PostgreSQL itself resets when the
# transaction ends and when a savepoint is rolled back, which is exactly when locks are released
# ("Explicit Locking": locks are held until the end of the transaction; a savepoint rolled back
# releases those taken after it). pg_locks is still scanned once per read (the view has no index),
# but only the new pairs come back and nothing else is re-read. Catalogs have oids below
# FirstNormalObjectId (16384). Then, for the new locks and the relations asked for, the name, kind,
# relfilenode (a new one means a rewrite: "Database File Layout") and sequence state.
# pg_sequence_last_value takes ROW EXCLUSIVE on the sequence it reads: those locks are ours, recorded
# as held in the same statement so that the next read does not blame the next statement for them.
_READ_SQL = """
WITH cur AS MATERIALIZED (
  SELECT l.relation::bigint * 10 + array_position(%(codes)s::text[], l.mode) AS k
    FROM pg_locks l
   WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted AND l.relation >= 16384
     AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
     AND array_position(%(codes)s::text[], l.mode) IS NOT NULL),
known AS MATERIALIZED (
  SELECT unnest(string_to_array(nullif(current_setting('confiture.held_locks', true), ''), ',')::bigint[]) AS k),
new AS MATERIALIZED (SELECT DISTINCT cur.k FROM cur WHERE cur.k NOT IN (SELECT known.k FROM known)),
rel AS MATERIALIZED (SELECT ARRAY(SELECT (new.k / 10)::oid FROM new UNION SELECT unnest(%(want)s::oid[])) AS a),
det AS MATERIALIZED (
  SELECT c.oid::bigint AS oid, n.nspname, c.relname, c.relkind, c.relfilenode::bigint AS node,
         CASE WHEN c.relkind = 'S' AND c.relpersistence <> 't' AND has_sequence_privilege(c.oid, 'SELECT,USAGE')
              THEN pg_sequence_last_value(c.oid) END AS last,
         s.seqstart, s.seqincrement,
         c.relkind = 'S' AND c.relpersistence <> 't' AND has_sequence_privilege(c.oid, 'SELECT,USAGE') AS locked
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_sequence s ON s.seqrelid = c.oid
   WHERE c.oid = ANY((SELECT rel.a FROM rel)::oid[]))
SELECT
  (SELECT coalesce(array_agg(new.k), '{}') FROM new),
  (SELECT coalesce(array_agg(known.k), '{}') FROM known WHERE known.k / 10 = ANY(%(prior)s::bigint[])),
  (SELECT coalesce(json_agg(json_build_array(det.oid, det.nspname, det.relname, det.relkind, det.node, det.last,
                                             det.seqstart, det.seqincrement)), '[]') FROM det),
  (SELECT set_config('confiture.held_locks',
                     concat_ws(',', nullif(current_setting('confiture.held_locks', true), ''),
                               string_agg(x.k::text, ',')),
                     true)
     FROM (SELECT new.k FROM new UNION SELECT det.oid * 10 + %(row_exclusive)s FROM det WHERE det.locked) x
    WHERE x.k NOT IN (SELECT known.k FROM known) HAVING count(*) > 0) IS NOT NULL,
  (SELECT count(*) FROM known)
"""
_CODES = list(MODE_NAMES)  # pg_locks mode names; code = 1-based position
HIDDEN = "hidden"  # the kind given to relations of pg_catalog, information_schema, pg_toast*, pg_temp*

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
    WHERE c.relpersistence <> 't'),
  ARRAY(SELECT c.oid::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('i', 'I') AND c.relpersistence <> 't'
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%')
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


def qualified(schema: str, name: str) -> str:
    """A relation's name as reports show it: schema-qualified, ``public`` omitted."""
    return name if schema == "public" else f"{schema}.{name}"


def entry(schema: str, name: str, relkind: str) -> tuple[str, str]:
    """(name as reports show it, relkind); relations of system schemas get the kind :data:`HIDDEN`."""
    if schema in ("pg_catalog", "information_schema") or schema.startswith(("pg_toast", "pg_temp")):
        return ("", HIDDEN)
    return (qualified(schema, name), relkind)


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
    indexes: frozenset[int] = frozenset()  # oids of the indexes (read by take_snapshot only)


def take_snapshot(conn: Conn) -> Snapshot:
    """Read every table's relfilenode, every sequence's state and which indexes exist (no locks).

    Run it outside a transaction: ``pg_sequence_last_value`` takes ROW
    EXCLUSIVE on each sequence, held to the end of the transaction.

    :param conn: the runner's connection.
    :raises psycopg.Error: the catalog cannot be read (aborted transaction...).
    """
    row = conn.execute(_START_SQL).fetchone()
    assert row is not None
    tables = {int(o): (int(f), qualified(s, n), k) for o, f, s, n, k in row[0]}
    seqs = {int(o): SeqState(qualified(s, n), None if v is None else int(v), int(st), int(inc), int(f))
            for o, s, n, v, st, inc, f in row[1]}
    return Snapshot({}, tables, seqs, frozenset(int(o) for o in row[2] or ()))


@dataclass
class LockRead:
    """One :func:`read_locks`: what our backend newly holds, and the state of the relations asked for.

    :ivar new: (oid, SQL mode) pairs held now and not at the previous read.
    :ivar prior: for the oids asked for, the modes held before this read.
    :ivar relations: oid -> (qualified name, relkind) of every relation read (new locks, those asked
        for); relations of system schemas get the kind ``"hidden"``; a new lock's relation that is
        gone (created and dropped by one statement) is absent.
    :ivar tables: oid -> (relfilenode, qualified name, relkind) of the tables and views read.
    :ivar sequences: oid -> state of the sequences read.
    :ivar held_before: how many (oid, mode) pairs were held before this read (0: a new transaction).
    """

    new: list[tuple[int, str]]
    prior: dict[int, set[str]]
    relations: dict[int, tuple[str, str]]
    tables: dict[int, tuple[int, str, str]]
    sequences: dict[int, SeqState]
    held_before: int = 0

    def snapshot(self) -> Snapshot:
        """The tables and sequences read, as a :class:`Snapshot` (no locks)."""
        return Snapshot({}, self.tables, self.sequences)




def read_locks(conn: Conn, want: set[int] | None = None, prior: set[int] | None = None) -> LockRead:
    """Read the relation locks our backend took since the previous read, and the state of ``want``.

    Its cost depends on the new locks and on ``want``, not on the locks held before (but for one
    scan of ``pg_locks``). The locks seen are remembered in the transaction (``confiture.held_locks``,
    a transaction-local setting), so the next read returns only what is new after this one.

    :param conn: the runner's connection (in a transaction; outside one, every lock is new).
    :param want: oids whose name, kind, relfilenode / sequence state to read besides the new locks'.
    :param prior: oids whose modes held before this read are wanted (see :attr:`LockRead.prior`).
    :raises psycopg.Error: the catalog cannot be read (aborted transaction...).
    """
    row = conn.execute(_READ_SQL, {"codes": _CODES, "want": sorted(want or ()), "prior": sorted(prior or ()),
                                   "row_exclusive": _CODES.index("RowExclusiveLock") + 1}, prepare=True).fetchone()
    assert row is not None
    new = [(int(k) // 10, MODES[int(k) % 10 - 1]) for k in row[0]]
    held: dict[int, set[str]] = {}
    for k in row[1]:
        held.setdefault(int(k) // 10, set()).add(MODES[int(k) % 10 - 1])
    relations: dict[int, tuple[str, str]] = {}
    tables: dict[int, tuple[int, str, str]] = {}
    seqs: dict[int, SeqState] = {}
    for o, sch, n, k, f, v, st, inc in row[2]:
        oid = int(o)
        relations[oid] = (name, _kind) = entry(sch, n, k)
        if _kind == HIDDEN:
            continue
        if k in TABLE_KINDS and f is not None:
            tables[oid] = (int(f), name, k)
        elif k == "S" and st is not None:
            seqs[oid] = SeqState(name, None if v is None else int(v), int(st), int(inc or 1),
                                 None if f is None else int(f))
    return LockRead(new, held, relations, tables, seqs, int(row[4]))


#: which of these indexes still exist; which tables the foreign keys of these tables still reference
_DEPENDENTS_SQL = """
SELECT ARRAY(SELECT c.oid::bigint FROM pg_class c WHERE c.oid = ANY(%s::oid[])),
       ARRAY(SELECT DISTINCT con.confrelid::bigint FROM pg_constraint con
              WHERE con.contype = 'f' AND con.conrelid = ANY(%s::oid[]))
"""


def read_dependents(conn: Conn, indexes: list[int], tables: list[int]) -> tuple[set[int], set[int]]:
    """(which of ``indexes`` still exist, which tables the foreign keys of ``tables`` still reference):
    catalog reads only, no lock.

    :raises psycopg.Error: the catalog cannot be read (aborted transaction...).
    """
    row = conn.execute(_DEPENDENTS_SQL, [indexes, tables], prepare=True).fetchone()
    return (set(row[0] or ()), set(row[1] or ())) if row else (set(), set())
