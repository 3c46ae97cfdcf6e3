"""``confiture migrate up --interactive``: the wizard, one pending migration per screen, single-key choices.

For each pending migration, in order: what it does, its risk and reasons, the predicted lock and
duration on production when the preflight carries them, its lint findings, then ``[a]pply``,
``[r]ewrite safely``, ``[s]how SQL``, ``[d]etails``, ``[q]uit``. A rewrite is staged in a draft
folder, shown as a diff, measured by the preflight, and put in place only once confirmed (and
only while the migration is still pending). The wizard ends with a summary and the command a
pipeline would run.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import click

from ..dryrun import DryRunReport, LockBlocked, MigrationReport, dry_run
from ..errors import ConfigError, ConfitureError
from ..migrations import Migration
from ..paths import shown
from ..review import render
from ..wizard.drafts import Draft, diff, discard, put_in_place, stage
from ..wizard.rewrites import Rewrite, rewrite
from ..wizard.screen import RISK_STYLE, choices_line, draw, say
from ..words import count
from .dryrun import DryRunReporter, measure

if TYPE_CHECKING:
    from ..lint.rule import Violation
    from .app import App

#: an UPDATE or DELETE with a WHERE that touched this many rows in the preflight is batched too
LARGE_ROWS = 10_000

_PK_SQL = """
SELECT a.attname FROM pg_index i
  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
 WHERE i.indrelid = to_regclass(%s) AND i.indisprimary AND i.indnatts = 1
"""


@dataclass
class Tally:
    """What the wizard did: applied, rewritten (version -> the versions it became), left pending."""

    applied: list[str] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


class _Cancelled(Exception):
    """Ctrl-C or Ctrl-D (end of input) pressed at one of the wizard's questions: the operator ends it there."""


def _key() -> str:
    """One key press (no Enter).

    :raises _Cancelled: Ctrl-C or Ctrl-D (click's getchar raises KeyboardInterrupt and EOFError for them).
    """
    try:
        return click.getchar().lower()
    except (KeyboardInterrupt, EOFError):
        raise _Cancelled from None


def _confirm(app: App, question: str) -> bool:
    """``question [y/N]`` answered by one key, as every other choice of the wizard (no Enter); ``True`` for y."""
    out = app.output
    out.console.print(f"{out.scrub(question)} [y/N] ", end="", markup=False)
    answer = _key()
    out.console.print(answer if answer.isprintable() else "", markup=False)
    return answer == "y"


def _still_pending(app: App, target: int | None, fallback: list[Migration]) -> list[Migration]:
    """The migrations still pending, read from the tracking table (``fallback`` when it cannot be read)."""
    try:
        runner = app.runner()
        return list(runner.plan_up(target, runner.status()))
    except Exception:  # after Ctrl-C or a lost connection: say what was last known
        return fallback


def _preflight(app: App, target: int | None, announce: str) -> DryRunReport:
    """The dry run of the pending migrations (a lock wait keeps what was measured)."""
    app.output.hold_notices = True
    try:
        report = measure(app, target, DryRunReporter(app.output, announce), preflight=True)
    except LockBlocked as exc:
        if exc.report is None:
            raise
        app.output.warn(exc.detail)
        report = exc.report
    finally:
        app.output.hold_notices = False
    return report


class _AppliedAs:
    """The app as the linter sees it, with the lock_timeout the runner sets on strong statements
    (``[apply] lock_timeout``): a lint rule asking for one is then satisfied, as the run will be."""

    def __init__(self, app: App) -> None:
        from ..runner.retry import ApplySettings

        self._app = app
        self.config = replace(app.config, lock_timeout=ApplySettings.of(app.config).lock_timeout
                              or app.config.lock_timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)


def _findings(app: App, m: Migration) -> list[Violation]:
    if m.kind != "sql":
        return []
    from .lint import lint_for_review

    try:
        return lint_for_review(_AppliedAs(app), [m.up_path]).violations
    except ConfitureError as exc:
        app.output.warn(f"lint: {exc}")
        return []


