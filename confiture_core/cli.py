"""The ``confiture`` command line: click commands, rich for people, JSON for machines.

Human output and progress go to stderr; ``--format json`` prints exactly one
JSON document on stdout. Exit codes: 0 success, 1 failure (a migration failed,
validation problems, lint violations), 2 usage or configuration error. Errors
are one line, without traceback (set ``CONFITURE_DEBUG=1`` to see one), and
never contain a database password.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
import pluggy

from . import __version__, verbosity
from .config import CONFIG_FILE, Config, load_config, redact_url, scrub
from .errors import ConfigError, ConfitureError
from .hookcaller import Hooks
from .hookspecs import MigrationResult
from .migrations import Direction, Migration, discover, parse_version
from .plugins import PluginInfo, PluginLoader, PluginOptions, collect_lint_rules, lint_rule_codes

if TYPE_CHECKING:  # imported where used: `confiture lint` needs neither psycopg nor most of rich
    from datetime import datetime

    import psycopg
    from rich.console import Console
    from rich.progress import Progress

    from .runner import Runner, RunResult
    from .sql import Statement


class _LazyConsole:
    """``rich.console.Console(stderr=True, ...)``, created (and rich imported) on first use.

    Attribute access is forwarded; code that needs the console object itself (rich's
    ``Progress`` and ``Live`` enter it as a context manager, which ``__getattr__`` cannot
    forward) takes :meth:`real`.
    """

    _console: Console | None = None

    def real(self) -> Console:
        """The ``rich.console.Console`` itself."""
        if _LazyConsole._console is None:
            _LazyConsole._console = make_console(stderr=True)
        return _LazyConsole._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


err_console: Any = _LazyConsole()


def make_console(**kwargs: Any) -> Console:
    """A ``rich.console.Console`` for people: wrapped at word boundaries on a terminal, never in a pipe or log.

    At a terminal, lines are wrapped by rich between words (the terminal would otherwise break a
    word or a version number at its last column); elsewhere a message stays on one line however
    long. ``NO_COLOR`` (https://no-color.org, any non-empty value) turns off every style, not only
    colours: no escape sequence is written for bold or dim text either.

    :param kwargs: passed to ``Console`` (``stderr``, ``file``, ``width``, ``force_terminal``...).
    """
    from rich.console import Console

    if os.environ.get("NO_COLOR"):
        kwargs["color_system"] = None
    console = Console(highlight=False, **kwargs)
    console.soft_wrap = not console.is_terminal
    return console


def confirm(question: str) -> bool:
    """Ask ``question [y/N]`` on stderr, wrapped between words to the terminal; no is the default.

    :returns: ``True`` for y/yes, ``False`` for n/no or an empty answer (asked again otherwise).
    :raises click.Abort: end of input (Ctrl-D).
    :raises ConfitureError: Ctrl-C at the prompt (exit 1; prompts come before anything is applied).
    """
    console = err_console.real()
    while True:
        console.print(f"{question} [y/N] ", end="", markup=False)
        try:
            answer = input().strip().lower()
        except EOFError:
            console.print()
            raise click.Abort from None
        except KeyboardInterrupt:
            console.print()  # the terminal echoed ^C on the prompt's line
            raise ConfitureError("interrupted at the prompt: nothing was applied") from None
        if answer in ("y", "yes"):
            return True
        if answer in ("", "n", "no"):
            return False


class App:
    """What every command shares: config, plugins, the database connection.

    Commands reach it through ``click.get_current_context().obj``.
    """

    def __init__(self, config_path: Path | None, database_url: str | None, plugin_options: PluginOptions,
                 project: Path | None) -> None:
        self._config_path = config_path
        self._database_url = database_url
        self.plugin_options = plugin_options
        self.project = project
        self._conn: psycopg.Connection[Any] | None = None
        self._url: str | None = None

    @cached_property
    def config(self) -> Config:
        """The loaded configuration (:class:`~confiture_core.config.Config`)."""
        return load_config(self._config_path, cwd=self.project, database_url=self._database_url)

    @cached_property
    def _loader(self) -> PluginLoader:
        loader = PluginLoader(self.config, self.plugin_options, warn=lambda m: self.warn(m))
        loader.load()
        Hooks(loader.pm).configure(self.config)
        return loader

    @property
    def pm(self) -> pluggy.PluginManager:
        """The loaded plugin manager."""
        return self._loader.pm

    @property
    def plugin_infos(self) -> list[PluginInfo]:
        """What was loaded, skipped or blocked."""
        return self._loader.infos

    @cached_property
    def hooks(self) -> Hooks:
        """The savepoint-isolating hook facade."""
        return Hooks(self.pm, self._loader.non_fatal, warn=self.warn)

    def lint_rules(self) -> list[Any]:
        """Every lint rule class every plugin brings."""
        return collect_lint_rules(self.pm)

    def database_url(self) -> str:
        """The database URL, starting the embedded server when none is configured."""
        if self._url is None:
            if self.config.database_url:
                self._url = self.config.database_url
            else:
                from .cli_server import embedded_database_url

                self._url = embedded_database_url(self)
        return self._url

    def connect(self) -> psycopg.Connection[Any]:
        """An autocommit connection (one per command).

        :raises ConfigError: the server cannot be reached (password removed from the message).
        """
        if self._conn is None:
            import psycopg

            url = self.database_url()
            source = self.config.database_url_source if self.config.database_url else "the embedded server"
            self.detail(f"config: {self.config.config_file or 'none (defaults)'}; database: {redact_url(url)} "
                        f"(from {source}); migrations: {self.config.migrations_dir}")
            try:
                extra: dict[str, Any] = {}
                if "connect_timeout" not in url:
                    extra["connect_timeout"] = self.config.connect_timeout
                self._conn = psycopg.connect(url, autocommit=True, prepare_threshold=None,
                                             application_name="confiture", **extra)
                self._conn.add_notice_handler(self._notice)
            except psycopg.Error as exc:
                msg = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, url)
                raise ConfigError(f"cannot connect to {redact_url(url)} (from {self.config.database_url_source}): "
                                  f"{msg}") from None
        return self._conn

    def _notice(self, diag: psycopg.errors.Diagnostic) -> None:
        """Show the server's NOTICE and WARNING messages on stderr, as psql does (``-q``: WARNING only)."""
        severity = (diag.severity or "NOTICE").lower()
        if verbosity.quiet() and severity not in ("warning", "error"):
            return
        err_console.print(f"{severity}: {diag.message_primary}", style="dim", markup=False)

    def server_major_version(self) -> int | None:
        """The connected server's major version, or ``None`` when no database is reachable."""
        try:
            return self.connect().info.server_version // 10000
        except ConfitureError:
            return None

    def applied_versions(self) -> set[int]:
        """Versions applied (or covered by a baseline) in the database."""
        return {e.version for e in self.runner().status() if e.applied}

    def runner(self, reporter: Any = None) -> Runner:
        """A :class:`~confiture_core.runner.Runner` on this command's connection.

        :raises MigrationFileError: no migrations folder (checked before any server
            is started or connected to).
        """
        from .runner import Runner

        found = discover(self.config.migrations_dir)  # fails before any server is started
        runner = Runner(self.connect(), self.config, self.hooks, reporter=reporter or RichReporter(),
                        migrations=found, observer=StatementEcho() if verbosity.verbose() else None)
        runner.apply_timeouts()
        return runner

    def close(self) -> None:
        """Close the connection, if any."""
        if self._conn is not None and not self._conn.closed:
            self._conn.close()

    def info(self, message: str) -> None:
        """A notice on stderr (hidden by ``-q``)."""
        if not verbosity.quiet():
            err_console.print(self.scrub(message), style="dim", markup=False)

    def detail(self, message: str) -> None:
        """A detail on stderr, shown only with ``-v``."""
        if verbosity.verbose():
            err_console.print(self.scrub(message), style="dim", markup=False)

    def warn(self, message: str) -> None:
        """A warning on stderr."""
        err_console.print("warning: " + self.scrub(message), style="yellow", markup=False)

    def scrub(self, text: str) -> str:
        """Remove the database password from ``text``."""
        url = self._url or (self.__dict__["config"].database_url if "config" in self.__dict__ else None)
        return scrub(text, url)


class RichReporter:
    """Draws the runner's progress on stderr; a bar when many migrations run (none with ``-q``).

    :param description: the bar's label (default: ``migrating`` or ``reverting``).
    """

    BAR_THRESHOLD = 5

    def __init__(self, description: str | None = None) -> None:
        self.progress: Progress | None = None
        self.task: Any = None
        self.direction: Direction = "up"
        self.description = description

    def start(self, total: int, direction: Direction) -> None:
        self.direction = direction
        if total >= self.BAR_THRESHOLD and err_console.is_terminal and not verbosity.quiet():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=err_console.real(), transient=True)
            self.progress.start()
            self.task = self.progress.add_task(
                self.description or ("migrating" if direction == "up" else "reverting"), total=total)

    def migration_started(self, migration: Migration) -> None:
        if self.progress is not None:
            self.progress.update(self.task, description=f"{migration.version} {migration.name}")

    def migration_done(self, result: MigrationResult) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)
        if result.status == "failed":
            err_console.print(f"✗ {result.version} {result.name}", style="red", markup=False)
        elif self.progress is None and not verbosity.quiet():
            verb = "applied" if result.status == "applied" else "reverted"
            err_console.print(f"✓ {verb} {result.version} {result.name} ({result.duration_ms:.0f} ms)",
                              style="green", markup=False)

    def info(self, message: str) -> None:
        if not verbosity.quiet():
            err_console.print(message, style="dim", markup=False)

    def warn(self, message: str) -> None:
        err_console.print("warning: " + message, style="yellow", markup=False)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class StatementEcho:
    """With ``-v``: one line per statement a real run executes (file, line, its start, duration, rows)."""

    def before_statement(self, migration: Migration, statement: Statement) -> None:
        pass

    def after_statement(self, migration: Migration, statement: Statement, duration_ms: float,
                        rowcount: int) -> None:
        from .sql import redact_secrets

        where = migration.up_path.name if migration.kind == "python" else _statement_file(migration, statement)
        text = "python migration" if migration.kind == "python" else " ".join(redact_secrets(statement.sql).split())
        if len(text) > 100:
            text = text[:99] + "…"
        rows = "" if rowcount < 0 else f", {rowcount} row(s)"
        err_console.print(f"  {where}:{statement.line}: {text} ({duration_ms:.1f} ms{rows})", style="dim",
                          markup=False, highlight=False)

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


