"""The measuring observer: around each statement, the locks taken, tables rewritten, sequences advanced; the risk."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from pglast import ast
from psycopg import pq

from ..migrations import Migration
from ..risk import NON_TRANSACTIONAL_LOCKS, Risk, blocked_operations, risk_of_mode
from ..sql import Statement, redact_secrets
from .blockers import BlockerWatch
from .catalog import KIND_NAMES, OURS_SQL, TABLE_KINDS, SeqState, Snapshot, take_held, take_snapshot
from .references import RESOLVE_SQL, destructive, references, target_of
from .report import LockTaken, MigrationReport, SequenceAdvance, StatementReport

Conn = psycopg.Connection[Any]


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
                           if k[0] in self.start_tables and kind in TABLE_KINDS and risk_of_mode(k[1]) > Risk.SAFE}
        self._after_of = None
        self._resolve(statement)
        if self.watch:
            self.watch.arm()

    def _resolve(self, statement: Statement) -> None:
        """Before the statement: which relations it names (for locks carried from earlier migrations)
        and which pre-existing relations it removes data from (for the ``destructive`` level)."""
        self._refs, self._opaque, self._destroyed = set(), False, []
        why = destructive(statement.node)
        if not self._carry and not why:
            return
        refs = references(statement)
        if refs.opaque:
            self._opaque = True
        rels = refs.targets + [r for r in refs.relations if r not in refs.targets]
        funcs = refs.functions if self._carry else []
        if not rels and not funcs and not refs.schemas:
            return
        row = self.conn.execute(RESOLVE_SQL, {"sch": [r[0] if len(r) > 1 else None for r in rels],
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
                    rep.locks.append(LockTaken(name, KIND_NAMES.get(kind, kind), mode, blocked_operations(mode),
                                               True, inferred=True))
                continue
            pre = oid in self.start_tables
            rep.locks.append(LockTaken(name, KIND_NAMES.get(kind, kind), mode, blocked_operations(mode), pre))
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
            ours = {int(r[0]) for r in self.conn.execute(OURS_SQL, [list(unsure)]).fetchall()}
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
            target = target_of(statement.node) or "(its table)"
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
    why = destructive(node)
    if why and destroyed:
        reasons.append(f"{why} ({', '.join(sorted(set(destroyed)))})")
        risk = Risk.DESTRUCTIVE
    rep.risk = risk
    rep.reasons = reasons

