"""Statement durations on a shadow database as ``migrate up`` applies them: committed per migration, on copies."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pluggy
import psycopg

from .. import hookspecs
from ..config import Config
from ..errors import ConfitureError
from ..hookcaller import Hooks
from ..hookspecs import MigrationResult
from ..migrations import Migration
from ..runner import NullReporter, Runner
from ..sql import Statement
from .sample import match_index_build_workers
from .shadow import ShadowServer, connect, database_of, scratch_database

Conn = psycopg.Connection[Any]
#: a statement's key: (migration version, position among the statements the runner reported for it)
Key = tuple[int, int]
Timings = Mapping[Key, Sequence[float]]


class _Timer(NullReporter):
    """A :class:`~confiture_core.runner.StatementObserver` that keeps each executed statement's duration (ms) and the
    WAL it wrote (bytes, see :func:`wal_insert_lsn`), and a :class:`~confiture_core.runner.Reporter` that adds to
    the durations their share of their migration's end (its tracking row and ``COMMIT``: see :func:`share_commit`).

    :param conn: the apply's connection, for the WAL positions (``None``: durations only).
    """

    def __init__(self, conn: Conn | None = None) -> None:
        self.ms: dict[Key, float] = {}
        self.wal: dict[Key, int] = {}
        self.commit: dict[Key, float] = {}  # each statement's share of its migration's end (ms), in ``ms`` too
        self._conn = conn
        self._lsn: int | None = None  # the WAL insert position before the current statement
        self._next: dict[int, int] = {}
        self._last: float | None = None  # when the current migration's last statement ended (perf_counter, s)
        self._executed: list[Key] = []  # the current migration's executed statements

    def _key(self, migration: Migration) -> Key:
        i = self._next.get(migration.version, 0)
        self._next[migration.version] = i + 1
        return migration.version, i

    def before_statement(self, migration: Migration, statement: Statement) -> None:
        self._lsn = wal_insert_lsn(self._conn) if self._conn is not None else None

    def after_statement(self, migration: Migration, statement: Statement, duration_ms: float, rowcount: int) -> None:
        key = self._key(migration)
        self.ms[key] = duration_ms
        if self._lsn is not None and self._conn is not None:
            self.wal[key] = max(wal_insert_lsn(self._conn) - self._lsn, 0)
        self._executed.append(key)
        self._last = time.perf_counter()

    def migration_started(self, migration: Migration) -> None:
        self._executed, self._last = [], None

    def migration_done(self, result: MigrationResult) -> None:
        if self._last is not None and result.status == "applied":
            self.commit.update(share_commit(self.ms, self._executed, (time.perf_counter() - self._last) * 1000,
                                            self.wal))
        self._executed, self._last = [], None

    def skipped_statement(self, migration: Migration, statement: Statement, reason: str) -> None:
        self._key(migration)

    def failed_statement(self, migration: Migration, statement: Statement, duration_ms: float, error: str) -> None:
        self._key(migration)


def wal_insert_lsn(conn: Conn) -> int:
    """The server's current WAL insert position (bytes since the start of WAL: ``pg_current_wal_insert_lsn()``,
    PostgreSQL docs, "System Administration Functions", Backup Control). Its difference around a statement is
    the WAL the statement wrote (plus any other session's at the same moment: on a busy shadow server, more).

    :raises psycopg.Error: the server refused (a standby, where no WAL is inserted).
    """
    row = conn.execute("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint").fetchone()
    return int(row[0]) if row else 0


def share_commit(ms: dict[Key, float], executed: Sequence[Key], end_ms: float,
                 wal: Mapping[Key, int] | None = None) -> dict[Key, float]:
    """Add a migration's end (``end_ms``: from its last statement's end to its ``COMMIT``'s, the tracking row
    included) to the durations ``ms`` of its ``executed`` statements: in proportion to the WAL each wrote
    (``wal``, bytes) when that is known for all of them and not zero, else in proportion to their durations
    (all to one when they took no time).

    The lock a statement takes is held until the ``COMMIT``, and the ``COMMIT`` flushes the WAL the
    statements wrote that is not yet on disk (PostgreSQL docs, "WAL Configuration", "Asynchronous
    Commit"): on a sample that is nearly all of it (a 10,000-row rewrite writes about 1.5 MB of WAL,
    which fits in ``wal_buffers``), on a large table almost none (the statement itself wrote and
    flushed it as ``wal_buffers`` and the bulk-write ring filled). Left out, the sample's cost per row
    misses its WAL writes, which the target pays inside the statement. Shared by WAL rather than by
    duration: a statement that writes no WAL per row (``VALIDATE CONSTRAINT`` only sets hint bits) took a
    larger share of its migration's ``COMMIT`` on a larger sample only because it took longer, and that
    share then passed for a cost per row.

    :returns: each statement's share (ms), as added.
    """
    weights = [float(wal[k]) for k in executed] if wal is not None and all(k in wal for k in executed) else []
    if not weights or sum(weights) <= 0:
        weights = [ms[k] for k in executed]
    total = sum(weights)
    shares = {k: end_ms * (w / total if total > 0 else 1 / len(executed)) for k, w in zip(executed, weights,
                                                                                          strict=True)}
    for k, share in shares.items():
        ms[k] += share
    return shares


def no_plugins() -> Hooks:
    """Hooks with no plugin registered (a timed apply or a planning read runs none)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return Hooks(pm)


