"""Measured dry runs: what each statement really did, then everything rolled back.

:func:`dry_run` runs ``Runner.up(dry_run=True)`` (one transaction, a SAVEPOINT
per migration, hooks included with ``context.dry_run`` true, ROLLBACK at the
end) with a :class:`MeasuringObserver` that, around every statement, reads on
the runner's own connection only what our backend holds locks on (every table
and sequence is read once, before the run; see :data:`_LOCKS_SQL`):

- ``pg_locks`` rows of our backend (``locktype = 'relation'``, granted). Locks
  are held to the end of the transaction, so a statement's locks are those new
  since the snapshot taken just before it (PostgreSQL docs, "Explicit Locking":
  https://www.postgresql.org/docs/current/explicit-locking.html). What each mode
  blocks comes from the conflict table in :mod:`confiture_core.risk`.
- ``pg_class.relfilenode`` of every table and materialized view: a new
  relfilenode for the same oid means the table was rewritten (docs, "Database
  File Layout": https://www.postgresql.org/docs/current/storage-file-layout.html).
- the state of every sequence (``pg_sequence_last_value``). Sequences are not
  transactional ("Sequence Manipulation Functions": *nextval ... is never rolled
  back*), so the rollback does not undo them: after the rollback :func:`dry_run`
  puts a sequence back with ``setval`` only when every value in between is
  provably its own (:func:`restore_sequences`); otherwise it is left advanced (a
  gap, never a duplicate) and the report says why.

One transaction for the whole run means a lock an earlier migration took hides
the same lock of a later one (PostgreSQL adds no ``pg_locks`` row for a mode
already held): such locks are reported as ``inferred`` for the statements that
name the relation (see :class:`LockTaken`), and ``destructive`` is judged from
the statement's target relation, resolved before it runs.

The duration (ms) and rows affected come from the runner. Statements that
cannot run in a transaction block are not executed; the report marks them
``not executed in dry-run`` with the lock they would take.

A dry run sets a short ``lock_timeout`` (``[dry_run] lock_timeout``, default
``"2s"``): when a statement waits on another session's lock longer than that,
the run stops and :class:`LockBlocked` names the blocking backends, found with
``pg_blocking_pids`` / ``pg_locks`` / ``pg_stat_activity`` from a second
connection while our statement waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from pglast import ast
from pglast.enums import AlterTableType, ObjectType
from pglast.visitors import Visitor

from .config import Config, check_duration
from .errors import ConfitureError
from .hookcaller import HookFailed, Hooks
from .hookspecs import Backfill, BackfillBatch, HookContext, MigrationResult
from .migrations import Direction, Migration
from .risk import (
    NON_TRANSACTIONAL_LOCKS,
    Risk,
    blocked_operations,
    mode_name,
    risk_of_mode,
    strongest,
)
from .runner import NullReporter, Reporter, Runner, RunResult
from .sql import Statement, redact_secrets

Conn = psycopg.Connection[Any]

DEFAULT_LOCK_TIMEOUT = "2s"
_TABLE_KINDS = {"r", "p", "m", "v", "f"}
_KIND_NAMES = {"r": "table", "p": "partitioned table", "m": "materialized view", "v": "view", "f": "foreign table",
               "i": "index", "I": "partitioned index", "S": "sequence", "t": "toast table", "c": "type"}
SEQUENCE_NOTE = ("PostgreSQL does not roll back sequences (nextval is never undone): after the rollback the dry "
                 "run put back with setval only the sequences whose every new value it can prove it drew itself; "
                 "the others are left advanced (a gap; no value is ever handed out twice)")

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
_OURS_SQL = """
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
            or kinds[o][1] in _TABLE_KINDS or kinds[o][1] == "S"}
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
            if k in _TABLE_KINDS and f is not None:
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


@dataclass
class LockTaken:
    """A relation lock a statement took (or would take, when not executed).

    :ivar relation: schema-qualified name (``public`` omitted).
    :ivar kind: ``table``, ``index``, ``sequence``, ``view``, ...
    :ivar mode: SQL lock-mode name, e.g. ``"SHARE"``.
    :ivar blocks: common operations other sessions cannot run meanwhile.
    :ivar preexisting: the relation existed before the run (else created by it).
    :ivar inferred: not seen taken by this statement in ``pg_locks``: a lock an earlier
        migration of the same dry run already held on a relation this statement names
        (PostgreSQL shows no new row for a mode already held; the real run, where each
        migration has its own transaction, takes it afresh), or the lock a statement
        that was not executed would take.
    """

    relation: str
    kind: str
    mode: str
    blocks: list[str]
    preexisting: bool
    inferred: bool = False

    def as_json(self) -> dict[str, Any]:
        """JSON object (see docs/dry-run.md)."""
        return {"relation": self.relation, "kind": self.kind, "mode": self.mode, "blocks": self.blocks,
                "preexisting": self.preexisting, "inferred": self.inferred}


@dataclass
class SequenceAdvance:
    """A sequence whose state changed during a statement (``before`` ``None``: never used)."""

    sequence: str
    before: int | None
    after: int | None

    def as_json(self) -> dict[str, Any]:
        """JSON object (see docs/dry-run.md)."""
        return {"sequence": self.sequence, "before": self.before, "after": self.after}


@dataclass
class StatementReport:
    """What one statement did in the dry run.

    :ivar executed: ``False`` for statements that cannot run in a transaction
        block (and transaction control), with ``note`` saying why.
    :ivar duration_ms: measured wall-clock duration in milliseconds (``None`` if not executed).
    :ivar rows: rows affected as reported by PostgreSQL (``None``: not applicable).
    """

    line: int
    sql: str
    kind: str
    executed: bool
    note: str | None = None
    duration_ms: float | None = None
    rows: int | None = None
    locks: list[LockTaken] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    sequences: list[SequenceAdvance] = field(default_factory=list)
    risk: Risk = Risk.SAFE
    reasons: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """JSON object (see docs/dry-run.md)."""
        return {
            "line": self.line, "sql": self.sql, "kind": self.kind, "executed": self.executed, "note": self.note,
            "duration_ms": None if self.duration_ms is None else round(self.duration_ms, 3), "rows": self.rows,
            "locks": [lk.as_json() for lk in self.locks], "rewritten": self.rewritten,
            "sequences": [s.as_json() for s in self.sequences], "risk": self.risk.label, "reasons": self.reasons,
        }


