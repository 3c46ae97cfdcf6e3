"""CF132 safety.domain-constraint: CREATE DOMAIN with constraints that are hard to change online later."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import ConstrType

from confiture_core.lint.astutil import strings
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

#: Domain "constraints" that constrain nothing: DEFAULT and NULL.
_NOT_CONSTRAINTS = frozenset({ConstrType.CONSTR_DEFAULT, ConstrType.CONSTR_NULL})


class DomainConstraint(LintRule):
    code = "CF132"
    name = "safety.domain-constraint"
    groups = ("safety",)
    severity = "warning"
    squawk = "ban-create-domain-with-constraint"
    summary = "A domain with CHECK or NOT NULL constraints cannot be changed online later"
    explanation = (
        "Constraints on a domain apply to every column of that type, in every table: changing them later "
        "means `ALTER DOMAIN`, which checks all those columns at once while blocking writes to them (CF131), "
        "and a domain's NOT NULL is not reliable - a column of the domain can still read as NULL after an "
        "outer join or in a row built without it (CREATE DOMAIN docs, Notes, which recommend making the "
        "domain nullable and putting NOT NULL on the columns).\n\n"
        "Instead: a domain without constraints (or no domain), with the CHECK and NOT NULL constraints on "
        "the columns, where each table's can be changed with NOT VALID and VALIDATE CONSTRAINT."
    )
    node_types = (ast.CreateDomainStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.CreateDomainStmt)
        found = [c for c in node.constraints or ()
                 if isinstance(c, ast.Constraint) and c.contype not in _NOT_CONSTRAINTS]
        if not found:
            return
        domain = ".".join(strings(node.domainname))
        yield self.violation(
            statement, ctx,
            f"domain {domain} has constraints: changing them later checks every column of the type at once "
            "while blocking writes; put the CHECK / NOT NULL on the columns instead",
            location=found[0].location)
