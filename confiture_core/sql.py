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
import enum
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pglast import ast, enums, parse_sql
from pglast.enums import ReindexObjectType
from pglast.parser import ParseError, scan

from .errors import SqlSyntaxError

#: The header directive ``-- confiture: no-transaction`` that lets a migration mix statements that
#: need autocommit with ordinary ones: the whole file then runs outside a transaction, one
#: statement at a time. Written as a comment before the first statement.
_DIRECTIVE_RE = re.compile(r"^\s*--\s*confiture:\s*no-transaction\b", re.MULTILINE)
_COPY_END_RE = re.compile(r"^\\\.[ \t]*\r?$", re.MULTILINE)
_ENDS_TRANSACTION = frozenset({
    enums.TransactionStmtKind.TRANS_STMT_ROLLBACK,
    enums.TransactionStmtKind.TRANS_STMT_PREPARE,
    enums.TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED,
    enums.TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED,
})


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

    @property
    def ends_the_transaction(self) -> bool:
        """True for ROLLBACK, PREPARE TRANSACTION, COMMIT PREPARED and ROLLBACK PREPARED: statements that
        end or hand off a transaction, which a migration running in the runner's transaction must not hold
        (BEGIN and COMMIT there are skipped instead; SAVEPOINT and ROLLBACK TO stay inside it)."""
        return isinstance(self.node, ast.TransactionStmt) and self.node.kind in _ENDS_TRANSACTION

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


# ------------------------------------------------------------------ fast parse
#
# pglast builds its AST in Cython, then every attribute assignment goes through
# ``ast.Node.__setattr__``, which validates and coerces the value (enum look-ups,
# type checks). For values that pglast's own C-to-Python layer produces the
# validation changes nothing, yet it is ~80% of ``parse_sql``'s time.
# :func:`trusted_parsing` swaps in ``object.__setattr__`` for a batch of parses
# (swapping costs ~0.1 ms, so it is done once per batch, not per call). A
# one-time self-check on a sample compares the result with pglast's normal path
# and keeps the fast path off if they ever differ (e.g. a future pglast that
# relies on the coercion).
#
# The same block also turns pglast's enum conversions into dictionary look-ups:
# its C layer converts each enum field with ``getattr(pglast.enums, "ConstrType")(value)``,
# and ``EnumType.__call__`` costs two Python frames per value (~10% of ``parse_sql``).
# Inside the block each enum class's name in ``pglast.enums`` is bound to the
# ``__getitem__`` of a copy of its value-to-member map, whose ``__missing__`` falls
# back to the class itself (same members, same errors).

_FAST_SAMPLE = (
    "SET lock_timeout = '2s'; CREATE TABLE IF NOT EXISTS s.t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
    "a varchar(10)[] NOT NULL DEFAULT '{}', b numeric(12,2) CHECK (b > 1.5), c text COLLATE \"C\" UNIQUE, "
    "FOREIGN KEY (a) REFERENCES u (x) ON DELETE CASCADE NOT VALID) PARTITION BY RANGE (id); "
    "ALTER TABLE t ADD COLUMN d timestamptz DEFAULT now(), ALTER COLUMN a SET NOT NULL, "
    "ALTER COLUMN b TYPE float8 USING b::float8; ALTER TABLE t DETACH PARTITION p CONCURRENTLY; "
    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t USING btree (lower(c) DESC NULLS LAST) WHERE a IS NULL; "
    "DROP INDEX CONCURRENTLY i, j CASCADE; REINDEX (CONCURRENTLY) TABLE t; VACUUM (FULL, ANALYZE) t; "
    "COPY t (a, b) FROM stdin WITH (FORMAT csv); BEGIN; SAVEPOINT s; ROLLBACK TO s; COMMIT; "
    "CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog "
    "AS $$ SELECT x + 1 $$; "
    "SELECT 'é', 1, 2.5, true, NULL, B'101', $1, x'1F' FROM t WHERE a = ANY($2) AND b BETWEEN 1 AND 2 "
    "ORDER BY 1 FOR UPDATE; "
    "INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET a = EXCLUDED.a RETURNING *; "
    "CREATE VIEW v AS WITH w AS (SELECT 1 AS x) SELECT x, count(*) OVER (PARTITION BY x) FROM w GROUP BY x; "
    "COMMENT ON TABLE t IS 'ü'; GRANT SELECT ON t TO r; ALTER TABLE t RENAME COLUMN a TO b; "
    "CREATE TYPE e AS ENUM ('a', 'b'); CREATE TRIGGER tr BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f()"
)

_fast_ok: bool | None = None  # None: not checked yet
_fast_active = False
_node_setattr: Callable[[Any, str, Any], None] = ast.Node.__setattr__


def _boolean_setattr(self: Any, name: str, value: Any) -> None:
    # pglast passes A_Const's ``Boolean.boolval`` as an int; its validation makes it a bool
    object.__setattr__(self, name, bool(value) if name == "boolval" else value)


