"""CF401 cqrs.foreign-key-to-read-model: a foreign key references a read model."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import ConstrType

from confiture_core.lint.astutil import NEW_CONSTRAINT_SUBTYPES, column_constraints, new_constraints, table_key
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import SETTINGS, names


def _foreign_keys(node: ast.Node) -> Iterator[ast.Constraint]:
    if isinstance(node, ast.CreateStmt):
        for el in node.tableElts or ():
            if isinstance(el, ast.Constraint):
                yield el
            elif isinstance(el, ast.ColumnDef):
                yield from column_constraints(el)
    else:
        for c, _ in new_constraints(node):
            yield c


class ForeignKeyToReadModel(LintRule):
    code = "CF401"
    settings = SETTINGS
    name = "cqrs.foreign-key-to-read-model"
    groups = ("cqrs",)
    default_enabled = False
    summary = "A foreign key references a read model"
    explanation = (
        "Read models (`v_*` views, `tv_*` tables) are derived from the write side and rebuilt from it; the "
        "write side must not depend on them. A foreign key to a `tv_*` table makes every write wait for the "
        "read model to be current (an insert into the write table fails until the refresh has run) and makes "
        "the refresh itself fail or cascade when it deletes and re-inserts rows (PostgreSQL checks the key "
        "on every change of the referenced table: docs, CREATE TABLE, REFERENCES); a view cannot be "
        "referenced at all.\n\nInstead: reference the write table the read model is built from (`tb_user`, "
        "not `tv_user`). Names are set in `[lint.cqrs]`."
    )
    node_types = (ast.CreateStmt, ast.AlterTableStmt)
    alter_subtypes = NEW_CONSTRAINT_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.CreateStmt | ast.AlterTableStmt)
        key = table_key(node.relation)
        conv = names(ctx.config, ctx.state)
        for c in _foreign_keys(node):
            target = table_key(c.pktable) if c.contype == ConstrType.CONSTR_FOREIGN else None
            if target is None or not conv.is_read_model(target[1]):
                continue
            side = "the write table" if key is not None and conv.is_write(key[1]) else "table"
            yield self.violation(
                statement, ctx,
                f"{side} {key[1] if key else '?'} has a foreign key to the read model {target[1]}: writes then "
                "depend on derived data and the read model's refresh fails on referenced rows; reference the "
                "write table it is built from instead",
                location=c.location)
