"""CF303 tenancy.read-model-tenant-column: a read model built from tenant tables does not carry the tenant column."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pglast import ast

from confiture_core.lint.astutil import display, strings, table_key, walk
from confiture_core.lint.rule import LintContext, LintRule, TableKey, Violation
from confiture_core.sql import Statement

from ._shared import DEFAULT_COLUMN, exempt


def _read_model(node: ast.Node) -> tuple[TableKey | None, ast.Node | None, list[str]]:
    """``(name, query, column aliases)`` of a view, materialized view or ``CREATE TABLE AS``."""
    if isinstance(node, ast.ViewStmt):
        return table_key(node.view), node.query, strings(node.aliases)
    if isinstance(node, ast.CreateTableAsStmt) and node.into is not None:
        return table_key(node.into.rel), node.query, strings(node.into.colNames)
    return None, None, []


def _sources(query: ast.SelectStmt) -> Iterator[TableKey]:
    """The relations the query reads in its FROM clauses (subqueries and joins included), common table
    expressions left out."""
    ctes = {c.ctename for c in walk(query) if isinstance(c, ast.CommonTableExpr)}
    for n in walk(query):
        if isinstance(n, ast.RangeVar):
            key = table_key(n)
            if key is not None and not (key[0] is None and key[1] in ctes):
                yield key


def _outputs(query: ast.SelectStmt, aliases: Sequence[str]) -> tuple[list[str], bool]:
    """``(output column names, whether a * may add columns whose names the statement does not show)``."""
    while query.op and query.larg is not None:  # UNION/INTERSECT/EXCEPT: the first branch names the columns
        query = query.larg
    names: list[str] = []
    star = False
    for i, target in enumerate(query.targetList or ()):
        if not isinstance(target, ast.ResTarget):
            continue
        value = target.val
        fields = value.fields or () if isinstance(value, ast.ColumnRef) else ()
        if fields and isinstance(fields[-1], ast.A_Star):
            star = True
            continue
        if i < len(aliases):
            names.append(aliases[i])
        elif target.name:
            names.append(target.name)
        elif fields and isinstance(fields[-1], ast.String) and fields[-1].sval:
            names.append(fields[-1].sval)
    return names, star


class ReadModelTenantColumn(LintRule):
    code = "CF303"
    name = "tenancy.read-model-tenant-column"
    groups = ("tenancy",)
    default_enabled = False
    summary = "A read model built from tenant tables does not carry the tenant column"
    explanation = (
        "A read model (a view, a materialized view, or a table made with `CREATE TABLE ... AS`, such as "
        "CQRS's `v_*` and `tv_*`) built from tenant tables holds tenant data. Without the tenant column in its "
        "output, queries on it cannot filter by tenant, row-level security policies cannot be written on it, "
        "and a materialized copy mixes every tenant's rows under one key.\n\nInstead: select the tenant "
        "column (`tenant_id` by default, `[lint.tenancy] column`) in the read model, and key it by (tenant "
        "column, id); list the read model in `[lint.tenancy] exempt` when it is meant to span tenants (an "
        "operator's statistics). A source table in `exempt` does not make a read model tenant-scoped."
    )
    node_types = (ast.ViewStmt, ast.CreateTableAsStmt)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        key, query, aliases = _read_model(statement.node)
        if key is None or not isinstance(query, ast.SelectStmt):
            return
        listed = [str(e) for e in ctx.config.get("exempt", [])]
        column = str(ctx.config.get("column", DEFAULT_COLUMN))
        if exempt(key, listed):
            return
        tenant_sources = [s for s in _sources(query) if not exempt(s, listed)]
        if not tenant_sources:
            return
        names, star = _outputs(query, aliases)
        if column in names or star:  # a * may bring it: not judged
            return
        yield self.violation(
            statement, ctx,
            f"read model {display(key)} reads the tenant table {display(tenant_sources[0])} but does not carry "
            f"{column}: queries and row-level security policies on it cannot keep tenants apart; select {column} "
            "in it, or list it in [lint.tenancy] exempt when it spans tenants on purpose")