@dataclass
class MigrationReport:
    """What one migration did in the dry run: its statements and its risk (the highest of them).

    :ivar status: ``applied`` (ran, then rolled back with everything else),
        ``failed``, ``not-executed`` (it runs outside a transaction, so nothing of
        it could run in the dry run's; its statements carry the locks they would
        take) or ``pending`` (not reached: an earlier migration failed).
    :ivar executed: ``False`` once a statement was left out because the
        migration runs outside a transaction.
    """

    version: int
    name: str
    status: str = "pending"
    executed: bool = True
    duration_ms: float | None = None
    error: str | None = None
    statements: list[StatementReport] = field(default_factory=list)

    @property
    def risk(self) -> Risk:
        """The highest risk of its statements (``safe`` when it has none)."""
        return max((s.risk for s in self.statements), default=Risk.SAFE)

    @property
    def reasons(self) -> list[str]:
        """Why the risk is what it is (deduplicated, in order)."""
        out: list[str] = []
        for s in self.statements:
            for r in s.reasons:
                if r not in out:
                    out.append(r)
        return out

    def locks(self) -> list[LockTaken]:
        """The strongest lock per relation over all its statements."""
        best: dict[str, LockTaken] = {}
        for s in self.statements:
            for lk in s.locks:
                cur = best.get(lk.relation)
                if cur is None or strongest([cur.mode, lk.mode]) == lk.mode:
                    best[lk.relation] = lk
        return list(best.values())

    def as_json(self) -> dict[str, Any]:
        """JSON object (see docs/dry-run.md)."""
        return {
            "version": str(self.version), "name": self.name, "status": self.status,
            "duration_ms": None if self.duration_ms is None else round(self.duration_ms, 3), "error": self.error,
            "risk": self.risk.label, "reasons": self.reasons, "locks": [lk.as_json() for lk in self.locks()],
            "rewritten": sorted({t for s in self.statements for t in s.rewritten}),
            "sequences": [q.as_json() for s in self.statements for q in s.sequences],
            "statements": [s.as_json() for s in self.statements],
        }


@dataclass
class DryRunReport:
    """The whole dry run: per migration reports, sequences put back, the overall risk."""

    migrations: list[MigrationReport]
    lock_timeout: str | None
    server_version: int
    sequences_restored: list[str] = field(default_factory=list)
    sequences_not_restored: list[str] = field(default_factory=list)
    sequences_not_restored_reasons: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every migration ran without error."""
        return self.error is None and all(m.status != "failed" for m in self.migrations)

    @property
    def risk(self) -> Risk:
        """The highest risk of any migration."""
        return max((m.risk for m in self.migrations), default=Risk.SAFE)

    def as_json(self) -> dict[str, Any]:
        """The document ``migrate up --dry-run --format json`` prints (schema: docs/dry-run.schema.json)."""
        return {
            "dry_run": True, "ok": self.ok, "error": self.error, "risk": self.risk.label,
            "lock_timeout": self.lock_timeout, "server_version": self.server_version,
            "sequences_note": SEQUENCE_NOTE, "sequences_restored": self.sequences_restored,
            "sequences_not_restored": self.sequences_not_restored,
            "sequences_not_restored_reasons": self.sequences_not_restored_reasons,
            "migrations": [m.as_json() for m in self.migrations],
        }


def _destructive(node: ast.Node) -> str | None:
    """Why a statement removes data, judged from its parse tree, or ``None``."""
    if isinstance(node, ast.DropStmt) and node.removeType in (
            ObjectType.OBJECT_TABLE, ObjectType.OBJECT_SCHEMA, ObjectType.OBJECT_MATVIEW):
        return "DROP " + {ObjectType.OBJECT_TABLE: "TABLE", ObjectType.OBJECT_SCHEMA: "SCHEMA",
                          ObjectType.OBJECT_MATVIEW: "MATERIALIZED VIEW"}[node.removeType]
    if isinstance(node, ast.TruncateStmt):
        return "TRUNCATE"
    if isinstance(node, ast.DeleteStmt) and node.whereClause is None:
        return "DELETE without WHERE"
    if isinstance(node, ast.UpdateStmt) and node.whereClause is None:
        return "UPDATE without WHERE"
    if isinstance(node, ast.AlterTableStmt):
        for cmd in node.cmds or ():
            if isinstance(cmd, ast.AlterTableCmd) and cmd.subtype == AlterTableType.AT_DropColumn:
                return "DROP COLUMN"
    return None


# Just before a statement: the oid of each relation it names (aligned with the input; an unqualified
# name is looked up along current_schemas(true), as PostgreSQL does), the tables of the named indexes,
# whether it calls a function defined outside pg_catalog, and which named schemas exist. Catalog reads
# only: no lock, no privilege check, so it cannot fail (and abort the dry run's transaction).
_RESOLVE_SQL = """
WITH path AS (SELECT p.s, p.i FROM unnest(current_schemas(true)) WITH ORDINALITY AS p(s, i)),
     want AS (SELECT w.sch, w.rel, w.i FROM unnest(%(sch)s::text[], %(rel)s::text[]) WITH ORDINALITY AS w(sch, rel, i)),
     found AS (
       SELECT want.i, (SELECT c.oid::bigint FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
                         LEFT JOIN path ON path.s = ns.nspname
                        WHERE c.relname = want.rel
                          AND (ns.nspname = want.sch OR (want.sch IS NULL AND path.i IS NOT NULL))
                        ORDER BY path.i LIMIT 1) AS oid
         FROM want)
SELECT
  coalesce((SELECT array_agg(found.oid ORDER BY found.i) FROM found), '{}'),
  coalesce((SELECT array_agg(x.indrelid::bigint) FROM pg_index x
             WHERE x.indexrelid::bigint IN (SELECT found.oid FROM found)), '{}'),
  EXISTS (SELECT 1 FROM pg_proc p WHERE p.proname = ANY(%(funcs)s::text[])
             AND p.pronamespace <> 'pg_catalog'::regnamespace),
  coalesce((SELECT array_agg(EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = u.s) ORDER BY u.i)
              FROM unnest(%(schemas)s::text[]) WITH ORDINALITY AS u(s, i)), '{}')
