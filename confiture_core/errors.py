"""The exceptions Confiture raises; each carries the CLI exit code it maps to."""

from __future__ import annotations


class ConfitureError(Exception):
    """Base class: a one-line, user-facing message and an exit code.

    ``exit_code`` is 1 for failures (a migration failed, a lint violation) and
    2 for usage or configuration errors, as documented in the README.
    """

    exit_code: int = 1


class ConfigError(ConfitureError):
    """The configuration, a command-line argument or the environment is wrong (exit 2)."""

    exit_code = 2


class MigrationFileError(ConfitureError):
    """A migration file is misnamed, duplicated, unreadable or unparsable (exit 2)."""

    exit_code = 2


class SqlSyntaxError(MigrationFileError):
    """PostgreSQL's parser (through pglast) rejected a SQL file.

    :param path: the file, as given (``str``), or ``None`` for inline text.
    :param line: 1-based line of the error.
    :param column: 1-based column of the error.
    :param message: the parser's message.
    """

    def __init__(self, path: str | None, line: int, column: int, message: str) -> None:
        where = f"{path}:{line}:{column}" if path else f"line {line}, column {column}"
        head, near, token = message.partition(' at or near "')
        if near and "\n" in token:  # an unterminated string's "at or near" quotes the rest of the file
            message = head + near + token.split("\n", 1)[0] + '…"'  # its first line, the message one line
        elif "\n" in message:
            message = message.split("\n", 1)[0] + "…"
        super().__init__(f"{where}: SQL syntax error: {message}")
        self.path = path
        self.line = line
        self.column = column


class MigrationFailed(ConfitureError):
    """A migration's statement (or hook) failed while running (exit 1).

    :ivar recorded: the failure is already written to the tracking table (a
        migration that runs outside a transaction and stopped partway).
    """

    exit_code = 1

    def __init__(self, message: str, *, recorded: bool = False) -> None:
        super().__init__(message)
        self.recorded = recorded


class HistoryError(ConfitureError):
    """The tracking table disagrees with the migration files, or a failed run blocks (exit 1)."""

    exit_code = 1


class LockTimeout(ConfitureError):
    """The advisory lock serialising runners could not be taken in time (exit 1)."""

    exit_code = 1
