"""CF130 safety.concurrent-partition-detach: DETACH PARTITION without CONCURRENTLY blocks the parent table."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import AlterTableType

from confiture_core.lint.astutil import alter_cmds, display, table_key
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


class ConcurrentPartitionDetach(LintRule):
    code = "CF130"
    name = "safety.concurrent-partition-detach"
    groups = ("safety",)
    squawk = "require-concurrent-partition-detach"
    min_pg_version = 14
    summary = "DETACH PARTITION without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the partitioned table"
    explanation = (
        "`ALTER TABLE parent DETACH PARTITION p` takes an ACCESS EXCLUSIVE lock on the parent, blocking "
        "every read and write of every partition while it waits and runs. PostgreSQL 14 added `DETACH "
        "PARTITION ... CONCURRENTLY`, which takes only SHARE UPDATE EXCLUSIVE on the parent and waits for "
        "running transactions in two steps (ALTER TABLE docs, DETACH PARTITION). It cannot run in a "
        "transaction block, and if interrupted it is finished with `DETACH PARTITION ... FINALIZE`.\n\n"
        "Instead (PostgreSQL 14+): `ALTER TABLE parent DETACH PARTITION p CONCURRENTLY;` alone in a "
        "migration marked `-- confiture: no-transaction`. Not reported when targeting PostgreSQL 13 or "
        "older, which has no alternative."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = frozenset({AlterTableType.AT_DetachPartition})

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.AlterTableStmt)
        for cmd in alter_cmds(node):
            if cmd.subtype != AlterTableType.AT_DetachPartition:
                continue
            part = cmd.def_
            if isinstance(part, ast.PartitionCmd) and part.concurrent:
                continue
            name = display(table_key(part.name)) if isinstance(part, ast.PartitionCmd) else "?"
            yield self.violation(
                statement, ctx,
                f"DETACH PARTITION {name} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on "
                f"{display(table_key(node.relation))}, blocking reads and writes of every partition; use DETACH "
                "PARTITION ... CONCURRENTLY in a '-- confiture: no-transaction' migration")
