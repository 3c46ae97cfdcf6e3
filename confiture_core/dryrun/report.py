"""The dry run's report: per statement, per migration and for the whole run; its JSON document."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..hookspecs import MigrationResult
from ..risk import Risk, strongest
from ..runner import RunResult
from .catalog import KIND_NAMES, TABLE_KINDS

SEQUENCE_NOTE = ("PostgreSQL does not roll back sequences (nextval is never undone): after the rollback the dry "
                 "run put back with setval only the sequences whose every new value it can prove it drew itself; "
                 "the others are left advanced (a gap; no value is ever handed out twice)")


@dataclass
class LockTaken:
    """A relation lock a statement took (or would take, when not executed).

    :ivar relation: schema-qualified name (``public`` omitted).
    :ivar kind: ``table``, ``index``, ``sequence``, ``view``, ...
    :ivar mode: SQL lock-mode name, e.g. ``"SHARE"``.
    :ivar blocks: common operations other sessions cannot run meanwhile.
    :ivar preexisting: the relation existed before the run (else created by it).
    :ivar inferred: not seen taken by this statement in ``pg_locks``: the mode the
        documentation gives for the statement's kind on a relation it names, held since
        before its migration (PostgreSQL shows no new row for a mode already held; the
        real run, where each migration has its own transaction, takes it afresh; see
        :mod:`confiture_core.lock_modes`), the lock a statement that was not executed would
        take, or the lock a statement stopped by ``lock_timeout`` waited for.
    """

    relation: str
    kind: str
    mode: str
    blocks: list[str]
    preexisting: bool
    inferred: bool = False

    def as_json(self) -> dict[str, Any]:
        """JSON object (see docs/dry-run.md)."""
        return {"relation": self.relation, "kind": self.kind, "mode": self.mode, "blocks": self.blocks,
                "preexisting": self.preexisting, "inferred": self.inferred}


@dataclass
class SequenceAdvance:
    """A sequence whose state changed during a statement (``before`` ``None``: never used)."""

    sequence: str
    before: int | None
    after: int | None

    def as_json(self) -> dict[str, Any]:
        """JSON object (see docs/dry-run.md)."""
        return {"sequence": self.sequence, "before": self.before, "after": self.after}


@dataclass
class StatementReport:
    """What one statement did in the dry run.

    :ivar executed: ``False`` for statements that cannot run in a transaction
        block (and transaction control), with ``note`` saying why.
    :ivar duration_ms: measured wall-clock duration in milliseconds (``None`` if not executed).
    :ivar rows: rows affected as reported by PostgreSQL (``None``: not applicable).
    """

    line: int
    sql: str
    kind: str
    executed: bool
    note: str | None = None
    duration_ms: float | None = None
    rows: int | None = None
    locks: list[LockTaken] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    sequences: list[SequenceAdvance] = field(default_factory=list)
    risk: Risk = Risk.SAFE
    reasons: list[str] = field(default_factory=list)
    predicted_ms: float | None = None
    predicted_ms_low: float | None = None
    predicted_ms_high: float | None = None
    target_rows: int | None = None
    target_bytes: int | None = None
    predicted_table: str | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON object (see docs/dry-run.md); the ``predicted_*``/``target_*`` keys only when predicted
        (a shadow preflight, see :mod:`.predict`)."""
        doc = {
            "line": self.line, "sql": self.sql, "kind": self.kind, "executed": self.executed, "note": self.note,
            "duration_ms": None if self.duration_ms is None else round(self.duration_ms, 3), "rows": self.rows,
            "locks": [lk.as_json() for lk in self.locks], "rewritten": self.rewritten,
            "sequences": [s.as_json() for s in self.sequences], "risk": self.risk.label, "reasons": self.reasons,
        }
        if self.predicted_ms is not None:
            doc.update(predicted_ms=round(self.predicted_ms, 1),
                       predicted_ms_low=round(self.predicted_ms_low or 0.0, 1),
                       predicted_ms_high=round(self.predicted_ms_high or 0.0, 1),
                       target_rows=self.target_rows, target_bytes=self.target_bytes)
        return doc


@dataclass
class MigrationReport:
    """What one migration did in the dry run: its statements and its risk (the highest of them).

    :ivar status: ``applied`` (ran, then rolled back with everything else),
        ``failed``, ``not-executed`` (it runs outside a transaction, so nothing of
        it could run in the dry run's; its statements carry the locks they would
        take) or ``pending`` (not reached: an earlier migration failed).
    :ivar executed: ``False`` once a statement was left out because the
        migration runs outside a transaction.
    """

    version: int
    name: str
    status: str = "pending"
    executed: bool = True
    duration_ms: float | None = None
    error: str | None = None
    statements: list[StatementReport] = field(default_factory=list)

    @property
    def risk(self) -> Risk:
        """The highest risk of its statements (``safe`` when it has none)."""
        return max((s.risk for s in self.statements), default=Risk.SAFE)

    @property
    def reasons(self) -> list[str]:
        """Why the risk is what it is (deduplicated, in order)."""
        out: list[str] = []
        for s in self.statements:
            for r in s.reasons:
                if r not in out:
                    out.append(r)
        return out

    def locks(self) -> list[LockTaken]:
        """The strongest lock per relation over all its statements."""
        best: dict[str, LockTaken] = {}
        for s in self.statements:
            for lk in s.locks:
                cur = best.get(lk.relation)
                if cur is None or strongest([cur.mode, lk.mode]) == lk.mode:
                    best[lk.relation] = lk
        return list(best.values())

    def as_json(self) -> dict[str, Any]:
        """JSON object (see docs/dry-run.md)."""
        return {
            "version": str(self.version), "name": self.name, "status": self.status,
            "duration_ms": None if self.duration_ms is None else round(self.duration_ms, 3), "error": self.error,
            "risk": self.risk.label, "reasons": self.reasons, "locks": [lk.as_json() for lk in self.locks()],
            "rewritten": sorted({t for s in self.statements for t in s.rewritten}),
            "sequences": [q.as_json() for s in self.statements for q in s.sequences],
            "statements": [s.as_json() for s in self.statements],
        }


