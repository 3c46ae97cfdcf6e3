"""Which statements take a SHARE or stronger table lock, and on which relations (read from the AST).

Facts: PostgreSQL docs, "Explicit Locking" (13.3.1 Table-Level Locks: which command takes
which mode) and the "Notes" of ALTER TABLE (the lock of each subcommand). SHARE or stronger
conflicts with ROW EXCLUSIVE: while such a lock is held *or waited for*, INSERT, UPDATE and
DELETE on the table wait too (ACCESS EXCLUSIVE: even SELECT).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType
from pglast.stream import maybe_double_quote_name
from pglast.visitors import Visitor

from ..risk import MODES
from ..sql import Statement

#: ``LockStmt.mode`` (PostgreSQL's lockdefs.h: AccessShareLock = 1 ... AccessExclusiveLock = 8) -> SQL name
_LOCKMODE = dict(enumerate(MODES, start=1))

_SUE = "SHARE UPDATE EXCLUSIVE"
_SRE = "SHARE ROW EXCLUSIVE"
_AE = "ACCESS EXCLUSIVE"
_SHARE = MODES.index("SHARE")

#: ALTER TABLE subcommands that take less than ACCESS EXCLUSIVE (ALTER TABLE "Notes")
_ALTER_MODES: dict[AlterTableType, str] = {
    AlterTableType.AT_ValidateConstraint: _SUE, AlterTableType.AT_SetStatistics: _SUE,
    AlterTableType.AT_ClusterOn: _SUE, AlterTableType.AT_DropCluster: _SUE,
    AlterTableType.AT_SetRelOptions: _SUE, AlterTableType.AT_ResetRelOptions: _SUE,
    AlterTableType.AT_AttachPartition: _SUE,
    AlterTableType.AT_EnableTrig: _SRE, AlterTableType.AT_EnableAlwaysTrig: _SRE,
    AlterTableType.AT_EnableReplicaTrig: _SRE, AlterTableType.AT_DisableTrig: _SRE,
    AlterTableType.AT_EnableTrigAll: _SRE, AlterTableType.AT_DisableTrigAll: _SRE,
    AlterTableType.AT_EnableTrigUser: _SRE, AlterTableType.AT_DisableTrigUser: _SRE,
}

_DROPPED_RELATIONS = (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_INDEX, ObjectType.OBJECT_VIEW,
                      ObjectType.OBJECT_MATVIEW, ObjectType.OBJECT_SEQUENCE, ObjectType.OBJECT_FOREIGN_TABLE)


@dataclass(frozen=True)
class StrongLock:
    """The strongest table lock a statement requests, and the relations it names.

    :ivar mode: SQL lock-mode name (``"SHARE"`` ... ``"ACCESS EXCLUSIVE"``).
    :ivar relations: relation names as written (quoted where PostgreSQL needs it), for ``to_regclass``.
    """

    mode: str
    relations: tuple[str, ...]

    def describe(self) -> str:
        """``"ACCESS EXCLUSIVE on orders"``."""
        return f"{self.mode} on {', '.join(self.relations) or 'a table'}"


def _name(parts: Any) -> str:
    return ".".join(maybe_double_quote_name(p) for p in parts if p)


class _Relations(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def visit_RangeVar(self, ancestors: Any, node: ast.RangeVar) -> None:
        name = _name((node.schemaname, node.relname))
        if name and name not in self.names:
            self.names.append(name)


def relations(node: ast.Node) -> tuple[str, ...]:
    """Every relation ``node`` names (RangeVars, and the objects of a DROP of relations), in order."""
    v = _Relations()
    v(node)
    if isinstance(node, ast.DropStmt) and node.removeType in _DROPPED_RELATIONS:
        for obj in node.objects or ():
            parts = [getattr(p, "sval", None) for p in (obj if isinstance(obj, tuple | list) else (obj,))]
            name = _name(parts)
            if name and name not in v.names:
                v.names.append(name)
    return tuple(v.names)


def _strongest(modes: list[str]) -> str:
    return max(modes, key=MODES.index)


def _alter_mode(node: ast.AlterTableStmt) -> str:
    modes: list[str] = []
    for cmd in node.cmds or ():
        if not isinstance(cmd, ast.AlterTableCmd):
            continue
        mode = _ALTER_MODES.get(cmd.subtype, _AE) if cmd.subtype is not None else _AE
        d = cmd.def_
        if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(d, ast.Constraint) \
                and d.contype == ConstrType.CONSTR_FOREIGN:
            mode = _SRE
        modes.append(mode)
    return _strongest(modes) if modes else _AE


def _has_foreign_key(node: ast.CreateStmt) -> bool:
    for elt in node.tableElts or ():
        cons = [elt] if isinstance(elt, ast.Constraint) else list(getattr(elt, "constraints", None) or ())
        if any(isinstance(c, ast.Constraint) and c.contype == ConstrType.CONSTR_FOREIGN for c in cons):
            return True
    return False


def mode_of(node: ast.Node) -> str | None:
    """The strongest table lock mode ``node`` requests among those this module knows (``None``: a weak one)."""
    if isinstance(node, ast.AlterTableStmt):
        return _alter_mode(node)
    if isinstance(node, ast.IndexStmt):
        return None if node.concurrent else "SHARE"
    if isinstance(node, ast.DropStmt):
        return None if node.concurrent or node.removeType not in (*_DROPPED_RELATIONS, ObjectType.OBJECT_TRIGGER,
                                                                  ObjectType.OBJECT_RULE,
                                                                  ObjectType.OBJECT_POLICY) else _AE
    if isinstance(node, ast.TruncateStmt | ast.ClusterStmt | ast.CreatePolicyStmt | ast.AlterPolicyStmt
                  | ast.RuleStmt):
        return _AE
    if isinstance(node, ast.RenameStmt):
        return _AE if node.relation is not None else None
    if isinstance(node, ast.CreateTrigStmt):
        return _SRE
    if isinstance(node, ast.CreateStmt):
        return _SRE if _has_foreign_key(node) else None  # on the referenced tables
    if isinstance(node, ast.ReindexStmt):
        params = node.params or ()
        return None if any(getattr(p, "defname", None) == "concurrently" for p in params) else "SHARE"
    if isinstance(node, ast.RefreshMatViewStmt):
        return "EXCLUSIVE" if node.concurrent else _AE
    if isinstance(node, ast.LockStmt):
        mode = _LOCKMODE.get(int(node.mode or 0))
        return mode
    return None


def strong_lock(node: ast.Node) -> StrongLock | None:
    """The SHARE-or-stronger lock ``node`` requests and the relations it names, or ``None``.

    A table the same migration created is not told apart (a lock_timeout on it is harmless: no
    other session can see it yet).
    """
    mode = mode_of(node)
    if mode is None or MODES.index(mode) < _SHARE:
        return None
    rels = relations(node)
    if isinstance(node, ast.CreateStmt) and node.relation is not None:
        own = _name((node.relation.schemaname, node.relation.relname))
        rels = tuple(r for r in rels if r != own)
    return StrongLock(mode, rels)


def created_tables(statements: Sequence[Statement]) -> frozenset[str]:
    """The tables (``CREATE TABLE``, ``CREATE TABLE AS``) created by ``statements``, named as
    :func:`relations` names them."""
    names: set[str] = set()
    for st in statements:
        node = st.node
        rel = node.relation if isinstance(node, ast.CreateStmt) else (
            node.into.rel if isinstance(node, ast.CreateTableAsStmt) and node.into is not None else None)
        if rel is not None:
            names.add(_name((rel.schemaname, rel.relname)))
    return frozenset(names)
