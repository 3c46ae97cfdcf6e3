"""Reviewing a dry run: rich tables for people, the risk gate and the confirmation prompt.

``confiture migrate up`` first dry-runs the pending migrations (unless ``--yes``)
and asks, on a terminal, for confirmation before each migration whose risk is at
or above ``[review] confirm_level`` (default ``"blocks-writes"``; see
:class:`confiture_core.risk.Risk`). Without a terminal it never prompts: it stops
with a message saying that ``--yes`` applies them without asking.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table

from .config import Config
from .dryrun import DryRunReport, MigrationReport, StatementReport
from .dryrun.predict import describe
from .risk import Risk
from .words import count

DEFAULT_CONFIRM_LEVEL = "blocks-writes"

_RISK_STYLE = {Risk.SAFE: "green", Risk.BLOCKS_WRITES: "yellow", Risk.BLOCKS_READS_WRITES: "dark_orange",
               Risk.REWRITES_TABLE: "red", Risk.DESTRUCTIVE: "bold red"}


def confirm_level(config: Config) -> Risk:
    """``[review] confirm_level`` (default ``"blocks-writes"``).

    :raises ConfigError: not a known risk level.
    """
    value = config.section("review").get("confirm_level", DEFAULT_CONFIRM_LEVEL)
    return Risk.parse(str(value), f"{config.config_file}: [review] confirm_level")


def _risk_cell(r: Risk) -> str:
    return f"[{_RISK_STYLE[r]}]{r.label}[/]"


def _measured_risk_cell(m: MigrationReport) -> str:
    """The migration's risk, or "not measured" for one the dry run never reached (an earlier one failed)."""
    if m.status == "pending":
        return "[dim]not measured[/]"
    return _risk_cell(m.risk) + (" (until it failed)" if m.status == "failed" else "")


def _overall(report: DryRunReport) -> str:
    """The last line: the overall risk, saying how many migrations it does not cover."""
    unmeasured = sum(1 for m in report.migrations if m.status == "pending")
    failed = sum(1 for m in report.migrations if m.status == "failed")
    if not unmeasured and not failed:
        return f"overall risk: {report.risk.label}"
    measured = len(report.migrations) - unmeasured - failed
    return (f"overall risk of the {count(measured, 'migration')} measured in full: {report.risk.label}; "
            + ", ".join(part for part in (f"{failed} failed" if failed else "",
                                          f"{unmeasured} not measured (the dry run stopped before them)"
                                          if unmeasured else "") if part))


def _locks_cell(locks: Sequence[object], limit: int = 4) -> str:
    from .dryrun import LockTaken

    items = [lk for lk in locks if isinstance(lk, LockTaken)]
    shown = [f"{lk.mode} on {lk.relation}" + ("" if lk.preexisting else " (new)")
             + (" (inferred)" if lk.inferred else "") for lk in items[:limit]]
    if len(items) > limit:
        shown.append(f"+{len(items) - limit} more")
    return "\n".join(shown)


def _esc(text: str) -> str:
    return text.replace("[", "\\[")


WIDE = 120
"""Columns from which the report is drawn as tables; narrower consoles get one block per migration."""


def _statement_table(m: MigrationReport) -> Table:
    t = Table(title=f"{m.version} {_esc(m.name)}: {m.risk.label}", title_justify="left")
    t.add_column("line", no_wrap=True)
    t.add_column("statement", overflow="fold")
    t.add_column("ms", no_wrap=True)
    t.add_column("rows", no_wrap=True)
    for col in ("locks taken (mode on relation)", "rewrote", "sequences", "note"):
        t.add_column(col, overflow="fold")
    for s in m.statements:
        t.add_row(str(s.line), _esc(s.sql[:80]), _ms(s), "" if s.rows is None else str(s.rows),
                  _esc(_locks_cell(s.locks)), _esc(", ".join(s.rewritten)),
                  _esc(", ".join(f"{q.sequence} {q.before}→{q.after}" for q in s.sequences)),
                  _esc("; ".join(x for x in (s.note or "; ".join(s.reasons), _on_target(s)) if x)))
    return t


def _on_target(s: StatementReport) -> str:
    p = describe(s)
    return f"on the target: {p}" if p else ""


def predictions(m: MigrationReport) -> list[str]:
    """The predicted durations on the target of a migration's statements (a shadow preflight), longest first:
    ``["ACCESS EXCLUSIVE on orders for ~41 s (30 s-55 s), 12.4 M rows"]``."""
    found = sorted((s for s in m.statements if s.predicted_ms is not None), key=lambda s: -(s.predicted_ms or 0))
    return [p for s in found if (p := describe(s)) is not None]


