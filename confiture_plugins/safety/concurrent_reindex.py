"""CF103 safety.concurrent-reindex: REINDEX without CONCURRENTLY blocks writes (and reads that use the index)."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import ReindexObjectType

from confiture_core.lint.astutil import option_enabled
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


class ConcurrentReindex(LintRule):
    code = "CF103"
    name = "safety.concurrent-reindex"
    groups = ("safety",)
    squawk = "require-concurrent-reindex"
    summary = "REINDEX without CONCURRENTLY blocks writes (and reads that use the index)"
    explanation = (
        "`REINDEX` locks out writes to the table and takes an ACCESS EXCLUSIVE lock on each index it "
        "rebuilds (PostgreSQL docs, REINDEX).\n\nInstead: `REINDEX ... CONCURRENTLY` (PostgreSQL 12+), "
        "alone in its migration. Before 12: `CREATE INDEX CONCURRENTLY` a copy, then "
        "`DROP INDEX CONCURRENTLY` the old one."
    )
    node_types = (ast.ReindexStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.ReindexStmt)
        if option_enabled(node.params, "concurrently"):
            return
        if node.kind == ReindexObjectType.REINDEX_OBJECT_SYSTEM:
            return  # system catalogs cannot be reindexed concurrently
        fix = ("use REINDEX ... CONCURRENTLY in a migration of its own" if ctx.pg_version >= 12 else
               "before PostgreSQL 12 build a copy with CREATE INDEX CONCURRENTLY and drop the old index "
               "with DROP INDEX CONCURRENTLY")
        yield self.violation(statement, ctx, f"REINDEX without CONCURRENTLY blocks writes to the table; {fix}")
