"""The measuring observer on a copy: a migration's statements in one message, as a real apply sends them, with
a read of this backend's locks after each statement in that same message."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from pglast import ast
from pglast.enums import AlterTableType
from psycopg import sql

from ..lock_modes import ROW_EXCLUSIVE, required_locks
from ..migrations import Migration
from ..risk import MODE_NAMES
from ..sql import Statement
from .blockers import BlockerWatch
from .catalog import TABLE_KINDS, SeqState, entry
from .observer import MeasuringObserver, judge, short
from .references import Context, Refs, destructive, references, sequence_names
from .report import SequenceAdvance, StatementReport

Conn = psycopg.Connection[Any]

# After each statement, in the statement's own message: the time (and when the message arrived: PostgreSQL gives
# every statement of one simple-query message that statement_timestamp()), and every relation lock this backend
# holds (granted; catalogs, below FirstNormalObjectId 16384, left out; a session locks no other database's
# relations but the shared catalogs), its modes grouped by relation, with the relation's relfilenode
# (pg_relation_filenode: a new one means a rewrite, "Database File Layout"; none for a relation without storage
# or gone) and, for a sequence, its state; the schema, name and type (pg_identify_object: the name quoted if
# need be) only of the relations not yet seen in the transaction ("Object Information and Addressing
# Functions", "System Administration Functions"). What was seen is kept in a transaction-local setting
# (``confiture.seen``: the oids, a sequence's negated), which PostgreSQL resets when the migration's
# transaction ends: a read costs the locks held, not a name lookup for each of them after each statement
# (lemmy's migrations hold 21 relations at a read, on average); before the read after a statement that may
# rename or move a relation already seen, the setting is emptied (see :func:`renames`). Functions, not joins
# with pg_class, pg_namespace and pg_sequence: the read is planned again in every migration (the session reset
# between migrations deallocates it), and planning those joins cost three of its executions. A migration's
# transaction holds only its own locks (each migration is committed: "Explicit Locking"), so the read is as
# large as the migration, never as the run before it; the locks new since the previous read are the
# statement's. pg_sequence_last_value takes ROW EXCLUSIVE on the sequence it reads: that lock is the read's own
# (see BatchedObserver).
READ_SQL = """
WITH s AS MATERIALIZED (
  SELECT string_to_array(coalesce(current_setting('confiture.seen', true), ''), ',')::bigint[] AS a)
SELECT json_build_array(extract(epoch FROM clock_timestamp()), coalesce(json_agg(json_build_array(
         l.relation, l.modes, o.schema, o.name, o.type, pg_relation_filenode(l.relation::oid)::bigint,
         CASE WHEN q.seq THEN pg_sequence_last_value(l.relation::oid) END,
         CASE WHEN q.seq THEN (pg_sequence_parameters(l.relation::oid)).start_value END,
         CASE WHEN q.seq THEN (pg_sequence_parameters(l.relation::oid)).increment END, q.seq)), '[]'),
       extract(epoch FROM statement_timestamp()),
       set_config('confiture.seen', coalesce(string_agg(CASE WHEN q.kseq THEN -l.relation ELSE l.relation END::text,
                                                        ','), ''), true))
  FROM (SELECT l.relation::bigint AS relation, array_agg(l.mode) AS modes,
               l.relation::bigint = ANY((SELECT s.a FROM s)::bigint[]) AS known,
               -l.relation::bigint = ANY((SELECT s.a FROM s)::bigint[]) AS kseq
          FROM pg_lock_status() l
         WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted AND l.relation >= 16384
         GROUP BY l.relation) l
       LEFT JOIN LATERAL (SELECT i.* FROM pg_identify_object('pg_class'::regclass, l.relation::oid, 0) i
                           WHERE NOT (l.known OR l.kseq) OFFSET 0) o ON true,
       LATERAL (SELECT CASE WHEN l.kseq OR (o.type = 'sequence' AND o.schema NOT LIKE 'pg\\_temp%')
                            THEN has_sequence_privilege(l.relation::oid, 'SELECT,USAGE') ELSE false END AS seq,
                       coalesce(l.kseq OR (o.type = 'sequence' AND o.schema NOT LIKE 'pg\\_temp%'), false) AS kseq) q
