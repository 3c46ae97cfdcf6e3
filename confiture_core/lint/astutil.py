"""Small helpers over pglast's AST for rule authors.

Names in the AST are as PostgreSQL folds them: unquoted identifiers are
lower-cased by the parser, quoted ones keep their case, so ``"Foo"`` and ``foo``
are different names here exactly as they are in the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from .rule import TableKey


def walk(node: Any) -> Iterator[ast.Node]:
    """Yield ``node`` and every AST node below it, depth first.

    :param node: a pglast node, a tuple/list of nodes, or anything else (ignored).
    """
    stack: list[Any] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.Node):
            yield item
            for attr in getattr(item, "__slots__", ()):
                value = getattr(item, attr, None)
                if isinstance(value, ast.Node | tuple | list):
                    stack.append(value)
        elif isinstance(item, tuple | list):
            stack.extend(reversed(item))


def strings(names: Any) -> list[str]:
    """The ``sval`` of each ``String`` in a name list (``funcname``, ``TypeName.names``...)."""
    return [n.sval for n in names or () if isinstance(n, ast.String) and n.sval is not None]


def table_key(rv: ast.RangeVar | None) -> TableKey | None:
    """``(schema or None, relation)`` of a ``RangeVar``, or ``None``."""
    if rv is None or rv.relname is None:
        return None
    return rv.schemaname, rv.relname


def display(key: TableKey | None) -> str:
    """``schema.table`` or ``table`` for messages."""
    if key is None:
        return "?"
    return f"{key[0]}.{key[1]}" if key[0] else key[1]


def type_name(tn: ast.TypeName | None) -> str:
    """The last component of a type name, lower-case (``int4``, ``varchar``, ``serial``)."""
    if tn is None:
        return ""
    names = tn.names
    last = names[-1] if names else None
    if isinstance(last, ast.String) and last.sval is not None:  # the usual case, without the list
        return last.sval.lower()
    parts = strings(names)
    return parts[-1].lower() if parts else ""


_ADD_CONSTRAINT = AlterTableType.AT_AddConstraint  # (an enum member costs a class look-up each time it is named)
_ADD_COLUMN = AlterTableType.AT_AddColumn
_ALTER_COLUMN_TYPE = AlterTableType.AT_AlterColumnType


class _AlterFacts:
    """What the helpers below read from one ``ALTER TABLE``, found in one pass over its commands."""

    __slots__ = ("added", "cmds", "columns", "constraints", "retyped")

    def __init__(self, node: ast.AlterTableStmt | None) -> None:
        cmds: list[ast.AlterTableCmd] = []
        added: list[tuple[ast.AlterTableCmd, ast.ColumnDef]] = []
        columns: list[ast.ColumnDef] = []
        constraints: list[tuple[ast.Constraint, ast.ColumnDef | None]] = []
        retyped: list[tuple[ast.AlterTableCmd, ast.ColumnDef]] = []
        for cmd in (node.cmds or ()) if node is not None else ():
            if not isinstance(cmd, ast.AlterTableCmd):
                continue
            cmds.append(cmd)
            subtype, d = cmd.subtype, cmd.def_
            if subtype == _ADD_CONSTRAINT:
                if isinstance(d, ast.Constraint):
                    constraints.append((d, None))
            elif subtype == _ADD_COLUMN:
                if isinstance(d, ast.ColumnDef):
                    added.append((cmd, d))
                    columns.append(d)
                    for c in column_constraints(d):
                        constraints.append((c, d))
            elif subtype == _ALTER_COLUMN_TYPE and isinstance(d, ast.ColumnDef):
                retyped.append((cmd, d))
        self.cmds = tuple(cmds)
        self.added = tuple(added)
        self.columns = tuple(columns)
        self.constraints = tuple(constraints)
        self.retyped = tuple(retyped)


_NOT_ALTER = _AlterFacts(None)
_alter_memo: tuple[object, _AlterFacts] = (None, _NOT_ALTER)


def _alter_facts(node: ast.Node) -> _AlterFacts:
    """The facts of ``node`` (none for anything but an ``ALTER TABLE``).

    The last statement's are remembered: many rules ask for the same one in turn.
    """
    global _alter_memo
    memo = _alter_memo
    if memo[0] is node:
        return memo[1]
    if not isinstance(node, ast.AlterTableStmt):
        return _NOT_ALTER
    facts = _AlterFacts(node)
    _alter_memo = (node, facts)
    return facts


def alter_cmds(node: ast.Node) -> list[ast.AlterTableCmd]:
    """The ``AlterTableCmd`` items of an ``ALTER TABLE`` (``[]`` for anything else)."""
    return list(_alter_facts(node).cmds)


#: The ``AlterTableCmd`` subtypes :func:`added_columns` (and so :func:`defined_columns`) reads: a rule
#: that only uses them sets ``alter_subtypes`` to this (see :class:`~confiture_core.lint.rule.LintRule`).
ADDED_COLUMN_SUBTYPES: frozenset[int] = frozenset({AlterTableType.AT_AddColumn})
#: The ``AlterTableCmd`` subtypes :func:`new_constraints` reads.
NEW_CONSTRAINT_SUBTYPES: frozenset[int] = frozenset({AlterTableType.AT_AddConstraint, AlterTableType.AT_AddColumn})
#: The ``AlterTableCmd`` subtypes :func:`changed_column_types` reads.
CHANGED_TYPE_SUBTYPES: frozenset[int] = frozenset({AlterTableType.AT_AlterColumnType})


def column_constraints(col: ast.ColumnDef) -> list[ast.Constraint]:
    """The constraints written on a column definition."""
    return [c for c in col.constraints or () if isinstance(c, ast.Constraint)]


def new_constraints(node: ast.Node) -> Iterator[tuple[ast.Constraint, ast.ColumnDef | None]]:
    """Constraints an ``ALTER TABLE`` adds: ``ADD CONSTRAINT`` and those on ``ADD COLUMN``.

    Yields ``(constraint, column definition or None)``.
    """
    return iter(_alter_facts(node).constraints)


def added_columns(node: ast.Node) -> Iterator[tuple[ast.AlterTableCmd, ast.ColumnDef]]:
    """``(command, column definition)`` for each ``ADD COLUMN`` of an ``ALTER TABLE``."""
    return iter(_alter_facts(node).added)


def defined_columns(node: ast.Node) -> Iterator[ast.ColumnDef]:
    """Column definitions of a ``CREATE TABLE`` or added by an ``ALTER TABLE``."""
    if isinstance(node, ast.CreateStmt):
        return (el for el in node.tableElts or () if isinstance(el, ast.ColumnDef))
    return iter(_alter_facts(node).columns)


def changed_column_types(node: ast.Node) -> Iterator[tuple[ast.AlterTableCmd, ast.ColumnDef]]:
    """``ALTER COLUMN ... TYPE`` commands with their new definition."""
    return iter(_alter_facts(node).retyped)


def is_primary_key(c: ast.Constraint) -> bool:
    """Whether a constraint is a ``PRIMARY KEY``."""
    return bool(c.contype == ConstrType.CONSTR_PRIMARY)


def created_table(node: ast.Node) -> TableKey | None:
    """The table a statement creates (``CREATE TABLE``, ``CREATE TABLE AS``, ``SELECT INTO``)."""
    if isinstance(node, ast.CreateStmt):
        return table_key(node.relation)
    if isinstance(node, ast.CreateTableAsStmt) and node.into is not None:
        return table_key(node.into.rel)
    return None
