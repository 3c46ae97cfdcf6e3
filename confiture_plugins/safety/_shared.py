"""What several safety rules ask of the same statement, computed once per statement (memos on the context)."""

from __future__ import annotations

from pglast import ast
from pglast.enums import ObjectType

from confiture_core.lint.astutil import (
    ADDED_COLUMN_SUBTYPES,
    CHANGED_TYPE_SUBTYPES,
    changed_column_types,
    defined_columns,
    display,
    table_key,
    type_name,
)
from confiture_core.lint.rule import LintContext

#: The ``serial`` pseudo-types (:func:`~confiture_core.lint.astutil.type_name` spellings): an integer
#: column with a default from a sequence of its own.
SERIAL_TYPES = frozenset({"serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"})

#: The ``ALTER TABLE`` command subtypes :func:`typed_columns` reads.
TYPED_SUBTYPES = ADDED_COLUMN_SUBTYPES | CHANGED_TYPE_SUBTYPES

#: A typed column: (column name, type, location or -1, :func:`~confiture_core.lint.astutil.type_name`).
TypedColumn = tuple[str, ast.TypeName, int, str]

_MISSING = object()
_EXISTING_TABLE = "safety.existing_table"
_TYPED_COLUMNS = "safety.typed_columns"


def existing_table(node: ast.Node, ctx: LintContext) -> str | None:
    """``schema.table`` of an ``ALTER TABLE``'s target unless it was created earlier in the file, else ``None``.

    Remembered in :attr:`~confiture_core.lint.rule.LintContext.memo`: a dozen rules ask for the same
    statement in turn.
    """
    memo = ctx.memo
    found = memo.get(_EXISTING_TABLE, _MISSING)
    if found is not _MISSING:
        return found  # type: ignore[no-any-return]
    table: str | None = None
    if isinstance(node, ast.AlterTableStmt) and node.objtype == ObjectType.OBJECT_TABLE:
        key = table_key(node.relation)
        if key is not None and not ctx.table_created_earlier(*key):
            table = display(key)
    memo[_EXISTING_TABLE] = table
    return table


def typed_columns(node: ast.Node, ctx: LintContext) -> list[TypedColumn]:
    """Each column a statement defines or retypes, as a :data:`TypedColumn`.

    Remembered in :attr:`~confiture_core.lint.rule.LintContext.memo` (the four column-type rules
    share it); do not modify the list.
    """
    memo = ctx.memo
    found = memo.get(_TYPED_COLUMNS)
    if found is not None:
        return found  # type: ignore[no-any-return]
    out: list[TypedColumn] = []
    for col in defined_columns(node):
        tn = col.typeName
        if tn is not None:
            loc = col.location
            out.append((col.colname or "?", tn, loc if loc is not None else -1, type_name(tn)))
    for cmd, col in changed_column_types(node):
        tn = col.typeName
        if tn is not None:
            out.append((cmd.name or "?", tn, tn.location or -1, type_name(tn)))
    memo[_TYPED_COLUMNS] = out
    return out
