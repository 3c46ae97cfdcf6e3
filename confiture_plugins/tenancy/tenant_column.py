"""CF301 tenancy.tenant-column: a new table has no tenant column."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from confiture_core.lint.astutil import display
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import tenant_table


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
        found = tenant_table(statement.node, ctx.config)
        if found is None or found[2]:
            return
        key, column, _ = found
        yield self.violation(
            statement, ctx,
            f"table {display(key)} has no {column} column, so its rows belong to no tenant and nothing keeps "
            f"tenants apart; add {column} NOT NULL (referencing the tenants table), or list the table in "
            "[lint.tenancy] exempt")
