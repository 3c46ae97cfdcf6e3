"""CF109 safety.check-not-valid: a CHECK without NOT VALID scans the table under ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import ConstrType

from confiture_core.lint.astutil import NEW_CONSTRAINT_SUBTYPES, new_constraints
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import existing_table


class CheckNotValid(LintRule):
    code = "CF109"
    name = "safety.check-not-valid"
    groups = ("safety",)
    squawk = "constraint-missing-not-valid"
    summary = "Adding a CHECK constraint without NOT VALID scans the table under an ACCESS EXCLUSIVE lock"
    explanation = (
        "`ADD CONSTRAINT ... CHECK (...)` verifies every row while holding an ACCESS EXCLUSIVE lock "
        "(ALTER TABLE docs).\n\nInstead: `ADD CONSTRAINT ... CHECK (...) NOT VALID`, then "
        "`VALIDATE CONSTRAINT` in a later transaction (SHARE UPDATE EXCLUSIVE: reads and writes go on)."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = NEW_CONSTRAINT_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        table = existing_table(statement.node, ctx)
        if table is None:
            return
        for c, _col in new_constraints(statement.node):
            if c.contype != ConstrType.CONSTR_CHECK or c.skip_validation:
                continue
            yield self.violation(
                statement, ctx,
                f"adding CHECK constraint {c.conname + ' ' if c.conname else ''}to {table} scans every row under "
                "an ACCESS EXCLUSIVE lock that blocks reads and writes; add it NOT VALID, then VALIDATE "
                "CONSTRAINT in a later transaction", location=c.location)
