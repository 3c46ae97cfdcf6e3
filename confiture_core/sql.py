"""Statement splitting and classification on pglast (libpg_query, PostgreSQL's own parser).

SQL text is never split on semicolons by hand: statement boundaries come from
PostgreSQL's grammar, so dollar-quoted bodies (any tag, nested tags), ``E''``
strings, semicolons in comments and SQL-standard ``BEGIN ATOMIC ... END`` bodies
are handled as the server handles them.

The one construct the grammar does not cover is the inline data of
``COPY ... FROM stdin``, which psql reads line by line up to a ``\\.`` line. When
the parser stops inside such data, the statements before it are re-parsed, the
data rows are cut out up to ``\\.``, and parsing resumes after it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pglast import ast, parse_sql
from pglast.enums import ReindexObjectType
from pglast.parser import ParseError, scan

from .errors import SqlSyntaxError

#: Header directive that lets a migration mix statements that need autocommit
#: with ordinary ones: the whole file then runs outside a transaction, one
#: statement at a time. Written as a comment before the first statement.
NO_TRANSACTION_DIRECTIVE = "confiture: no-transaction"

_DIRECTIVE_RE = re.compile(r"^\s*--\s*confiture:\s*no-transaction\b", re.MULTILINE)
_COPY_END_RE = re.compile(r"^\\\.[ \t]*\r?$", re.MULTILINE)


@dataclass(frozen=True)
class Statement:
    """One top-level SQL statement of a file.

    :ivar sql: the statement's text as sent to the server (no trailing ``;``).
    :ivar node: the statement's pglast AST node (``RawStmt.stmt``).
    :ivar index: 0-based position of the statement in its file.
    :ivar offset: character offset of the statement's first character in the file text.
    :ivar line: 1-based line of the statement's first character.
    :ivar column: 1-based column of the statement's first character.
    :ivar copy_data: for ``COPY ... FROM stdin`` the inline data rows (without the
        ``\\.`` terminator), else ``None``.
    """

    sql: str
    node: ast.Node
    index: int
    offset: int
    line: int
    column: int
    copy_data: str | None = None

    @property
    def kind(self) -> str:
        """The AST node's class name, e.g. ``"IndexStmt"``."""
        return type(self.node).__name__

    @property
    def no_transaction_reason(self) -> str | None:
        """Why this statement cannot run inside a transaction block, or ``None``."""
        return no_transaction_reason(self.node)

    @property
    def is_transaction_control(self) -> bool:
        """True for BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK, SAVEPOINT and friends."""
        return isinstance(self.node, ast.TransactionStmt)

    def line_of(self, position: int) -> int:
        """The file line of a 1-based character ``position`` inside :attr:`sql`.

        PostgreSQL reports error positions this way (``diag.statement_position``).
        """
        return self.line + self.sql.count("\n", 0, max(position - 1, 0))


@dataclass(frozen=True)
class SqlFile:
    """A parsed SQL file: its statements and its header directives.

    :ivar statements: the top-level statements, in file order.
    :ivar no_transaction: True when the file carries the
        ``-- confiture: no-transaction`` header directive.
    """

    statements: Sequence[Statement]
    no_transaction: bool = False
    skipped: Sequence[Statement] = field(default_factory=tuple)


