"""CF302 tenancy.tenant-index: a tenant table has no index that starts with the tenant column."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from confiture_core.lint.astutil import alter_cmds, column_constraints, display, same_table, strings, table_key
from confiture_core.lint.rule import LintContext, LintRule, TableKey, Violation
from confiture_core.sql import Statement

from ._shared import tenant_table


def _leading_columns(node: ast.Node, key: TableKey) -> Iterator[str]:
    """The first column of each index or key a statement creates on ``key``'s table."""
    if isinstance(node, ast.IndexStmt) and same_table(table_key(node.relation), key):
        first = (node.indexParams or (None,))[0]
        if isinstance(first, ast.IndexElem) and first.name:
            yield first.name
    constraints: list[ast.Constraint] = []
    if isinstance(node, ast.CreateStmt) and same_table(table_key(node.relation), key):
        for el in node.tableElts or ():
            if isinstance(el, ast.Constraint):
                constraints.append(el)
            elif isinstance(el, ast.ColumnDef):
                for c in column_constraints(el):
                    if c.contype in (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE) and el.colname:
                        yield el.colname
    if isinstance(node, ast.AlterTableStmt) and same_table(table_key(node.relation), key):
        for cmd in alter_cmds(node):
            if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
                constraints.append(cmd.def_)
    for c in constraints:
        if c.contype in (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_EXCLUSION):
            keys = strings(c.keys)
            if keys:
                yield keys[0]


class TenantIndex(LintRule):
    code = "CF302"
    name = "tenancy.tenant-index"
    groups = ("tenancy",)
    severity = "warning"
    default_enabled = False
    summary = "A tenant table has no index whose first column is the tenant column"
    explanation = (
        "Nearly every query of a tenant table filters on the tenant column; without an index (or primary "
        "key / unique constraint) that starts with it, each query scans other tenants' rows too, and "
        "row-level security policies on the column get slow.\n\nInstead: make the tenant column the first "
        "column of the primary key (`PRIMARY KEY (tenant_id, id)`) or create an index starting with it, in "
        "the same file as the table."
    )
    node_types = (ast.CreateStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        found = tenant_table(statement.node, ctx.config)
        if found is None or not found[2]:
            return  # not a tenant table, or no tenant column (CF301's finding)
        key, column, _ = found
        for s in ctx.statements[ctx.index:]:
            if column in _leading_columns(s.node, key):
                return
        yield self.violation(
            statement, ctx,
            f"table {display(key)} has no index starting with {column}: every per-tenant query scans other "
            f"tenants' rows; make {column} the first column of the primary key or CREATE INDEX ... ({column}, ...)")