@dataclass
class DryRunReport:
    """The whole dry run: per migration reports, sequences put back, the overall risk.

    :ivar where: ``"target"`` (measured on the target database, rolled back), ``"shadow"`` (on a shadow
        database) or ``"copy"`` (on a copy of the embedded development server's database, see
        :func:`~.devcopy.dev_copy_dry_run`).
    :ivar shadow: for a shadow preflight, what the shadow was (see :func:`~.run.shadow_dry_run`).
    """

    migrations: list[MigrationReport]
    lock_timeout: str | None
    server_version: int
    sequences_restored: list[str] = field(default_factory=list)
    sequences_not_restored: list[str] = field(default_factory=list)
    sequences_not_restored_reasons: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    where: str = "target"
    shadow: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """Whether every migration ran without error."""
        return self.error is None and all(m.status != "failed" for m in self.migrations)

    @property
    def risk(self) -> Risk:
        """The highest risk of any migration."""
        return max((m.risk for m in self.migrations), default=Risk.SAFE)

    def as_json(self) -> dict[str, Any]:
        """The document ``migrate up --dry-run --format json`` prints (schema: docs/dry-run.schema.json)."""
        return {
            "dry_run": True, "ok": self.ok, "error": self.error, "risk": self.risk.label,
            "lock_timeout": self.lock_timeout, "server_version": self.server_version,
            "sequences_note": SEQUENCE_NOTE, "sequences_restored": self.sequences_restored,
            "sequences_not_restored": self.sequences_not_restored,
            "sequences_not_restored_reasons": self.sequences_not_restored_reasons,
            "migrations": [m.as_json() for m in self.migrations],
            "where": self.where, "shadow": self.shadow,
        }



def build_report(reports: Mapping[int, MigrationReport], result: RunResult | None, server_version: int,
                 lock_timeout: str | None) -> DryRunReport:
    """Merge the runner's results (status, duration, error) into the measured reports of each migration.

    Migrations the run planned but did not reach (after a failure) are listed as
    ``pending``; the report's ``error`` is the first failure's message.

    :param reports: the observer's report per version (see ``MeasuringObserver.reports``).
    """
    results: Sequence[MigrationResult] = result.results if result else []
    out: list[MigrationReport] = []
    for r in results:
        rep = reports.get(r.version) or MigrationReport(r.version, r.name)
        rep.status, rep.duration_ms, rep.error = r.status, r.duration_ms, r.error
        if rep.status == "applied" and not rep.executed:
            rep.status = "not-executed"
        out.append(rep)
    reached = {r.version for r in results}
    out.extend(MigrationReport(m.version, m.name) for m in (result.planned if result else ())
               if m.version not in reached)
    error = next((r.error or "migration failed" for r in results if r.status == "failed"), None)
    return DryRunReport(out, lock_timeout, server_version, error=error)


#: the attribute of an exception that stopped a dry run holding the report of what was measured
_REPORT_ATTRIBUTE = "dry_run_report"


def attach_report(exc: BaseException, report: DryRunReport) -> None:
    """Attach ``report`` to the exception that stopped the dry run (read back with :func:`partial_report`)."""
    setattr(exc, _REPORT_ATTRIBUTE, report)


def partial_report(exc: BaseException) -> DryRunReport | None:
    """The report of a dry run that ``exc`` stopped (the migrations measured so far and those planned), if any.

    :func:`~confiture_core.dryrun.dry_run` attaches it to whatever escapes it (a
    validation error, a run-level hook's failure, a database or internal error), so
    that the CLI can still print the report document; the exception itself is raised
    unchanged, so its type still decides the message and the exit code.
    """
    rep = getattr(exc, _REPORT_ATTRIBUTE, None)
    return rep if isinstance(rep, DryRunReport) else None


def lock_pairs(m: MigrationReport | None, tables_only: bool = False) -> set[tuple[str, str]]:
    """The (relation, mode) pairs of the locks ``m``'s executed statements took, to compare two runs.

    ACCESS SHARE on an index is left out: PostgreSQL takes it or not depending on the
    backend's relation cache, not on the statement (a ``CREATE TABLE ... REFERENCES t``
    opens t's primary key index only while the cache of t's index columns is cold).

    :param tables_only: only tables, views, materialized views and foreign tables (what the
        risk is judged on).
    """
    kinds = {KIND_NAMES[k] for k in TABLE_KINDS}
    return {(lk.relation, lk.mode) for s in (m.statements if m else []) if s.executed for lk in s.locks
            if not (lk.kind == "index" and lk.mode == "ACCESS SHARE") and (not tables_only or lk.kind in kinds)}
