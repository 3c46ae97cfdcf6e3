"""CF127 safety.validate-same-transaction: NOT VALID then VALIDATE CONSTRAINT in one transaction gains nothing."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import AlterTableType

from confiture_core.lint.astutil import alter_cmds, same_table, same_transaction, table_key
from confiture_core.lint.rule import LintContext, LintRule, TableKey, Violation
from confiture_core.sql import Statement


class ValidateSameTransaction(LintRule):
    code = "CF127"
    name = "safety.validate-same-transaction"
    groups = ("safety",)
    squawk = "constraint-missing-not-valid"
    summary = "VALIDATE CONSTRAINT in the same transaction as the ADD CONSTRAINT ... NOT VALID it validates"
    explanation = (
        "`ADD CONSTRAINT ... NOT VALID` takes an ACCESS EXCLUSIVE lock (SHARE ROW EXCLUSIVE for a foreign "
        "key) only briefly because it skips the scan; `VALIDATE CONSTRAINT` then scans under a SHARE UPDATE "
        "EXCLUSIVE lock that lets reads and writes go on (ALTER TABLE docs, ADD table_constraint and "
        "VALIDATE CONSTRAINT). Locks are held until the transaction ends (13.3 \"Explicit Locking\"), so "
        "when both run in one transaction - one migration file that the runner wraps in a transaction - "
        "the ADD's lock is still held while VALIDATE scans the table: NOT VALID gains nothing.\n\n"
        "Instead: `ADD CONSTRAINT ... NOT VALID` in one migration and `VALIDATE CONSTRAINT` in the next "
        "(or after a `COMMIT` in a `-- confiture: no-transaction` file). squawk reports this pair only when told "
        "the file runs in a transaction; Confiture knows how the runner will run each file, so it reports "
        "it whenever the two statements share a transaction, and never when a COMMIT separates them."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = frozenset({AlterTableType.AT_AddConstraint, AlterTableType.AT_ValidateConstraint})

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.AlterTableStmt)
        key = table_key(node.relation)
        added: dict[str, tuple[TableKey | None, int]] = ctx.state.setdefault("not_valid", {})
        for cmd in alter_cmds(node):
            if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
                c = cmd.def_
                if c.skip_validation and c.conname and not (key and ctx.table_created_earlier(*key)):
                    added[c.conname] = (key, ctx.index)
            elif cmd.subtype == AlterTableType.AT_ValidateConstraint and cmd.name in added:
                where, index = added[cmd.name]
                if (where is None or key is None or same_table(where, key)) \
                        and same_transaction(ctx, index, ctx.index):
                    yield self.violation(
                        statement, ctx,
                        f"VALIDATE CONSTRAINT {cmd.name} runs in the same transaction as the ADD CONSTRAINT ... "
                        "NOT VALID that still holds its lock, so the scan blocks the table after all; validate "
                        "it in a later migration")