_json_errors = False


def _fail(message: str, code: int) -> NoReturn:
    err_console.print(f"error: {message}", style="red", markup=False)
    if _json_errors and not _json_emitted:
        _emit_json({"ok": False, "error": message, "exit_code": code})
    raise SystemExit(code)


_json_emitted = False


def _emit_json(doc: Any) -> None:
    """Print the command's one JSON document on the real stdout."""
    global _json_emitted
    _json_emitted = True
    click.echo(json.dumps(doc, indent=2, default=str))


def _app() -> App:
    obj = click.get_current_context().obj
    assert isinstance(obj, App)
    return obj


format_option = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                             show_default=True, help="text (rich, on stderr) or json (one document on stdout).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="confiture")
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              help=f"Config file ({CONFIG_FILE} or pyproject.toml). Default: searched upwards from the project.")
@click.option("--project", "-C", type=click.Path(path_type=Path, file_okay=False),
              help="Run as if started in this folder (relative paths, --config and lint's PATHS included).")
@click.option("--database-url", envvar=None,
              help="libpq URL. Default: CONFITURE_DATABASE_URL, DATABASE_URL, the config file, else embedded.")
@click.option("-p", "plugin_modules", multiple=True, metavar="MODULE", help="Load an in-house plugin module.")
@click.option("--no-plugins", is_flag=True,
              help="Load no entry-point plugins and no plugins folder (built-ins and -p modules still load).")