def _rewrite_of(app: App, m: Migration, report: MigrationReport | None) -> Rewrite | None:
    if m.kind != "sql":
        return None
    from pglast import ast

    statements = m.sql("up").statements
    conn = app.connect()
    keys: dict[str, str] = {}
    for st in statements:
        if isinstance(st.node, ast.UpdateStmt) and st.node.relation is not None:
            rv = st.node.relation
            name = ".".join(p for p in (rv.schemaname, rv.relname) if p)
            row = conn.execute(_PK_SQL, [name]).fetchone()
            if row:
                keys[name] = str(row[0])
    rows = {s.line: s.rows or 0 for s in report.statements} if report else {}
    large = {st.index for st in statements if rows.get(st.line, 0) >= LARGE_ROWS}
    return rewrite(statements, keys, large)


def _measure_draft(app: App, draft: Draft) -> DryRunReport | None:
    """The preflight of the draft folder (the rewritten migrations with the others), or ``None`` when it
    could not run (said as a warning)."""
    config = replace(app.config, migrations_dir=draft.folder)
    try:
        return dry_run(app.connect(), config, app.hooks, reporter=DryRunReporter(
            app.output, "preflight of the rewritten migrations ({n} pending)"), preflight=True)
    except LockBlocked as exc:
        return exc.report
    except ConfitureError as exc:
        app.output.warn(f"the preflight of the rewrite did not run: {exc}")
        return None
    finally:
        app.forget_closed_connection()


def _do_rewrite(app: App, m: Migration, rw: Rewrite, tally: Tally) -> bool:
    """Stage, show, measure and (once confirmed) put in place the rewrite of ``m``; whether it was."""
    out, console = app.output, app.output.console
    runner = app.runner()
    draft = stage(app.config.project_dir, app.config.migrations_dir, m, rw,
                  [x.version for x in runner.migrations()])
    try:
        console.print(f"rewrite of {m.version} {m.name}, staged in {shown(draft.folder)}:", markup=False,
                      style="bold")
        for line in diff(draft, app.config.migrations_dir).splitlines():
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else None
            console.print(line, markup=False, highlight=False, style=style, overflow="fold")
        report = _measure_draft(app, draft)
        promises = dict(zip(draft.versions, ([rw.first_promise] if rw.first is not None else [])
                            + [st.promise for st in rw.steps], strict=False))
        if report is not None:
            console.print("preflight of the rewrite (locks it took itself; the dry run holds the earlier "
                          "migrations' locks too):", markup=False, style="bold")
            for r in report.migrations:
                if r.version not in draft.versions:
                    continue
                pre = [lk for lk in r.locks() if lk.preexisting and not lk.inferred and lk.mode != "ACCESS SHARE"]
                locks = ", ".join(f"{lk.mode} on {lk.relation}" for lk in pre[:3]) or "no new lock on existing tables"
                state = "not executed (outside a transaction)" if r.status == "not-executed" else r.status
                promise = promises.get(r.version, "?")
                say(console, f"{r.version} {r.name}: {state} · {locks} · promised: at most {promise}",
                    style=RISK_STYLE[r.risk] if r.status != "failed" else "red")
        these = "this migration" if len(draft.versions) == 1 else f"these {len(draft.versions)} migrations"
        if not _confirm(app, f"replace {m.up_path.name} with {these}?"):
            out.say("rewrite discarded: the migrations folder is unchanged")
            discard(draft)
            return False
        if m.version not in {p.version for p in app.runner().plan_up(None)}:
            discard(draft)
            raise ConfigError(f"migration {m.version} ({m.name}) is no longer pending: a rewrite must never "
                              "replace a migration that was applied; nothing was changed")
        written = put_in_place(draft, app.config.migrations_dir)
        out.say("wrote " + ", ".join(p.name for p in written), style="green")
        tally.rewritten.append(f"{m.version} {m.name} -> " + ", ".join(str(v) for v in draft.versions))
        return True
    except BaseException:
        discard(draft)
        raise


def _show_sql(app: App, m: Migration) -> None:
    console = app.output.console
    for path in (m.up_path,):
        console.print(f"── {shown(path)}", markup=False, style="bold")
        console.print(path.read_text(), markup=False, highlight=False, overflow="fold")


def _details(app: App, report: MigrationReport | None, lock_timeout: str | None) -> None:
    """The preflight's full report of one migration; ``lock_timeout`` is the one the preflight ran under."""
    if report is None:
        app.output.say("no preflight report for this migration (the dry run stopped before it)")
        return
    conn = app.connect()
    render(DryRunReport([report], lock_timeout, conn.info.server_version), app.output.console)