class _Lines:
    """Maps character offsets of a text to 1-based (line, column)."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def __call__(self, offset: int) -> tuple[int, int]:
        i = bisect.bisect_right(self._starts, offset) - 1
        return i + 1, offset - self._starts[i] + 1


def _is_copy_from_stdin(node: ast.Node) -> bool:
    return (
        isinstance(node, ast.CopyStmt)
        and bool(node.is_from)
        and node.filename is None
        and not node.is_program
    )


def _parse_chunk(text: str, base: int, path: str | None, lines: _Lines) -> tuple[list[tuple[int, str, ast.Node]], int]:
    """Parse ``text`` (which starts at ``base`` in the file).

    Returns (statements as (offset, sql, node), end) where ``end`` is the offset in
    the file where parsing stopped: ``len`` of the file when everything parsed, or
    the offset right after a ``COPY ... FROM stdin;`` whose data follows.
    """
    try:
        raws = parse_sql(text)
    except ParseError as exc:
        err_at = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
        found = _find_copy_prefix(text, err_at)
        if found is None:
            line, col = lines(base + err_at)
            message = str(exc.args[0])
            if text[err_at:err_at + 1] == "\\":
                message += "; psql meta-commands (\\i, \\connect, \\set, ...) are not SQL and are not supported"
            raise SqlSyntaxError(path, line, col, message) from None
        prefix_end, raws = found
        return [_stmt_tuple(text, base, r) for r in raws], base + prefix_end
    return [_stmt_tuple(text, base, r) for r in raws], base + len(text)


def _stmt_tuple(text: str, base: int, raw: ast.RawStmt) -> tuple[int, str, ast.Node]:
    start = raw.stmt_location or 0
    length = raw.stmt_len or (len(text) - start)
    sql = text[start : start + length].rstrip()
    if sql.endswith(";"):
        sql = sql[:-1].rstrip()
    assert raw.stmt is not None
    return base + start, sql, raw.stmt


def _find_copy_prefix(text: str, err_at: int) -> tuple[int, tuple[ast.RawStmt, ...]] | None:
    """Find the ``COPY ... FROM stdin;`` whose inline data made the parser fail.

    Candidates are the first ``;`` token after each ``COPY`` keyword token before
    the error position (found with PostgreSQL's scanner, so semicolons in strings
    and comments are not candidates); the first prefix up to a candidate that
    parses and ends with a COPY FROM stdin statement is the one.
    Returns (offset just after that ``;``, the prefix's statements) or ``None``.
    """
    try:
        tokens = scan(text[:err_at])
    except ParseError:
        return None
    candidates: list[int] = []
    after_copy = False
    for tok in tokens:
        if tok.name == "COPY":
            after_copy = True
        elif tok.name == "ASCII_59" and after_copy:
            candidates.append(tok.end + 1)
            after_copy = False
    for end in candidates:
        try:
            raws = parse_sql(text[:end])
        except ParseError:
            continue
        if raws and raws[-1].stmt is not None and _is_copy_from_stdin(raws[-1].stmt):
            return end, raws
    return None


def parse_sql_text(text: str, path: str | None = None) -> SqlFile:
    """Split SQL text into top-level statements with PostgreSQL's own parser.

    :param text: the whole file as ``str`` (a UTF-8 BOM, if any, is ignored).
    :param path: the file name used in error messages, or ``None``.
    :returns: a :class:`SqlFile`; empty or comment-only text gives no statements.
    :raises SqlSyntaxError: when the parser rejects the text (with file, line and
        column), or when a ``COPY ... FROM stdin`` has no ``\\.`` terminator line.
    """
    if text.startswith("\ufeff"):
        text = " " + text[1:]  # keep offsets: one character for one character
    lines = _Lines(text)
    found: list[tuple[int, str, ast.Node, str | None]] = []
    pos = 0
    while pos < len(text):
        parsed, end = _parse_chunk(text[pos:], pos, path, lines)
        found.extend((off, sql, node, None) for off, sql, node in parsed)
        if end >= len(text):
            break
        # `end` is just after `COPY ... FROM stdin;`; data starts on the next line
        nl = text.find("\n", end)
        data_start = len(text) if nl < 0 else nl + 1
        term = _COPY_END_RE.search(text, data_start)
        if term is None:
            line, col = lines(found[-1][0])
            raise SqlSyntaxError(
                path, line, col, "COPY ... FROM stdin data has no terminating line '\\.'; add one after the data"
            )
        off, sql, node, _ = found[-1]
        found[-1] = (off, sql, node, text[data_start : term.start()])
        nl = text.find("\n", term.end())
        pos = len(text) if nl < 0 else nl + 1
    statements = []
    for i, (off, sql, node, data) in enumerate(found):
        line, col = lines(off)
        statements.append(Statement(sql, node, i, off, line, col, data))
    first = statements[0].offset if statements else len(text)
    return SqlFile(statements=tuple(statements), no_transaction=bool(_DIRECTIVE_RE.search(text[:first])))


def no_transaction_reason(node: ast.Node) -> str | None:
    """Why a statement cannot run inside a transaction block, or ``None`` if it can.

    Source: the PostgreSQL documentation of each command ("cannot be executed
    inside a transaction block"): CREATE INDEX CONCURRENTLY, DROP INDEX
    CONCURRENTLY, REINDEX ... CONCURRENTLY, VACUUM, ALTER SYSTEM, CREATE/DROP
    DATABASE, CREATE/DROP TABLESPACE, ALTER TABLE ... DETACH PARTITION ...
    CONCURRENTLY, CREATE SUBSCRIPTION (with a slot), DROP SUBSCRIPTION,
    ALTER SUBSCRIPTION ... REFRESH PUBLICATION (we treat all three as such).

    :param node: a pglast statement node.
    :returns: a short reason such as ``"CREATE INDEX CONCURRENTLY"``.
    """
    if isinstance(node, ast.IndexStmt) and node.concurrent:
        return "CREATE INDEX CONCURRENTLY"
    if isinstance(node, ast.DropStmt) and node.concurrent:
        return "DROP INDEX CONCURRENTLY"
    if isinstance(node, ast.ReindexStmt):
        for p in node.params or ():
            if isinstance(p, ast.DefElem) and p.defname == "concurrently":
                return "REINDEX CONCURRENTLY"
        if node.kind in (ReindexObjectType.REINDEX_OBJECT_SYSTEM, ReindexObjectType.REINDEX_OBJECT_DATABASE):
            return "REINDEX SYSTEM/DATABASE"
    if isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd:
        return "VACUUM"
    if isinstance(node, ast.AlterSystemStmt):
        return "ALTER SYSTEM"
    if isinstance(node, ast.CreatedbStmt):
        return "CREATE DATABASE"
    if isinstance(node, ast.DropdbStmt):
        return "DROP DATABASE"
    if isinstance(node, ast.CreateTableSpaceStmt):
        return "CREATE TABLESPACE"
    if isinstance(node, ast.DropTableSpaceStmt):
        return "DROP TABLESPACE"
    if isinstance(node, ast.CreateSubscriptionStmt):
        return "CREATE SUBSCRIPTION"
    if isinstance(node, ast.DropSubscriptionStmt):
        return "DROP SUBSCRIPTION"
    if isinstance(node, ast.AlterTableStmt):
        for cmd in node.cmds or ():
            if (
                isinstance(cmd, ast.AlterTableCmd)
                and isinstance(cmd.def_, ast.PartitionCmd)
                and cmd.def_.concurrent
            ):
                return "ALTER TABLE ... DETACH PARTITION CONCURRENTLY"
    return None
