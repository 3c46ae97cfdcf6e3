"""An example Confiture lint rule pack (a pluggy plugin found through an entry point)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pglast import ast
from pglast.enums import ObjectType

from confiture_core.hookspecs import hookimpl
from confiture_core.lint.astutil import strings
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


class NoDropSchema(LintRule):
    """``DROP SCHEMA`` in a migration."""

    code = "EX101"
    name = "example.no-drop-schema"
    groups = ("example",)
    summary = "DROP SCHEMA removes every object in the schema"
    explanation = (
        "`DROP SCHEMA ... CASCADE` drops every table, view and function in the schema at once.\n\n"
        "Instead: drop the objects one by one, in a migration reviewed on its own."
    )
    node_types = (ast.DropStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.DropStmt)
        if node.removeType == ObjectType.OBJECT_SCHEMA:
            names = ", ".join(".".join(strings(o)) if isinstance(o, tuple) else str(o.sval)
                              for o in node.objects or ())
            yield self.violation(
                statement, ctx,
                f"DROP SCHEMA {names} removes every object in it at once; drop the objects one by one instead")


@hookimpl
def confiture_lint_rules() -> Sequence[type[LintRule]]:
    """The example pack's rules."""
    return [NoDropSchema]
