"""CF126 safety.newer-syntax: syntax the target PostgreSQL version does not have yet."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import ConstrType

from confiture_core.lint.astutil import has_option, walk
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


def _newer_syntax(node: ast.Node, in_transaction: bool) -> Iterator[tuple[int, str]]:
    """(first major version that has it, what) for each feature of ``node`` newer than some server."""
    if isinstance(node, ast.ReindexStmt):
        if has_option(node.params, "concurrently"):
            yield 12, "REINDEX ... CONCURRENTLY"
    elif isinstance(node, ast.MergeStmt):
        yield 15, "MERGE"
    elif isinstance(node, ast.IndexStmt):
        if node.nulls_not_distinct:
            yield 15, "NULLS NOT DISTINCT"
        if node.indexIncludingParams:
            yield 11, "CREATE INDEX ... INCLUDE"
    elif isinstance(node, ast.CreateFunctionStmt):
        if node.is_procedure:
            yield 11, "CREATE PROCEDURE"
    elif isinstance(node, ast.AlterEnumStmt):
        if in_transaction and not node.oldVal:
            yield 12, "ALTER TYPE ... ADD VALUE inside a transaction block"
    if isinstance(node, ast.CreateStmt | ast.AlterTableStmt):
        if isinstance(node, ast.CreateStmt) and node.partspec is not None:
            yield 10, "CREATE TABLE ... PARTITION BY"
        for n in walk(node.tableElts if isinstance(node, ast.CreateStmt) else node.cmds):
            if isinstance(n, ast.Constraint):
                if n.contype == ConstrType.CONSTR_IDENTITY:
                    yield 10, "GENERATED ... AS IDENTITY"
                elif n.contype == ConstrType.CONSTR_GENERATED:
                    yield 12, "generated columns (GENERATED ALWAYS AS (...) STORED)"
                if n.nulls_not_distinct:
                    yield 15, "NULLS NOT DISTINCT"
            elif isinstance(n, ast.PartitionCmd) and n.concurrent:
                yield 14, "DETACH PARTITION ... CONCURRENTLY"


class NewerSyntax(LintRule):
    code = "CF126"
    name = "safety.newer-syntax"
    groups = ("safety",)
    summary = "Syntax the target PostgreSQL version does not have yet"
    explanation = (
        "The migration uses a feature added in a later PostgreSQL major version than the target "
        "(`--pg-version`, `[lint] pg_version`, or the connected server), so it fails on that server. "
        "Versions from the PostgreSQL release notes (https://www.postgresql.org/docs/release/): "
        "table partitioning and identity columns (10); "
        "CREATE PROCEDURE and covering indexes, `INCLUDE` (11); `REINDEX CONCURRENTLY`, generated "
        "columns, and `ALTER TYPE ... ADD VALUE` inside a transaction block (12); `DETACH PARTITION "
        "... CONCURRENTLY` (14); `MERGE` and `NULLS NOT DISTINCT` (15).\n\n"
        "Instead: upgrade the server first, or write it the older way (e.g. before 12, build a copy with "
        "`CREATE INDEX CONCURRENTLY` and drop the old index instead of `REINDEX CONCURRENTLY`; run "
        "`ALTER TYPE ... ADD VALUE` in a `-- confiture: no-transaction` migration)."
    )
    node_types = (ast.ReindexStmt, ast.MergeStmt, ast.IndexStmt, ast.CreateFunctionStmt, ast.AlterEnumStmt,
                  ast.CreateStmt, ast.AlterTableStmt)
    max_pg_version = 14  # the newest feature checked is from 15

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        seen: set[str] = set()
        for version, what in _newer_syntax(statement.node, ctx.in_transaction):
            if version > ctx.pg_version and what not in seen:
                seen.add(what)
                yield self.violation(
                    statement, ctx,
                    f"{what} needs PostgreSQL {version} or later; the target is PostgreSQL {ctx.pg_version}: "
                    "upgrade first or write it the older way")
