"""Small helpers over pglast's AST for rule authors.

Names in the AST are as PostgreSQL folds them: unquoted identifiers are
lower-cased by the parser, quoted ones keep their case, so ``"Foo"`` and ``foo``
are different names here exactly as they are in the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, TransactionStmtKind

from .rule import LintContext, TableKey


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


def has_option(options: Any, name: str) -> bool:
    """Whether a list of ``DefElem`` options (``VACUUM (FULL)``, ``REINDEX (CONCURRENTLY)``...) has one named
    ``name`` (lower-case, as the parser gives it)."""
    return any(isinstance(o, ast.DefElem) and o.defname == name for o in options or ())


def strings(names: Any) -> list[str]:
    """The ``sval`` of each ``String`` in a name list (``funcname``, ``TypeName.names``...)."""
    return [n.sval for n in names or () if isinstance(n, ast.String) and n.sval is not None]


def table_key(rv: ast.RangeVar | None) -> TableKey | None:
    """``(schema or None, relation)`` of a ``RangeVar``, or ``None``."""
    if rv is None or rv.relname is None:
        return None
    return rv.schemaname, rv.relname


def same_table(a: TableKey | None, b: TableKey | None) -> bool:
    """Whether two ``(schema or None, table)`` keys may name the same table: a missing schema on either
    side matches any schema (the search path is not known statically); ``None`` matches nothing."""
    if a is None or b is None:
        return False
    return a[1] == b[1] and (a[0] is None or b[0] is None or a[0] == b[0])


def is_plain_table(node: ast.CreateStmt) -> bool:
    """Whether a ``CREATE TABLE`` makes a permanent table that is neither a partition nor typed
    (``OF type``): the tables whose columns and keys are written in the statement itself."""
    rel = node.relation
    return rel is not None and rel.relpersistence != "t" and node.partbound is None and node.ofTypename is None


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


def created_table(node: ast.Node) -> TableKey | None:
    """The table a statement creates (``CREATE TABLE``, ``CREATE TABLE AS``, ``SELECT INTO``)."""
    if isinstance(node, ast.CreateStmt):
        return table_key(node.relation)
    if isinstance(node, ast.CreateTableAsStmt) and node.into is not None:
        return table_key(node.into.rel)
    return None


def identifiers(node: ast.Node) -> Iterator[tuple[str, str, int]]:
    """(kind, name, location) of each identifier a DDL statement defines.

    Covers relations, columns, constraints, indexes, renames, triggers, functions,
    types, schemas, sequences and views. ``location`` is -1 when unknown.
    """
    if isinstance(node, ast.CreateStmt) and node.relation is not None:
        yield "table", node.relation.relname or "", node.relation.location or -1
    if isinstance(node, ast.CreateSeqStmt) and node.sequence is not None:
        yield "sequence", node.sequence.relname or "", node.sequence.location or -1
    if isinstance(node, ast.ViewStmt) and node.view is not None:
        yield "view", node.view.relname or "", node.view.location or -1
    if isinstance(node, ast.CreateTableAsStmt) and node.into is not None and node.into.rel is not None:
        yield "table", node.into.rel.relname or "", node.into.rel.location or -1
    if isinstance(node, ast.IndexStmt) and node.idxname:
        yield "index", node.idxname, -1
    if isinstance(node, ast.CreateStmt | ast.AlterTableStmt):
        for col in defined_columns(node):
            yield "column", col.colname or "", col.location if col.location is not None else -1
        constraints: list[ast.Constraint] = []
        if isinstance(node, ast.CreateStmt):
            for el in node.tableElts or ():
                if isinstance(el, ast.Constraint):
                    constraints.append(el)
                elif isinstance(el, ast.ColumnDef):
                    constraints.extend(column_constraints(el))
        else:
            constraints.extend(c for c, _ in new_constraints(node))
        for c in constraints:
            if c.conname:
                yield "constraint", c.conname, c.location if c.location is not None else -1
    if isinstance(node, ast.RenameStmt) and node.newname:
        yield "name", node.newname, -1
    if isinstance(node, ast.CreateTrigStmt) and node.trigname:
        yield "trigger", node.trigname, -1
    if isinstance(node, ast.CreateFunctionStmt):
        parts = strings(node.funcname)
        if parts:
            yield ("procedure" if node.is_procedure else "function"), parts[-1], -1
    if isinstance(node, ast.CreateEnumStmt | ast.CompositeTypeStmt | ast.CreateDomainStmt):
        names = strings(node.typeName if isinstance(node, ast.CreateEnumStmt) else
                        node.domainname if isinstance(node, ast.CreateDomainStmt) else ())
        if isinstance(node, ast.CompositeTypeStmt) and node.typevar is not None:
            names = [node.typevar.relname or ""]
        if names:
            yield "type", names[-1], -1
    if isinstance(node, ast.CreateSchemaStmt) and node.schemaname:
        yield "schema", node.schemaname, -1


IDENTIFIER_NODES: tuple[type[ast.Node], ...] = (
    ast.CreateStmt, ast.CreateSeqStmt, ast.ViewStmt, ast.CreateTableAsStmt, ast.IndexStmt, ast.AlterTableStmt,
    ast.RenameStmt, ast.CreateTrigStmt, ast.CreateFunctionStmt, ast.CreateEnumStmt, ast.CompositeTypeStmt,
    ast.CreateDomainStmt, ast.CreateSchemaStmt,
)
#: The ``ALTER TABLE`` command subtypes :func:`identifiers` reads.
IDENTIFIER_SUBTYPES: frozenset[int] = ADDED_COLUMN_SUBTYPES | NEW_CONSTRAINT_SUBTYPES


#: The spellings PostgreSQL's ``defGetBoolean`` reads as false (``VACUUM (FULL off)``, ``REINDEX
#: (CONCURRENTLY 0)``...): PostgreSQL docs, VACUUM and REINDEX, "boolean ... can be written TRUE, ON, or
#: 1 ... FALSE, OFF, or 0".
_FALSE_WORDS = frozenset({"false", "off", "0", "no", "f", "n", "of", "fa", "fal", "fals"})


def option_enabled(options: Any, name: str) -> bool:
    """Whether a list of ``DefElem`` options turns the boolean option ``name`` on: present with no value
    (``VACUUM (FULL)``) or with a true one (``FULL true``, ``FULL 1``, ``FULL on``); ``FULL false``,
    ``FULL off``, ``FULL 0`` and ``FULL 'false'`` turn it off. The last mention wins, as in PostgreSQL.

    :param options: a tuple of pglast ``DefElem`` (``VacuumStmt.options``, ``ReindexStmt.params``...).
    :param name: the option, lower-case as the parser gives it (``"full"``, ``"concurrently"``).
    """
    enabled = False
    for o in options or ():
        if not isinstance(o, ast.DefElem) or o.defname != name:
            continue
        arg = o.arg
        if arg is None:
            enabled = True
        elif isinstance(arg, ast.Integer):
            enabled = bool(arg.ival)
        elif isinstance(arg, ast.Boolean):
            enabled = bool(arg.boolval)
        elif isinstance(arg, ast.String):
            enabled = (arg.sval or "").lower() not in _FALSE_WORDS
        else:
            enabled = True
    return enabled


_BEGINS = frozenset({TransactionStmtKind.TRANS_STMT_BEGIN, TransactionStmtKind.TRANS_STMT_START})
_ENDS = frozenset({TransactionStmtKind.TRANS_STMT_COMMIT, TransactionStmtKind.TRANS_STMT_ROLLBACK,
                   TransactionStmtKind.TRANS_STMT_PREPARE})
_TX_STATE_KEY = "confiture.astutil.transactions"


def transactions(ctx: LintContext) -> list[int | None]:
    """For each statement of the file, the number of the transaction it runs in, or ``None`` when it runs
    on its own in autocommit (its own transaction).

    The file starts in transaction 0 when the runner wraps it in one (:attr:`LintContext.in_transaction`),
    else in autocommit; ``BEGIN``/``START TRANSACTION`` opens a new transaction (a nested one changes
    nothing, as in PostgreSQL), ``COMMIT``/``ROLLBACK``/``PREPARE TRANSACTION`` (and ``END``/``ABORT``)
    ends it and later statements run in autocommit. Computed once per rule and file (kept in the asking
    rule's :attr:`LintContext.state`).
    """
    stmts = ctx.statements
    known: list[int | None] | None = ctx.state.get(_TX_STATE_KEY)
    if known is not None:
        return known
    current: int | None = 0 if ctx.in_transaction else None
    opened = 0
    out: list[int | None] = []
    for st in stmts:
        node = st.node
        if isinstance(node, ast.TransactionStmt):
            if node.kind in _BEGINS:
                if current is None:
                    opened += 1
                    current = opened
                out.append(current)
                continue
            if node.kind in _ENDS:
                out.append(current)
                current = None
                continue
        out.append(current)
    ctx.state[_TX_STATE_KEY] = out
    return out


def same_transaction(ctx: LintContext, first: int, second: int) -> bool:
    """Whether statements ``first`` and ``second`` (indexes into :attr:`LintContext.statements`) run in
    one transaction, so that a lock the first takes is still held while the second runs (PostgreSQL
    docs 13.3, "Explicit Locking": locks are held until the transaction ends)."""
    if first == second:
        return True
    tx = transactions(ctx)
    return tx[first] is not None and tx[first] == tx[second]