class _Members(dict[Any, Any]):
    """An enum class's value-to-member map; a value not in it is given to the class (pseudo-members, errors)."""

    def __init__(self, cls: Any) -> None:
        super().__init__(cls._value2member_map_)
        self.cls = cls

    def __missing__(self, value: Any) -> Any:
        return self.cls(value)


#: ``{name: enum class}`` of pglast.enums (filled on first use).
_enum_classes: dict[str, Any] = {}
#: ``{name: fast lookup}`` bound in pglast.enums inside :func:`trusted_parsing`.
_enum_lookups: dict[str, Callable[[Any], Any]] = {}


def _install() -> None:
    ast.Node.__setattr__ = object.__setattr__  # type: ignore[method-assign,assignment]
    ast.Boolean.__setattr__ = _boolean_setattr  # type: ignore[method-assign]
    if not _enum_lookups:
        classes = {name: value for name, value in vars(enums).items()
                   if isinstance(value, enum.EnumMeta) and value.__module__.startswith("pglast.enums") and len(value)}
        _enum_classes.update(classes)
        _enum_lookups.update({name: _Members(value).__getitem__ for name, value in classes.items()})
    vars(enums).update(_enum_lookups)


def _uninstall() -> None:
    """Undo :func:`_install`, also a partial one."""
    ast.Node.__setattr__ = _node_setattr  # type: ignore[method-assign,assignment]
    if "__setattr__" in vars(ast.Boolean):
        del ast.Boolean.__setattr__
    vars(enums).update(_enum_classes)


