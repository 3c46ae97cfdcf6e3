"""CF129 safety.drop-constraint: dropping a constraint removes a guarantee clients rely on."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import AlterTableType

from confiture_core.lint.astutil import alter_cmds
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import existing_table


class DropConstraint(LintRule):
    code = "CF129"
    name = "safety.drop-constraint"
    groups = ("safety",)
    severity = "warning"
    squawk = "ban-drop-constraint"
    summary = "Dropping a constraint removes a guarantee that existing clients and data rely on"
    explanation = (
        "`ALTER TABLE ... DROP CONSTRAINT` takes an ACCESS EXCLUSIVE lock (ALTER TABLE docs) and removes a "
        "rule the data obeyed: a UNIQUE or PRIMARY KEY constraint also drops its index (queries that used "
        "it turn into scans, `ON CONFLICT` on it fails), a FOREIGN KEY stops protecting references, a CHECK "
        "lets values in that code assumed impossible. Adding it back later needs a scan (CF107-CF109).\n\n"
        "Instead: make sure nothing relies on it, then drop it in a migration of its own and mark it "
        "reviewed with `-- confiture: noqa CF129`. To replace a constraint, add the new one first "
        "(NOT VALID, then VALIDATE in a later migration) and drop the old one afterwards. Constraints of a "
        "table created in the same file are not reported (squawk reports them): no client can rely on them "
        "yet."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = frozenset({AlterTableType.AT_DropConstraint})

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        table = existing_table(statement.node, ctx)
        if table is None:
            return
        for cmd in alter_cmds(statement.node):
            if cmd.subtype == AlterTableType.AT_DropConstraint:
                yield self.violation(
                    statement, ctx,
                    f"dropping constraint {cmd.name} of {table} removes a guarantee that clients and queries may "
                    "rely on (and its index, for UNIQUE/PRIMARY KEY); check nothing does, then noqa CF129")
