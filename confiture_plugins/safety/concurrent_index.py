"""CF101 safety.concurrent-index: CREATE INDEX without CONCURRENTLY blocks writes while it builds."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from confiture_core.lint.astutil import display, table_key
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


class ConcurrentIndex(LintRule):
    code = "CF101"
    name = "safety.concurrent-index"
    groups = ("safety",)
    squawk = "require-concurrent-index-creation"
    summary = "CREATE INDEX without CONCURRENTLY blocks writes to the table while the index builds"
    explanation = (
        "A plain `CREATE INDEX` takes a SHARE lock on the table (PostgreSQL docs, CREATE INDEX, "
        "\"Building Indexes Concurrently\"): reads go on but every INSERT, UPDATE and DELETE waits until "
        "the build finishes, which on a large table means minutes of failed writes.\n\n"
        "Instead: `CREATE INDEX CONCURRENTLY`, alone in its migration (it cannot run in a transaction "
        "block, so Confiture runs such a file in autocommit). If it fails it leaves an INVALID index: "
        "drop it and retry. An index on a table created earlier in the same file is not reported."
    )
    node_types = (ast.IndexStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.IndexStmt)
        key = table_key(node.relation)
        if node.concurrent or key is None or ctx.table_created_earlier(*key):
            return
        idx = f"index {node.idxname} " if node.idxname else "an index "
        yield self.violation(
            statement, ctx,
            f"creating {idx}on {display(key)} without CONCURRENTLY takes a SHARE lock that blocks all writes "
            f"to the table until the build ends; use CREATE INDEX CONCURRENTLY in a migration of its own",
        )
