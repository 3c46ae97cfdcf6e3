"""``confiture migrate``: create, apply, revert and inspect migrations (the dry run is :mod:`.dryrun`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..config import redact_url
from ..migrations import Migration, discover, parse_version
from ..paths import shown
from ..words import count as counted
from . import verbosity
from .app import App, current_app
from .output import format_option

if TYPE_CHECKING:
    from datetime import datetime

    from ..runner import RunResult


@click.group()
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
    app = current_app()
    folder = app.config.migrations_dir
    folder.mkdir(parents=True, exist_ok=True)
    slug = "".join(c if c.isalnum() else "_" for c in name.strip().lower()).strip("_")
    if not slug:
        raise click.BadParameter("give a name with letters or digits", param_hint="NAME")
    if len(slug.encode()) > 200:  # part of the file name, which file systems bound (255 bytes on most)
        raise click.BadParameter(f"too long for a file name ({len(slug.encode())} bytes in UTF-8); give a shorter "
                                 "one (at most 200 bytes)", param_hint="NAME")
    from datetime import UTC, datetime

    version = next_version(discover(folder), datetime.now(UTC))
    created: list[Path] = []
    if python_:
        p = folder / f"{version}_{slug}.py"
        doc = repr(name) if "\\" in name or '"' in name else f'"""{name}"""'  # a docstring Python can read
        p.write_text(f'{doc}\n\n\ndef up(conn):\n'
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
        app.output.emit_json({"ok": True, "version": str(int(version)), "name": slug,
                              "files": [str(p) for p in created]})
        return
    for p in created:
        app.output.echo(shown(p))


@migrate.command("status")
@format_option
def migrate_status(fmt: str) -> None:
    """Show every migration and whether it is applied."""
    app = current_app()
    runner = app.runner()
    entries = runner.status()
    invalid = runner.planner.invalid_index_problems(entries)
    if fmt == "json":
        app.output.emit_json({"database": redact_url(app.database_url()), "tracking_table": app.config.tracking_table,
                    "migrations": [e.as_json() for e in entries],
                    "invalid_indexes": [{"version": str(p.version), "message": p.message} for p in invalid],
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
    app.output.console.print(table)
    for e in entries:
        if e.state == "failed":  # what to do about it (an invalid index to drop, repair)
            app.output.say(f"✗ migration {e.version} ({e.name}) failed: {e.error or 'no detail'}", style="red")
    for p in invalid:
        app.output.say(f"✗ {p.message}", style="red")
    def count(state: str) -> int:
        return sum(1 for e in entries if e.state == state)

    # changed and missing migrations are applied ones (their rows are there): said within the applied count
    changed, missing = count("changed"), count("missing")
    of_them = [text for n, text in ((changed, f"{changed} changed since applied"),
                                    (missing, f"{counted(missing, 'file')} missing")) if n]
    counts = [f"{sum(1 for e in entries if e.applied)} applied" + (f" ({', '.join(of_them)})" if of_them else ""),
              f"{count('pending')} pending"] + ([f"{n} failed"] if (n := count("failed")) else [])
    app.output.say(", ".join(counts))


def _print_run(result: RunResult, fmt: str, app: App, stopped: str | None = None) -> None:
    """Report a run; exits 1 when a migration failed or the run ``stopped`` early (the reason)."""
    failed = [r for r in result.results if r.status == "failed"]
    error = failed[0].error or "migration failed" if failed else stopped
    if fmt == "json":
        app.output.emit_json({
            "direction": result.direction,
            "dry_run": result.rolled_back,
            "ok": error is None,
            "error": error,
            "migrations": [{"version": str(r.version), "name": r.name, "status": r.status,
                            "duration_ms": round(r.duration_ms, 3), "error": r.error} for r in result.results],
            "findings": [{"level": f.level, "message": f.message, "plugin": f.plugin,
                          "version": None if f.version is None else str(f.version)} for f in result.findings],
        })
    for f in result.findings:
        if f.level != "info":
            app.output.warn(f"[{f.plugin}] migration {f.version}: {f.message}")
        else:
            app.output.info(f"[{f.plugin}] migration {f.version}: {f.message}")
    done = len(result.results)
    if fmt == "text" and done and not failed and not verbosity.quiet():
        verb = "applied" if result.direction == "up" else "reverted"
        app.output.say(f"{verb} {counted(done, 'migration')}", style="bold green")
    if error is not None:
        app.output.fail(error, 1)


def _where(shadow: bool, on_target: bool, shadow_url: str | None, yes: bool) -> str | None:
    """Where the dry run (or the review gate's preflight) runs: ``"shadow"``, ``"target"`` or ``None`` (the
    configuration decides).

    :raises click.UsageError: options that contradict each other, or that --yes (no dry run) would ignore.
    """
    if shadow and on_target:
        raise click.UsageError("--shadow and --on-target contradict each other; give one")
    if on_target and shadow_url:
        raise click.UsageError("--shadow-url names where the shadow database goes; it does not go with --on-target")
    if yes and (shadow or on_target or shadow_url):
        given = "--shadow" if shadow else "--on-target" if on_target else "--shadow-url"
        raise click.UsageError(f"{given} chooses where the dry run goes, and --yes applies without one; "
                               "drop one of them")
    return "shadow" if shadow else "target" if on_target else None


@migrate.command("up")
@click.option("--to", "target", metavar="VERSION", help="Apply up to and including this version.")
@click.option("--dry-run", is_flag=True, help="Run everything in one transaction, report what it did, roll back "
              "(on a shadow database unless the target is the embedded server or --on-target is given).")
@click.option("--fail-on", metavar="LEVEL", help="With --dry-run: exit 1 when a migration reaches this risk level "
              "(safe, blocks-writes, blocks-reads-writes, rewrites-table, destructive).")
@click.option("--interactive", "-i", is_flag=True, help="The wizard: one pending migration per screen, its risk, "
              "predictions and lint findings; apply, rewrite safely, show SQL, details or quit.")
@click.option("--yes", "-y", is_flag=True, help="Apply migrations at or above [review] confirm_level without asking.")
@click.option("--shadow", "shadow", is_flag=True,
              help="Dry-run on a shadow database (the default unless the target is the embedded server).")
@click.option("--on-target", "on_target", is_flag=True, help="Dry-run on the target itself (rolled back).")
@click.option("--shadow-url", metavar="URL", help="The server to make the shadow database on (default: "
              "[dry_run] shadow_url, else the embedded server).")
@click.option("--allow-large-tables", is_flag=True, help="With --on-target: also dry-run statements that rewrite "
              "or scan a table above [dry_run] max_table_size.")
@format_option
def migrate_up(target: str | None, dry_run: bool, fail_on: str | None, interactive: bool, yes: bool,
               shadow: bool, on_target: bool, shadow_url: str | None, allow_large_tables: bool, fmt: str) -> None:
    """Apply pending migrations (dry-run them first unless --yes)."""
    if dry_run and yes:  # one was silently ignored: a contradiction is a usage error, never a silent choice
        raise click.UsageError("--dry-run only reports (nothing is applied) and --yes applies without asking; "
                               "give one")
    where = _where(shadow, on_target, shadow_url, yes)
    app = current_app()
    if fail_on is not None:  # the dry run's modules are imported only when used (not by `up --yes`)
        from .dryrun import check_fail_on

        check_fail_on(fail_on)
    if fail_on and not dry_run:
        raise click.UsageError("--fail-on needs --dry-run")
    if interactive and (dry_run or yes):
        other = "--dry-run" if dry_run else "--yes"
        raise click.UsageError(f"--interactive asks before applying; it does not go with {other} "
                               "(--dry-run only reports, --yes applies without asking)")
    version = None if target is None else parse_version(target, "--to")
    if dry_run:
        from ..dryrun.place import Place
        from .dryrun import run_dry_run

        run_dry_run(app, version, fmt, fail_on, Place(where, shadow_url, allow_large_tables))
        return
    if interactive:
        if fmt == "json":
            raise click.UsageError("--interactive asks questions on a terminal; it does not go with --format json")
        from .wizard import run_wizard

        run_wizard(app, version)
        return
    stopped = None
    if not yes:
        from ..dryrun.place import Place
        from .dryrun import gate

        version, stopped, nothing = gate(app, version, interactive, Place(where, shadow_url, allow_large_tables))
        if nothing:
            app.output.fail(stopped or "not confirmed", 1)
    result = app.runner().up(version)
    _print_run(result, fmt, app, stopped)


@migrate.command("down")
@click.option("--to", "target", metavar="VERSION", help="Revert every migration above this version (kept).")
@format_option
def migrate_down(target: str | None, fmt: str) -> None:
    """Revert the latest migration, or everything above --to VERSION."""
    app = current_app()
    result = app.runner().down(None if target is None else parse_version(target, "--to"))
    _print_run(result, fmt, app)


@migrate.command("validate")
@format_option
def migrate_validate(fmt: str) -> None:
    """Check applied migrations against their files and pending ones with plugins."""
    app = current_app()
    runner = app.runner()
    problems = runner.problems()
    findings = []
    if app.hooks.has("confiture_validate"):
        from ..hookspecs import HookContext

        pending = [m for m in runner.migrations() if m.version in
                   {e.version for e in runner.status() if e.state == "pending"}]
        findings = runner.validate(HookContext(runner.conn, app.config, "up", False, {}, pending), pending)
    errors = [p for p in problems] + [f for f in findings if f.level == "error"]
    if fmt == "json":
        app.output.emit_json({"ok": not errors,
                    "problems": [{"version": str(p.version), "kind": p.kind, "message": p.message}
                                 for p in problems],
                    "findings": [{"level": f.level, "message": f.message, "plugin": f.plugin,
                                  "version": None if f.version is None else str(f.version)} for f in findings]})
    else:
        for p in problems:
            app.output.say(f"✗ {p.message}", style="red")
        for f in findings:
            app.output.say(f"{'✗' if f.level == 'error' else '!'} [{f.plugin}] migration {f.version}: "
                              f"{f.message}", style="red" if f.level == "error" else "yellow")
        if not errors:
            app.output.say("✓ every applied migration matches its file", style="green")
    if errors:
        raise SystemExit(1)


@migrate.command("repair")
@format_option
def migrate_repair(fmt: str) -> None:
    """Realign the tracking table with the files, after review."""
    app = current_app()
    changes = app.runner().repair()
    if fmt == "json":
        app.output.emit_json({"ok": True, "changes": changes})
    else:
        for c in changes:
            app.output.say(f"• {c}")
        if not changes:
            app.output.say("nothing to repair")


@migrate.command("baseline")
@click.argument("version")
@format_option
def migrate_baseline(version: str, fmt: str) -> None:
    """Mark an existing database as already at VERSION."""
    app = current_app()
    v = parse_version(version, "VERSION")
    app.runner().baseline(v)
    if fmt == "json":
        app.output.emit_json({"ok": True, "baseline": str(v), "tracking_table": app.config.tracking_table})
        return
    app.output.info(f"baselined at version {v}: migrations up to {v} count as applied")