def _same_tree(a: Any, b: Any) -> bool:
    """Deep equality of two pglast values, types and locations included."""
    if type(a) is not type(b):
        return False
    if isinstance(a, ast.Node):
        return all(_same_tree(getattr(a, k), getattr(b, k)) for k in a)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(_same_tree(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _fast_path_ok() -> bool:
    global _fast_ok
    if _fast_ok is None:
        _fast_ok = False
        if "__setattr__" not in vars(ast.Boolean) and ast.Node.__setattr__ is _node_setattr:
            expected = parse_sql(_FAST_SAMPLE)
            try:
                _install()
                got = parse_sql(_FAST_SAMPLE)
            finally:
                _uninstall()
            _fast_ok = _same_tree(got, expected)
    return _fast_ok


#: threads declared never to build a pglast node (see :func:`builds_no_nodes`)
_NODE_FREE: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def builds_no_nodes(thread: threading.Thread) -> None:
    """Declare that ``thread`` (not started yet) never builds a pglast node, so that :func:`trusted_parsing` stays
    on while it runs (the dry run's blocker watch: it only queries the server)."""
    _NODE_FREE.add(thread)


@contextmanager
def trusted_parsing() -> Iterator[bool]:
    """Within this block, :func:`parse_sql_text` builds pglast nodes without re-validating them.

    Same AST, about twice as fast. Only enabled when this is the process's only
    thread, but for those declared by :func:`builds_no_nodes` (no other code can
    build nodes meanwhile); the block must run nothing but parsing (no rules, no
    callbacks), since every ``pglast.ast`` node built inside skips validation.
    Yields whether the fast path is on; nesting is a no-op.
    """
    global _fast_active
    others = threading.active_count() - sum(t.is_alive() for t in list(_NODE_FREE))
    if _fast_active or others != 1 or not _fast_path_ok():
        yield False
        return
    try:  # installed inside the try: a signal arriving meanwhile still restores everything
        _install()
        _fast_active = True
        yield True
    finally:
        _fast_active = False
        _uninstall()


def _is_copy_from_stdin(node: ast.Node) -> bool:
    return (
        isinstance(node, ast.CopyStmt)
        and bool(node.is_from)
        and node.filename is None
        and not node.is_program
    )


def _parse_chunk(full: str, base: int, path: str | None) -> tuple[list[tuple[int, str, ast.Node]], int]:
    """Parse the file text ``full`` from offset ``base`` on.

    Returns (statements as (offset, sql, node), end) where ``end`` is the offset in
    the file where parsing stopped: ``len`` of the file when everything parsed, or
    the offset right after a ``COPY ... FROM stdin;`` whose data follows.
    """
    text = full[base:]
    try:
        raws = parse_sql(text)
    except ParseError as exc:
        err_at = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
        found = _find_copy_prefix(text, err_at)
        if found is None:
            line, col = _Lines(full)(base + err_at)
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
    if "\x00" in text:
        nul = text.index("\x00")
        line, col = _Lines(text)(nul)
        raise SqlSyntaxError(path, line, col, "NUL character: PostgreSQL text cannot hold one (the parser would "
                                              "silently stop there); remove it")
    if text.startswith("\ufeff"):
        text = " " + text[1:]  # keep offsets: one character for one character
    found: list[tuple[int, str, ast.Node, str | None]] = []
    pos = 0
    while pos < len(text):
        parsed, end = _parse_chunk(text, pos, path)
        found.extend((off, sql, node, None) for off, sql, node in parsed)
        if end >= len(text):
            break
        # `end` is just after `COPY ... FROM stdin;`; data starts on the next line
        nl = text.find("\n", end)
        data_start = len(text) if nl < 0 else nl + 1
        term = _COPY_END_RE.search(text, data_start)
        if term is None:
            line, col = _Lines(text)(found[-1][0])
            raise SqlSyntaxError(
                path, line, col, "COPY ... FROM stdin data has no terminating line '\\.'; add one after the data"
            )
        off, sql, node, _ = found[-1]
        found[-1] = (off, sql, node, text[data_start : term.start()])
        nl = text.find("\n", term.end())
        pos = len(text) if nl < 0 else nl + 1
    statements = []
    line, counted = 1, 0  # the line of offset `counted` (offsets only grow)
    for i, (off, sql, node, data) in enumerate(found):
        line += text.count("\n", counted, off)
        counted = off
        statements.append(Statement(sql, node, i, off, line, off - text.rfind("\n", 0, off), data))
    first = statements[0].offset if statements else len(text)
    return SqlFile(statements=tuple(statements), no_transaction=bool(_DIRECTIVE_RE.search(text[:first])))


_PASSWORD_AT = re.compile(r"(?i)\bPASSWORD\s+(?=E?'|\$)")
_LITERAL = re.compile(r"(?s)E?'(?:[^']|'')*'|\$(\w*)\$.*?\$\1\$")
_AFTER_LITERAL = frozenset(" \t\r\n;,)")


def redact_secrets(sql_text: str) -> str:
    """Hide password literals (``PASSWORD '...'``, ``E'...'`` or ``$tag$...$tag$`` of CREATE/ALTER ROLE/USER)
    in SQL shown to people.

    Used wherever statement text leaves the process in a report (verbose output, dry-run
    report, lint excerpts), since those become CI artifacts. A literal that does not end
    cleanly (``PASSWORD ''...''`` inside another string, as in a ``DO`` block's
    ``EXECUTE``) is hidden with the rest of its line.
    """
    if "password" not in sql_text.casefold():  # casefold maps every letter IGNORECASE matches (U+017F too)
        return sql_text
    out: list[str] = []
    pos = 0
    for m in _PASSWORD_AT.finditer(sql_text):
        start = m.end()
        if start < pos:
            continue
        lit = _LITERAL.match(sql_text, start)
        stop = lit.end() if lit else -1
        if stop < 0 or (stop < len(sql_text) and sql_text[stop] not in _AFTER_LITERAL):
            stop = sql_text.find("\n", start)
            stop = len(sql_text) if stop < 0 else stop
        out.append(sql_text[pos:start])
        out.append("'***'")
        pos = stop
    out.append(sql_text[pos:])
    return "".join(out)


#: The statement classes :func:`no_transaction_reason` may give a reason for.
_MAYBE_NO_TRANSACTION = (
    ast.IndexStmt, ast.DropStmt, ast.ReindexStmt, ast.VacuumStmt, ast.AlterSystemStmt, ast.CreatedbStmt,
    ast.DropdbStmt, ast.CreateTableSpaceStmt, ast.DropTableSpaceStmt, ast.CreateSubscriptionStmt,
    ast.DropSubscriptionStmt, ast.AlterTableStmt,
)


#: In libpg_query's JSON parse tree (``pglast.parser.parse_sql_json``): what marks a statement that may need
#: autocommit (:func:`no_transaction_reason`: a class of :data:`_MAYBE_NO_TRANSACTION` that needs no
#: ``concurrent`` flag, or such a flag) or transaction control (:attr:`Statement.ends_the_transaction`, a file
#: of only BEGIN/COMMIT). A string constant cannot hold one: the JSON escapes its quotes.
_MAYBE_AUTOCOMMIT_JSON = ('"concurrent":true', '{"TransactionStmt":', *(
    f'{{"{cls.__name__}":' for cls in _MAYBE_NO_TRANSACTION if cls not in (ast.IndexStmt, ast.DropStmt,
                                                                           ast.AlterTableStmt)))


def plainly_transactional(text: str) -> bool:
    """Whether PostgreSQL's parser finds in ``text`` at least one statement and none that could make
    :func:`~confiture_core.migrations.sql_transaction_mode` refuse the file or run it in autocommit, without
    building pglast's AST (libpg_query's JSON tree, searched for the statement classes and the
    ``concurrent`` flag :func:`no_transaction_reason` looks at; ~5x faster than :func:`parse_sql_text`).

    ``True``: :func:`parse_sql_text` would succeed and the file runs in one transaction. ``False`` says
    nothing: a syntax error, ``COPY ... FROM stdin`` data, the no-transaction directive, no statement, or a
    statement to look at closer; :func:`parse_sql_text` then tells.

    :param text: a file's text (as :func:`~confiture_core.migrations.read_text` gives it).
    """
    if "\x00" in text or ("confiture:" in text and _DIRECTIVE_RE.search(text)):  # (the regex scans every line)
        return False
    from pglast.parser import parse_sql_json

    try:
        tree = parse_sql_json(text)
    except ParseError:
        return False
    return '"stmt":' in tree and not any(mark in tree for mark in _MAYBE_AUTOCOMMIT_JSON)


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
    if not isinstance(node, _MAYBE_NO_TRANSACTION):  # most statements: one test instead of twelve
        return None
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