"""

_DROPPED_RELATIONS = (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_VIEW, ObjectType.OBJECT_MATVIEW,
                      ObjectType.OBJECT_INDEX, ObjectType.OBJECT_SEQUENCE, ObjectType.OBJECT_FOREIGN_TABLE)


@dataclass
class _Refs:
    """What a statement names, from its parse tree (see :func:`_references`)."""

    relations: list[tuple[str, ...]] = field(default_factory=list)
    targets: list[tuple[str, ...]] = field(default_factory=list)  # what a destructive statement removes data from
    functions: list[str] = field(default_factory=list)
    schemas: list[str] = field(default_factory=list)
    opaque: bool = False  # runs code we cannot see (DO, CALL, EXECUTE, a Python migration)


class _RefVisitor(Visitor):
    def __init__(self, refs: _Refs) -> None:
        super().__init__()
        self.refs = refs

    def visit_RangeVar(self, ancestors: Any, node: ast.RangeVar) -> None:
        rel = _range_var(node)
        if rel:
            self.refs.relations.append(rel)

    def visit_FuncCall(self, ancestors: Any, node: ast.FuncCall) -> None:
        parts = [getattr(p, "sval", None) for p in node.funcname or ()]
        if parts and parts[-1] and not (len(parts) > 1 and parts[0] == "pg_catalog"):
            self.refs.functions.append(str(parts[-1]))


def _name_parts(obj: Any) -> tuple[str, ...]:
    parts = obj if isinstance(obj, tuple | list) else (obj,)
    return tuple(str(p.sval) for p in parts if getattr(p, "sval", None))[-2:]


def _range_var(rel: Any) -> tuple[str, ...] | None:
    if isinstance(rel, ast.RangeVar) and rel.relname:
        return (rel.schemaname, rel.relname) if rel.schemaname else (rel.relname,)
    return None


def _references(statement: Statement) -> _Refs:
    """The relations, functions and schemas a statement names (its parse tree; no database access)."""
    node = statement.node
    refs = _Refs()
    if statement.sql.startswith("-- python migration") or isinstance(node, ast.DoStmt | ast.CallStmt
                                                                       | ast.ExecuteStmt):
        refs.opaque = True
        return refs
    _RefVisitor(refs)(node)
    if isinstance(node, ast.DropStmt):
        names = [_name_parts(o) for o in node.objects or ()]
        if node.removeType in _DROPPED_RELATIONS:
            refs.relations.extend(n for n in names if n)
            if node.removeType in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_MATVIEW):
                refs.targets.extend(n for n in names if n)
        elif node.removeType == ObjectType.OBJECT_SCHEMA:
            refs.schemas.extend(n[-1] for n in names if n)
    elif isinstance(node, ast.TruncateStmt):
        refs.targets.extend(t for t in (_range_var(r) for r in node.relations or ()) if t)
    elif isinstance(node, ast.DeleteStmt | ast.UpdateStmt | ast.AlterTableStmt):
        t = _range_var(node.relation)
        if t and _destructive(node):
            refs.targets.append(t)
    return refs


def _target(node: ast.Node) -> str | None:
    """The relation a non-transactional statement names (for its "would take" lock)."""
    rel = getattr(node, "relation", None)
    if isinstance(rel, ast.RangeVar) and rel.relname:
        return rel.relname if not rel.schemaname else f"{rel.schemaname}.{rel.relname}"
    if isinstance(node, ast.DropStmt) and node.objects:
        obj = node.objects[0]
        parts = [getattr(p, "sval", None) for p in (obj if isinstance(obj, tuple) else ())]
        return ".".join(p for p in parts if p) or None
    if isinstance(node, ast.VacuumStmt) and node.rels:
        vr = node.rels[0]
        if isinstance(vr, ast.VacuumRelation) and isinstance(vr.relation, ast.RangeVar):
            return vr.relation.relname
    return None


@dataclass
class Blocker:
    """A backend that held the lock our statement waited for (seen from a second connection)."""

    pid: int
    user: str | None
    application: str | None
    state: str | None
    backend_start: str | None
    xact_start: str | None
    query: str | None
    holds: str | None
    waiting_for: str | None

    def describe(self) -> str:
        """One line for the error message."""
        bits = [f"pid {self.pid}"]
        if self.user:
            bits.append(f"user {self.user}")
        if self.application:
            bits.append(f"application {self.application!r}")
        if self.backend_start:
            bits.append(f"connected since {self.backend_start}")
        if self.xact_start:
            bits.append(f"transaction open since {self.xact_start}")
        if self.state:
            bits.append(f"state {self.state}")
        if self.holds:
            bits.append(f"holding {self.holds}")
        return ", ".join(bits)


class LockBlocked(ConfitureError):
    """The dry run's statement waited longer than ``lock_timeout`` for another session's lock (exit 1).

    :ivar report: the dry run's report up to the blocked statement (its ``error``
        is this message), or ``None``.
    :ivar detail: the message without its closing "Nothing was changed."
    """

    exit_code = 1

    def __init__(self, message: str, report: DryRunReport | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.report = report
        self.detail = detail or message


class DryRunEnded(ConfitureError):
    """A plugin hook (or backfill batch) committed, rolled back or closed the connection in a dry run (exit 1).

    That ends the dry run's one transaction (a COMMIT is refused by the runner's
    commit guard, so it rolls back): the dry run stops at that migration.
    """

    exit_code = 1


# The savepoint the runner holds (Runner._scratch_tx / Runner._tx in a dry run) around each kind of hook call;
# re-created in an empty transaction after a hook ended the dry run's, so that the runner's usual clean-up
# (ROLLBACK TO / RELEASE, the final ROLLBACK) runs as for any failing hook and the hook's error is the one shown.
_HOOK_SAVEPOINT = {"confiture_validate": Runner.SCRATCH_SAVEPOINT}
_DEFAULT_SAVEPOINT = Runner.MIGRATION_SAVEPOINT


class DryRunHooks(Hooks):
    """The hook facade of a dry run: the same plugins and failure policy as ``inner``, plus what a dry run needs.

    - A hook that ended the dry run's transaction (COMMIT, ROLLBACK, close) fails with
      :class:`DryRunEnded`, naming the plugin, the hook and the migration, and saying
      that nothing was changed; no further hook runs (:meth:`has` answers ``False``).
    - Backfill batches run under the runner's commit guard (as hooks do), so a batch
      that commits cannot commit the dry run's work; one that ends the transaction
      fails the same way.
    """

    def __init__(self, inner: Hooks, conn: Conn) -> None:
        # the same plugin manager, failure policy and settings as ``inner``, whatever they are
        self.__dict__.update(vars(inner))
        self.conn = conn
        self.runner: Runner | None = None
        self.ended: DryRunEnded | None = None

    def has(self, name: str) -> bool:
        """As :meth:`Hooks.has`, but ``False`` for every hook once the dry run's transaction was ended."""
        return self.ended is None and super().has(name)

    def _gone(self) -> bool:
        from psycopg import pq

        return self.conn.closed or self.conn.info.transaction_status in (pq.TransactionStatus.IDLE,
                                                                          pq.TransactionStatus.UNKNOWN)

    def _end(self, message: str, hook: str) -> DryRunEnded:
        closed = self.conn.closed
        self.ended = DryRunEnded(
            f"{message}; in a dry run that ends the dry run's transaction: the dry run stopped there and everything "
            f"it did was rolled back, nothing was {'committed' if closed else 'changed'}")
        if not closed:
            try:
                self.conn.execute(f"BEGIN; SAVEPOINT {_HOOK_SAVEPOINT.get(hook, _DEFAULT_SAVEPOINT)}")
            except psycopg.Error:
                pass
        return self.ended

    def _guard(self, hook: str, call: Any) -> Any:
        try:
            out = call()
        except HookFailed as exc:
            if self.ended is None and self._gone():
                raise self._end(str(exc), hook) from exc
            raise
        if self.ended is None and self._gone():
            raise self._end(f"a plugin's {hook} ended the runner's transaction", hook)
        return out

    def _call(self, name: str, ctx: HookContext, kwargs: dict[str, Any],
              check: Callable[[Any], Any] | None = None) -> list[tuple[str, Any]]:
        """:meth:`Hooks._call`, guarded (see the class): every hook but ``on_error`` and ``configure``."""
        return list(self._guard(name, lambda: super(DryRunHooks, self)._call(name, ctx, kwargs, check)))

    def backfill(self, ctx: HookContext) -> list[tuple[str, Backfill]]:
        """See :meth:`Hooks.backfill`; each batch is guarded (see the class)."""
        return [(plugin, replace(b, batch=self._guarded_batch(b.batch))) for plugin, b in super().backfill(ctx)]

    def _guarded_batch(self, batch: Any) -> Any:
        def run(arg: BackfillBatch) -> int:
            try:
                if self.runner is not None:
                    with self.runner._guarded():
                        rows = batch(arg)
                else:
                    rows = batch(arg)
            except Exception as exc:
                if self.ended is None and self._gone():
                    raise self._end(f"the batch committed, rolled back or closed the runner's connection "
                                    f"({type(exc).__name__}: {exc})", "confiture_backfill") from exc
                raise
            if self.ended is None and self._gone():
                raise self._end("the batch committed, rolled back or closed the runner's connection",
                                "confiture_backfill")
            return int(rows or 0)

        return run