""".strip()

#: empties ``confiture.seen``: the next read looks up the name of every relation held
FORGET_SQL = "SELECT set_config('confiture.seen', '', true)"

#: statements that may rename or move relations already seen, or run code that may (DML fires triggers); not
#: event triggers (a DDL statement firing one that renames a relation would leave its old name in the report)
_RENAMING = (ast.RenameStmt, ast.AlterObjectSchemaStmt, ast.DoStmt, ast.CallStmt, ast.ExecuteStmt,
             ast.CreateExtensionStmt, ast.AlterExtensionStmt, ast.AlterExtensionContentsStmt, ast.InsertStmt,
             ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt, ast.SelectStmt, ast.CreateTableAsStmt,
             ast.RefreshMatViewStmt, ast.ExplainStmt, ast.RuleStmt)


def renames(node: ast.Node) -> bool:
    """Whether a statement may rename or move a relation it does not newly lock: RENAME, SET SCHEMA, extensions,
    code (DO, CALL, EXECUTE, the functions and triggers a query runs), ``ADD CONSTRAINT ... USING INDEX`` (the
    index takes the constraint's name), a rule (``_RETURN`` turns a table into a view before PostgreSQL 16)."""
    if isinstance(node, _RENAMING):
        return True
    return isinstance(node, ast.AlterTableStmt) and any(
        isinstance(c, ast.AlterTableCmd) and (c.subtype == AlterTableType.AT_AddIndexConstraint or (
            c.subtype == AlterTableType.AT_AddConstraint and bool(getattr(c.def_, "indexname", None))))
        for c in node.cmds or ())


#: pg_identify_object's type of a relation -> its relkind (with storage, without: a partitioned table or index)
_RELKINDS = {"table": ("r", "p"), "index": ("i", "I"), "sequence": ("S", "S"), "view": ("v", "v"),
             "materialized view": ("m", "m"), "foreign table": ("f", "f"), "toast table": ("t", "t"),
             "composite type": ("c", "c")}


def _unquoted(name: str) -> str:
    """A name as quote_ident gave it, unquoted."""
    return name[1:-1].replace('""', '"') if len(name) > 1 and name[0] == name[-1] == '"' else name


# Before a statement that may drop relations or remove data, in the same message: the oid of each relation
# it names (aligned with the names; to_regclass: PostgreSQL's own lookup along the search_path, no lock),
# the names of what it may drop with them (their partitions and inheritors at every level, the indexes and
# owned sequences of all of these: once dropped, their locks could not be named), and which named schemas
# exist. Catalog reads only. Prepared once per
# migration (planning it cost several of its executions); what the statement names is passed in a
# transaction-local setting set just before (``confiture.names``, JSON: {"sch": [...], "rel": [...],
# "schemas": [...]}), so that the prepared statement has no parameter and keeps one plan. The relations are
# gathered in arrays and looked up with ``= ANY(array)``, which the planner can turn into index scans of
# pg_class, pg_depend, pg_index and pg_inherits on a large catalog (joins with the CTEs were planned as scans of
# the whole catalogs: a cost that grew with the database, 0.4 ms a read on an empty one).
NAMES_SQL = """
WITH inp AS MATERIALIZED (SELECT current_setting('confiture.names')::json AS j),
     found AS MATERIALIZED (
       SELECT w.i, to_regclass(CASE WHEN w.sch IS NULL THEN quote_ident(w.rel)
                                    ELSE quote_ident(w.sch) || '.' || quote_ident(w.rel) END)::oid AS oid
         FROM inp, unnest(ARRAY(SELECT json_array_elements_text(inp.j->'sch')),
                          ARRAY(SELECT json_array_elements_text(inp.j->'rel'))) WITH ORDINALITY AS w(sch, rel, i)),
     tabs AS MATERIALIZED (
       SELECT ARRAY(WITH RECURSIVE tree(oid) AS (
                      SELECT found.oid FROM found WHERE found.oid IS NOT NULL
                      UNION SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.oid)
                    SELECT tree.oid FROM tree) AS a),
     rels AS MATERIALIZED (
       SELECT ARRAY(SELECT unnest(tabs.a)
                    UNION SELECT x.indexrelid FROM pg_index x WHERE x.indrelid = ANY(tabs.a)
                    UNION SELECT d.objid FROM pg_depend d
                           WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = ANY(tabs.a)
                             AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')) AS a
         FROM tabs)
SELECT json_build_array(
  (SELECT coalesce(json_agg(found.oid::bigint ORDER BY found.i), '[]') FROM found),
  (SELECT coalesce(json_agg(json_build_array(c.oid::bigint, n.nspname, c.relname, c.relkind)), '[]')
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY((SELECT rels.a FROM rels)::oid[])),
  (SELECT coalesce(json_agg(EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = u.s) ORDER BY u.i), '[]')
     FROM inp, unnest(ARRAY(SELECT json_array_elements_text(inp.j->'schemas'))) WITH ORDINALITY AS u(s, i)),
  extract(epoch FROM clock_timestamp()))
""".strip()

#: ALTER TABLE subcommands that drop relations hanging off the table (indexes on the column or of the
#: constraint, an identity's sequence) or rebuild its indexes under new oids (a column's type change)
_DROPS = {AlterTableType.AT_AlterColumnType, AlterTableType.AT_DropColumn, AlterTableType.AT_DropConstraint,
          AlterTableType.AT_DropIdentity}


def names_first(node: ast.Node) -> bool:
    """Whether the relations a statement names are read just before it (it may drop some, or remove data)."""
    if isinstance(node, ast.DropStmt | ast.TruncateStmt) or destructive(node):
        return True
    return isinstance(node, ast.AlterTableStmt) and any(
        isinstance(c, ast.AlterTableCmd) and c.subtype in _DROPS for c in node.cmds or ())


@dataclass
class _Message:
    """What one message returned, kept until it is looked at (:meth:`BatchedObserver.meanwhile`).

    ``first``: it started its migration's transaction; ``parts``: in order, per statement its rows (-1: none
    counted), per read its JSON text; ``named``: see :meth:`BatchedObserver._names_sql`; ``elapsed_ms``: the round
    trip (ms); ``failed``: the statement that failed and its one-line message."""

    migration: Migration
    first: bool
    parts: list[tuple[str, Statement | None, Any]]
    named: dict[int, tuple[Refs, list[tuple[str, ...]], str]]
    elapsed_ms: float
    failed: tuple[Statement, str] | None


class _Read:
    """One :data:`READ_SQL` result: the server's clock (s), the (oid, SQL mode) pairs held, each relation's row as
    read (modes left out: ``[oid, None, schema, quoted name, type, relfilenode, sequence...]``; no schema, name
    nor type for a relation seen before in the transaction, see :meth:`BatchedObserver._merge`)."""

    def __init__(self, value: Any) -> None:
        doc = json.loads(value) if isinstance(value, str | bytes) else value
        self.at = float(doc[0])
        self.since = float(doc[2])  # when its message arrived
        self.held: set[tuple[int, str]] = set()
        self.raw: dict[int, list[Any]] = {}
        held, names = self.held, MODE_NAMES
        for row in doc[1]:
            oid = row[0]
            for m in row[1]:
                mode = names.get(m)
                if mode is not None:
                    held.add((oid, mode))
            row[1] = None
            self.raw[oid] = row

    def ours(self) -> set[tuple[int, str]]:
        """The ROW EXCLUSIVE locks the read itself took on the sequences it read."""
        return {(oid, ROW_EXCLUSIVE) for oid, row in self.raw.items() if row[9]}


def _row(raw: list[Any]) -> list[Any]:
    """A relation's row as the observer reads it: ``[oid, None, schema, name, relkind, relfilenode (0: no storage),
    last_value, start, increment, whether the sequence was read]``."""
    kinds = _RELKINDS.get(raw[4], ("?", "?"))
    return [raw[0], None, raw[2], _unquoted(raw[3]), kinds[0] if raw[5] is not None else kinds[1],
            0 if raw[5] is None else raw[5], *raw[6:]]


class BatchedObserver(MeasuringObserver):
    """A :class:`MeasuringObserver` that, on a copy (each migration committed), measures a transactional SQL
    migration's statements the way the real apply sends them: several to a message, one round trip
    (:class:`~confiture_core.runner.BatchObserver`), with :data:`READ_SQL` after each statement in that message.

    Each migration is its own transaction, which holds only its own locks: a statement's locks are
    those new since the read before it, all measured (none is inferred: nothing is held from before
    the migration); a table whose relfilenode changed was rewritten by it; a sequence whose value
    changed was advanced by it (a later ``nextval`` on a sequence already locked shows no new row: its
    ROW EXCLUSIVE is reported, inferred, as the per-statement observer does). Before a statement that may
    drop relations or remove data, :data:`NAMES_SQL` names what it may drop and resolves its targets.
    Its duration is the server's clock between the reads around it (ms); its rows, the server's count.

    Migrations with ``COPY ... FROM STDIN`` data, in Python or outside a transaction are measured
    one statement at a time, as by :class:`MeasuringObserver`.

    :param conn: the runner's connection (to a copy nobody else uses).
    :param watch: optional :class:`BlockerWatch`, armed around each message.
    :param mixed: the project's ``mixed`` setting.
    """

    def __init__(self, conn: Conn, watch: BlockerWatch | None = None, mixed: bool = False) -> None:
        super().__init__(conn, watch, mixed)
        self._batched: dict[int, bool] = {}
        self._roles: list[str] = []  # what each part of the message is: prepare, read, names, statement
        self._serial = 0
        self._stale = True  # whether the reads prepared (named with _serial) may be gone
        self._names_of: Migration | None = None  # the migration NAMES_SQL is prepared for (confiture_names_<n>)
        self._nserial = 0
        self._of: Migration | None = None
        self._held: set[tuple[int, str]] = set()
        self._seen: dict[int, list[Any]] = {}  # the last row read of each relation, as read (see _Read)
        #: what each statement of the message that has its names read names (by id: the message's statements live on)
        self._named: dict[int, tuple[Refs, list[tuple[str, ...]], str]] = {}
        self._naming: dict[int, tuple[Refs, list[tuple[str, ...]], str]] = {}  # the same, of the message composed
        self._at = 0.0
        #: the messages that ran and are not looked at yet, in order (see :meth:`meanwhile`)
        self._pending: deque[_Message] = deque()
        self._first = False  # the message being composed starts its migration's transaction
        self._error: Exception | None = None  # what failed building reports meanwhile (see flush)

    def batches(self, migration: Migration) -> bool:
        """Whether ``migration``'s statements go in one message: a SQL migration without COPY data (nor DEALLOCATE or
        DISCARD, which would drop the prepared read)."""
        got = self._batched.get(migration.version)
        if got is None:
            got = self._batched[migration.version] = migration.kind == "sql" and all(
                st.copy_data is None and not isinstance(st.node, ast.CopyStmt | ast.DeallocateStmt | ast.DiscardStmt)
                for st in migration.sql("up").statements)
        return got

    def batch_parts(self, migration: Migration, statements: Sequence[Statement]) -> list[int | str]:
        """The read prepared when needed (and executed, in a migration's later message), then per statement: its
        names (see :func:`names_first`), itself, a read. Arms the watch."""
        # the read is prepared once per migration (planned once, not before each execution), in its first
        # message: the session reset before each migration deallocates it (DEALLOCATE ALL, runner/session.py), as
        # may the hooks between migrations; again in a later message after a statement measured on its own (no
        # hook runs between a migration's messages: a before_migration hook turns batching off). A unique name,
        # since a prepared statement outlives a transaction rolled back. Preparing pays from two reads on (parsing
        # and planning the read costs about three of its executions; PREPARE plans nothing, the first EXECUTE
        # does): a single read is sent as is. A migration's first message starts its transaction: nothing is held
        # yet (no hook ran before it, see dry_run); a later one (after transaction control left out) reads what
        # is held first
        layout: list[int | str] = []
        roles: list[str] = []
        first = migration is not self._of
        read = f"EXECUTE confiture_read_{self._serial}"
        if first or self._stale:
            if len(statements) + (0 if first else 1) <= 1:
                read, self._stale = READ_SQL, True
            else:
                self._serial += 1
                self._stale = False
                layout.append(f"PREPARE confiture_read_{self._serial} AS {READ_SQL}")
                roles.append("prepare")
                read = f"EXECUTE confiture_read_{self._serial}"
        self._of, self._first = migration, first
        if not first:
            layout.append(read)
            roles.append("read")
        self._naming = {}
        for k, st in enumerate(statements):
            if names_first(st.node) and self._names_sql(st):
                if self._names_of is not migration:  # prepared once per migration, as the read
                    self._names_of, self._nserial = migration, self._nserial + 1
                    layout.append(f"PREPARE confiture_names_{self._nserial} AS {NAMES_SQL}")
                    roles.append("prepare")
                layout += [self._naming[id(st)][2], f"EXECUTE confiture_names_{self._nserial}"]
                roles += ["prepare", "names"]
            layout.append(k)
            roles.append("statement")
            if renames(st.node):
                layout.append(FORGET_SQL)
                roles.append("prepare")
            layout.append(read)
            roles.append("read")
        self._roles = roles
        if self.watch:
            self.watch.arm()
        return layout

    def _names_sql(self, st: Statement) -> bool:
        """Compose the names read before ``st`` (kept with what it names: see :data:`NAMES_SQL`); ``False``: it
        names no relation nor schema (DROP FUNCTION...), the read would find nothing."""
        refs, names = self._refs_of(st)
        given = json.dumps({"sch": [n[0] if len(n) > 1 else None for n in names], "rel": [n[-1] for n in names],
                            "schemas": refs.schemas})
        text = "" if not names and not refs.schemas else sql.SQL(
            "SELECT set_config('confiture.names', {}, true)").format(sql.Literal(given)).as_string(self.conn)
        self._naming[id(st)] = (refs, names, text)
        return bool(text)

    @staticmethod
    def _refs_of(st: Statement) -> tuple[Refs, list[tuple[str, ...]]]:
        """What ``st`` names (its parse tree), and the relations whose names are read before it."""
        refs = references(st)
        return refs, list(dict.fromkeys(refs.relations + refs.targets
                                        + [r.relation for r in required_locks(st.node) or []]
                                        + sequence_names(st.node)))

    def batch_ran(self, migration: Migration, ran: Sequence[tuple[Statement | None, Any]], elapsed_ms: float,
                  failed: tuple[Statement, str] | None = None) -> None:
        """Keep what the message's reads and statements returned, to be looked at while the server runs the next
        message (:meth:`meanwhile`), or at once when a statement failed (then the failed one is reported too)."""
        if self.watch:
            self.watch.disarm()
        parts: list[tuple[str, Statement | None, Any]] = []
        for role, (st, res) in zip(self._roles, ran, strict=False):
            if st is not None:
                rows = res.command_tuples
                parts.append((role, st, -1 if rows is None else int(rows)))
            elif role != "prepare":
                value = res.get_value(0, 0) if res.ntuples else None
                parts.append((role, None, value.decode() if isinstance(value, bytes) else value))
        self._pending.append(_Message(migration, self._first, parts, self._naming, elapsed_ms, failed))
        if failed is not None:
            self.flush()

    def meanwhile(self, busy: Callable[[], bool]) -> None:
        """Look at the messages that ran before, one after the other, as long as ``busy()`` (the server has not
        answered the message just sent; see :meth:`~confiture_core.runner.Body.run`): the reports are built while
        the server works, not while it waits. Touches no database. An error building a message's reports (a bug)
        stops it: :meth:`flush` raises it (the runner's wait must read the message's results first)."""
        while self._pending and self._error is None and busy():
            try:
                self._look(self._pending.popleft())
            except Exception as exc:
                self._error = exc

    def flush(self) -> None:
        """Look at every message that ran and is not looked at yet: the reports are complete after it.

        :raises Exception: what failed building a message's reports meanwhile (see :meth:`meanwhile`).
        """
        if self._error is not None:
            exc, self._error = self._error, None
            raise exc
        while self._pending:
            self._look(self._pending.popleft())

    def before_statement(self, migration: Migration, statement: Statement) -> None:
        """A statement measured on its own (COPY data, DEALLOCATE or DISCARD, Python): the reports of the messages
        before it first (their state is its); the reads are prepared again in the next message."""
        self.flush()
        self._stale, self._names_of = True, None
        super().before_statement(migration, statement)

    def skipped_statement(self, migration: Migration, statement: Statement, reason: str) -> None:
        """As :meth:`MeasuringObserver.skipped_statement`, after the reports of the messages before it."""
        self.flush()
        super().skipped_statement(migration, statement, reason)

    def failed_statement(self, migration: Migration, statement: Statement, duration_ms: float,
                         error: str) -> None:
        """As :meth:`MeasuringObserver.failed_statement`, after the reports of the messages before it."""
        self.flush()
        super().failed_statement(migration, statement, duration_ms, error)

    def _look(self, msg: _Message) -> None:
        """Report each statement of ``msg`` that ran from the reads around it; then the one that failed, if any."""
        migration = msg.migration
        if msg.first:  # a migration's first message starts its transaction: nothing is held yet
            self._held, self._taken = set(), set()
        self._named = msg.named
        first: float | None = None  # when the message arrived (server clock, s)
        clock: float | None = None  # the last names read's clock, before the first lock read
        pending: tuple[Statement, int] | None = None
        ctx: Context | None = None
        for role, st, value in msg.parts:
            if st is not None:
                pending = (st, value)
                continue
            if role == "read":
                read = self._merge(_Read(value))
                if first is None:  # the message's first statement started with the message (and the read's PREPARE)
                    first = read.since
                    self._at = read.since if clock is None else clock
                if pending is None:  # the message's first read: what is held before its statements
                    self._held |= read.held
                    self._learn_rows(read)
                else:
                    self._report(migration, pending[0], pending[1], read, ctx)
                    pending, ctx = None, None
                self._at = read.at
            else:
                ctx, clock = self._context(value)
                self._at = clock
        if msg.failed is not None:
            st, message = msg.failed
            server_ms = (self._at - first) * 1000 if first is not None else 0.0
            self._ctx, self._names, self._reqs, self._node = Context(), [], required_locks(st.node) or [], st.node
            super().failed_statement(migration, st, max(msg.elapsed_ms - server_ms, 0.0), message)

    @staticmethod
    def _context(value: Any) -> tuple[Context, float]:
        """A :data:`NAMES_SQL` result: what the statement names, and the server's clock (s)."""
        doc = json.loads(value) if isinstance(value, str | bytes) else value
        ctx = Context(oids=[None if o is None else int(o) for o in doc[0]], schemas=[bool(b) for b in doc[2]])
        ctx.relations = {int(o): (str(s), str(n), str(k)) for o, s, n, k in doc[1]}
        return ctx, float(doc[3])

    def _merge(self, read: _Read) -> _Read:
        """``read`` with the schema, name and type of each relation seen before taken from its last row seen, and
        without the relations gone (dropped: no name, or no relfilenode any more)."""
        for oid, row in list(read.raw.items()):
            prev = self._seen.get(oid) if row[4] is None else None
            if row[3] is not None:
                continue
            if prev is None or (row[5] is None and prev[5] is not None):
                del read.raw[oid]
            else:
                read.raw[oid] = prev[:5] + row[5:]
        return read

    def _changed(self, read: _Read) -> dict[int, list[Any]]:
        """The rows (see :func:`_row`) of ``read`` that differ from the last ones seen of their relation (a
        migration's reads repeat every lock it holds: only what changed is looked at)."""
        return {oid: _row(raw) for oid, raw in read.raw.items() if self._seen.get(oid) != raw}

    def _learn_rows(self, read: _Read, changed: dict[int, list[Any]] | None = None) -> None:
        """Names and kinds, relfilenodes and sequence states of what ``read`` saw (``changed``: of its rows that
        changed, when known)."""
        for oid, row in (self._changed(read) if changed is None else changed).items():
            self._seen[oid] = read.raw[oid]
            name, kind = self.kinds[oid] = entry(row[2], row[3], row[4])
            if row[4] in TABLE_KINDS and row[5] is not None and kind in TABLE_KINDS:
                self.tables_known[oid] = (int(row[5]), name, row[4])
            elif row[4] == "S" and row[7] is not None and kind == "S":
                self.seqs_known[oid] = _seq(name, row)
        self._held |= read.ours()

    def _report(self, migration: Migration, st: Statement, rows: int, read: _Read, ctx: Context | None) -> None:
        """The report of ``st`` from the read after it (and ``ctx``, what it named, read before it)."""
        if ctx is not None:
            self.kinds.update((o, entry(s, n, k)) for o, (s, n, k) in ctx.relations.items())
        new = read.held - self._held
        rep = StatementReport(st.line, short(st.sql), st.kind, True, duration_ms=max((read.at - self._at) * 1000, 0.0),
                              rows=rows if rows >= 0 else None)
        changed = self._changed(read)
        for oid, row in changed.items():
            self.kinds[oid] = entry(row[2], row[3], row[4])
        for oid, mode in sorted(new, key=lambda om: (self.kinds.get(om[0], ("", ""))[0], om[1])):
            # a relation never seen by name was created and dropped by the statement: nobody could wait on it
            lk = self._lock(oid, mode) if oid in self.kinds else None
            if lk is not None:
                rep.locks.append(lk)
        rewritten: dict[int, str] = {}
        for oid, row in changed.items():
            prev = self.tables_known.get(oid)
            if row[4] in TABLE_KINDS and prev is not None and row[5] is not None and prev[0] not in (0, int(row[5])):
                rewritten[oid] = prev[1]  # on a copy nobody else can have rewritten it
        rep.rewritten = sorted(rewritten.values())
        inferred: set[tuple[int, str]] = set()
        for oid, row in sorted(changed.items(), key=lambda kv: str(kv[1][3])):
            old = self.seqs_known.get(oid)
            if row[4] != "S" or row[7] is None or old is None or old.last_value == row[6]:
                continue
            state = _seq(old.name, row)
            rep.sequences.append(SequenceAdvance(state.name, old.last_value, state.last_value))
            # nextval / setval take ROW EXCLUSIVE on the sequence; held already, it shows no new row
            pair = (oid, ROW_EXCLUSIVE)
            if pair not in new and pair in self._held and pair not in self._taken \
                    and all(lk.relation != state.name or lk.mode != ROW_EXCLUSIVE for lk in rep.locks):
                lk = self._lock(oid, ROW_EXCLUSIVE, inferred=True)
                if lk is not None:
                    rep.locks.append(lk)
                    inferred.add(pair)
        self._held = read.held
        self._learn_rows(read, changed)
        self._taken |= new | inferred
        named = self._named.get(id(st))
        destroyed = self.destroyed_by(st.node, named[0], named[1], ctx) \
            if ctx is not None and named is not None and destructive(st.node) else []
        judge(rep, st.node, [n for o, n in rewritten.items() if o in self.start_tables], destroyed)
        self.report_for(migration).statements.append(rep)


def _seq(name: str, row: list[Any]) -> SeqState:
    return SeqState(name, None if row[6] is None else int(row[6]), int(row[7]), int(row[8] or 1),
                    None if row[5] is None else int(row[5]))
