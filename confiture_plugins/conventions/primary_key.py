"""CF202 conventions.primary-key: every table should have a primary key."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from confiture_core.lint.astutil import alter_cmds, column_constraints, display, is_plain_table, same_table, table_key
from confiture_core.lint.rule import LintContext, LintRule, TableKey, Violation
from confiture_core.sql import Statement


def _has_pk(node: ast.CreateStmt) -> bool:
    for el in node.tableElts or ():
        if isinstance(el, ast.Constraint) and el.contype == ConstrType.CONSTR_PRIMARY:
            return True
        if isinstance(el, ast.ColumnDef) and any(
                c.contype == ConstrType.CONSTR_PRIMARY for c in column_constraints(el)):
            return True
    return False


def _pk_added_later(key: TableKey | None, statements: Sequence[Statement], start: int) -> bool:
    for s in statements[start + 1:]:
        node = s.node
        if isinstance(node, ast.AlterTableStmt) and same_table(table_key(node.relation), key):
            for cmd in alter_cmds(node):
                if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint) \
                        and cmd.def_.contype == ConstrType.CONSTR_PRIMARY:
                    return True
                if cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef) and any(
                        c.contype == ConstrType.CONSTR_PRIMARY for c in column_constraints(cmd.def_)):
                    return True
    return False


class PrimaryKey(LintRule):
    code = "CF202"
    name = "conventions.primary-key"
    groups = ("conventions",)
    default_enabled = False
    summary = "Every table should have a primary key"
    explanation = (
        "Without a primary key rows cannot be addressed reliably, logical replication cannot replicate "
        "UPDATE and DELETE (Logical Replication docs, 29.1.1 \"Replica Identity\"), and duplicates creep "
        "in.\n\nInstead: declare `PRIMARY KEY` in `CREATE TABLE` (or add one later in the same file). "
        "Temporary tables and partitions (which inherit their parent's key) are not reported."
    )
    node_types = (ast.CreateStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.CreateStmt)
        if not is_plain_table(node) or node.inhRelations or _has_pk(node):
            return
        key = table_key(node.relation)
        if _pk_added_later(key, ctx.statements, ctx.index):
            return
        yield self.violation(
            statement, ctx,
            f"table {display(key)} has no primary key: rows cannot be addressed reliably and logical replication "
            "cannot replicate its UPDATEs and DELETEs; add a PRIMARY KEY (e.g. id bigint GENERATED ALWAYS AS "
            "IDENTITY PRIMARY KEY)")