def _statement_block(m: MigrationReport, console: Console) -> None:
    """A migration's statements as indented lines (a narrow console: rich wraps them between words)."""
    console.print(f"{m.version} {_esc(m.name)}: {_risk_cell(m.risk)}")
    for s in m.statements:
        facts = [f"line {s.line}", _ms(s) + (" ms" if s.executed and s.duration_ms is not None else "")]
        if s.rows is not None:
            facts.append(f"{s.rows} row(s)")
        console.print("  " + " · ".join(f for f in facts if f.strip()), markup=False, style="bold")
        console.print("    " + " ".join(s.sql[:200].split()), markup=False, highlight=False)
        if s.locks:
            console.print("    locks: " + _locks_cell(s.locks).replace("\n", ", "), markup=False)
        if s.rewritten:
            console.print("    rewrote: " + ", ".join(s.rewritten), markup=False)
        if s.sequences:
            console.print("    sequences: " + ", ".join(f"{q.sequence} {q.before}→{q.after}" for q in s.sequences),
                          markup=False)
        if s.note or s.reasons:
            console.print("    note: " + (s.note or "; ".join(s.reasons)), markup=False)
        if (p := describe(s)) is not None:
            console.print("    on the target: " + p, markup=False, style="bold")


def _ms(s: StatementReport) -> str:
    return "not executed" if not s.executed else f"{s.duration_ms:.1f}" if s.duration_ms is not None else ""


def _title(report: DryRunReport) -> str:
    """Where the dry run ran and how it ended: on a shadow or a copy each migration was committed there (the
    scratch database is dropped after), on the target everything was rolled back."""
    if report.where == "shadow" and report.shadow:
        where = (f"on a shadow database ({report.shadow.get('sample')} sample, {report.shadow.get('server')}), "
                 "times predicted for the target; committed there, then dropped")
    elif report.where == "copy":
        where = "on a copy of the development database, committed there, then dropped"
    else:
        where = "rolled back"
    return f"dry run ({where}; lock_timeout {report.lock_timeout})"


def _summary_table(report: DryRunReport) -> Table:
    t = Table(title=_esc(_title(report)), title_justify="left")
    for col in ("version", "name", "status", "ms", "risk"):
        t.add_column(col, no_wrap=col != "name", overflow="fold")
    for col in ("locks on existing relations", "rewrote", "sequences"):
        t.add_column(col, overflow="fold")
    for m in report.migrations:
        pre = [lk for lk in m.locks() if lk.preexisting]
        seqs = [q for s in m.statements for q in s.sequences]
        t.add_row(str(m.version), _esc(m.name), _status(m),
                  "" if m.duration_ms is None else f"{m.duration_ms:.1f}", _measured_risk_cell(m),
                  _esc(_locks_cell(pre)), _esc(", ".join(sorted({r for s in m.statements for r in s.rewritten}))),
                  _esc(", ".join(sorted({q.sequence for q in seqs}))))
    return t


def _status(m: MigrationReport) -> str:
    return "not reached" if m.status == "pending" else m.status


def _summary_lines(report: DryRunReport, console: Console) -> None:
    """The summary as one line per migration (a narrow console)."""
    console.print(_title(report), markup=False, style="bold")
    for m in report.migrations:
        ms = "" if m.duration_ms is None else f" · {m.duration_ms:.1f} ms"
        console.print(f"{m.version} {_esc(m.name)} · {_status(m)}{ms} · {_measured_risk_cell(m)}")
        pre = [lk for lk in m.locks() if lk.preexisting]
        if pre:
            console.print("  locks on existing relations: " + _locks_cell(pre).replace("\n", ", "), markup=False)
        for p in predictions(m):
            console.print("  on the target: " + p, markup=False)


def render(report: DryRunReport, console: Console, *, details: Risk = Risk.BLOCKS_WRITES) -> None:
    """Print the dry-run report: rich tables on a console of :data:`WIDE` columns or more, else lines.

    :param details: statement tables are printed for migrations at this risk or
        above, and for those with statements not executed.
    """
    wide = console.width >= WIDE
    if wide:
        console.print(_summary_table(report))
    else:
        _summary_lines(report, console)
    for m in report.migrations:
        if m.risk >= details or any(not s.executed for s in m.statements):
            if wide:
                console.print(_statement_table(m))
            else:
                _statement_block(m, console)
        for reason in m.reasons:
            console.print(f"  {m.version}: {reason}", markup=False, style=_RISK_STYLE[m.risk])
        if m.error:
            console.print(f"  {m.version} failed: {m.error}", markup=False, style="red")
    if report.sequences_restored:
        console.print("sequences advanced by the dry run (PostgreSQL does not roll sequences back) were put "
                      "back with setval: " + ", ".join(report.sequences_restored), markup=False, style="dim")
    for name in report.sequences_not_restored:
        why = report.sequences_not_restored_reasons.get(name, "")
        console.print(f"sequence {name} left advanced by the dry run{': ' + why if why else ''}", markup=False,
                      style="yellow")
    console.print(_overall(report), markup=False, style=_RISK_STYLE[report.risk])


def choose(report: DryRunReport, level: Risk, ask: Callable[[MigrationReport], bool]) -> int | None:
    """Ask about each migration at or above ``level``, in order; stop at the first "no".

    :param ask: the prompt; returns ``True`` to apply.
    :returns: the highest version that may be applied (every migration before
        the first declined one), or ``None`` when the first one was declined.
    """
    last: int | None = None
    for m in report.migrations:
        if m.risk >= level and not ask(m):
            return last
        last = m.version
    return last
