"""CF208 conventions.enum-value-ordering: ALTER TYPE ... ADD VALUE without BEFORE/AFTER appends the value."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from confiture_core.lint.astutil import strings
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


class EnumValueOrdering(LintRule):
    code = "CF208"
    name = "conventions.enum-value-ordering"
    groups = ("conventions",)
    severity = "warning"
    default_enabled = False
    squawk = "require-enum-value-ordering"
    summary = "ALTER TYPE ... ADD VALUE without BEFORE or AFTER puts the value last in the enum's order"
    explanation = (
        "An enum's values sort in the order they were declared, not alphabetically (Data Types docs, 8.7.2 "
        "\"Ordering\"), and `ADD VALUE` without `BEFORE`/`AFTER` appends the new value at the end (ALTER TYPE "
        "docs), so `ORDER BY`, `<`, `>`, `min()` and `max()` on the column may place it where nobody meant. "
        "Off by default: an enum whose order carries no meaning needs no position.\n\n"
        "Instead: say where it goes, `ALTER TYPE status ADD VALUE 'paused' AFTER 'active';`."
    )
    node_types = (ast.AlterEnumStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.AlterEnumStmt)
        if node.newVal is None or node.oldVal is not None or node.newValNeighbor is not None:
            return  # RENAME VALUE, or a position given
        yield self.violation(
            statement, ctx,
            f"ADD VALUE {node.newVal!r} without BEFORE or AFTER appends it last in the order of enum "
            f"{'.'.join(strings(node.typeName))}, which ORDER BY and comparisons use; say BEFORE/AFTER which value")
