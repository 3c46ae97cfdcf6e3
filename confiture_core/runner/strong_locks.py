"""Which statements take a SHARE or stronger table lock, and on which relations (read from the AST).

The mode comes from the one table of statement -> lock mode, :mod:`confiture_core.lock_modes`
(PostgreSQL docs, "Explicit Locking", 13.3.1 Table-Level Locks, and each command's page). SHARE or stronger
conflicts with ROW EXCLUSIVE: while such a lock is held *or waited for*, INSERT, UPDATE and
DELETE on the table wait too (ACCESS EXCLUSIVE: even SELECT).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pglast import ast
from pglast.enums import ObjectType
from pglast.stream import maybe_double_quote_name
from pglast.visitors import Visitor

from ..lock_modes import statement_lock
from ..risk import MODES
from ..sql import Statement

_SHARE = MODES.index("SHARE")

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


def mode_of(node: ast.Node) -> str | None:
    """The strongest table lock mode ``node`` requests (``None``: none known), from the one table of
    statement -> lock mode (:func:`confiture_core.lock_modes.statement_lock`)."""
    return statement_lock(node)


#: statement kinds that only read and write rows: their queries' tables are read (ACCESS SHARE, ROW SHARE with FOR
#: UPDATE) and their target written (ROW EXCLUSIVE), all weaker than SHARE (lock_modes.required_locks)
_ROW_LEVEL = (ast.SelectStmt, ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt, ast.CreateTableAsStmt)


def takes_strong_lock(node: ast.Node) -> bool:
    """Whether ``node`` requests SHARE or stronger on a table: :func:`mode_of`'s answer compared with SHARE,
    without walking the queries that only read (a tree walk per INSERT, UPDATE or view, ~60% of safe
    apply's client CPU on a corpus such as lemmy): row-level statements are below SHARE whatever they read,
    and a view's lock is the one on the view itself (``CREATE OR REPLACE VIEW``: ACCESS EXCLUSIVE), its
    query only reads. ``tests/runner/test_strong_shortcut.py`` checks the answer against :func:`mode_of` on
    every statement of the shared corpora.

    :param node: a statement's parse tree (pglast).
    """
    if isinstance(node, _ROW_LEVEL):
        return False
    if isinstance(node, ast.ViewStmt) and node.query is not None:
        node = ast.ViewStmt(view=node.view, replace=node.replace)  # the same statement without its query
    mode = mode_of(node)
    return mode is not None and MODES.index(mode) >= _SHARE


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
