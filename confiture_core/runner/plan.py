"""Reads only: the files against the tracking table (status, problems) and what a run would do (plan up/down)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg

from ..backfill import BackfillStore, UnfinishedBackfill
from ..config import Config
from ..errors import ConfigError, ConfitureError, HistoryError, MigrationFileError
from ..history import History
from ..hookcaller import Hooks
from ..migrations import Direction, Migration, discover
from ..paths import shown
from ..sql import trusted_parsing
from ..words import count
from .invalid_indexes import drop_sql, find_invalid, invalid_left, named_by

Conn = psycopg.Connection[Any]

#: how a failure message names the invalid indexes a CREATE INDEX CONCURRENTLY left behind
INVALID_INDEX_MARK = "it left an INVALID index:"


@dataclass
class StatusEntry:
    """One line of ``migrate status``.

    :ivar state: ``applied``, ``pending``, ``failed``, ``changed`` (file edited
        after it was applied), ``missing`` (applied, file gone), ``baseline`` (the
        baseline marker), ``below-baseline`` (covered by the baseline) or
        ``backfill-unfinished`` (applied, but a batched backfill it started has not
        finished: ``error`` says which, and whether its plugin is loaded).
    :ivar backfills: the unfinished backfills of an applied migration.
    """

    version: int
    name: str
    applied: bool
    state: str
    applied_at: str | None = None
    execution_ms: float | None = None
    applied_by: str | None = None
    file: str | None = None
    error: str | None = None
    backfills: list[UnfinishedBackfill] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The JSON object of ``migrate status --format json`` (version as a string)."""
        return {
            "version": str(self.version),
            "name": self.name,
            "applied": self.applied,
            "state": self.state,
            "applied_at": self.applied_at,
            "execution_ms": self.execution_ms,
            "applied_by": self.applied_by,
            "file": self.file,
            "error": self.error,
        }


@dataclass
class Problem:
    """A disagreement between the tracking table and the files (``migrate validate``)."""

    version: int
    kind: Literal["changed", "missing", "failed", "invalid", "finding", "backfill", "invalid-index"]
    message: str
    level: str = "error"


def refusal(summary: str, items: Sequence[str], *, files_only: bool) -> MigrationFileError | HistoryError:
    """The error refusing a run for several reasons: ``summary: item`` when there is one, else ``summary``
    with a count on the first line and one item per line below it.

    :param files_only: every reason is a migration file that cannot run: a usage error
        (:class:`MigrationFileError`, exit 2); else a :class:`HistoryError` (exit 1).
    """
    text = (f"{summary}: {items[0]}" if len(items) == 1 else
            f"{summary} ({len(items)} problems, nothing was changed):\n" + "\n".join(f"  {i}" for i in items))
    return MigrationFileError(text) if files_only else HistoryError(text)