@click.option("--disable-plugin", "disabled", multiple=True, metavar="NAME", help="Block one plugin by name.")
@click.option("--strict-plugins", is_flag=True, help="A plugin that fails to load is an error (exit 2).")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, project: Path | None, database_url: str | None,
        plugin_modules: tuple[str, ...], no_plugins: bool, disabled: tuple[str, ...],
        strict_plugins: bool) -> None:
    """Confiture: PostgreSQL migrations driven by plugins."""
    if project is not None:
        if not project.is_dir():
            raise click.BadParameter(f"{project}: no such folder", param_hint="--project")
        project = project.resolve()
        if config_path is not None and not config_path.is_absolute():
            config_path = project / config_path
    app = App(config_path, database_url, PluginOptions(plugin_modules, no_plugins, disabled, strict_plugins),
              project)
    ctx.obj = app
    ctx.call_on_close(app.close)


# --------------------------------------------------------------------- init


@cli.command()
@click.option("--migrations-dir", default="migrations", show_default=True)
@format_option
def init(migrations_dir: str, fmt: str) -> None:
    """Create confiture.toml and the migrations folder here."""
    app = _app()
    base = app.project or Path.cwd()
    cfg = base / CONFIG_FILE
    if cfg.exists():
        raise ConfigError(f"{cfg} already exists; edit it instead")
    cfg.write_text(
        "# Confiture configuration; see README.md\n"
        f'migrations_dir = "{migrations_dir}"\n'
        'tracking_table = "confiture_migrations"\n'
        '# database_url = "postgresql://user@host/db"   # or set DATABASE_URL\n'
        '# lock_timeout = "5s"\n'
    )
    (base / migrations_dir).mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        _emit_json({"ok": True, "config_file": str(cfg), "migrations_dir": str(base / migrations_dir)})
        return
    app.info(f"created {cfg.name} and {migrations_dir}/; next: confiture migrate new <name>")