_BLOCKERS_SQL = """
SELECT a.pid, a.usename, a.application_name, a.state,
       to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), to_char(a.xact_start, 'YYYY-MM-DD HH24:MI:SS TZ'),
       left(a.query, 200),
       (SELECT string_agg(DISTINCT format('%%s on %%s', l.mode, l.relation::regclass), ', ')
          FROM pg_locks l
         WHERE l.pid = a.pid AND l.granted AND l.locktype = 'relation'
           AND l.relation IN (SELECT w.relation FROM pg_locks w WHERE w.pid = %(me)s AND NOT w.granted)),
       (SELECT string_agg(format('%%s on %%s', w.mode, w.relation::regclass), ', ')
          FROM pg_locks w WHERE w.pid = %(me)s AND NOT w.granted AND w.locktype = 'relation')
  FROM pg_stat_activity a
 WHERE a.pid = ANY(pg_blocking_pids(%(me)s))
 ORDER BY a.pid
"""


class BlockerWatch:
    """Watches, from a second connection, who blocks our backend while a statement runs.

    A background thread is armed by :meth:`arm` before each statement; if the
    statement is still running after ``after_s`` seconds it polls
    ``pg_blocking_pids(our pid)`` every ``every_s`` seconds and keeps the last
    non-empty answer, described from ``pg_stat_activity`` and ``pg_locks``.

    :param url: libpq URL for the second connection.
    :param pid: our backend's pid (``conn.info.backend_pid``).
    """

    def __init__(self, url: str, pid: int, after_s: float = 0.1, every_s: float = 0.05) -> None:
        self.url = url
        self.pid = pid
        self.after_s = after_s
        self.every_s = every_s
        self.blockers: list[Blocker] = []
        self._armed_at: float | None = None
        self._cv = threading.Condition()
        self._stop = False
        self._conn: Conn | None = None
        self._thread = threading.Thread(target=self._loop, name="confiture-blocker-watch", daemon=True)
        self._thread.start()

    def arm(self) -> None:
        """A statement starts: forget the last blockers, start watching."""
        with self._cv:
            self.blockers = []
            self._armed_at = time.monotonic()
            self._cv.notify()

    def disarm(self) -> None:
        """The statement ended (blockers seen are kept for the error message)."""
        with self._cv:
            self._armed_at = None

    def close(self) -> None:
        """Stop the thread and close the second connection."""
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(timeout=5)
        if self._conn is not None:
            self._conn.close()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._stop and self._armed_at is None:
                    self._cv.wait()
                if self._stop:
                    return
                wait = self._armed_at + self.after_s - time.monotonic() if self._armed_at else 0
            if wait > 0:
                with self._cv:
                    self._cv.wait(timeout=wait)
                continue
            try:
                found = self._poll()
            except psycopg.Error:
                found = []
            with self._cv:
                if found and self._armed_at is not None:
                    self.blockers = found
                self._cv.wait(timeout=self.every_s)

    def _poll(self) -> list[Blocker]:
        if self._conn is None:
            self._conn = psycopg.connect(self.url, autocommit=True, application_name="confiture dry-run watch")
        rows = self._conn.execute(_BLOCKERS_SQL, {"me": self.pid}).fetchall()
        return [Blocker(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows]


class MeasuringObserver:
    """A :class:`~confiture_core.runner.StatementObserver` measuring locks, rewrites and sequences.

    Usable in real runs too (the accuracy benchmark compares both): it only
    reads catalogs and ``pg_locks`` on the runner's connection.

    :param conn: the runner's connection.
    :param watch: optional :class:`BlockerWatch` armed around each statement.
    """

    def __init__(self, conn: Conn, watch: BlockerWatch | None = None, mixed: bool = False) -> None:
        self.conn = conn
        self.watch = watch
        self.mixed = mixed  # the project's ``mixed`` setting (see Migration.is_transactional)
        self.reports: dict[int, MigrationReport] = {}
        self.start_tables: set[int] = set()
        self.start: Snapshot | None = None
        self.last: Snapshot | None = None
        self._before: Snapshot | None = None
        # last known relfilenode of each table / state of each sequence: from the start, then
        # updated from every read of what we hold
        self.tables_known: dict[int, tuple[int, str, str]] = {}
        self.seqs_known: dict[int, SeqState] = {}
        #: every last_value the run saw per sequence: after the rollback a sequence may sit at any
        #: of them (nextval is not rolled back, ALTER SEQUENCE ... RESTART is)
        self.seqs_seen: dict[int, set[int | None]] = {}
        self.seqs_changed: set[int] = set()  # sequences seen in another state than at the start
        self.kinds: dict[int, tuple[str, str]] = {}  # oid -> (last read name, relkind)
        # the runner sends nothing between two statements of one migration body: the read after
        # the previous statement is then the read before the next one
        self._after_of: Migration | None = None
        #: values of each sequence proven drawn by our own session (see :meth:`_prove_draws`)
        self.seqs_proven: dict[int, set[int]] = {}
        self.start_schemas: set[str] = set()
        # the locks held when the current migration's first statement started (earlier migrations'
        # and its own before-hooks'): PostgreSQL shows no new pg_locks row when a statement asks
        # for a mode already held, so these are inferred for the statements that reference them
        self._carry_for: Migration | None = None
        self._carry: set[tuple[int, str]] = set()
        self._refs: set[int] = set()  # relations the current statement names (resolved before it)
        self._opaque = False  # the statement may run code that touches any relation
        self._destroyed: list[str] = []  # pre-existing relations the statement removes data from

    def begin(self) -> Snapshot:
        """Snapshot the database before the run: relations existing now count as pre-existing."""
        self.start = take_snapshot(self.conn)
        self.start_tables = set(self.start.tables)
        self.start_schemas = {self.start.tables[o][1].split(".")[0] if "." in self.start.tables[o][1] else "public"
                              for o in self.start.tables}
        self.seqs_proven = {}
        self._carry_for, self._carry = None, set()
        self.tables_known = dict(self.start.tables)
        self.seqs_known = dict(self.start.sequences)
        self.seqs_changed = set()
        self.seqs_seen = {}
        self.last = self.start
        return self.start

    def _note(self, snap: Snapshot) -> None:
        self.tables_known.update(snap.tables)
        one_step: list[int] = []
        for oid, st in snap.sequences.items():
            known = self.seqs_known.get(oid)
            if known is not None and known.last_value != st.last_value:
                self.seqs_changed.add(oid)
                first = self.start.sequences.get(oid) if self.start else None
                if st.last_value is not None and st.last_value == known.next_value() \
                        and st.filenode == known.filenode and (first is None or first.filenode == st.filenode):
                    one_step.append(oid)
            self.seqs_known[oid] = st
            self.seqs_seen.setdefault(oid, set()).add(st.last_value)
        if one_step:
            self._prove_draws(one_step)

    def _prove_draws(self, oids: list[int]) -> None:
        """Record which one-value advances our own session drew.

        A sequence that moved by exactly one value since we last read it handed out
        exactly that value; if our session's ``currval`` is that value, we got it (a
        value is handed out once). ``currval`` fails when this session never drew
        from the sequence, so it is read in a DO block that catches the error, and
        the answer comes back through a transaction-local setting.
        """
        from psycopg import pq

        if self.conn.info.transaction_status != pq.TransactionStatus.INTRANS:
            return  # the answer travels in a transaction-local setting
        ids = ",".join(str(int(o)) for o in oids)
        try:
            # in a savepoint: should DO be refused (plpgsql revoked), the dry run's transaction lives on
            self.conn.execute(
                "SAVEPOINT confiture_currval; "
                "DO $confiture$ DECLARE r text := ''; o oid; BEGIN "
                f"FOREACH o IN ARRAY '{{{ids}}}'::oid[] LOOP "
                "BEGIN r := r || o || '=' || currval(o::regclass) || ','; "
                "EXCEPTION WHEN OTHERS THEN NULL; END; END LOOP; "
                "PERFORM set_config('confiture.currval', r, true); END $confiture$; "
                "RELEASE SAVEPOINT confiture_currval")
            row = self.conn.execute("SELECT current_setting('confiture.currval', true)").fetchone()
        except psycopg.Error:
            try:
                self.conn.execute("ROLLBACK TO SAVEPOINT confiture_currval; RELEASE SAVEPOINT confiture_currval")
            except psycopg.Error:
                pass
            return
        for item in str(row[0] if row else "").split(","):
            if "=" in item:
                o, v = item.split("=", 1)
                oid = int(o)
                st = self.seqs_known.get(oid)
                if st is not None and st.last_value == int(v):
                    self.seqs_proven.setdefault(oid, set()).add(int(v))

    def end_state(self) -> Snapshot:
        """The last known state of every sequence seen changing during the run (for :func:`restore_sequences`)."""
        return Snapshot({}, {}, {o: self.seqs_known[o] for o in sorted(self.seqs_changed)})

    def report_for(self, m: Migration) -> MigrationReport:
        """The (created on first use) report of ``m``."""
        if m.version not in self.reports:
            self.reports[m.version] = MigrationReport(m.version, m.name)
        return self.reports[m.version]

    def before_statement(self, migration: Migration, statement: Statement) -> None:
        """Read what we hold just before the statement (hooks' locks are thus not the statement's)."""
        if self._after_of is migration and self.last is not None:
            self._before = self.last
        else:
            self._before = take_held(self.conn, self.kinds, set(self.last.locks) if self.last else None)
            self._note(self._before)
        if self._carry_for is not migration:
            self._carry_for = migration
            self._carry = {k for k, (_n, kind) in self._before.locks.items()
                           if k[0] in self.start_tables and kind in _TABLE_KINDS and risk_of_mode(k[1]) > Risk.SAFE}
        self._after_of = None
        self._resolve(statement)
        if self.watch:
            self.watch.arm()

    def _resolve(self, statement: Statement) -> None:
        """Before the statement: which relations it names (for locks carried from earlier migrations)
        and which pre-existing relations it removes data from (for the ``destructive`` level)."""
        self._refs, self._opaque, self._destroyed = set(), False, []
        why = _destructive(statement.node)
        if not self._carry and not why:
            return
        refs = _references(statement)
        if refs.opaque:
            self._opaque = True
        rels = refs.targets + [r for r in refs.relations if r not in refs.targets]
        funcs = refs.functions if self._carry else []
        if not rels and not funcs and not refs.schemas:
            return
        row = self.conn.execute(_RESOLVE_SQL, {"sch": [r[0] if len(r) > 1 else None for r in rels],
                                               "rel": [r[-1] for r in rels], "funcs": funcs,
                                               "schemas": refs.schemas}).fetchone()
        assert row is not None
        oids = [None if o is None else int(o) for o in row[0]]
        self._refs = {o for o in oids if o is not None} | {int(o) for o in row[1]}
        self._opaque = self._opaque or bool(row[2])
        if why:
            for name, oid in zip(refs.targets, oids, strict=False):
                if oid is not None and oid in self.start_tables:
                    self._destroyed.append(self.start.tables[oid][1] if self.start else ".".join(name))
            self._destroyed.extend(s for s, exists in zip(refs.schemas, row[3], strict=False)
                                   if exists and s in self.start_schemas)

    def after_statement(self, migration: Migration, statement: Statement, duration_ms: float,
                        rowcount: int) -> None:
        """Diff what we hold after the statement against what we held (and knew) before it."""
        if self.watch:
            self.watch.disarm()
        before = self._before
        after = take_held(self.conn, self.kinds, set(before.locks) if before else None)
        before = before or after
        rep = StatementReport(statement.line, _short(statement.sql), statement.kind, True,
                              duration_ms=duration_ms, rows=rowcount if rowcount >= 0 else None)
        for (oid, mode), (name, kind) in sorted(after.locks.items(), key=lambda kv: kv[1][0]):
            if (oid, mode) in before.locks:
                if (oid, mode) in self._carry and (self._opaque or oid in self._refs):
                    # held since before this migration: a re-request does not show in pg_locks
                    rep.locks.append(LockTaken(name, _KIND_NAMES.get(kind, kind), mode, blocked_operations(mode),
                                               True, inferred=True))
                continue
            pre = oid in self.start_tables
            rep.locks.append(LockTaken(name, _KIND_NAMES.get(kind, kind), mode, blocked_operations(mode), pre))
        # A rewrite needs ACCESS EXCLUSIVE, held to the end of the transaction: only tables we
        # hold a lock on now can have been rewritten. Those we already held before the statement
        # nobody else could rewrite; for the others, the last known relfilenode is compared and the
        # new pg_class row must be our transaction's.
        rewritten: dict[int, str] = {}
        unsure: dict[int, str] = {}
        for oid, (node, _name, _kind) in after.tables.items():
            held = before.tables.get(oid)
            prev = held or self.tables_known.get(oid)
            if prev is None or prev[0] == node or prev[0] == 0:
                continue
            (rewritten if held else unsure)[oid] = prev[1]
        if unsure:
            ours = {int(r[0]) for r in self.conn.execute(_OURS_SQL, [list(unsure)]).fetchall()}
            rewritten.update((o, n) for o, n in unsure.items() if o in ours)
        rep.rewritten = sorted(rewritten.values())
        pre_rewritten = [n for o, n in rewritten.items() if o in self.start_tables]
        for oid, st in sorted(after.sequences.items(), key=lambda kv: kv[1].name):
            old = before.sequences.get(oid) or self.seqs_known.get(oid)
            if old is not None and old.last_value != st.last_value:
                rep.sequences.append(SequenceAdvance(st.name, old.last_value, st.last_value))
        self._note(after)
        _judge(rep, statement.node, pre_rewritten, self._destroyed)
        self.report_for(migration).statements.append(rep)
        self.last = after
        self._after_of = migration

    def skipped_statement(self, migration: Migration, statement: Statement, reason: str) -> None:
        """Record a statement that was not executed, with the lock it would take."""
        if self.watch:
            self.watch.disarm()
        rep = StatementReport(statement.line, _short(statement.sql), statement.kind, False, note=reason)
        if not migration.is_transactional("up", mixed=self.mixed):
            self.report_for(migration).executed = False
        why = statement.no_transaction_reason
        if why == "VACUUM" and isinstance(statement.node, ast.VacuumStmt) and any(
                isinstance(o, ast.DefElem) and o.defname == "full" for o in statement.node.options or ()):
            why = "VACUUM FULL"
        mode = NON_TRANSACTIONAL_LOCKS.get(why or "")
        if mode:
            target = _target(statement.node) or "(its table)"
            rep.locks.append(LockTaken(target, "table", mode, blocked_operations(mode), True, inferred=True))
            rep.note = f"{reason}; {why} would take {mode} on {target}"
            rep.risk = risk_of_mode(mode)
            if rep.risk > Risk.SAFE:
                rep.reasons.append(f"{why} would take {mode} on {target}")
        elif statement.kind == "SelectStmt" and statement.sql.startswith("-- python migration"):
            rep.note = f"{reason}; a Python migration running outside a transaction: nothing measured"
        self.report_for(migration).statements.append(rep)


    def failed_statement(self, migration: Migration, statement: Statement, duration_ms: float,
                         error: str) -> None:
        """Record the statement that failed (its transaction is aborted: no locks can be read)."""
        if self.watch:
            self.watch.disarm()
        self.report_for(migration).statements.append(StatementReport(
            statement.line, _short(statement.sql), statement.kind, True, note=f"failed: {_short(error)}",
            duration_ms=duration_ms))
        self._after_of = None


def _short(text: str, limit: int = 300) -> str:
    one = " ".join(redact_secrets(text).split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def _judge(rep: StatementReport, node: ast.Node, pre_rewritten: list[str], destroyed: Sequence[str] = ()) -> None:
    """Set ``rep.risk`` and ``rep.reasons`` from the measured facts (only pre-existing tables count).

    :param pre_rewritten: names of the rewritten tables that existed before the run.
    :param destroyed: the pre-existing tables (or schemas holding some) the statement
        removes data from, resolved just before it ran: ``destructive`` does not
        depend on which locks were new, only on what the statement targets.
    """
    risk = Risk.SAFE
    reasons: list[str] = []
    for lk in rep.locks:
        if lk.preexisting and lk.kind in ("table", "partitioned table", "materialized view", "view",
                                          "foreign table"):
            r = risk_of_mode(lk.mode)
            if r > Risk.SAFE:
                reasons.append(f"{lk.mode} on {lk.relation}" + (" (inferred)" if lk.inferred else ""))
                risk = max(risk, r)
    for t in rep.rewritten:
        if t in pre_rewritten:
            reasons.append(f"rewrote {t}")
            risk = max(risk, Risk.REWRITES_TABLE)
    why = _destructive(node)
    if why and destroyed:
        reasons.append(f"{why} ({', '.join(sorted(set(destroyed)))})")
        risk = Risk.DESTRUCTIVE
    rep.risk = risk
    rep.reasons = reasons


def dry_run_lock_timeout(config: Config) -> str:
    """``[dry_run] lock_timeout`` (default ``"2s"``), validated.

    :raises ConfigError: not a duration.
    """
    value = config.section("dry_run").get("lock_timeout", DEFAULT_LOCK_TIMEOUT)
    return check_duration(value, f"{config.config_file}: [dry_run] lock_timeout")


def restore_sequences(conn: Conn, start: Snapshot, end: Snapshot, seen: dict[int, set[int | None]] | None = None,
                      proven: dict[int, set[int]] | None = None) -> tuple[list[str], list[tuple[str, str]]]:
    """Put back, after the rollback, the sequences the dry run advanced, when that is provably safe.

    A rewind hands the values between the start state and the current one out a
    second time, so it is done only when every one of them was drawn by the dry
    run's own session (``proven``: values seen handed out one at a time while our
    ``currval`` was that value; see :meth:`MeasuringObserver._prove_draws`), and
    the sequence is still where the run left it. The check and the ``setval`` are
    one statement, under an EXCLUSIVE lock on the sequence (which makes other
    sessions' ``nextval`` wait) where the server allows ``LOCK`` on a sequence
    (PostgreSQL 18 does, 15 does not; NOWAIT: a sequence in use is left alone). A sequence
    the run moved backwards (``setval`` in a migration) to a value it saw is moved
    forward to its start state, which never repeats a value. Anything else is left
    advanced: a gap, which PostgreSQL allows, never a duplicate.

    :returns: (restored names, (name, reason) of the sequences left as they are).
    """
    restored: list[str] = []
    left: list[tuple[str, str]] = []
    now = take_snapshot(conn).sequences
    for oid in sorted(end.sequences):
        first = start.sequences.get(oid)
        cur = now.get(oid)
        if first is None or cur is None or cur.last_value == first.last_value:
            continue
        name = first.name
        if cur.last_value is None:
            left.append((name, "its state was reset during the run (is_called false); left as it is"))
            continue
        step = first.increment or 1
        ahead = (cur.last_value - first.next_value()) * (1 if step > 0 else -1)
        if ahead >= 0:
            count = ahead // abs(step) + 1
            mine = (proven or {}).get(oid, set())
            values = (first.next_value() + i * step for i in range(count))
            if count > len(mine) or not all(v in mine for v in values):
                left.append((name, f"advanced from {_seq_text(first.last_value)} to {cur.last_value}: not every "
                                   "value in between is provably the dry run's own (another session may have "
                                   "used the sequence, or one statement drew several values), so rewinding "
                                   "could hand a value out twice; left advanced (a gap)"))
                continue
        elif cur.last_value not in (seen or {}).get(oid, set()):
            left.append((name, f"moved back to {cur.last_value} by another session; left as it is"))
            continue
        why = _setval_if(conn, oid, cur.last_value, first)
        if why is None:
            restored.append(name)
        else:
            left.append((name, why))
    return restored, left


def _seq_text(value: int | None) -> str:
    return "never used" if value is None else str(value)


def _setval_if(conn: Conn, oid: int, expected: int, to: SeqState) -> str | None:
    """``setval`` the sequence back to ``to`` if it is still at ``expected``: ``None``, or why not."""
    value, called = (to.start, False) if to.last_value is None else (to.last_value, True)
    try:
        with conn.transaction():
            conn.execute(
                "DO $confiture$ BEGIN "
                f"EXECUTE format('LOCK TABLE %s IN EXCLUSIVE MODE NOWAIT', {int(oid)}::oid::regclass); "
                "EXCEPTION WHEN wrong_object_type OR feature_not_supported THEN NULL; END $confiture$")
            row = conn.execute(
                "SELECT setval(%(o)s::oid::regclass, %(v)s, %(c)s) FROM (SELECT pg_sequence_last_value("
                "%(o)s::oid::regclass) AS cur OFFSET 0) x WHERE x.cur = %(e)s",
                {"o": oid, "v": value, "c": called, "e": expected}).fetchone()
    except psycopg.Error as exc:
        return f"could not be put back safely ({(exc.diag.message_primary or str(exc)).strip()}); left advanced"
    if row is None:
        return "used by another session after the dry run; left advanced"
    return None


def _set_sequences(report: DryRunReport, restored: list[str], skipped: list[tuple[str, str]]) -> None:
    report.sequences_restored = restored
    report.sequences_not_restored = [n for n, _ in skipped]
    report.sequences_not_restored_reasons = dict(skipped)


def _lock_timeout_error(error: str | None) -> bool:
    return bool(error) and ("[55P03]" in (error or "") or "lock timeout" in (error or ""))


class _RecordingReporter(NullReporter):
    """Forwards to the CLI's reporter and remembers which migrations started and how each ended."""

    def __init__(self, inner: Reporter | None) -> None:
        self.inner: Reporter = inner or NullReporter()
        self.started: list[Migration] = []
        self.results: list[MigrationResult] = []

    def start(self, total: int, direction: Direction) -> None:
        self.inner.start(total, direction)

    def migration_started(self, migration: Migration) -> None:
        self.started.append(migration)
        self.inner.migration_started(migration)

    def migration_done(self, result: MigrationResult) -> None:
        self.results.append(result)
        self.inner.migration_done(result)

    def info(self, message: str) -> None:
        self.inner.info(message)

    def warn(self, message: str) -> None:
        self.inner.warn(message)

    def finish(self) -> None:
        self.inner.finish()


def partial_report(exc: BaseException) -> DryRunReport | None:
    """The report of a dry run that ``exc`` stopped (the migrations measured so far and those planned), if any.

    :func:`dry_run` attaches it to whatever escapes it (a validation error, a
    run-level hook's failure, a database or internal error), so that the CLI can
    still print the report document.
    """
    rep = getattr(exc, "dry_run_report", None)
    return rep if isinstance(rep, DryRunReport) else None


def _partial(observer: MeasuringObserver, runner: Runner, rec: _RecordingReporter, target: int | None,
             server_version: int, timeout: str, exc: BaseException) -> DryRunReport:
    error = str(exc).strip() or type(exc).__name__
    planned: dict[int, Migration] = {m.version: m for m in rec.started}
    if not runner.conn.closed:
        try:
            planned.update((m.version, m) for m in runner._plan_up(target, runner.status()))
        except (psycopg.Error, ConfitureError):
            pass
    results = list(rec.results)
    done = {r.version for r in results}
    results.extend(MigrationResult(m.version, m.name, "failed", 0.0, error) for m in rec.started
                   if m.version not in done)
    report = build_report(observer, RunResult("up", results=results, dry_run=True,
                                              planned=[planned[v] for v in sorted(planned)]),
                          server_version, timeout)
    report.error = error
    return report


def dry_run(conn: Conn, config: Config, hooks: Hooks, *, target: int | None = None,
            reporter: Reporter | None = None, watch_url: str | None = None,
            lock_timeout: str | None = None, preflight: bool = False) -> DryRunReport:
    """Run every pending migration (up to ``target``) in a measured dry run, then roll back.

    :param conn: an autocommit connection (as :class:`~confiture_core.runner.Runner` needs).
    :param config: the project's configuration; its ``lock_timeout`` is replaced
        by ``lock_timeout`` (default: ``[dry_run] lock_timeout``, ``"2s"``).
    :param hooks: the plugin hooks (they run with ``context.dry_run`` true).
    :param target: highest version to include, ``None`` for all.
    :param watch_url: libpq URL for the second connection that names blocking
        backends; ``None`` disables it.
    :param preflight: the review gate's dry run before a real run: the plan's notices
        (nothing to migrate, out-of-order warning) are left to the real run.
    :returns: the :class:`DryRunReport` (a failed migration is in it, not raised).
    :raises LockBlocked: a statement waited longer than ``lock_timeout`` for
        another session's lock; the message names the blockers.
    :raises HistoryError, MigrationFileError, MigrationFailed: as ``Runner.up``.
    """
    timeout = lock_timeout or dry_run_lock_timeout(config)
    cfg = replace(config, lock_timeout=timeout)
    watch = BlockerWatch(watch_url, conn.info.backend_pid) if watch_url else None
    observer = MeasuringObserver(conn, watch, mixed=config.mixed)
    dry_hooks = DryRunHooks(hooks, conn)
    rec = _RecordingReporter(reporter)
    runner = Runner(conn, cfg, dry_hooks, reporter=rec, observer=observer, plan_notices=not preflight)
    dry_hooks.runner = runner
    server_version = conn.info.server_version
    runner.apply_timeouts()
    start = observer.begin()
    result: RunResult | None = None
    restored: list[str] = []
    skipped: list[tuple[str, str]] = []
    try:
        result = runner.up(target, dry_run=True)
    except Exception as exc:
        # whatever stops the run, the CLI still prints the report of what was measured (see partial_report)
        if watch:
            watch.close()
            watch = None
        if not conn.closed:
            try:
                restored, skipped = restore_sequences(conn, start, observer.end_state(), observer.seqs_seen,
                                                      observer.seqs_proven)
            except psycopg.Error:
                pass
        try:
            partial = _partial(observer, runner, rec, target, server_version, timeout, exc)
            _set_sequences(partial, restored, skipped)
            exc.dry_run_report = partial  # type: ignore[attr-defined]
        except Exception:
            pass
        raise
    finally:
        if watch:
            watch.close()
        runner.config = config
        if not conn.closed:
            try:
                runner.apply_timeouts()
            except psycopg.Error:
                pass
    if not conn.closed:
        restored, skipped = restore_sequences(conn, start, observer.end_state(), observer.seqs_seen,
                                              observer.seqs_proven)
    report = build_report(observer, result, server_version, timeout)
    _set_sequences(report, restored, skipped)
    failed = [m for m in report.migrations if m.status == "failed"]
    if failed and _lock_timeout_error(failed[0].error):
        blockers = watch.blockers if watch else []
        if blockers:
            waited = blockers[0].waiting_for or "a lock"
            who = "; ".join(b.describe() for b in blockers)
            detail = (f"dry run stopped: migration {failed[0].version} ({failed[0].name}) waited more than "
                      f"lock_timeout {timeout} for {waited}, blocked by {who}.")
        else:
            detail = (f"dry run stopped: migration {failed[0].version} ({failed[0].name}) waited more than "
                      f"lock_timeout {timeout} for a lock held by another session ({failed[0].error}).")
        msg = f"{detail} Nothing was changed."
        report.error = msg
        raise LockBlocked(msg, report, detail)
    return report


def build_report(observer: MeasuringObserver, result: RunResult | None, server_version: int,
                 lock_timeout: str | None) -> DryRunReport:
    """Merge the runner's results (status, duration, error) into the observer's reports.

    Migrations the run planned but did not reach (after a failure) are listed as
    ``pending``; the report's ``error`` is the first failure's message.
    """
    results: Sequence[MigrationResult] = result.results if result else []
    out: list[MigrationReport] = []
    for r in results:
        rep = observer.reports.get(r.version) or MigrationReport(r.version, r.name)
        rep.status, rep.duration_ms, rep.error = r.status, r.duration_ms, r.error
        if rep.status == "applied" and not rep.executed:
            rep.status = "not-executed"
        out.append(rep)
    reached = {r.version for r in results}
    out.extend(MigrationReport(m.version, m.name) for m in (result.planned if result else ())
               if m.version not in reached)
    error = next((r.error or "migration failed" for r in results if r.status == "failed"), None)
    return DryRunReport(out, lock_timeout, server_version, error=error)
