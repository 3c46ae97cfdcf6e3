"""CF108 safety.foreign-key-not-valid: a FOREIGN KEY without NOT VALID blocks writes on both tables."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import ConstrType

from confiture_core.lint.astutil import NEW_CONSTRAINT_SUBTYPES, display, new_constraints, table_key
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import existing_table


class ForeignKeyNotValid(LintRule):
    code = "CF108"
    name = "safety.foreign-key-not-valid"
    groups = ("safety",)
    squawk = "adding-foreign-key-constraint, constraint-missing-not-valid"
    summary = "Adding a FOREIGN KEY without NOT VALID checks every row while blocking writes on both tables"
    explanation = (
        "Adding a foreign key takes SHARE ROW EXCLUSIVE locks on the table and on the referenced table and "
        "checks every existing row before it commits (ALTER TABLE docs, ADD table_constraint, and "
        "\"Notes\").\n\nInstead: `ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID` (new rows are checked at "
        "once), then `ALTER TABLE ... VALIDATE CONSTRAINT ...` in a later transaction: validation takes "
        "only a SHARE UPDATE EXCLUSIVE lock."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = NEW_CONSTRAINT_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        table = existing_table(statement.node, ctx)
        if table is None:
            return
        for c, col in new_constraints(statement.node):
            if c.contype != ConstrType.CONSTR_FOREIGN or c.skip_validation:
                continue
            ref = display(table_key(c.pktable))
            if col is not None:
                fix = (f"add {col.colname} without REFERENCES, then ADD CONSTRAINT ... FOREIGN KEY ({col.colname}) "
                       f"REFERENCES {ref} NOT VALID and VALIDATE CONSTRAINT it in a later transaction")
            else:
                fix = "add it with NOT VALID, then VALIDATE CONSTRAINT it in a later transaction"
            yield self.violation(
                statement, ctx,
                f"adding a foreign key from {table} to {ref} checks every row while holding SHARE ROW EXCLUSIVE "
                f"locks that block writes to both tables; {fix}", location=c.location)