# ------------------------------------------------------------------ migrate


@cli.group()
def migrate() -> None:
    """Create, apply, revert and inspect migrations."""


def next_version(existing: list[Migration], now: datetime) -> str:
    """The version for a new migration.

    Numbered sets (last version below 10**9) get the next number, zero-padded to
    the width of the last file's version (``002`` -> ``003``); otherwise a UTC
    timestamp ``YYYYMMDDHHMMSS``, moved one second past the last version when that
    one is a timestamp at or after ``now`` (so it stays a valid timestamp).
    """
    from datetime import UTC, datetime, timedelta

    if not existing:
        return now.strftime("%Y%m%d%H%M%S")
    last = existing[-1]
    if last.version < 10**9:
        width = len(last.up_path.name.split("_", 1)[0])
        return str(last.version + 1).zfill(width)
    stamp = now
    try:
        last_time = datetime.strptime(str(last.version), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        last_time = None
    if last_time is not None and last_time >= stamp:
        stamp = last_time + timedelta(seconds=1)
    version = stamp.strftime("%Y%m%d%H%M%S")
    return version if int(version) > last.version else str(last.version + 1)


@migrate.command("new")
@click.argument("name")
@click.option("--python", "python_", is_flag=True, help="Create a Python migration instead of SQL files.")
@format_option
def migrate_new(name: str, python_: bool, fmt: str) -> None:
    """Create a new migration (timestamp version, or next number for numbered sets)."""
    app = _app()
    folder = app.config.migrations_dir
    folder.mkdir(parents=True, exist_ok=True)
    slug = "".join(c if c.isalnum() else "_" for c in name.strip().lower()).strip("_")
    if not slug:
        raise click.BadParameter("give a name with letters or digits", param_hint="NAME")
    from datetime import UTC, datetime

    version = next_version(discover(folder), datetime.now(UTC))
    created: list[Path] = []
    if python_:
        p = folder / f"{version}_{slug}.py"
        p.write_text(f'"""{name}"""\n\n\ndef up(conn):\n'
                     '    # conn: a psycopg connection inside the migration\'s transaction, e.g.\n'
                     '    # conn.execute("UPDATE accounts SET plan = %s WHERE plan IS NULL", ["free"])\n'
                     '    ...\n\n\n'
                     'def down(conn):\n    # what reverts up(); remove down() if it cannot be reverted\n    ...\n')
        created.append(p)
    else:
        for d in ("up", "down"):
            p = folder / f"{version}_{slug}.{d}.sql"
            p.write_text(f"-- {name} ({d})\n")
            created.append(p)
    if fmt == "json":
        _emit_json({"ok": True, "version": str(int(version)), "name": slug, "files": [str(p) for p in created]})
        return
    for p in created:
        click.echo(_shown_path(p))


def _shown_path(path: Path) -> str:
    """``path`` relative to the current folder when it is under it (as a person typed it), else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


@migrate.command("status")
@format_option
def migrate_status(fmt: str) -> None:
    """Show every migration and whether it is applied."""
    app = _app()
    entries = app.runner().status()
    if fmt == "json":
        _emit_json({"database": redact_url(app.database_url()), "tracking_table": app.config.tracking_table,
                    "migrations": [e.as_json() for e in entries],
                    "pending": sum(1 for e in entries if e.state == "pending"),
                    "applied": sum(1 for e in entries if e.applied)})
        return
    from rich.table import Table

    table = Table(title=f"migrations ({app.config.tracking_table})", title_justify="left")
    for col in ("version", "name", "state", "applied at", "ms"):
        table.add_column(col)
    styles = {"applied": "green", "pending": "yellow", "failed": "red", "changed": "red", "missing": "red"}
    for e in entries:
        table.add_row(str(e.version), e.name, f"[{styles.get(e.state, 'cyan')}]{e.state}[/]",
                      (e.applied_at or "")[:19], "" if e.execution_ms is None else f"{e.execution_ms:.0f}")
    err_console.print(table)
    for e in entries:
        if e.state == "failed":  # what to do about it (an invalid index to drop, repair)
            err_console.print(f"✗ migration {e.version} ({e.name}) failed: {e.error or 'no detail'}", style="red",
                              markup=False)
    counts = [f"{sum(1 for e in entries if e.applied)} applied"] + [
        f"{n} {state}" for state in ("pending", "failed", "changed", "missing")
        if (n := sum(1 for e in entries if e.state == state)) or state == "pending"]
    err_console.print(", ".join(counts), markup=False)


def _print_run(result: RunResult, fmt: str, app: App, stopped: str | None = None) -> None:
    """Report a run; exits 1 when a migration failed or the run ``stopped`` early (the reason)."""
    failed = [r for r in result.results if r.status == "failed"]
    error = app.scrub(failed[0].error or "migration failed") if failed else stopped
    if fmt == "json":
        _emit_json({
            "direction": result.direction,
            "dry_run": result.dry_run,
            "ok": error is None,
            "error": error,
            "migrations": [{"version": str(r.version), "name": r.name, "status": r.status,
                            "duration_ms": round(r.duration_ms, 3), "error": r.error} for r in result.results],
            "findings": [{"level": f.level, "message": f.message, "plugin": f.plugin,
                          "version": None if f.version is None else str(f.version)} for f in result.findings],
        })
    for f in result.findings:
        if f.level != "info":
            app.warn(f"[{f.plugin}] migration {f.version}: {f.message}")
        else:
            app.info(f"[{f.plugin}] migration {f.version}: {f.message}")
    done = len(result.results)
    if fmt == "text" and done and not failed and not verbosity.quiet():
        verb = "applied" if result.direction == "up" else "reverted"
        err_console.print(f"{verb} {done} migration(s)", style="bold green", markup=False)
    if error is not None:
        _fail(error, 1)


@migrate.command("up")
@click.option("--to", "target", metavar="VERSION", help="Apply up to and including this version.")
@click.option("--dry-run", is_flag=True, help="Run everything in one transaction, report what it did, roll back.")
@click.option("--fail-on", metavar="LEVEL", help="With --dry-run: exit 1 when a migration reaches this risk level "
              "(safe, blocks-writes, blocks-reads-writes, rewrites-table, destructive).")
@click.option("--interactive", "-i", is_flag=True, help="Show the dry-run report and confirm risky migrations.")
@click.option("--yes", "-y", is_flag=True, help="Apply migrations at or above [review] confirm_level without asking.")
@format_option
def migrate_up(target: str | None, dry_run: bool, fail_on: str | None, interactive: bool, yes: bool,
               fmt: str) -> None:
    """Apply pending migrations (dry-run them first unless --yes)."""
    from .cli_dryrun import check_fail_on, gate, run_dry_run

    app = _app()
    check_fail_on(fail_on)
    if fail_on and not dry_run:
        raise click.UsageError("--fail-on needs --dry-run")
    if interactive and (dry_run or yes):
        other = "--dry-run" if dry_run else "--yes"
        raise click.UsageError(f"--interactive asks before applying; it does not go with {other} "
                               "(--dry-run only reports, --yes applies without asking)")
    version = None if target is None else parse_version(target)
    if dry_run:
        run_dry_run(app, version, fmt, fail_on)
        return
    stopped = None
    if not yes:
        version, stopped, nothing = gate(app, version, interactive)
        if nothing:
            _fail(stopped or "not confirmed", 1)
    result = app.runner().up(version)
    _print_run(result, fmt, app, stopped)


@migrate.command("down")
@click.option("--to", "target", metavar="VERSION", help="Revert every migration above this version (kept).")
@format_option
def migrate_down(target: str | None, fmt: str) -> None:
    """Revert the latest migration, or everything above --to VERSION."""
    app = _app()
    result = app.runner().down(None if target is None else parse_version(target))
    _print_run(result, fmt, app)


@migrate.command("validate")
@format_option
def migrate_validate(fmt: str) -> None:
    """Check applied migrations against their files and pending ones with plugins."""
    app = _app()
    runner = app.runner()
    problems = runner.problems()
    findings = []
    if app.hooks.has("confiture_validate"):
        from .hookspecs import HookContext

        pending = [m for m in runner.migrations() if m.version in
                   {e.version for e in runner.status() if e.state == "pending"}]
        findings = runner._validate(HookContext(runner.conn, app.config, "up", False, {}, pending), pending)
    errors = [p for p in problems] + [f for f in findings if f.level == "error"]
    if fmt == "json":
        _emit_json({"ok": not errors,
                    "problems": [{"version": str(p.version), "kind": p.kind, "message": p.message}
                                 for p in problems],
                    "findings": [{"level": f.level, "message": f.message, "plugin": f.plugin,
                                  "version": None if f.version is None else str(f.version)} for f in findings]})
    else:
        for p in problems:
            err_console.print(f"✗ {p.message}", style="red", markup=False)
        for f in findings:
            err_console.print(f"{'✗' if f.level == 'error' else '!'} [{f.plugin}] migration {f.version}: "
                              f"{f.message}", style="red" if f.level == "error" else "yellow", markup=False)
        if not errors:
            err_console.print("✓ every applied migration matches its file", style="green", markup=False)
    if errors:
        raise SystemExit(1)


@migrate.command("repair")
@format_option
def migrate_repair(fmt: str) -> None:
    """Realign the tracking table with the files, after review."""
    app = _app()
    changes = app.runner().repair()
    if fmt == "json":
        _emit_json({"ok": True, "changes": changes})
    else:
        for c in changes:
            err_console.print(f"• {c}", markup=False)
        if not changes:
            err_console.print("nothing to repair", markup=False)


@migrate.command("baseline")
@click.argument("version")
@format_option
def migrate_baseline(version: str, fmt: str) -> None:
    """Mark an existing database as already at VERSION."""
    app = _app()
    v = parse_version(version)
    app.runner().baseline(v)
    if fmt == "json":
        _emit_json({"ok": True, "baseline": str(v), "tracking_table": app.config.tracking_table})
        return
    app.info(f"baselined at version {v}: migrations up to {v} count as applied")


# ------------------------------------------------------------------ plugins


@cli.command("plugins")
@format_option
def plugins_cmd(fmt: str) -> None:
    """List plugins: distribution, version, origin, hooks, lint rules."""
    app = _app()
    infos = app.plugin_infos
    for info in infos:
        if info.status == "loaded":
            info.lint_rules = lint_rule_codes(app.pm, info.name)
    if fmt == "json":
        _emit_json({"plugins": [i.as_json() for i in infos]})
        return
    # one block per plugin (not a table: names must never be cut, at any terminal width)
    loaded = sum(1 for i in infos if not i.error)
    err_console.print(f"{len(infos)} plugin(s), {loaded} loaded", style="bold", markup=False)
    for i in infos:
        dist = f"{i.distribution} {i.version}" if i.distribution else "no distribution"
        origin = i.source + (f" {i.location}" if i.location else "")
        status = i.status if not i.error else f"{i.status}: {i.error}"
        err_console.print(f"{i.name}  {status}  {dist}  {origin}", markup=False, highlight=False,
                          style="red" if i.error else None)
        if i.hooks:
            err_console.print("    hooks: " + ", ".join(h.removeprefix("confiture_") for h in i.hooks),
                              markup=False, highlight=False)
        if i.lint_rules:
            err_console.print("    lint rules: " + ", ".join(i.lint_rules), markup=False, highlight=False)


# --------------------------------------------------------------------- main


def _register_optional_commands() -> None:
    import importlib

    from .cli_server import server

    cli.add_command(server)
    try:
        module = importlib.import_module("confiture_core.lint.command")
    except ImportError:
        return
    cli.add_command(module.lint_command)


_register_optional_commands()
verbosity.add_options(cli)  # last: every command registered above gets -v/-q


@contextmanager
def _errors(get_url: Callable[[], str | None]) -> Iterator[None]:
    try:
        yield
    except ConfitureError as exc:
        _fail(scrub(error_line(exc), get_url()), exc.exit_code)
    except Exception as exc:
        if not _is_database_error(exc):
            raise
        _fail(scrub(error_line(exc), get_url()), 1)


def _is_database_error(exc: BaseException) -> bool:
    psycopg = sys.modules.get("psycopg")  # not imported: the error cannot be psycopg's
    return psycopg is not None and isinstance(exc, psycopg.Error)


def error_line(exc: BaseException) -> str:
    """The one-line message (after ``error: ``, password not yet scrubbed) the CLI prints for ``exc``."""
    if isinstance(exc, ConfitureError):
        return str(exc)
    if _is_database_error(exc):
        return f"database error: {str(exc).strip()}"
    hint = "" if os.environ.get("CONFITURE_DEBUG") == "1" else " (set CONFITURE_DEBUG=1 for a traceback)"
    return f"internal error: {type(exc).__name__}: {exc}{hint}"


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs :data:`cli` with one-line errors."""
    global _json_errors
    if os.environ.get("_CONFITURE_COMPLETE"):  # shell completion (README): click's protocol, then exit
        from click.shell_completion import shell_complete

        raise SystemExit(shell_complete(cli, {}, "confiture", "_CONFITURE_COMPLETE",
                                        os.environ["_CONFITURE_COMPLETE"]))
    args = list(sys.argv[1:] if argv is None else argv)
    _json_errors = "--format=json" in args or any(
        a == "--format" and b == "json" for a, b in itertools.pairwise(args))
    _main(args)


def _interrupt_on_sigterm() -> None:
    """Turn SIGTERM (a cancelled CI job, ``timeout``) into KeyboardInterrupt, so a run ends as it
    does on Ctrl-C: the transaction in progress rolled back, the advisory lock released, exit
    handlers run."""
    import signal
    import threading

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def _main(args: list[str]) -> None:
    debug = os.environ.get("CONFITURE_DEBUG") == "1"
    _interrupt_on_sigterm()
    holder: dict[str, click.Context] = {}

    def get_url() -> str | None:
        app = holder["ctx"].obj if "ctx" in holder else None
        if not isinstance(app, App):
            return None
        return app._url or (app.__dict__["config"].database_url if "config" in app.__dict__ else None)

    try:
        ctx = cli.make_context("confiture", args)
    except click.exceptions.Exit as e:
        raise SystemExit(e.exit_code) from None
    except click.ClickException as e:
        e.show()
        if _json_errors and not _json_emitted:
            _emit_json({"ok": False, "error": e.format_message(), "exit_code": e.exit_code})
        raise SystemExit(e.exit_code) from None
    try:
        holder["ctx"] = ctx
        with ctx:
            with _errors(get_url):
                cli.invoke(ctx)
    except click.exceptions.Exit as e:
        raise SystemExit(e.exit_code) from None
    except click.ClickException as e:
        e.show()
        if _json_errors and not _json_emitted:
            _emit_json({"ok": False, "error": e.format_message(), "exit_code": e.exit_code})
        raise SystemExit(e.exit_code) from None
    except click.exceptions.Abort:
        # click raises Abort for end of input at a prompt; every prompt comes before anything is applied
        _fail("no answer at the prompt (end of input): nothing was applied", 1)
    except KeyboardInterrupt:
        _fail("interrupted" if ctx.invoked_subcommand == "lint" else
              "interrupted: the migration in progress was rolled back (one that runs outside a transaction is "
              "recorded as failed; see `confiture migrate status`)", 1)
    except SystemExit:
        raise
    except Exception as exc:
        if debug:
            import traceback

            traceback.print_exc()
        _fail(scrub(error_line(exc), get_url()), 1)


if __name__ == "__main__":  # pragma: no cover
    main()
