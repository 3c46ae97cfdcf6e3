"""What the runner tells the outside: progress (Reporter), every statement (StatementObserver), the result."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..hookspecs import Finding, MigrationResult
from ..migrations import Direction, Migration
from ..sql import Statement


class Reporter(Protocol):
    """Receives progress from the runner (the CLI draws it with rich)."""

    def start(self, total: int, direction: Direction) -> None:
        """A run of ``total`` migrations begins."""

    def migration_started(self, migration: Migration) -> None:
        """One migration begins."""

    def migration_done(self, result: MigrationResult) -> None:
        """One migration ended (applied, reverted or failed)."""

    def info(self, message: str) -> None:
        """A one-line notice for people (stderr)."""

    def warn(self, message: str) -> None:
        """A one-line warning for people (stderr)."""

    def finish(self) -> None:
        """The run ended."""


class StatementObserver(Protocol):
    """Sees every statement the runner executes (a measuring observer reads locks around each)."""

    def before_statement(self, migration: Migration, statement: Statement) -> None:
        """Just before ``statement`` is sent."""

    def after_statement(self, migration: Migration, statement: Statement, duration_ms: float,
                        rowcount: int) -> None:
        """Just after ``statement`` succeeded: its duration (ms) and rows affected (-1: n/a)."""

    def skipped_statement(self, migration: Migration, statement: Statement, reason: str) -> None:
        """``statement`` was not executed (transaction control, or one the transaction policy leaves out)."""

    def failed_statement(self, migration: Migration, statement: Statement, duration_ms: float,
                         error: str) -> None:
        """``statement`` was sent and failed after ``duration_ms`` (ms); ``error`` is the one-line message."""


class BatchObserver(StatementObserver, Protocol):
    """A statement observer that measures a transactional migration's statements sent several to a message, as
    a real apply sends them, with texts of its own among them (reads of ``pg_locks``...): one round trip for all.

    The statements it measures so are not shown to :meth:`before_statement` / :meth:`after_statement`; the
    others (COPY with data, transaction control, Python, autocommit migrations) are, as usual.
    """

    def batches(self, migration: Migration) -> bool:
        """Whether ``migration``'s statements go several to a message with this observer's texts."""

    def batch_parts(self, migration: Migration, statements: Sequence[Statement]) -> list[int | str]:
        """The layout of one message: each of ``statements`` by its position, and the observer's own SQL texts
        (one statement each), in the order they are to run."""

    def batch_ran(self, migration: Migration, ran: Sequence[tuple[Statement | None, Any]], elapsed_ms: float,
                  failed: tuple[Statement, str] | None = None) -> None:
        """The message ran: the ``psycopg.pq.PGresult`` of each statement (with it) and of each of the observer's
        texts (``None``) that ran, in order; ``elapsed_ms``: the round trip (ms); ``failed``: the statement that
        failed and its one-line message (nothing after it ran)."""

    def meanwhile(self, busy: Callable[[], bool]) -> None:
        """Work that touches no database, done while the server runs the message just sent and as long as
        ``busy()`` is true (a measuring observer builds the reports of the messages before); called by the
        runner between sending a message and reading its results. Must not raise for its own failures: it
        keeps them for later."""


class NullReporter:
    """A reporter that drops everything (library use)."""

    def start(self, total: int, direction: Direction) -> None:
        pass

    def migration_started(self, migration: Migration) -> None:
        pass

    def migration_done(self, result: MigrationResult) -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass
class RunResult:
    """What ``up`` or ``down`` did.

    :ivar rolled_back: the run's transaction policy rolled everything back at the end.
    """

    direction: Direction
    results: list[MigrationResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    rolled_back: bool = False
    #: every migration the run planned, in order (those after a failure have no result)
    planned: list[Migration] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Whether a migration failed."""
        return any(r.status == "failed" for r in self.results)
