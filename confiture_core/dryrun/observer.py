"""The measuring observer: around each statement, the locks taken, tables rewritten, sequences advanced; the risk."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from pglast import ast
from psycopg import pq

from ..lock_modes import (
    ACCESS_EXCLUSIVE,
    KEY_CHECK,
    ROW_EXCLUSIVE,
    SHARE,
    Requirement,
    drops_dependents,
    required_locks,
)
from ..migrations import Migration
from ..risk import MODES, NON_TRANSACTIONAL_LOCKS, Risk, blocked_operations, risk_of_mode
from ..sql import Statement, redact_secrets
from .blockers import BlockerWatch, is_lock_timeout
from .catalog import (
    HIDDEN,
    KIND_NAMES,
    OURS_SQL,
    TABLE_KINDS,
    LockRead,
    SeqState,
    Snapshot,
    entry,
    read_dependents,
    read_locks,
    take_snapshot,
)
from .references import (
    Context,
    Refs,
    destructive,
    references,
    resolve,
    sequence_names,
    target_of,
    target_parts,
)
from .report import LockTaken, MigrationReport, SequenceAdvance, StatementReport
from .sequences import prove_draws

Conn = psycopg.Connection[Any]


class MeasuringObserver:
    """A :class:`~confiture_core.runner.StatementObserver` measuring locks, rewrites and sequences.

    Usable in real runs too (the accuracy benchmark compares both): it only
    reads catalogs and ``pg_locks`` on the runner's connection.

    Per statement it costs two catalog reads whose size depends on what the
    statement names and newly locks, never on the migrations before it: just
    before, what the statement names is resolved (:func:`~.references.resolve`);
    just after, the locks new since the previous read (:func:`~.catalog.read_locks`)
    and the state of the tables and sequences the statement could have rewritten
    or advanced without a new lock.

    A lock the transaction already held shows no new ``pg_locks`` row when a later
    statement asks for it again: for the relations a statement names, the mode
    PostgreSQL documents for its kind (:mod:`confiture_core.lock_modes`) is reported as
    ``inferred`` when that mode is held and was not newly taken; a sequence the
    statement advanced (measured) without a new lock gets its ROW EXCLUSIVE
    (``nextval`` takes it: "Sequence Manipulation Functions"). Only locks held
    since before the migration are inferred so: within one migration a lock is
    reported by the statement that took it, as a real run's observer sees it.

    :param conn: the runner's connection.
    :param watch: optional :class:`BlockerWatch` armed around each statement.
    :param mixed: the project's ``mixed`` setting (see ``Migration.is_transactional``).
    """

    def __init__(self, conn: Conn, watch: BlockerWatch | None = None, mixed: bool = False) -> None:
        self.conn = conn
        self.watch = watch
        self.mixed = mixed
        self.reports: dict[int, MigrationReport] = {}
        self.start_tables: set[int] = set()
        self.start_relations: set[int] = set()
        self.start: Snapshot | None = None
        # last known relfilenode of each table / state of each sequence: from the start, then
        # updated from every read
        self.tables_known: dict[int, tuple[int, str, str]] = {}
        self.seqs_known: dict[int, SeqState] = {}
        #: every last_value the run saw per sequence: after the rollback a sequence may sit at any
        #: of them (nextval is not rolled back, ALTER SEQUENCE ... RESTART is)
        self.seqs_seen: dict[int, set[int | None]] = {}
        self.seqs_changed: set[int] = set()  # sequences seen in another state than at the start
        self.kinds: dict[int, tuple[str, str]] = {}  # oid -> (last read name, relkind)
        #: values of each sequence proven drawn by our own session (see :func:`~.sequences.prove_draws`)
        self.seqs_proven: dict[int, set[int]] = {}
        self.start_schemas: set[str] = set()
        # what the transaction holds locks on (from the reads; reset with a new transaction)
        self.locked: set[int] = set()
        self.exclusive: set[int] = set()  # tables held ACCESS EXCLUSIVE: only they can be rewritten unseen
        self.seq_locked: set[int] = set()  # sequences held ROW EXCLUSIVE or more: only they can advance unseen
        # the runner sends nothing between two statements of one migration body: the read after
        # the previous statement is then the read before the next one
        self._after_of: Migration | None = None
        self._ctx = Context()  # what the current statement names, resolved before it
        self._names: list[tuple[str, ...]] = []
        self._reqs: list[Requirement] = []
        self._node: ast.Node | None = None
        self._opaque = False  # the statement runs code we cannot see (DO, CALL, a user function...)
        self._destroyed: list[str] = []  # pre-existing relations the statement removes data from
        # the locks the current migration's statements took: a statement asking again for one of
        # them is not told apart by a real run either (its transaction holds it since that statement)
        self._taken: set[tuple[int, str]] = set()

    def begin(self) -> Snapshot:
        """Snapshot the database before the run: relations existing now count as pre-existing."""
        self.start = take_snapshot(self.conn)
        self.start_tables = set(self.start.tables)
        # any relation the run found (an index, a sequence too): a lock on it is on a pre-existing relation
        self.start_relations = self.start_tables | set(self.start.sequences) | self.start.indexes
        self.start_schemas = {self.start.tables[o][1].split(".")[0] if "." in self.start.tables[o][1] else "public"
                              for o in self.start.tables}
        self.seqs_proven = {}
        self.tables_known = dict(self.start.tables)
        self.seqs_known = dict(self.start.sequences)
        self.seqs_changed = set()
        self.seqs_seen = {}
        self.locked, self.exclusive, self.seq_locked = set(), set(), set()
        return self.start

    def _learn(self, read: LockRead) -> None:
        """Remember what a read saw: names and kinds, what is held, relfilenodes and sequence states."""
        if read.held_before == 0:  # a new transaction: what was held is released
            self.locked, self.exclusive, self.seq_locked = set(), set(), set()
        self.kinds.update(read.relations)
        for oid, mode in read.new:
            self.locked.add(oid)
            kind = self.kinds.get(oid, ("", "?"))[1]
            if kind in TABLE_KINDS and mode == "ACCESS EXCLUSIVE":
                self.exclusive.add(oid)
            elif kind == "S":
                self.seq_locked.add(oid)
        self.seq_locked.update(read.sequences)  # reading one takes ROW EXCLUSIVE on it
        self._note(read.snapshot())

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
            for oid, values in prove_draws(self.conn, one_step, self.seqs_known).items():
                self.seqs_proven.setdefault(oid, set()).update(values)

    def end_state(self) -> Snapshot:
        """The last known state of every sequence seen changing during the run (for :func:`restore_sequences`)."""
        return Snapshot({}, {}, {o: self.seqs_known[o] for o in sorted(self.seqs_changed)})

    def flush(self) -> None:
        """Complete :attr:`reports` (here they always are: each statement is reported when it ends)."""

    def report_for(self, m: Migration) -> MigrationReport:
        """The (created on first use) report of ``m``."""
        if m.version not in self.reports:
            self.reports[m.version] = MigrationReport(m.version, m.name)
        return self.reports[m.version]

    def before_statement(self, migration: Migration, statement: Statement) -> None:
        """Read what is new since the last read (hooks' locks are thus not the statement's); resolve its names."""
        if self._after_of is not migration:
            self._learn(read_locks(self.conn))
            self._taken = set()
        self._after_of = None
        self._resolve(statement)
        if self.watch:
            self.watch.arm()

    def _resolve(self, statement: Statement) -> None:
        """Before the statement: the relations it names and what hangs off them (indexes, sequences,
        children), the locks its kind asks for, and which pre-existing relations it removes data from."""
        node = self._node = statement.node
        refs = references(statement)
        self._reqs = required_locks(node) or []
        self._names = list(dict.fromkeys(refs.relations + refs.targets + [r.relation for r in self._reqs]
                                         + sequence_names(node)))
        self._opaque, self._destroyed, self._ctx = refs.opaque, [], Context()
        if self.conn.info.transaction_status not in (pq.TransactionStatus.INTRANS, pq.TransactionStatus.IDLE):
            return
        # foreign keys are checked per row an INSERT writes (against the tables referenced) or a DELETE
        # removes (against the referencing tables): only then is the other end of a foreign key read
        ctx = resolve(self.conn, self._names, refs.functions, refs.schemas,
                      parents=isinstance(node, ast.InsertStmt | ast.MergeStmt | ast.DropStmt)
                      or drops_dependents(node),
                      referencing=isinstance(node, ast.DeleteStmt))
        self._ctx = ctx
        self._opaque = self._opaque or ctx.calls
        self.kinds.update((o, entry(s, n, k)) for o, (s, n, k) in ctx.relations.items())
        self._destroyed = self.destroyed_by(node, refs, self._names, ctx)

    def destroyed_by(self, node: ast.Node, refs: Refs, names: list[tuple[str, ...]], ctx: Context) -> list[str]:
        """The pre-existing relations (or schemas holding some) a statement removes data from, from what it
        names (``names``, resolved just before it ran: ``ctx``); empty when it removes nothing."""
        if not destructive(node):
            return []
        out: list[str] = []
        oid_of = dict(zip(names, ctx.oids, strict=False))
        for name in refs.targets:
            oid = oid_of.get(name)
            if oid is not None and oid in self.start_tables:
                out.append(self.start.tables[oid][1] if self.start else ".".join(name))
        out.extend(s for s, exists in zip(refs.schemas, ctx.schemas, strict=False)
                   if exists and s in self.start_schemas)
        return out

    def _asked(self, rows: int = 0) -> list[tuple[int, str]]:
        """The (oid, mode) pairs the documentation says the current statement asks for (resolved).

        :param rows: rows the statement wrote (foreign keys are checked per row written).
        """
        ctx = self._ctx
        oid_of = dict(zip(self._names, ctx.oids, strict=False))
        out: list[tuple[int, str]] = []

        def add(oid: int, mode: str, with_indexes: bool) -> None:
            out.append((oid, mode))
            if with_indexes:
                out.extend((i, mode) for i in ctx.indexes.get(oid, ()))

        for r in self._reqs:
            oid = oid_of.get(r.relation)
            if oid is not None and r.on_index_table:
                oid = ctx.index_table.get(oid)
            if oid is None:
                continue
            add(oid, r.mode, r.with_indexes)
            if r.dependents:
                out.extend((i, r.mode) for i in ctx.indexes.get(oid, ()))
                out.extend((p, r.mode) for p in sorted(ctx.parents.get(oid, set())))
            if r.mode == ROW_EXCLUSIVE and r.with_indexes and rows > 0:
                node = self._node
                others = (ctx.parents.get(oid, set()) if isinstance(node, ast.InsertStmt | ast.MergeStmt)
                          else ctx.referencing.get(oid, set()) if isinstance(node, ast.DeleteStmt) else set())
                for other in sorted(others):
                    add(other, KEY_CHECK, True)
        return list(dict.fromkeys(out))

    def _dropped_dependents(self, named: set[int]) -> set[int]:
        """After an ALTER TABLE that drops a column or constraint: the indexes of the named tables that are gone,
        and the tables their foreign keys referenced that none of their foreign keys references any more."""
        ctx = self._ctx
        tables = [o for o in named if o in ctx.indexes or o in ctx.parents]
        if not tables or self.conn.info.transaction_status != pq.TransactionStatus.INTRANS:
            return set()
        indexes = [i for t in tables for i in ctx.indexes.get(t, [])]
        alive, still = read_dependents(self.conn, indexes, tables)
        parents = {p for t in tables for p in ctx.parents.get(t, set())}
        return ({i for i in indexes if i not in alive} | {p for p in parents if p not in still}) - set(tables)

    def _lock(self, oid: int, mode: str, inferred: bool = False) -> LockTaken | None:
        """The report of ``mode`` on ``oid`` (``None``: a system relation, or one never seen by name)."""
        name, kind = self.kinds.get(oid, ("", HIDDEN))
        if kind == HIDDEN:
            return None
        return LockTaken(name, KIND_NAMES.get(kind, kind), mode, blocked_operations(mode),
                         oid in self.start_relations, inferred=inferred)

    def after_statement(self, migration: Migration, statement: Statement, duration_ms: float,
                        rowcount: int) -> None:
        """What the statement newly locked, re-asked for, rewrote and advanced."""
        if self.watch:
            self.watch.disarm()
        ctx = self._ctx
        asked = self._asked(rowcount)
        named = {o for o in ctx.oids if o is not None} | ctx.children | set(ctx.index_table.values())
        want = (named & self.exclusive) | ctx.sequences
        if self._opaque or ctx.fires:
            want |= self.exclusive | self.seq_locked
        prior = {o for o, _ in asked} | ctx.sequences | (want & self.seq_locked)
        rebuilt = {o: ctx.indexes.get(o, []) for o in named} if isinstance(self._node, ast.AlterTableStmt) else {}
        prior |= {i for ix in rebuilt.values() for i in ix}
        gone = self._dropped_dependents({o for o in ctx.oids if o is not None}) if drops_dependents(self._node) \
            else set()
        prior |= gone
        read = read_locks(self.conn, want, prior | (self.locked if self._opaque else set()))
        self.kinds.update(read.relations)
        rep = StatementReport(statement.line, short(statement.sql), statement.kind, True,
                              duration_ms=duration_ms, rows=rowcount if rowcount >= 0 else None)
        new = set(read.new)
        for oid, mode in sorted(new, key=lambda om: (self.kinds.get(om[0], ("", ""))[0], om[1])):
            # a relation never seen by name was created and dropped by the statement (the transient
            # copy of a rewrite): nobody else can have waited on it
            lk = self._lock(oid, mode) if oid in read.relations or oid in self.kinds else None
            if lk is not None:
                rep.locks.append(lk)
        inferred: set[tuple[int, str]] = set()
        for oid, mode in asked:
            if (oid, mode) not in new and mode in read.prior.get(oid, ()) and (oid, mode) not in self._taken:
                lk = self._lock(oid, mode, inferred=True)
                if lk is not None:
                    rep.locks.append(lk)
                    inferred.add((oid, mode))
        if self._opaque:
            # code we cannot see may ask for any lock the transaction holds: those that block on a
            # pre-existing table, held since before the migration, are reported (the cautious answer)
            for oid, modes in sorted(read.prior.items()):
                for mode in sorted(modes, key=MODES.index):
                    kind = self.kinds.get(oid, ("", HIDDEN))[1]
                    if kind in TABLE_KINDS and oid in self.start_tables and risk_of_mode(mode) > Risk.SAFE \
                            and (oid, mode) not in new \
                            and (oid, mode) not in self._taken and (oid, mode) not in asked:
                        lk = self._lock(oid, mode, inferred=True)
                        if lk is not None:
                            rep.locks.append(lk)
                            inferred.add((oid, mode))
        # A rewrite needs ACCESS EXCLUSIVE, held to the end of the transaction: only tables with a new
        # lock, or held ACCESS EXCLUSIVE and named, can have been rewritten. For those we held a lock
        # on before, nobody else could rewrite them; for the others the new pg_class row must be our
        # transaction's.
        rewritten: dict[int, str] = {}
        unsure: dict[int, str] = {}
        for oid, (node, _name, _kind) in read.tables.items():
            prev = self.tables_known.get(oid)
            if prev is None or prev[0] == node or prev[0] == 0:
                continue
            (rewritten if oid in self.locked else unsure)[oid] = prev[1]  # self.locked: before this read
        if unsure:
            ours = {int(r[0]) for r in self.conn.execute(OURS_SQL, [list(unsure)]).fetchall()}
            rewritten.update((o, n) for o, n in unsure.items() if o in ours)
        rep.rewritten = sorted(rewritten.values())
        # An ALTER TABLE that rewrote a table (measured above) rebuilt its indexes as REINDEX does: SHARE
        # on the table, ACCESS EXCLUSIVE on each index (measured in a real apply: pg_locks, PostgreSQL 15
        # and 18); held since before the migration, they show no new row
        # what the ALTER TABLE dropped with a column or constraint (indexes, the foreign key's triggers on the
        # table it referenced), measured gone, each under ACCESS EXCLUSIVE as DROP takes it
        dropped = [(o, ACCESS_EXCLUSIVE) for o in sorted(gone)]
        for oid in sorted(o for o in rewritten if o in rebuilt):
            dropped += [(oid, SHARE), *((i, ACCESS_EXCLUSIVE) for i in rebuilt[oid])]
        for o, mode in dropped:
            if (o, mode) not in new and mode in read.prior.get(o, ()) and (o, mode) not in self._taken \
                    and (o, mode) not in inferred:
                lk = self._lock(o, mode, inferred=True)
                if lk is not None:
                    rep.locks.append(lk)
                    inferred.add((o, mode))
        pre_rewritten = [n for o, n in rewritten.items() if o in self.start_tables]
        for oid, st in sorted(read.sequences.items(), key=lambda kv: kv[1].name):
            old = self.seqs_known.get(oid)
            if old is not None and old.last_value != st.last_value:
                rep.sequences.append(SequenceAdvance(st.name, old.last_value, st.last_value))
                # nextval / setval take ROW EXCLUSIVE on the sequence; held already, it shows no new row
                if (oid, ROW_EXCLUSIVE) not in new and ROW_EXCLUSIVE in read.prior.get(oid, ()) \
                        and (oid, ROW_EXCLUSIVE) not in self._taken \
                        and all(lk.relation != st.name or lk.mode != ROW_EXCLUSIVE for lk in rep.locks):
                    lk = self._lock(oid, ROW_EXCLUSIVE, inferred=True)
                    if lk is not None:
                        rep.locks.append(lk)
                        inferred.add((oid, ROW_EXCLUSIVE))
        self._learn(read)
        # a lock reported (measured or inferred) is the migration's from then on: reported once, as a real
        # apply reports it once, by the first statement that takes it
        self._taken |= new | inferred
        judge(rep, statement.node, pre_rewritten, self._destroyed)
        if self.conn.info.transaction_status == pq.TransactionStatus.IDLE and statement.no_transaction_reason:
            # run in autocommit (a dry run on a copy runs them): its lock is gone, the documented one is reported
            risk, reasons = rep.risk, rep.reasons
            if self._autocommit_lock(rep, statement, "", "took"):
                rep.risk, rep.reasons = max(risk, rep.risk), reasons + rep.reasons
        self.report_for(migration).statements.append(rep)
        self._after_of = migration

    def skipped_statement(self, migration: Migration, statement: Statement, reason: str) -> None:
        """Record a statement that was not executed, with the lock it would take."""
        if self.watch:
            self.watch.disarm()
        rep = StatementReport(statement.line, short(statement.sql), statement.kind, False, note=reason)
        if not migration.is_transactional("up", mixed=self.mixed):
            self.report_for(migration).executed = False
        if not self._autocommit_lock(rep, statement, f"{reason}; ", "would take") \
                and statement.kind == "SelectStmt" and statement.sql.startswith("-- python migration"):
            rep.note = f"{reason}; a Python migration running outside a transaction: nothing measured"
        self.report_for(migration).statements.append(rep)

    def _autocommit_lock(self, rep: StatementReport, statement: Statement, note: str, verb: str) -> bool:
        """Add to ``rep`` the documented lock of a statement that runs outside a transaction block
        (:data:`~confiture_core.risk.NON_TRANSACTIONAL_LOCKS`: released when it ends, so never in
        ``pg_locks`` after it), rate it, and say so in the note; whether it has one."""
        why = statement.no_transaction_reason
        if why == "VACUUM" and isinstance(statement.node, ast.VacuumStmt) and any(
                isinstance(o, ast.DefElem) and o.defname == "full" for o in statement.node.options or ()):
            why = "VACUUM FULL"
        mode = NON_TRANSACTIONAL_LOCKS.get(why or "")
        if not mode:
            return False
        target = target_of(statement.node) or "(its table)"
        pre = self._preexisting(target_parts(statement.node))
        rep.locks.append(LockTaken(target, "table", mode, blocked_operations(mode), pre, inferred=True))
        rep.note = f"{note}{why} {verb} {mode} on {target}"
        rep.risk = risk_of_mode(mode) if pre else Risk.SAFE
        if rep.risk > Risk.SAFE:
            rep.reasons.append(f"{why} {verb} {mode} on {target}")
        return True

    def _preexisting(self, name: tuple[str, ...] | None) -> bool:
        """Whether the relation named (or, for an index, its table) existed before the run.

        Resolved in the catalog when the transaction allows it (a table created earlier in the
        run, or not at all, is not pre-existing), else by name; an unknown name counts as
        pre-existing (the cautious answer).
        """
        if name is None:
            return True
        if self.conn.info.transaction_status in (pq.TransactionStatus.INTRANS, pq.TransactionStatus.IDLE):
            ctx = resolve(self.conn, [name], [], [])
            oid = ctx.oids[0] if ctx.oids else None
            if oid is None:
                return False
            return oid in self.start_tables or ctx.index_table.get(oid) in self.start_tables
        shown = name[-1] if len(name) == 1 or name[0] == "public" else ".".join(name)
        return any(n == shown for _f, n, _k in (self.start.tables.values() if self.start else ()))

    def failed_statement(self, migration: Migration, statement: Statement, duration_ms: float,
                         error: str) -> None:
        """Record the statement that failed (its transaction is aborted: no locks can be read).

        When it waited longer than ``lock_timeout`` for another session's lock, the lock it
        asked for is reported (``inferred``) and rated: the one the blocker watch saw waiting,
        else the documented one for its kind (:mod:`confiture_core.lock_modes`).
        """
        if self.watch:
            self.watch.disarm()
        rep = StatementReport(statement.line, short(statement.sql), statement.kind, True,
                              note=f"failed: {short(error)}", duration_ms=duration_ms)
        if is_lock_timeout(error):
            waited = [(o, m) for o, m, _t in self.watch.waiting] if self.watch else []
            for oid, mode in waited or self._asked():
                lk = self._lock(oid, mode, inferred=True)
                if lk is None and self.watch:
                    text = next((t for o, _m, t in self.watch.waiting if o == oid), None)
                    lk = LockTaken(text, "table", mode, blocked_operations(mode), True, True) if text else None
                if lk is not None and all((x.relation, x.mode) != (lk.relation, lk.mode) for x in rep.locks):
                    rep.locks.append(lk)
            judge(rep, statement.node, [], [])
            rep.reasons = [f"waited for {lk.mode} on {lk.relation} (lock_timeout)" for lk in rep.locks
                           if lk.preexisting and risk_of_mode(lk.mode) > Risk.SAFE]
            if rep.locks:
                rep.note = f"{rep.note}; it waited for " + ", ".join(f"{lk.mode} on {lk.relation}" for lk in rep.locks)
        self.report_for(migration).statements.append(rep)
        self._after_of = None


def short(text: str, limit: int = 300) -> str:
    """``text`` on one line, secrets redacted, at most ``limit`` characters."""
    one = " ".join(redact_secrets(text).split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def judge(rep: StatementReport, node: ast.Node, pre_rewritten: list[str], destroyed: Sequence[str] = ()) -> None:
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