class Planner:
    """The reads a run starts with; it writes nothing and takes no lock stronger than ACCESS SHARE.

    :param conn: the runner's connection.
    :param config: the project's configuration.
    :param hooks: the hook facade (asked only which plugins implement ``confiture_backfill``).
    :param history: the tracking table.
    :param migrations: already discovered migrations (else discovered on first use).
    """

    def __init__(self, conn: Conn, config: Config, hooks: Hooks, history: History,
                 migrations: list[Migration] | None = None) -> None:
        self.conn = conn
        self.config = config
        self.hooks = hooks
        self.history = history
        self._migrations = migrations

    def migrations(self) -> list[Migration]:
        """The migrations on disk, by version (see :func:`confiture_core.migrations.discover`).

        Discovered once, so each file is read, parsed or imported once.

        :raises MigrationFileError: no migrations folder, or a file name or Python file is invalid.
        """
        if self._migrations is None:
            self._migrations = discover(self.config.migrations_dir)
        return self._migrations

    def by_version(self) -> dict[int, Migration]:
        """:meth:`migrations` keyed by version."""
        return {m.version: m for m in self.migrations()}

    def status(self) -> list[StatusEntry]:
        """Every migration on disk and every tracking row, merged by version."""
        files = self.by_version()
        rows = {r.version: r for r in self.history.rows()}
        unfinished: dict[int, list[UnfinishedBackfill]] = {}
        if rows:
            for b in BackfillStore(self.conn, self.history).unfinished():
                unfinished.setdefault(b.version, []).append(b)
        baseline = max((r.version for r in rows.values() if r.kind == "baseline"), default=None)
        out: list[StatusEntry] = []
        for v in sorted(set(files) | set(rows)):
            m, r = files.get(v), rows.get(v)
            name = m.name if m else (r.name if r else "")
            rel = str(m.up_path.relative_to(self.config.project_dir)) if m and m.up_path.is_relative_to(
                self.config.project_dir) else (str(m.up_path) if m else None)
            if r is None:
                below = baseline is not None and v <= baseline
                out.append(StatusEntry(v, name, below, "below-baseline" if below else "pending", file=rel))
                continue
            if r.kind == "baseline":
                state = "baseline"
            elif not r.success:
                state = "failed"
            elif m is None:
                state = "missing"
            elif r.checksum != m.checksum:
                state = "changed"
            else:
                state = "applied"
            error = r.error
            if state == "failed" and m is not None:
                error = f"{error or 'no detail'}{self.invalid_index_hint(m)}"
            backfills = unfinished.get(v, [])
            if state == "applied" and backfills:
                state = "backfill-unfinished"
                error = "; ".join(self.describe_unfinished(b) for b in backfills)
            out.append(StatusEntry(
                v, name, r.success, state, r.applied_at.isoformat(), round(r.execution_ms, 3),
                r.applied_by, rel, error, backfills,
            ))
        return out

    def describe_unfinished(self, b: UnfinishedBackfill) -> str:
        """``backfill 'x' of plugin 'p' is unfinished (...)``, saying whether its plugin is loaded."""
        loaded = b.plugin in self.hooks.implementers("confiture_backfill")
        return (f"backfill {b.name!r} of plugin {b.plugin!r} is unfinished ({count(b.batches, 'batch', 'batches')}, "
                f"{count(b.rows, 'row')} so far)" + ("" if loaded else f", and plugin {b.plugin!r} is not loaded"))

    def problems(self, entries: Sequence[StatusEntry] | None = None) -> list[Problem]:
        """Changed, missing and failed migrations, unparsable pending files, and
        unfinished backfills (their data change is incomplete: a problem, though
        ``migrate up`` resumes rather than refuses them)."""
        entries = self.status() if entries is None else entries
        out = self.blocking_problems(entries)
        for e in entries:
            if e.state == "backfill-unfinished":
                missing = sorted({b.plugin for b in e.backfills}
                                 - self.hooks.implementers("confiture_backfill"))
                plugins = "plugin" if len(missing) == 1 else "plugins"
                todo = (f"load {plugins} {', '.join(map(repr, missing))}, then run `confiture migrate up` to finish "
                        "it" if missing else "run `confiture migrate up` to finish it")
                out.append(Problem(e.version, "backfill", f"migration {e.version} ({e.name}): {e.error}; {todo}"))
        out.extend(self.invalid_index_problems(entries))
        return out

    def invalid_index_problems(self, entries: Sequence[StatusEntry]) -> list[Problem]:
        """Applied migrations whose CREATE INDEX CONCURRENTLY left an INVALID index (a build that failed or
        was killed after the row said applied, or a REINDEX CONCURRENTLY of it interrupted since); one
        catalog read when the database has none (see :func:`.invalid_indexes.invalid_left`)."""
        files = self.by_version()
        applied = [files[e.version] for e in entries if e.applied and e.version in files]
        return [Problem(m.version, "invalid-index",
                        f"migration {m.version} ({m.name}): index {', '.join(found)} is INVALID (never used by "
                        f"queries, still maintained on every write): run `{drop_sql(found)}` and build it again "
                        "with CREATE INDEX CONCURRENTLY in a new migration")
                for m, found in invalid_left(self.conn, applied)]

    def blocking_problems(self, entries: Sequence[StatusEntry]) -> list[Problem]:
        """Changed, missing and failed migrations, and unparsable pending files: what blocks ``up``."""
        out: list[Problem] = []
        for e in entries:
            if e.state == "failed":
                todo = "" if e.error and (INVALID_INDEX_MARK in e.error or "confiture migrate repair" in e.error) \
                    else "; fix the database by hand, then run `confiture migrate repair`"
                out.append(Problem(e.version, "failed",
                                   f"migration {e.version} ({e.name}) failed: {e.error or 'no detail'}{todo}"))
            elif e.state == "changed":
                out.append(Problem(e.version, "changed",
                                   f"{e.file}: changed after it was applied (checksum differs); revert the edit "
                                   "or, after review, run `confiture migrate repair`"))
            elif e.state == "missing":
                out.append(Problem(e.version, "missing",
                                   f"migration {e.version} ({e.name}) was applied but its file is gone; restore "
                                   "it or run `confiture migrate repair`"))
        files = self.by_version()
        pending = [files[e.version] for e in entries if e.state == "pending"]
        parse_errors: dict[int, MigrationFileError] = {}
        with trusted_parsing():  # nothing but parsing in this block (see trusted_parsing)
            for m in pending:
                try:  # the AST of a plainly transactional file is built when it runs (see Migration.preflight)
                    m.preflight("up")
                except MigrationFileError as exc:
                    parse_errors[m.version] = exc
        for m in pending:
            try:
                if m.version in parse_errors:
                    raise parse_errors[m.version]
                m.is_transactional("up", mixed=self.config.mixed)
            except MigrationFileError as exc:
                out.append(Problem(m.version, "invalid", str(exc)))
        return out

    def plan_up(self, target: int | None, entries: Sequence[StatusEntry] | None = None) -> list[Migration]:
        """The pending migrations up to and including ``target`` (``None``: all), in order.

        :param entries: the :meth:`status` already read (else read here).
        """
        entries = self.status() if entries is None else entries
        state = {e.version: e.state for e in entries}
        return [m for m in self.migrations()
                if state[m.version] == "pending" and (target is None or m.version <= target)]

    def plan_down(self, target: int | None) -> list[Migration]:
        """The applied migrations newer than ``target`` (default: the latest one), newest first.

        :raises HistoryError: a failed row, a target below the baseline, or (every one
            named at once) migrations whose file or down file is gone.
        :raises MigrationFileError: down files that cannot be parsed (when they are the only refusals).
        """
        rows = {r.version: r for r in self.history.rows()}
        failed = [r for r in rows.values() if not r.success]
        if failed:
            raise HistoryError(f"migration {failed[0].version} ({failed[0].name}) is marked failed; run "
                               "`confiture migrate repair` first")
        applied = sorted((v for v, r in rows.items() if r.kind == "migration"), reverse=True)
        to_revert = applied[:1] if target is None else [v for v in applied if v > target]
        baselines = [v for v, r in rows.items() if r.kind == "baseline"]
        if target is not None and baselines and target < max(baselines):
            raise HistoryError(f"cannot revert below the baseline at version {max(baselines)}")
        files = self.by_version()
        plan: list[Migration] = []
        refused: list[ConfitureError] = []
        for v in to_revert:  # every migration checked before anything runs; every refusal named at once
            m = files.get(v)
            if m is None:
                refused.append(HistoryError(f"migration {v} ({rows[v].name}) is applied but its file is gone; "
                                            "cannot revert it"))
            elif not m.has_down():
                add = f"{v}_{m.name}.down.sql" if m.kind == "sql" else "a down(conn) function to it"
                refused.append(MigrationFileError(f"{shown(m.up_path)}: no down migration; add {add} "
                                            "or stop the revert above it with --to"))
            else:
                try:
                    m.is_transactional("down", mixed=self.config.mixed)
                except MigrationFileError as exc:
                    refused.append(exc)
                plan.append(m)
        if len(refused) == 1:
            raise refused[0]
        if refused:
            raise refusal("refusing to revert", [str(e) for e in refused],
                          files_only=all(isinstance(e, MigrationFileError) for e in refused))
        return plan

    def check_target(self, target: int | None, direction: Direction) -> None:
        """Refuse a ``--to`` version that no migration has (a typo would otherwise apply or revert
        everything). Known: the versions of the files and of the tracking table's rows; for ``down``, also
        0 (revert everything).

        :raises ConfigError: naming the version and the nearest known ones.
        """
        if target is None or (direction == "down" and target == 0):
            return
        known = {m.version for m in self.migrations()} | {r.version for r in self.history.rows()}
        if target in known:
            return
        everything = "; --to 0 reverts every migration" if direction == "down" else ""
        raise ConfigError(f"--to {target}: no migration has version {target} (nearest: {_nearest(known, target)}); "
                          f"give a migration's version{everything}")

    def check_baseline(self, version: int) -> None:
        """Refuse a baseline ``version`` that no migration file has while files below it exist: they would
        all count as applied without a word (a mistyped timestamp). A version below every file (adopting an
        existing database whose history has no files here, as Flyway's ``baselineVersion``) is accepted.

        :raises ConfigError: naming the version, the nearest files and how many would be skipped.
        """
        files = {m.version for m in self.migrations()}
        skipped = sum(1 for v in files if v < version)
        if version in files or not skipped:
            return
        raise ConfigError(f"baseline {version}: no migration has version {version} (nearest: "
                          f"{_nearest(files, version)}); it would mark {count(skipped, 'migration')} below it as "
                          "applied: "
                          "give the version of the last migration the database already has")

    def check_order(self, plan: Sequence[Migration], entries: Sequence[StatusEntry]) -> str | None:
        """Apply ``out_of_order`` to pending migrations older than the newest applied one.

        :returns: the warning to show (``out_of_order = "warn"``), or ``None``.
        :raises HistoryError: ``out_of_order = "refuse"`` and there are some (every one named).
        """
        newest = max((e.version for e in entries if e.applied), default=None)
        late = [m for m in plan if newest is not None and m.version < newest]
        if not late or self.config.out_of_order == "allow":
            return None
        where = self.config.config_file.name if self.config.config_file else "the configuration"
        if self.config.out_of_order == "refuse":
            files = "\n".join(f"  {shown(m.up_path)}" for m in late)
            raise HistoryError(f"refusing to migrate: {count(len(late), 'pending migration')} older than the newest "
                               f"applied one ({newest}), and out_of_order = \"refuse\" in {where}: give them versions "
                               f"above {newest}, or set out_of_order = \"allow\" (nothing was changed):\n{files}")
        verb = "is" if len(late) == 1 else "are"
        return (f"{count(len(late), 'pending migration')} {verb} older than the newest applied one ({newest}), "
                f"e.g. {shown(late[0].up_path)}; applying them out of order "
                f'(out_of_order = "allow" in {where} silences this, "refuse" stops the run)')

    def invalid_index_hint(self, m: Migration) -> str:
        """``"; it left invalid index ...: run DROP INDEX CONCURRENTLY IF EXISTS ...; then repair"``, for the
        indexes that ``m``'s CREATE INDEX CONCURRENTLY statements name and that are INVALID (a failed,
        cancelled or killed build leaves one behind); ``""`` when there is none. A catalog read (pg_index)."""
        found = find_invalid(self.conn, named_by(m))
        if not found:
            return ""
        drops = drop_sql(found)
        return (f"; {INVALID_INDEX_MARK} {', '.join(found)}: run `{drops}` then `confiture migrate repair`, "
                "which makes the migration pending again")


def _nearest(known: set[int], target: int) -> str:
    """The known versions just below and above ``target``, for an error message (``"none"`` if neither)."""
    below = max((v for v in known if v < target), default=None)
    above = min((v for v in known if v > target), default=None)
    return ", ".join(f"{v} {where}" for v, where in ((below, "below"), (above, "above")) if v is not None) or "none"
