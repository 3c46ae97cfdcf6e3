"""CF107 safety.unique-constraint: ADD UNIQUE/PRIMARY KEY/EXCLUDE builds its index under ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import ConstrType

from confiture_core.lint.astutil import NEW_CONSTRAINT_SUBTYPES, new_constraints
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import existing_table


class UniqueConstraint(LintRule):
    code = "CF107"
    name = "safety.unique-constraint"
    groups = ("safety",)
    squawk = "disallowed-unique-constraint, adding-serial-primary-key-field"
    summary = "Adding a UNIQUE, PRIMARY KEY or EXCLUDE constraint builds its index under an ACCESS EXCLUSIVE lock"
    explanation = (
        "`ADD CONSTRAINT ... UNIQUE` (or `PRIMARY KEY`) builds a new index while holding an ACCESS "
        "EXCLUSIVE lock, blocking reads and writes for the whole build (ALTER TABLE docs, ADD "
        "table_constraint).\n\nInstead: `CREATE UNIQUE INDEX CONCURRENTLY i ON t (...)` in one migration, "
        "then `ALTER TABLE t ADD CONSTRAINT c UNIQUE USING INDEX i` (a quick catalog change). An `EXCLUDE` "
        "constraint has no such path (ALTER TABLE docs: `USING INDEX` takes only UNIQUE and PRIMARY KEY): add it "
        "while the table is small or in a maintenance window, or create the table with it."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = NEW_CONSTRAINT_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        table = existing_table(statement.node, ctx)
        if table is None:
            return
        for c, col in new_constraints(statement.node):
            if c.contype == ConstrType.CONSTR_EXCLUSION:
                yield self.violation(
                    statement, ctx,
                    f"adding an EXCLUDE constraint to {table} builds its index under an ACCESS EXCLUSIVE lock that "
                    "blocks reads and writes, and PostgreSQL has no concurrent way to add one: do it while the table "
                    "is small or in a maintenance window", location=c.location)
                continue
            if c.contype not in (ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_PRIMARY) or c.indexname:
                continue
            kind = "UNIQUE" if c.contype == ConstrType.CONSTR_UNIQUE else "PRIMARY KEY"
            what = f"column {col.colname} with {kind}" if col is not None else f"{kind} constraint"
            yield self.violation(
                statement, ctx,
                f"adding a {what} to {table} builds its index under an ACCESS EXCLUSIVE lock that blocks reads "
                f"and writes; CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... {kind} USING INDEX",
                location=c.location)
