"""One pending migration drawn on one screen: its statements, risk and reasons, production predictions, lint.

The predictions (``predicted_ms``, ``predicted_ms_low``, ``predicted_ms_high``, ``target_rows``,
``target_bytes`` of each statement of the dry-run report) are shown when the preflight carries
them and left out otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.rule import Rule

from ..dryrun import MigrationReport
from ..lint.rule import Violation
from ..migrations import Migration
from ..paths import shown
from ..risk import Risk, blocked_operations
from ..words import count
from .rewrites import Rewrite

RISK_STYLE = {Risk.SAFE: "green", Risk.BLOCKS_WRITES: "yellow", Risk.BLOCKS_READS_WRITES: "dark_orange",
              Risk.REWRITES_TABLE: "red", Risk.DESTRUCTIVE: "bold red"}

#: the choices, in the order they are offered
CHOICES = (("a", "apply"), ("r", "rewrite safely"), ("s", "show SQL"), ("d", "details"), ("q", "quit"))


def say(console: Console, text: str, indent: int = 2, style: str | None = None) -> None:
    """``text`` wrapped between words to the console's width, continuation lines indented by ``indent`` more."""
    import textwrap

    pad = " " * indent
    console.print(textwrap.fill(text, width=max(20, console.width - 1), initial_indent=pad,
                                subsequent_indent=pad + "  ", break_on_hyphens=False, break_long_words=False),
                  markup=False, highlight=False, style=style)


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(1, width - 1)] + "…"


def _ms(value: float) -> str:
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.0f} ms"


def _bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.0f} TB"


def predictions(report: MigrationReport) -> list[str]:
    """One line per statement the preflight predicted for production (empty when it carries no prediction)."""
    out: list[str] = []
    for s in report.statements:
        ms: Any = getattr(s, "predicted_ms", None)
        if ms is None:
            continue
        low, high = getattr(s, "predicted_ms_low", None), getattr(s, "predicted_ms_high", None)
        span = f" ({_ms(low)} to {_ms(high)})" if low is not None and high is not None else ""
        rows, size = getattr(s, "target_rows", None), getattr(s, "target_bytes", None)
        on = ", ".join(x for x in (f"{rows:,} rows" if rows is not None else "",
                                   _bytes(size) if size is not None else "") if x)
        lock = max((lk.mode for lk in s.locks if lk.preexisting), key=_mode_rank, default=None)
        out.append(f"line {s.line}: ~{_ms(ms)}{span}" + (f" on {on}" if on else "")
                   + (f", holding {lock}" if lock else ""))
    return out


def _mode_rank(mode: str) -> int:
    from ..risk import MODES

    return MODES.index(mode) if mode in MODES else -1


def draw(console: Console, m: Migration, position: tuple[int, int], report: MigrationReport | None,
         findings: Sequence[Violation], rw: Rewrite | None) -> None:
    """Print the screen of ``m`` (the ``position[0]``-th of ``position[1]`` pending migrations).

    :param report: its part of the preflight dry run, or ``None`` when the dry run did not reach it.
    :param findings: the lint violations of its file.
    :param rw: its safe rewrite, or ``None`` (a Python migration).
    """
    width = console.width
    console.print(Rule(f"{position[0]}/{position[1]} · {m.version} {m.name}", align="left"), markup=False)
    mode = "in a transaction" if _transactional(m) else "outside a transaction (statement by statement)"
    console.print(f"{shown(m.up_path)} · runs {mode}", markup=False, style="dim")
    if m.kind == "sql":
        statements = m.sql("up").statements
        console.print(f"what it does ({count(len(statements), 'statement')}):", markup=False, style="bold")
        for st in statements[:12]:
            console.print(f"  {st.line:>4}  " + _one_line(st.sql, width - 9), markup=False, highlight=False)
        if len(statements) > 12:
            console.print(f"        … {len(statements) - 12} more ([s] shows them all)", markup=False)
    else:
        console.print("what it does: a Python migration (its up() function; [s] shows it)", markup=False)
    if report is None or report.status == "pending":
        console.print("risk: not measured (the preflight stopped before it)", markup=False, style="dim")
    else:
        if report.status == "failed":  # the failing statement and those after it were not measured
            console.print(f"risk: not known: it failed in the preflight (what ran before the failure: "
                          f"{report.risk.label})", markup=False, style="red")
        else:
            console.print(f"risk: {report.risk.label}", markup=False, style=RISK_STYLE[report.risk])
        for lk in [lk for lk in report.locks() if lk.preexisting and lk.mode != "ACCESS SHARE"][:4]:
            blocks = blocked_operations(lk.mode)
            what = ", ".join(b for b in blocks if b in ("SELECT", "INSERT", "UPDATE", "DELETE")) or "DDL only"
            console.print(f"  {lk.mode} on {lk.relation}: blocks {what}", markup=False)
        shown_locks = {f"{lk.mode} on {lk.relation}" for lk in report.locks()}
        for reason in [r for r in report.reasons if r not in shown_locks][:4]:
            say(console, f"· {reason}")
        if report.error:
            say(console, f"✗ {report.error}", style="red")
        lines = predictions(report)
        if lines:
            console.print("on production (predicted):", markup=False, style="bold")
            for line in lines:
                say(console, line)
    if findings:
        console.print(f"lint ({len(findings)}):", markup=False, style="bold")
        for v in findings[:6]:
            say(console, f"{v.code} line {v.line}: {v.message}", style="red" if v.severity == "error" else "yellow")
    if rw is not None and rw.rewrites:
        console.print("a safe rewrite exists ([r]):", markup=False, style="bold")
        for c in rw.changes[:6]:
            say(console, f"→ {c}")
    if rw is not None and rw.guidance:
        console.print("expand/contract (no automatic rewrite):", markup=False, style="bold")
        for g in rw.guidance[:4]:
            say(console, f"! {g}")


def choices_line(can_rewrite: bool) -> str:
    """``[a]pply  [r]ewrite safely  [s]how SQL  [d]etails  [q]uit`` (``[r]`` left out when no rewrite exists)."""
    return "  ".join(f"[{k}] {label}" for k, label in CHOICES if k != "r" or can_rewrite)


def _transactional(m: Migration) -> bool:
    try:
        return m.is_transactional("up")
    except Exception:
        return True
