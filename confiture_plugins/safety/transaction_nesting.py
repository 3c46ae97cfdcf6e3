"""CF119 safety.transaction-nesting: BEGIN/COMMIT inside a migration the runner wraps in a transaction."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import TransactionStmtKind

from confiture_core.lint.astutil import transactions
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


class TransactionNesting(LintRule):
    code = "CF119"
    name = "safety.transaction-nesting"
    groups = ("safety",)
    squawk = "transaction-nesting"
    summary = "BEGIN/COMMIT inside a migration that the runner already wraps in a transaction"
    explanation = (
        "Confiture runs each migration in its own transaction (together with its hooks and its tracking "
        "row). A `BEGIN` inside it only warns, but a `COMMIT` or `ROLLBACK` ends the runner's transaction "
        "early: the rest runs outside it, and a failure can no longer be rolled back as a whole.\n\n"
        "In a `-- confiture: no-transaction` migration, a `BEGIN` while the file's own transaction is "
        "still open is reported too: PostgreSQL only warns (\"there is already a transaction in "
        "progress\", BEGIN docs), so the inner transaction the author meant does not exist and its "
        "first `COMMIT` commits everything before it.\n\n"
        "Instead: remove the transaction statements. A migration that must control its own transactions "
        "starts with `-- confiture: no-transaction` and does not nest them."
    )
    node_types = (ast.TransactionStmt,)
    _NESTING = frozenset({
        TransactionStmtKind.TRANS_STMT_BEGIN, TransactionStmtKind.TRANS_STMT_START,
        TransactionStmtKind.TRANS_STMT_COMMIT, TransactionStmtKind.TRANS_STMT_ROLLBACK,
        TransactionStmtKind.TRANS_STMT_PREPARE, TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED,
        TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED,
    })

    _BEGINS = frozenset({TransactionStmtKind.TRANS_STMT_BEGIN, TransactionStmtKind.TRANS_STMT_START})

    @staticmethod
    def _inside_own_transaction(statement: Statement, ctx: LintContext) -> bool:
        """Whether a BEGIN at ``statement`` comes while a transaction the file opened is still open."""
        i = statement.index
        tx = transactions(ctx)
        return i > 0 and tx[i] is not None and tx[i - 1] == tx[i]

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.TransactionStmt)
        if node.kind not in self._NESTING:
            return
        if not ctx.in_transaction:
            if node.kind in self._BEGINS and self._inside_own_transaction(statement, ctx):
                yield self.violation(
                    statement, ctx,
                    "BEGIN inside a transaction this file already opened: PostgreSQL ignores it (a warning), "
                    "so the first COMMIT ends both; COMMIT the first transaction before beginning another")
            return
        word = statement.sql.split(None, 1)[0].upper() if statement.sql.strip() else "BEGIN"
        yield self.violation(
            statement, ctx,
            f"{word} inside a migration the runner already wraps in a transaction: COMMIT/ROLLBACK end the "
            "runner's transaction early and BEGIN is ignored; remove it, or put '-- confiture: no-transaction' "
            "at the top of the file")
