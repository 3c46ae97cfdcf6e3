"""The table lock each statement kind asks for on the relations it names, as the PostgreSQL documentation gives it.

The one table of statement -> lock mode: the dry run infers from :func:`required_locks` the
lock a statement re-asks for in its one transaction (``confiture_core.dryrun.observer``), the
runner bounds with ``lock_timeout`` the statements :func:`statement_lock` rates SHARE or
stronger (``confiture_core.runner.strong_locks``).

Sources (PostgreSQL 18 documentation; the same since 12 for every rule here):

- "Explicit Locking", section 13.3.1 "Table-Level Locks"
  (https://www.postgresql.org/docs/current/explicit-locking.html): SELECT takes
  ACCESS SHARE on the tables it reads; SELECT FOR UPDATE / FOR SHARE takes ROW
  SHARE on the tables marked; UPDATE, DELETE, INSERT and MERGE take ROW EXCLUSIVE
  on the target table (and ACCESS SHARE on the other tables they read); COMMENT
  ON, CREATE STATISTICS and ANALYZE take SHARE UPDATE EXCLUSIVE; CREATE INDEX
  (without CONCURRENTLY) takes SHARE; CREATE TRIGGER takes SHARE ROW EXCLUSIVE;
  REFRESH MATERIALIZED VIEW CONCURRENTLY takes EXCLUSIVE; DROP TABLE, TRUNCATE,
  REINDEX (of the index), CLUSTER, VACUUM FULL and REFRESH MATERIALIZED VIEW
  take ACCESS EXCLUSIVE.
- ``ALTER TABLE`` (https://www.postgresql.org/docs/current/sql-altertable.html):
  "An ACCESS EXCLUSIVE lock is acquired unless explicitly noted"; SET STATISTICS,
  SET/RESET attribute options, VALIDATE CONSTRAINT, CLUSTER ON, SET WITHOUT
  CLUSTER and SET of the fillfactor / toast / autovacuum / parallel_workers
  storage parameters take SHARE UPDATE EXCLUSIVE; ADD FOREIGN KEY takes SHARE ROW
  EXCLUSIVE on the table altered and on the referenced table; ENABLE / DISABLE
  TRIGGER takes SHARE ROW EXCLUSIVE; ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE
  on the parent and ACCESS EXCLUSIVE on the partition attached; "when multiple
  subcommands are given, the lock acquired will be the strictest one required by
  any subcommand".
- ``ALTER INDEX`` (https://www.postgresql.org/docs/current/sql-alterindex.html):
  RENAME of an index takes SHARE UPDATE EXCLUSIVE.
- ``DROP INDEX`` (https://www.postgresql.org/docs/current/sql-dropindex.html): a
  plain DROP INDEX takes ACCESS EXCLUSIVE on the index's table.
- ``REINDEX`` (https://www.postgresql.org/docs/current/sql-reindex.html): it
  "locks out writes but not reads of the index's parent table" (SHARE).
- ``LOCK`` (https://www.postgresql.org/docs/current/sql-lock.html): the mode named.

Rules measured rather than documented (``pg_locks`` on PostgreSQL 15 and 18,
bench/dryrun_accuracy.py): a new foreign key also takes ACCESS SHARE on the
table it references; ADD PRIMARY KEY / UNIQUE / EXCLUDE also takes SHARE on the
table (its index is built as CREATE INDEX builds one); DROP TABLE takes ACCESS
EXCLUSIVE on the table's indexes and on the tables its foreign keys reference
(their referential-integrity triggers are dropped with it); DROP TRIGGER, DROP
RULE, CREATE / ALTER / DROP POLICY and ALTER TRIGGER ... RENAME take ACCESS
EXCLUSIVE on the table (PostgreSQL 15). Two rules depend on what the statement
measurably did and are applied by the observer: an ALTER TABLE that rewrote its
table (a new relfilenode) took SHARE on it and ACCESS EXCLUSIVE on each of its
indexes (rebuilt as REINDEX does); one that dropped a column or constraint
(:func:`drops_dependents`) took ACCESS EXCLUSIVE on each index and foreign-key
end it dropped with it.

Why a table and not the measurement: a transaction that already holds a mode
shows no new ``pg_locks`` row when a later statement asks for it again, so in a
dry run (one transaction for every migration) the lock a statement asks for on a
relation locked earlier in the run is not measurable. The observer then reports
the documented mode of this table, and only when that mode is indeed held
(:class:`~.observer.MeasuringObserver`); every lock that is new is measured.
A statement kind missing here gets no such inference (nothing is reported that
was not seen); :func:`statement_lock`, which bounds waits, assumes the cautious
mode for the few kinds whose lock the documentation does not state.
Statements that cannot run in a transaction block are in
:data:`confiture_core.risk.NON_TRANSACTIONAL_LOCKS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType, ReindexObjectType
from pglast.visitors import Visitor

from .risk import MODES, strongest

ACCESS_SHARE, ROW_SHARE, ROW_EXCLUSIVE = "ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE"
SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE = "SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE"
EXCLUSIVE, ACCESS_EXCLUSIVE = "EXCLUSIVE", "ACCESS EXCLUSIVE"

#: ALTER TABLE subcommands the documentation names with a lock weaker than ACCESS EXCLUSIVE.
ALTER_TABLE_LOCKS: dict[AlterTableType, str] = {
    AlterTableType.AT_SetStatistics: SHARE_UPDATE_EXCLUSIVE,
    AlterTableType.AT_SetOptions: SHARE_UPDATE_EXCLUSIVE,
    AlterTableType.AT_ResetOptions: SHARE_UPDATE_EXCLUSIVE,
    AlterTableType.AT_ValidateConstraint: SHARE_UPDATE_EXCLUSIVE,
    AlterTableType.AT_ClusterOn: SHARE_UPDATE_EXCLUSIVE,
    AlterTableType.AT_DropCluster: SHARE_UPDATE_EXCLUSIVE,
    AlterTableType.AT_AttachPartition: SHARE_UPDATE_EXCLUSIVE,
    AlterTableType.AT_EnableTrig: SHARE_ROW_EXCLUSIVE,
    AlterTableType.AT_EnableAlwaysTrig: SHARE_ROW_EXCLUSIVE,
    AlterTableType.AT_EnableReplicaTrig: SHARE_ROW_EXCLUSIVE,
    AlterTableType.AT_DisableTrig: SHARE_ROW_EXCLUSIVE,
    AlterTableType.AT_EnableTrigAll: SHARE_ROW_EXCLUSIVE,
    AlterTableType.AT_DisableTrigAll: SHARE_ROW_EXCLUSIVE,
    AlterTableType.AT_EnableTrigUser: SHARE_ROW_EXCLUSIVE,
    AlterTableType.AT_DisableTrigUser: SHARE_ROW_EXCLUSIVE,
}

#: constraints ADD CONSTRAINT builds an index for (unless ``USING INDEX``)
_INDEX_CONSTRAINTS = {ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_EXCLUSION}

#: ALTER TABLE subcommands whose lock the documentation does not state plainly: no inference.
_UNSTATED = {AlterTableType.AT_AlterConstraint, AlterTableType.AT_DetachPartitionFinalize}

#: storage parameters whose SET / RESET takes SHARE UPDATE EXCLUSIVE (ALTER TABLE, "SET ( storage_parameter ...)")
_LIGHT_RELOPTIONS = ("fillfactor", "parallel_workers", "autovacuum_", "toast_tuple_target", "toast.",
                     "vacuum_index_cleanup", "vacuum_truncate", "log_autovacuum_min_duration")

#: COMMENT ON targets that are relations (the lock is on the relation, or the column's relation)
_COMMENT_RELATIONS = {ObjectType.OBJECT_TABLE, ObjectType.OBJECT_VIEW, ObjectType.OBJECT_MATVIEW,
                      ObjectType.OBJECT_INDEX, ObjectType.OBJECT_SEQUENCE, ObjectType.OBJECT_FOREIGN_TABLE}

#: DROP of objects that hang off a table (their name ends with it: ``[schema.]table.name``): ACCESS EXCLUSIVE on it
_DROPPED_ON_TABLE = {ObjectType.OBJECT_TRIGGER, ObjectType.OBJECT_RULE, ObjectType.OBJECT_POLICY}

_DROPPED = {ObjectType.OBJECT_TABLE, ObjectType.OBJECT_VIEW, ObjectType.OBJECT_MATVIEW, ObjectType.OBJECT_INDEX,
            ObjectType.OBJECT_SEQUENCE, ObjectType.OBJECT_FOREIGN_TABLE}


@dataclass(frozen=True)
class Requirement:
    """One lock a statement asks for.

    :ivar relation: the name as written, ``(name,)`` or ``(schema, name)``.
    :ivar mode: SQL lock-mode name (see :data:`confiture_core.risk.MODES`).
    :ivar with_indexes: the relation is read or written by the executor, which opens its
        indexes with the same mode (``SELECT``, ``INSERT``, ``UPDATE``, ``DELETE``, ``MERGE``).
    :ivar on_index_table: the lock is on the table of the index named (``DROP INDEX``, ``REINDEX INDEX``).
    :ivar dependents: the table is dropped: so are its indexes, and the foreign-key triggers its
        constraints put on the tables they reference, each under ACCESS EXCLUSIVE (the mode given).
    """

    relation: tuple[str, ...]
    mode: str
    with_indexes: bool = False
    on_index_table: bool = False
    dependents: bool = False


#: Rows written to a table with foreign keys are checked by the referential-integrity triggers with
#: ``SELECT ... FOR KEY SHARE`` on the other table ("CREATE TABLE", REFERENCES; "The Locking Clause"
#: of SELECT: FOR KEY SHARE takes ROW SHARE, like every FOR ... row lock): an INSERT into the
#: referencing table locks each referenced table, a DELETE from a referenced table each referencing
#: one, ROW SHARE (and their indexes, opened by the planner with the same mode).
KEY_CHECK = ROW_SHARE


def _name(rel: Any) -> tuple[str, ...] | None:
    if isinstance(rel, ast.RangeVar) and rel.relname:
        return (rel.schemaname, rel.relname) if rel.schemaname else (rel.relname,)
    return None


def _parts(obj: Any) -> tuple[str, ...]:
    items = obj if isinstance(obj, tuple | list) else (obj,)
    return tuple(str(p.sval) for p in items if getattr(p, "sval", None))


class _Reads(Visitor):
    """Every relation a query reads: ACCESS SHARE, or ROW SHARE under FOR UPDATE / FOR SHARE."""

    def __init__(self, skip: set[int], with_indexes: bool) -> None:
        super().__init__()
        self.skip = skip
        self.with_indexes = with_indexes
        self.out: list[Requirement] = []
        self.locked: set[tuple[str, ...]] = set()
        self.lock_all = False

    def visit_SelectStmt(self, ancestors: Any, node: ast.SelectStmt) -> None:
        for clause in node.lockingClause or ():
            if isinstance(clause, ast.LockingClause):
                rels = [n for n in (_name(r) for r in clause.lockedRels or ()) if n]
                self.locked.update(rels)
                self.lock_all = self.lock_all or not rels

    def visit_RangeVar(self, ancestors: Any, node: ast.RangeVar) -> None:
        name = _name(node)
        if name and id(node) not in self.skip:
            self.out.append(Requirement(name, ACCESS_SHARE, self.with_indexes))

    def result(self) -> list[Requirement]:
        out = [Requirement(r.relation, ROW_SHARE, r.with_indexes) if self.lock_all or r.relation in self.locked
               else r for r in self.out]
        return list(dict.fromkeys(out))  # a FOR UPDATE OF name is seen twice


def _reads(node: ast.Node, *targets: Any, with_indexes: bool = True) -> list[Requirement]:
    """What a query reads; ``with_indexes``: it is planned (the planner opens every index of what it reads)."""
    visitor = _Reads({id(t) for t in targets if t is not None}, with_indexes)
    visitor(node)
    return visitor.result()


def _alter_table(node: ast.AlterTableStmt) -> list[Requirement] | None:
    name = _name(node.relation)
    if name is None:
        return None
    modes: list[str] = []
    extra: list[Requirement] = []
    for cmd in node.cmds or ():
        if not isinstance(cmd, ast.AlterTableCmd) or cmd.subtype is None or cmd.subtype in _UNSTATED:
            return None
        mode = ALTER_TABLE_LOCKS.get(cmd.subtype, ACCESS_EXCLUSIVE)
        if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint) \
                and cmd.def_.contype == ConstrType.CONSTR_FOREIGN:
            mode = SHARE_ROW_EXCLUSIVE
            ref = _name(cmd.def_.pktable)
            if ref:
                extra += [Requirement(ref, SHARE_ROW_EXCLUSIVE), Requirement(ref, ACCESS_SHARE)]
        elif cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint) \
                and cmd.def_.contype in _INDEX_CONSTRAINTS and not cmd.def_.indexname:
            extra.append(Requirement(name, SHARE))  # the index is built as CREATE INDEX builds one
        elif cmd.subtype in (AlterTableType.AT_SetRelOptions, AlterTableType.AT_ResetRelOptions):
            names = [str(d.defname) if not d.defnamespace else f"{d.defnamespace}.{d.defname}"
                     for d in cmd.def_ or () if isinstance(d, ast.DefElem)]
            light = all(n.startswith(_LIGHT_RELOPTIONS) for n in names)
            mode = SHARE_UPDATE_EXCLUSIVE if light else ACCESS_EXCLUSIVE
        elif cmd.subtype == AlterTableType.AT_AttachPartition and isinstance(cmd.def_, ast.PartitionCmd):
            part = _name(cmd.def_.name)
            if part:
                extra.append(Requirement(part, ACCESS_EXCLUSIVE))
        elif cmd.subtype == AlterTableType.AT_DetachPartition and isinstance(cmd.def_, ast.PartitionCmd):
            if cmd.def_.concurrent:
                return None
            part = _name(cmd.def_.name)
            if part:
                extra.append(Requirement(part, ACCESS_EXCLUSIVE))
        modes.append(mode)
    top = strongest(modes)
    return ([Requirement(name, top)] if top else []) + extra


def _concurrent(node: ast.ReindexStmt) -> bool:
    return any(isinstance(p, ast.DefElem) and p.defname == "concurrently" for p in node.params or ())


def required_locks(node: ast.Node) -> list[Requirement] | None:
    """The locks the documentation says ``node`` asks for on the relations it names.

    :param node: a statement's parse tree (pglast).
    :returns: the requirements (a relation may appear with several modes: ``INSERT INTO t
        SELECT ... FROM t`` asks for ROW EXCLUSIVE and ACCESS SHARE), or ``None`` when the
        statement kind is not in the table (then nothing is inferred for it).
    """
    if isinstance(node, ast.SelectStmt):
        if node.intoClause is not None:
            return _reads(node, node.intoClause.rel)
        return _reads(node)
    if isinstance(node, ast.InsertStmt | ast.UpdateStmt | ast.DeleteStmt | ast.MergeStmt):
        name = _name(node.relation)
        if name is None:
            return None
        return [Requirement(name, ROW_EXCLUSIVE, with_indexes=True), *_reads(node, node.relation)]
    if isinstance(node, ast.CreateTableAsStmt):
        return _reads(node.query, getattr(node.into, "rel", None)) if node.query is not None else None
    if isinstance(node, ast.ViewStmt):
        own = [Requirement(n, ACCESS_EXCLUSIVE) for n in [_name(node.view)] if n and node.replace]
        return own + (_reads(node.query, with_indexes=False) if node.query is not None else [])
    if isinstance(node, ast.IndexStmt):
        name = _name(node.relation)
        return None if node.concurrent or name is None else [Requirement(name, SHARE)]
    if isinstance(node, ast.AlterTableStmt):
        return _alter_table(node)
    if isinstance(node, ast.RenameStmt):
        name = _name(node.relation)
        if name is None:
            return None
        return [Requirement(name, SHARE_UPDATE_EXCLUSIVE if node.renameType == ObjectType.OBJECT_INDEX
                            else ACCESS_EXCLUSIVE)]
    if isinstance(node, ast.DropStmt) and node.removeType in _DROPPED_ON_TABLE:
        tables = [p[:-1][-2:] for p in (_parts(o) for o in node.objects or ()) if len(p) > 1]
        return [Requirement(t, ACCESS_EXCLUSIVE) for t in tables] or None
    if isinstance(node, ast.CreatePolicyStmt | ast.AlterPolicyStmt):
        name = _name(node.table)
        return [Requirement(name, ACCESS_EXCLUSIVE)] if name else None
    if isinstance(node, ast.DropStmt):
        if node.removeType not in _DROPPED or node.concurrent:
            return None
        names = [p for p in (_parts(o) for o in node.objects or ()) if p]
        out = [Requirement(n[-2:], ACCESS_EXCLUSIVE, dependents=node.removeType == ObjectType.OBJECT_TABLE)
               for n in names]
        if node.removeType == ObjectType.OBJECT_INDEX:
            out += [Requirement(n[-2:], ACCESS_EXCLUSIVE, on_index_table=True) for n in names]
        return out
    if isinstance(node, ast.TruncateStmt):
        return [Requirement(n, ACCESS_EXCLUSIVE) for n in (_name(r) for r in node.relations or ()) if n]
    if isinstance(node, ast.CreateTrigStmt):
        name = _name(node.relation)
        return [Requirement(name, SHARE_ROW_EXCLUSIVE)] if name else None
    if isinstance(node, ast.RuleStmt | ast.ClusterStmt):
        name = _name(node.relation)
        return [Requirement(name, ACCESS_EXCLUSIVE)] if name else None
    if isinstance(node, ast.RefreshMatViewStmt):
        name = _name(node.relation)
        return [Requirement(name, EXCLUSIVE if node.concurrent else ACCESS_EXCLUSIVE)] if name else None
    if isinstance(node, ast.ReindexStmt):
        name = _name(node.relation)
        if name is None or node.kind not in (ReindexObjectType.REINDEX_OBJECT_TABLE,
                                             ReindexObjectType.REINDEX_OBJECT_INDEX) or _concurrent(node):
            return None
        if node.kind == ReindexObjectType.REINDEX_OBJECT_TABLE:
            return [Requirement(name, SHARE)]
        return [Requirement(name, ACCESS_EXCLUSIVE), Requirement(name, SHARE, on_index_table=True)]
    if isinstance(node, ast.LockStmt):
        mode = MODES[node.mode - 1] if node.mode is not None and 1 <= node.mode <= len(MODES) else None
        names = [n for n in (_name(r) for r in node.relations or ()) if n]
        return [Requirement(n, mode) for n in names] if mode else None
    if isinstance(node, ast.CommentStmt):
        if node.objtype == ObjectType.OBJECT_COLUMN:
            parts = _parts(node.object)[:-1]
        elif node.objtype in _COMMENT_RELATIONS:
            parts = _parts(node.object)
        else:
            return None
        return [Requirement(parts[-2:], SHARE_UPDATE_EXCLUSIVE)] if parts else None
    if isinstance(node, ast.VacuumStmt):  # only ANALYZE runs in a transaction block
        if node.is_vacuumcmd:
            return None
        return [Requirement(n, SHARE_UPDATE_EXCLUSIVE) for n in
                (_name(v.relation) for v in node.rels or () if isinstance(v, ast.VacuumRelation)) if n]
    if isinstance(node, ast.CreateStatsStmt):
        return [Requirement(n, SHARE_UPDATE_EXCLUSIVE) for n in
                (_name(r) for r in node.relations or ()) if n]
    if isinstance(node, ast.CreateStmt):
        refs: list[Requirement] = []
        for elt in node.tableElts or ():
            cons = [elt] if isinstance(elt, ast.Constraint) else list(getattr(elt, "constraints", None) or ())
            for c in cons:
                if isinstance(c, ast.Constraint) and c.contype == ConstrType.CONSTR_FOREIGN:
                    ref = _name(c.pktable)
                    if ref:
                        refs += [Requirement(ref, SHARE_ROW_EXCLUSIVE), Requirement(ref, ACCESS_SHARE)]
            if isinstance(elt, ast.TableLikeClause):
                ref = _name(elt.relation)
                if ref:
                    refs.append(Requirement(ref, ACCESS_SHARE))
        return refs
    return None


#: the mode assumed for statement kinds whose lock the documentation does not state plainly (:func:`statement_lock`)
_CAUTIOUS = ACCESS_EXCLUSIVE


def statement_lock(node: ast.Node) -> str | None:
    """The strongest table lock ``node`` asks for (SQL mode name), ``None`` when it asks for none in the table.

    Built on :func:`required_locks`. Where the documentation does not state the lock (an ALTER TABLE
    subcommand such as ALTER CONSTRAINT, DETACH PARTITION ... FINALIZE) the cautious ACCESS EXCLUSIVE
    is assumed; REINDEX of a schema, database or system (without CONCURRENTLY) locks each table it
    rebuilds SHARE ("REINDEX"); ``DETACH PARTITION ... CONCURRENTLY`` and ``REINDEX ... CONCURRENTLY``
    take SHARE UPDATE EXCLUSIVE ("ALTER TABLE", "REINDEX").

    :param node: a statement's parse tree (pglast).
    """
    reqs = required_locks(node)
    if reqs is not None:
        return strongest([r.mode for r in reqs])
    if isinstance(node, ast.AlterTableStmt):
        concurrent = any(isinstance(c, ast.AlterTableCmd) and isinstance(c.def_, ast.PartitionCmd)
                         and c.def_.concurrent for c in node.cmds or ())
        return SHARE_UPDATE_EXCLUSIVE if concurrent else _CAUTIOUS
    if isinstance(node, ast.ReindexStmt):
        return SHARE_UPDATE_EXCLUSIVE if _concurrent(node) else SHARE
    return None


#: ALTER TABLE subcommands that drop what hangs off a column or constraint (its indexes, its foreign key's triggers)
_DROPPING = {AlterTableType.AT_DropColumn, AlterTableType.AT_DropConstraint}


def drops_dependents(node: ast.Node | None) -> bool:
    """Whether ``node`` is an ALTER TABLE with DROP COLUMN or DROP CONSTRAINT, which drops the indexes on the
    column or of the constraint and a foreign key's triggers on the table it references, each under ACCESS
    EXCLUSIVE (measured: pg_locks of a real apply, PostgreSQL 15 and 18; "ALTER TABLE", DROP COLUMN: "Indexes
    and table constraints involving the column will be automatically dropped")."""
    return isinstance(node, ast.AlterTableStmt) and any(
        isinstance(c, ast.AlterTableCmd) and c.subtype in _DROPPING for c in node.cmds or ())