def timed_apply(conn: Conn, config: Config, target: int | None = None,
                wal: dict[Key, int] | None = None, commit: dict[Key, float] | None = None) -> dict[Key, float]:
    """Apply the pending migrations (up to ``target``) on ``conn`` for real, as ``migrate up`` does (each
    migration committed), without plugins, and return each executed statement's duration (ms), its share
    of its migration's ``COMMIT`` included (:func:`share_commit`). An index build gets the target's
    parallel workers (:func:`~.sample.match_index_build_workers`).

    Only ever called on a throwaway copy of a shadow database (see :func:`measure`). A failed
    migration ends the run; what ran before it is returned.

    :param conn: an autocommit connection to the copy.
    :param wal: given, receives the WAL each executed statement wrote (bytes, :func:`wal_insert_lsn`).
    :param commit: given, receives each executed statement's share of its migration's end (ms, included in the
        durations returned).
    :raises psycopg.Error: the connection failed.
    """
    match_index_build_workers(conn)
    try:
        wal_insert_lsn(conn)
        timer = _Timer(conn)
    except psycopg.Error:  # no WAL position to read (a standby cannot be a shadow; kept as a guard)
        timer = _Timer()
    runner = Runner(conn, config, no_plugins(), reporter=timer, observer=timer, plan_notices=False)
    try:
        runner.up(target)
    except ConfitureError:
        pass  # the dry run on the shadow reports the failure; the durations measured so far stand
    if wal is not None:
        wal.update(timer.wal)
    if commit is not None:
        commit.update(timer.commit)
    return timer.ms


def measure(server: ShadowServer, shadow_url: str, config: Config, target: int | None,
            repeats: int) -> dict[Key, list[float]]:
    """Each statement's durations (ms) over ``repeats`` real applies, each on a fresh copy of the shadow
    database (``CREATE DATABASE ... TEMPLATE``, dropped after; ``shadow_url`` must have no open connection).

    A real apply rather than the dry run's one rolled-back transaction: committing each migration
    is what the target will see (hint bits set by the first scan after a rewrite, foreign-key
    checks an ``UPDATE`` skips for rows not written by its own transaction: PostgreSQL docs,
    "CREATE TABLE", ``REFERENCES``; the source's ``RI_FKey_fk_upd_check_required``).

    :raises ConfigError, ShadowError: a copy cannot be made.
    :raises psycopg.Error: the shadow server failed.
    """
    return measure_alternated(server, [shadow_url], config, target, repeats)[0]


def measure_alternated(server: ShadowServer, shadow_urls: Sequence[str], config: Config, target: int | None,
                       repeats: int, wal: list[dict[Key, list[int]]] | None = None,
                       more: Callable[[list[dict[Key, list[float]]]], bool] | None = None,
                       max_repeats: int = 0,
                       commit: list[dict[Key, list[float]]] | None = None) -> list[dict[Key, list[float]]]:
    """:func:`measure` of several shadow databases (the sample sizes), alternated: each repeat applies on a copy of
    each of them in turn (A B C D A B C D ...), so that a change of the server's load in the meantime moves
    every size's durations alike instead of tilting the line fitted through them (the fixed cost, measured
    on the emptied size, and the cost per row come from the same moments).

    A failed migration ends that apply; the durations measured before it stand (the dry run says why).

    :param wal: given (empty), receives per database each statement's WAL bytes over the applies.
    :param commit: given (empty), receives per database each statement's share of its migration's end (ms) over
        the applies (see :func:`share_commit`).
    :param more: after ``repeats`` rounds, asked with the durations so far whether another round is worth it;
        at most ``max_repeats`` rounds in all.
    :returns: one mapping of each statement's durations (ms) per database, in the order of ``shadow_urls``.
    :raises ConfigError, ShadowError: a copy cannot be made.
    :raises psycopg.Error: the shadow server failed.
    """
    out: list[dict[Key, list[float]]] = [{} for _ in shadow_urls]
    wal_out: list[dict[Key, list[int]]] = [{} for _ in shadow_urls]
    commit_out: list[dict[Key, list[float]]] = [{} for _ in shadow_urls]
    done = 0
    while done < repeats or (more is not None and done < max_repeats and more(out)):
        done += 1
        for url, durations, written, ends in zip(shadow_urls, out, wal_out, commit_out, strict=True):
            one: dict[Key, int] = {}
            shares: dict[Key, float] = {}
            with scratch_database(server, template=database_of(url)) as copy, connect(copy) as conn:
                for key, ms in timed_apply(conn, config, target, one, shares).items():
                    durations.setdefault(key, []).append(ms)
            for key, b in one.items():
                written.setdefault(key, []).append(b)
            for key, share in shares.items():
                ends.setdefault(key, []).append(share)
    if wal is not None:
        wal.extend(wal_out)
    if commit is not None:
        commit.extend(commit_out)
    return out
