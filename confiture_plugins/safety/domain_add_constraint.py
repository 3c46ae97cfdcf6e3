"""CF131 safety.domain-add-constraint: ALTER DOMAIN ADD CONSTRAINT checks every column of the domain."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from confiture_core.lint.astutil import strings
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


class DomainAddConstraint(LintRule):
    code = "CF131"
    name = "safety.domain-add-constraint"
    groups = ("safety",)
    squawk = "ban-alter-domain-with-add-constraint"
    summary = "ALTER DOMAIN ... ADD CONSTRAINT checks every column of every table that uses the domain"
    explanation = (
        "`ALTER DOMAIN ... ADD CONSTRAINT` verifies the stored values of every column of the domain type, "
        "in every table, while locking those tables against writes (ALTER DOMAIN docs: the check is made "
        "on existing data unless NOT VALID; validation locks the tables). `NOT VALID` only postpones the "
        "problem: `ALTER DOMAIN ... VALIDATE CONSTRAINT` still scans all of them, with no lighter route "
        "like a table's VALIDATE CONSTRAINT, and a domain cannot be changed table by table.\n\n"
        "Instead: put the constraint on the columns (`ALTER TABLE ... ADD CONSTRAINT ... CHECK (...) NOT "
        "VALID`, then `VALIDATE CONSTRAINT` in a later migration), table by table. squawk reports NOT VALID "
        "too, and so does this rule."
    )
    node_types = (ast.AlterDomainStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.AlterDomainStmt)
        if node.subtype != "C":
            return
        domain = ".".join(strings(node.typeName))
        yield self.violation(
            statement, ctx,
            f"adding a constraint to domain {domain} checks every column of that type in every table while "
            "blocking writes to them; put a CHECK ... NOT VALID on the columns instead, validated later")
