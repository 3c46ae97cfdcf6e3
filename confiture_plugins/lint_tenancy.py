"""Built-in lint rules, group ``tenancy`` (CF3xx): multi-tenant schemas.

Off by default: turn them on with ``--select tenancy``. Settings, in
``[lint.tenancy]``::

    [lint.tenancy]
    column = "tenant_id"                       # the tenant column (default tenant_id)
    exempt = ["tenants", "public.countries"]   # tables without tenant data

A name in ``exempt`` without a schema matches the table in any schema.
Temporary tables and partitions (which inherit their parent's columns) are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from confiture_core.hookspecs import hookimpl
from confiture_core.lint.astutil import alter_cmds, column_constraints, display, strings, table_key
from confiture_core.lint.rule import LintContext, LintRule, TableKey, Violation
from confiture_core.sql import Statement

DEFAULT_COLUMN = "tenant_id"


def _settings(config: dict[str, Any] | Any) -> tuple[str, list[str]]:
    column = str(config.get("column", DEFAULT_COLUMN))
    exempt = [str(e) for e in config.get("exempt", [])]
    return column, exempt


def _exempt(key: TableKey, exempt: list[str]) -> bool:
    schema, table = key
    for e in exempt:
        if "." in e:
            s, t = e.rsplit(".", 1)
            if t == table and (schema is None or s == schema):
                return True
        elif e == table:
            return True
    return False


def _candidate(node: ast.Node, exempt: list[str]) -> TableKey | None:
    if not isinstance(node, ast.CreateStmt) or node.relation is None:
        return None
    if node.relation.relpersistence == "t" or node.partbound is not None or node.ofTypename is not None:
        return None
    key = table_key(node.relation)
    if key is None or _exempt(key, exempt):
        return None
    return key


def _columns(node: ast.CreateStmt) -> list[str]:
    return [el.colname for el in node.tableElts or () if isinstance(el, ast.ColumnDef) and el.colname]


class TenantColumn(LintRule):
    code = "CF301"
    name = "tenancy.tenant-column"
    groups = ("tenancy",)
    default_enabled = False
    summary = "A new table has no tenant column"
    explanation = (
        "In a shared-schema multi-tenant database every row must say which tenant owns it, or queries "
        "and row-level security policies cannot keep tenants apart.\n\nInstead: add the tenant column "
        "(`tenant_id` by default, `[lint.tenancy] column`), NOT NULL and referencing the tenants "
        "table, or list the table in `[lint.tenancy] exempt` when it holds shared data."
    )
    node_types = (ast.CreateStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        column, exempt = _settings(ctx.config)
        key = _candidate(statement.node, exempt)
        if key is None:
            return
        assert isinstance(statement.node, ast.CreateStmt)
        if column in _columns(statement.node):
            return
        yield self.violation(
            statement, ctx,
            f"table {display(key)} has no {column} column, so its rows belong to no tenant and nothing keeps "
            f"tenants apart; add {column} NOT NULL (referencing the tenants table), or list the table in "
            "[lint.tenancy] exempt")


def _leading_columns(node: ast.Node, key: TableKey) -> Iterator[str]:
    """The first column of each index or key a statement creates on ``key``'s table."""

    def same(other: TableKey | None) -> bool:
        return other is not None and other[1] == key[1] and (
            other[0] is None or key[0] is None or other[0] == key[0])

    if isinstance(node, ast.IndexStmt) and same(table_key(node.relation)):
        first = (node.indexParams or (None,))[0]
        if isinstance(first, ast.IndexElem) and first.name:
            yield first.name
    constraints: list[ast.Constraint] = []
    if isinstance(node, ast.CreateStmt) and same(table_key(node.relation)):
        for el in node.tableElts or ():
            if isinstance(el, ast.Constraint):
                constraints.append(el)
            elif isinstance(el, ast.ColumnDef):
                for c in column_constraints(el):
                    if c.contype in (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE) and el.colname:
                        yield el.colname
    if isinstance(node, ast.AlterTableStmt) and same(table_key(node.relation)):
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
        column, exempt = _settings(ctx.config)
        key = _candidate(statement.node, exempt)
        if key is None:
            return
        assert isinstance(statement.node, ast.CreateStmt)
        if column not in _columns(statement.node):
            return  # CF301's finding
        for s in ctx.statements[ctx.index:]:
            if column in _leading_columns(s.node, key):
                return
        yield self.violation(
            statement, ctx,
            f"table {display(key)} has no index starting with {column}: every per-tenant query scans other "
            f"tenants' rows; make {column} the first column of the primary key or CREATE INDEX ... ({column}, ...)")


RULES: Sequence[type[LintRule]] = (TenantColumn, TenantIndex)


@hookimpl
def confiture_lint_rules() -> Sequence[type[LintRule]]:
    """The tenancy rules (CF301-CF302), off by default."""
    return list(RULES)
