"""CF402 cqrs.read-model-write: a migration writes to a table-backed read model other than through its refresh."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from confiture_core.lint.astutil import table_key
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import SETTINGS, names

_VERBS: dict[type[ast.Node], str] = {ast.InsertStmt: "INSERT INTO", ast.UpdateStmt: "UPDATE",
                                     ast.DeleteStmt: "DELETE FROM", ast.MergeStmt: "MERGE INTO",
                                     ast.CopyStmt: "COPY ... FROM", ast.TruncateStmt: "TRUNCATE"}


def _written(node: ast.Node) -> Iterator[ast.RangeVar]:
    if isinstance(node, ast.TruncateStmt):
        yield from (r for r in node.relations or () if isinstance(r, ast.RangeVar))
    elif isinstance(node, ast.CopyStmt):
        if node.is_from and node.relation is not None:
            yield node.relation
    elif isinstance(node, ast.InsertStmt | ast.UpdateStmt | ast.DeleteStmt | ast.MergeStmt) \
            and node.relation is not None:
        yield node.relation


class ReadModelWrite(LintRule):
    code = "CF402"
    settings = SETTINGS
    name = "cqrs.read-model-write"
    groups = ("cqrs",)
    default_enabled = False
    summary = "A migration writes to a read model directly instead of calling its refresh function"
    explanation = (
        "A table-backed read model (`tv_*`) holds what its refresh function computes from the write side. "
        "Rows written to it by hand (INSERT, UPDATE, DELETE, MERGE, COPY, TRUNCATE) say something the write "
        "side does not: the next refresh silently overwrites them, or, if it only refreshes what changed, "
        "they stay wrong. Writing through a view (`v_*`) writes the write side behind the view's back.\n\n"
        "Instead: change the write tables (`tb_*`), then call the read model's refresh function in the same "
        "migration (`SELECT refresh_tv_user();`). Names are set in `[lint.cqrs]`."
    )
    node_types = tuple(_VERBS)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        conv = names(ctx.config, ctx.state)
        for rv in _written(statement.node):
            key = table_key(rv)
            if key is None or not conv.is_read_model(key[1]):
                continue
            verb = _VERBS[type(statement.node)]
            how = (f"call its refresh function ({' or '.join(conv.refresh_functions(key[1]))})"
                   if conv.is_read_table(key[1]) else "write to the write tables it reads")
            yield self.violation(
                statement, ctx,
                f"{verb} {key[1]} writes to a read model by hand: the next refresh overwrites it or the rows "
                f"stay out of step with the write side; change the write tables, then {how}",
                location=rv.location)
