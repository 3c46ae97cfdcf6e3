"""SQL callback files: found in the callbacks folder, split by pglast, checked, rendered with their placeholders."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pglast import ast
from pglast.enums import TransactionStmtKind

from confiture_core.config import Config
from confiture_core.errors import ConfigError, MigrationFileError, SqlSyntaxError
from confiture_core.migrations import read_text
from confiture_core.paths import shown
from confiture_core.sql import Statement, parse_sql_text

#: the lifecycle events a callback file may be named after, with the hook that runs it
EVENTS = {
    "before_migrate": "confiture_before_migrate",
    "before_each_migration": "confiture_before_migration",
    "after_each_migration": "confiture_after_migration",
    "after_migrate": "confiture_after_migrate",
    "on_error": "confiture_on_error",
}
DIRECTIONS = ("up", "down")
PLACEHOLDERS = ("version", "name", "direction")

_NAME_RE = re.compile(r"^(?P<event>[a-z_]+)(?:\.(?P<direction>up|down))?\.sql$")
_PLACEHOLDER_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TX_KINDS = {TransactionStmtKind.TRANS_STMT_BEGIN, TransactionStmtKind.TRANS_STMT_START,
             TransactionStmtKind.TRANS_STMT_COMMIT, TransactionStmtKind.TRANS_STMT_ROLLBACK,
             TransactionStmtKind.TRANS_STMT_PREPARE, TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED,
             TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED}


@dataclass(frozen=True)
class CallbackFile:
    """One callback file, parsed.

    :ivar path: the file.
    :ivar event: its lifecycle event (a key of :data:`EVENTS`).
    :ivar direction: ``"up"``/``"down"`` for a per-direction file, ``None`` for both.
    :ivar statements: its statements (from the text with placeholders masked, same offsets and lines).
    :ivar texts: each statement's original text, placeholders still in it.
    """

    path: Path
    event: str
    direction: str | None
    statements: tuple[Statement, ...]
    texts: tuple[str, ...]

    def runs_for(self, direction: str) -> bool:
        """Whether the file runs for a run or migration in ``direction``."""
        return self.direction is None or self.direction == direction

    def rendered(self, values: dict[str, str]) -> list[tuple[Statement, str]]:
        """Each statement with ``${version}``, ``${name}``, ``${direction}`` replaced by ``values`` (SQL text:
        quoted literals or ``NULL``)."""
        return [(st, _PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], text))
                for st, text in zip(self.statements, self.texts, strict=True)]


def _mask(text: str) -> str:
    """Placeholders replaced by string literals of the same length (``${name}`` -> ``'$name'``), so that pglast
    parses the file and every offset and line stays where it is in the file."""
    return _PLACEHOLDER_RE.sub(lambda m: f"'${m.group(1)}'", text)


def _refuse_quoted_placeholders(text: str, where: str) -> None:
    """Refuse a placeholder written inside a single-quoted string (``'${version}'``, as Flyway's are): it
    becomes a quoted literal itself, so the quotes around it would make a syntax error at run time. Inside a
    dollar-quoted body (``DO $$ ... $$``) or a comment it is fine.

    :raises ConfigError: naming the file, the line and what to write instead.
    """
    from pglast.parser import ParseError, scan

    found = list(_PLACEHOLDER_RE.finditer(text))
    if not found:
        return
    plain = _PLACEHOLDER_RE.sub(lambda m: "x" * len(m.group(0)), text)  # same length, lexes as a word
    try:
        tokens = scan(plain)
    except ParseError:  # not lexable: the parser's syntax error says where
        return
    data = plain.encode()
    strings = [(t.start, t.end) for t in tokens if t.name == "SCONST" and data[t.start:t.start + 1] != b"$"]
    for m in found:
        at = len(text[:m.start()].encode())  # the scanner's offsets are in bytes
        if any(start <= at <= end for start, end in strings):
            line = text.count("\n", 0, m.start()) + 1
            raise ConfigError(f"{where}:{line}: {m.group(0)} is inside a quoted string: a placeholder becomes a "
                              f"quoted literal itself (${{version}} -> '20240101120000'); write it without the "
                              "quotes, e.g. 'v' || ${version}")


def load(path: Path, event: str, direction: str | None) -> CallbackFile:
    """Read, split and check one callback file.

    :raises ConfigError: unreadable, a syntax error, an unknown placeholder or transaction control,
        naming the file and line (exit 2).
    """
    where = shown(path)
    try:
        text = read_text(path)  # as a migration file is read: UTF-8 (the byte at fault named), BOM and CRLF dropped
    except MigrationFileError as exc:
        raise ConfigError(f"{exc} (callback file)") from None
    for m in _PLACEHOLDER_RE.finditer(text):
        if m.group(1) not in PLACEHOLDERS:
            line = text.count("\n", 0, m.start()) + 1
            raise ConfigError(f"{where}:{line}: unknown placeholder {m.group(0)}; known: "
                              f"{', '.join('${' + p + '}' for p in PLACEHOLDERS)}")
    _refuse_quoted_placeholders(text, where)
    try:
        parsed = parse_sql_text(_mask(text), where)
    except SqlSyntaxError as exc:
        raise ConfigError(f"{exc} (callback file)") from None
    for st in parsed.statements:
        if isinstance(st.node, ast.TransactionStmt) and st.node.kind in _TX_KINDS:
            raise ConfigError(f"{where}:{st.line}: {st.sql.split()[0].upper()} is not allowed in a callback file: "
                              "it runs inside the runner's transaction, in its own savepoint; remove it")
        if st.copy_data is not None:
            raise ConfigError(f"{where}:{st.line}: COPY ... FROM stdin is not supported in a callback file")
    texts = tuple(text[st.offset:st.offset + len(st.sql)] for st in parsed.statements)
    return CallbackFile(path, event, direction, tuple(parsed.statements), texts)


def discover(config: Config) -> list[CallbackFile]:
    """Every callback file of the project's callbacks folder, by event then direction.

    A missing folder is fine when it is the default (``callbacks``); one named by
    ``callbacks_dir`` must exist.

    :raises ConfigError: the configured folder is missing, a ``.sql`` file is not named after an
        event, or a file does not parse (see :func:`load`).
    """
    folder = config.callbacks_dir
    if not folder.is_dir():
        if "callbacks_dir" in config.raw:
            raise ConfigError(f"{config.config_file}: callbacks_dir = {config.raw['callbacks_dir']!r}: folder "
                              f"{shown(folder)} not found")
        return []
    found: list[CallbackFile] = []
    for path in sorted(folder.glob("*.sql")):
        m = _NAME_RE.match(path.name)
        if m is None or m.group("event") not in EVENTS:
            raise ConfigError(f"{shown(path)}: not a callback file name; expected one of "
                              f"{', '.join(e + '.sql' for e in EVENTS)} (or <event>.up.sql / <event>.down.sql)")
        found.append(load(path, m.group("event"), m.group("direction")))
    order = list(EVENTS)
    found.sort(key=lambda f: (order.index(f.event), f.direction or ""))
    return found