def _summary(app: App, tally: Tally, left: list[Migration]) -> None:
    out = app.output
    tally.left = [f"{m.version} {m.name}" for m in left]
    out.say("summary", style="bold")
    for label, items in (("applied", tally.applied), ("rewritten", tally.rewritten), ("left pending", tally.left)):
        say(out.console, f"{label}: " + ("; ".join(items) if items else "none"))
    command = ["confiture"] + (["-C", shown(app.project)] if app.project is not None else []) + \
        ["migrate", "up", "--yes"]
    out.say(f"a pipeline applies the migrations folder with: {shlex.join(command)}")


def _stopped(how: str, tally: Tally) -> str:
    """The one-line error of a wizard ended by Ctrl-C or Ctrl-D (``how``: ``cancelled`` at a question,
    ``interrupted`` while something ran), saying what it had done."""
    if how == "cancelled" and not tally.applied and not tally.rewritten:
        return "cancelled, nothing changed"
    done = [f"{count(len(items), 'migration')} {verb}" for items, verb in ((tally.applied, "applied"),
                                                                    (tally.rewritten, "rewritten")) if items]
    done = done or ["no migration applied"]  # interrupted: one in progress rolled back, or recorded as failed
    return (f"{how}: {' and '.join(done)} before it (the summary above says which); `confiture migrate status` "
            "shows where it stopped")


def run_wizard(app: App, target: int | None) -> None:
    """The wizard (see the module docstring).

    :raises ConfigError: stdin is not a terminal (exit 2).
    :raises SystemExit: 1 when a migration failed or the wizard was interrupted.
    """
    out = app.output
    if not sys.stdin.isatty():
        raise ConfigError("--interactive needs a terminal to ask questions (stdin is not one); review with "
                          "`confiture migrate up --dry-run`, then apply with `confiture migrate up --yes`")
    tally = Tally()
    preflight = _preflight(app, target, "preflight: dry run of {pending}")
    pending: list[Migration] = []
    failed: str | None = None
    try:
        while True:
            runner = app.runner()
            pending = runner.plan_up(target, runner.status())
            if not pending:
                out.say("nothing left to migrate")
                break
            m = pending[0]
            report = next((r for r in preflight.migrations if r.version == m.version), None)
            rw = _rewrite_of(app, m, report)
            can_rewrite = rw is not None and rw.rewrites
            draw(out.console, m, (len(tally.applied) + 1, len(tally.applied) + len(pending)), report,
                 _findings(app, m), rw)
            choice = ""
            while choice not in ("a", "r", "q"):
                out.console.print(choices_line(can_rewrite) + " ? ", end="", markup=False, style="bold")
                choice = _key()
                out.console.print(choice if choice.isprintable() else "", markup=False)
                if choice == "s":
                    _show_sql(app, m)
                elif choice == "d":
                    _details(app, report, preflight.lock_timeout)
                elif choice == "r" and not can_rewrite:
                    out.say("no safe rewrite for this migration" + (" (see the expand/contract advice above)"
                                                                    if rw is not None and rw.guidance else ""))
                    choice = ""
                elif choice not in ("a", "r", "q", "s", "d"):
                    out.say(f"press one of: {choices_line(can_rewrite)}")
            if choice == "q":
                break
            if choice == "r":
                if _do_rewrite(app, m, rw, tally) if rw is not None else False:
                    preflight = _preflight(app, target, "preflight: dry run of {pending}")
                continue
            result = app.runner().up(m.version)
            bad = [r for r in result.results if r.status == "failed"]
            tally.applied.extend(f"{r.version} {r.name}" for r in result.results if r.status != "failed")
            if bad:
                failed = bad[0].error or "migration failed"
                break
            if len(pending) > 1:  # measured again from where the database now is: a report made before the
                # apply holds that migration's locks and stops where the applied one stopped the dry run
                preflight = _preflight(app, target, "preflight: dry run of the {migrations} left")
    except _Cancelled:  # at a question: nothing was running
        out.console.print()
        _summary(app, tally, _still_pending(app, target, pending))
        out.run_tally = None
        raise ConfitureError(_stopped("cancelled", tally)) from None
    except KeyboardInterrupt:  # while a preflight or an apply ran: the migration in progress rolled back
        out.console.print()
        _summary(app, tally, _still_pending(app, target, pending))
        out.run_tally = None
        raise ConfitureError(_stopped("interrupted", tally)) from None
    _summary(app, tally, _still_pending(app, target, pending))
    if failed is not None:
        out.fail(failed, 1)
