"""CF404 cqrs.read-model-refresh: a table-backed read model is created without a refresh function or trigger."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import ObjectType

from confiture_core.lint.astutil import created_table, strings
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import SETTINGS, created_functions, names


class ReadModelRefresh(LintRule):
    code = "CF404"
    settings = SETTINGS
    name = "cqrs.read-model-refresh"
    groups = ("cqrs",)
    default_enabled = False
    summary = "A table-backed read model is created without a refresh function or trigger"
    explanation = (
        "A `tv_*` table is a copy of what the write side says; nothing in PostgreSQL keeps it current (unlike "
        "a view, which is computed at each query: docs, CREATE VIEW). Without a refresh function that the "
        "write side's mutations call, or a trigger on the write tables, it is right only on the day it is "
        "created.\n\nInstead: create its refresh function in the same migration, named as `[lint.cqrs] "
        "refresh_functions` says (`refresh_tv_user`, by default also `fn_refresh_tv_user`), or a trigger on "
        "the write tables whose name or function names the read model (`CREATE TRIGGER tr_tv_user AFTER "
        "INSERT OR UPDATE OR DELETE ON tb_user ... EXECUTE FUNCTION sync_tv_user()`)."
    )
    node_types = (ast.CreateStmt, ast.CreateTableAsStmt)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        key = created_table(node)
        conv = names(ctx.config, ctx.state)
        if key is None or not conv.is_read_table(key[1]):
            return
        if isinstance(node, ast.CreateStmt) and (node.relation is None or node.relation.relpersistence == "t"):
            return
        if isinstance(node, ast.CreateTableAsStmt) and node.objtype != ObjectType.OBJECT_TABLE:
            return  # a materialized view: REFRESH MATERIALIZED VIEW is its refresh
        table = key[1]
        wanted = set(conv.refresh_functions(table))
        if not wanted.isdisjoint(created_functions(ctx.statements)):
            return
        for s in ctx.statements:
            if isinstance(s.node, ast.CreateTrigStmt):
                named = [s.node.trigname or "", *strings(s.node.funcname)]
                if any(table in n or n in wanted for n in named):
                    return
        yield self.violation(
            statement, ctx,
            f"read model {table} has no refresh function or trigger in this migration, so nothing keeps it in "
            f"step with the write side; create {' or '.join(conv.refresh_functions(table))} (called by the write "
            "side's mutations) or a trigger on the write tables that names it")
