"""A run's progress on stderr: the runner's reporter (lines or a bar) and, with ``-v``, one line per statement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..words import count
from . import verbosity
from .output import Output

if TYPE_CHECKING:
    from rich.progress import Progress

    from ..hookspecs import MigrationResult
    from ..migrations import Direction, Migration
    from ..sql import Statement


class RichReporter:
    """Draws the runner's progress on stderr; a bar when many migrations run (none with ``-q``).

    :param output: the command's output object.
    :param description: the bar's label (default: ``migrating`` or ``reverting``).
    """

    BAR_THRESHOLD = 5

    def __init__(self, output: Output, description: str | None = None) -> None:
        self.output = output
        self.progress: Progress | None = None
        self.task: Any = None
        self.direction: Direction = "up"
        self.description = description

    #: whether the run this reports changes the database (a dry run's reporter says no)
    changes_database = True

    def start(self, total: int, direction: Direction) -> None:
        self.direction = direction
        if self.changes_database:
            self.output.run_tally = (direction, 0)
        if total >= self.BAR_THRESHOLD and not verbosity.quiet() and not self.output.plain() \
                and self.output.console.is_terminal:
            console = self.output.console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            from rich.table import Column

            # the label (version and name) gives way at a narrow terminal, cut with an ellipsis; the counts
            # and the time never do
            label = TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis",
                                                                          ratio=1))
            self.progress = Progress(label, BarColumn(bar_width=20), MofNCompleteColumn(), TimeElapsedColumn(),
                                     console=console, transient=True, expand=True)
            self.progress.start()
            self.task = self.progress.add_task(
                self.description or ("migrating" if direction == "up" else "reverting"), total=total)

    def migration_started(self, migration: Migration) -> None:
        if self.progress is not None:
            self.progress.update(self.task, description=f"{migration.version} {migration.name}")

    def migration_done(self, result: MigrationResult) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)
        if self.changes_database and result.status != "failed" and self.output.run_tally is not None:
            self.output.run_tally = (self.direction, self.output.run_tally[1] + 1)
        if result.status == "failed":
            self.output.say(f"✗ {result.version} {result.name}", style="red")
        elif self.progress is None and not verbosity.quiet():
            verb = "applied" if result.status == "applied" else "reverted"
            self.output.say(f"✓ {verb} {result.version} {result.name} ({result.duration_ms:.0f} ms)", style="green")

    def info(self, message: str) -> None:
        self.output.info(message)

    def warn(self, message: str) -> None:
        self.output.warn(message)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class StatementEcho:
    """With ``-v``: one line per statement a real run executes (file, line, its start, duration, rows)."""

    def __init__(self, output: Output) -> None:
        self.output = output

    def before_statement(self, migration: Migration, statement: Statement) -> None:
        pass

    def after_statement(self, migration: Migration, statement: Statement, duration_ms: float,
                        rowcount: int) -> None:
        from ..sql import redact_secrets

        where = migration.up_path.name if migration.kind == "python" else _statement_file(migration, statement)
        text = "python migration" if migration.kind == "python" else " ".join(redact_secrets(statement.sql).split())
        if len(text) > 100:
            text = text[:99] + "…"
        rows = "" if rowcount < 0 else f", {count(rowcount, 'row')}"
        self.output.say(f"  {where}:{statement.line}: {text} ({duration_ms:.1f} ms{rows})", style="dim")

    def skipped_statement(self, migration: Migration, statement: Statement, reason: str) -> None:
        pass

    def failed_statement(self, migration: Migration, statement: Statement, duration_ms: float,
                         error: str) -> None:
        pass


def _statement_file(migration: Migration, statement: Statement) -> str:
    """The name of the file ``statement`` came from: ``migration``'s up file (already parsed), else its down file."""
    if migration.down_path is None or any(st is statement for st in migration.sql("up").statements):
        return migration.up_path.name
    return migration.down_path.name
