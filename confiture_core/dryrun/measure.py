"""Statement durations on a shadow database as ``migrate up`` applies them: committed per migration, on copies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pluggy
import psycopg

from .. import hookspecs
from ..config import Config
from ..errors import ConfitureError
from ..hookcaller import Hooks
from ..migrations import Migration
from ..runner import Runner
from ..sql import Statement
from .sample import match_index_build_workers
from .shadow import ShadowServer, connect, database_of, scratch_database

Conn = psycopg.Connection[Any]
#: a statement's key: (migration version, position among the statements the runner reported for it)
Key = tuple[int, int]
Timings = Mapping[Key, Sequence[float]]


class _Timer:
    """A :class:`~confiture_core.runner.StatementObserver` that keeps each executed statement's duration (ms)."""

    def __init__(self) -> None:
        self.ms: dict[Key, float] = {}
        self._next: dict[int, int] = {}

    def _key(self, migration: Migration) -> Key:
        i = self._next.get(migration.version, 0)
        self._next[migration.version] = i + 1
        return migration.version, i

    def before_statement(self, migration: Migration, statement: Statement) -> None:
        pass

    def after_statement(self, migration: Migration, statement: Statement, duration_ms: float, rowcount: int) -> None:
        self.ms[self._key(migration)] = duration_ms

    def skipped_statement(self, migration: Migration, statement: Statement, reason: str) -> None:
        self._key(migration)

    def failed_statement(self, migration: Migration, statement: Statement, duration_ms: float, error: str) -> None:
        self._key(migration)


def no_plugins() -> Hooks:
    """Hooks with no plugin registered (a timed apply or a planning read runs none)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return Hooks(pm)


def timed_apply(conn: Conn, config: Config, target: int | None = None) -> dict[Key, float]:
    """Apply the pending migrations (up to ``target``) on ``conn`` for real, as ``migrate up`` does (each
    migration committed), without plugins, and return each executed statement's duration (ms). An index
    build gets the target's parallel workers (:func:`~.sample.match_index_build_workers`).

    Only ever called on a throwaway copy of a shadow database (see :func:`measure`). A failed
    migration ends the run; what ran before it is returned.

    :param conn: an autocommit connection to the copy.
    :raises psycopg.Error: the connection failed.
    """
    match_index_build_workers(conn)
    timer = _Timer()
    runner = Runner(conn, config, no_plugins(), observer=timer, plan_notices=False)
    try:
        runner.up(target)
    except ConfitureError:
        pass  # the dry run on the shadow reports the failure; the durations measured so far stand
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
                       repeats: int) -> list[dict[Key, list[float]]]:
    """:func:`measure` of several shadow databases (the sample sizes), alternated: each repeat applies on a copy of
    each of them in turn (A B C D A B C D ...), so that a change of the server's load in the meantime moves
    every size's durations alike instead of tilting the line fitted through them (the fixed cost, measured
    on the emptied size, and the cost per row come from the same moments).

    A failed migration ends that apply; the durations measured before it stand (the dry run says why).

    :returns: one mapping of each statement's durations (ms) per database, in the order of ``shadow_urls``.
    :raises ConfigError, ShadowError: a copy cannot be made.
    :raises psycopg.Error: the shadow server failed.
    """
    out: list[dict[Key, list[float]]] = [{} for _ in shadow_urls]
    for _ in range(repeats):
        for url, durations in zip(shadow_urls, out, strict=True):
            with scratch_database(server, template=database_of(url)) as copy, connect(copy) as conn:
                for key, ms in timed_apply(conn, config, target).items():
                    durations.setdefault(key, []).append(ms)
    return out
