"""Test databases at a version: template databases migrated once per session, copied for each test.

A template at version V is made once per session (and per pytest-xdist worker):
a copy of the nearest template below V, migrated up to V with Confiture's
:class:`~confiture_core.runner.Runner`. Each test then gets its own copy
(``CREATE DATABASE ... TEMPLATE``, through pytest-postgresql's janitor), dropped
after the test: a test costs a database copy, not a full apply. A template database
may be copied only while no session is connected to it (PostgreSQL docs, "Template
Databases"); the janitor ends such sessions first.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from confiture_core.errors import ConfitureError

from .fingerprint import Fingerprint, fingerprint
from .project import ConfitureProject
from .server import TestServer

if TYPE_CHECKING:
    import psycopg

    from confiture_core.runner import Runner, RunResult

Direction = Literal["up", "down"]


class MigrationCheckFailed(AssertionError):
    """A migration failed, or did something other than expected, in a test; the message names it,
    the direction and what happened (shown by pytest as the test's failure)."""


@dataclass
class ConfitureDatabase:
    """A database of the test server, made for one test and dropped after it.

    :ivar name: the database's name.
    :ivar url: a libpq URL to it (it may hold the test server's password: never print it).
    :ivar project: the project whose migrations it runs.
    :ivar version: the version it was created at (0: empty).
    """

    name: str
    url: str
    project: ConfitureProject
    version: int
    _conns: list[psycopg.Connection[Any]] = field(default_factory=list, repr=False)
    _conn: psycopg.Connection[Any] | None = field(default=None, repr=False)

    def connect(self) -> psycopg.Connection[Any]:
        """A new autocommit psycopg connection to this database, closed with the database."""
        import psycopg

        conn = psycopg.connect(self.url, autocommit=True, prepare_threshold=None, application_name="confiture tests")
        self._conns.append(conn)
        return conn

    @property
    def conn(self) -> psycopg.Connection[Any]:
        """The database's autocommit connection for the test's own queries (opened on first use)."""
        if self._conn is None or self._conn.closed:
            self._conn = self.connect()
        return self._conn

    def runner(self) -> Runner:
        """A Confiture :class:`~confiture_core.runner.Runner` on a new connection to this database, with the
        project's configuration, migrations and plugins (as ``confiture migrate`` builds it)."""
        from confiture_core.runner import Runner

        config = replace(self.project.config, database_url=self.url, database_url_source="the test server")
        runner = Runner(self.connect(), config, self.project.hooks(), migrations=self.project.migrations)
        runner.apply_timeouts()
        return runner

    def migrate(self, direction: Direction, target: int | None = None, *, runner: Runner | None = None,
                step: str = "") -> RunResult:
        """``up`` to ``target`` (``None``: every pending migration), or ``down`` to ``target`` (``None``: the
        latest one only).

        :param runner: the runner to use (a new one by default).
        :param step: said in a failure's message (``"stairway, up again"``).
        :returns: the run's result, when no migration failed.
        :raises MigrationCheckFailed: a migration failed or the run was refused; the message names the
            migration, the direction and the error.
        """
        __tracebackhide__ = True
        from confiture_core.errors import ConfitureError

        runner = runner or self.runner()
        try:
            result = runner.up(target) if direction == "up" else runner.down(target)
        except ConfitureError as exc:
            where = f" ({step})" if step else ""
            raise MigrationCheckFailed(f"{direction}{where} to {target if target is not None else 'the end'} "
                                       f"was refused: {exc}") from None
        for r in result.results:
            if r.status == "failed":
                where = f", {step}" if step else ""
                raise MigrationCheckFailed(f"migration {r.version} ({r.name}), {direction}{where}: {r.error}")
        return result

    def fingerprint(self) -> Fingerprint:
        """The schema's catalog fingerprint, without the tracking table (see :mod:`.fingerprint`)."""
        from confiture_core.history import History

        history = History(self.conn, self.project.config)
        return fingerprint(self.conn, (history.schema, history.table))

    def applied_versions(self) -> list[int]:
        """The versions applied, per the tracking table, in order."""
        return [e.version for e in self.runner().status() if e.applied]

    def close(self) -> None:
        """Close every connection opened to this database."""
        for conn in self._conns:
            with contextlib.suppress(Exception):
                conn.close()
        self._conns.clear()
        self._conn = None


@dataclass
class Templates:
    """The session's template databases, one per version asked for, built lazily and dropped at the end.

    :ivar server: the test server.
    :ivar project: the project whose migrations build them.
    :ivar prelude: SQL files loaded into the empty template (version 0) that every other one is
        copied from, with pytest-postgresql's loader (the janitor's ``load``), before any migration.
    """

    server: TestServer
    project: ConfitureProject
    prelude: tuple[Path, ...] = ()
    _built: dict[int, str] = field(default_factory=dict, repr=False)
    _failed: dict[int, MigrationCheckFailed] = field(default_factory=dict, repr=False)

    def template(self, version: int) -> str:
        """The name of the template at ``version`` (0: empty, the prelude loaded), built now when needed.

        :raises MigrationCheckFailed: a migration up to ``version`` failed, or the prelude did (said
            again for every test that asks, without a new attempt).
        """
        __tracebackhide__ = True
        if version in self._failed:
            raise self._failed[version]
        if version in self._built:
            return self._built[version]
        if self.prelude and 0 not in self._built and version != 0:
            self.template(0)  # every template starts from the prelude's
        base = max((v for v in self._built if v <= version), default=None)
        name = self.server.new_name(f"v{version}")
        self.server.create(name, template=None if base is None else self._built[base], as_template=True)
        db = ConfitureDatabase(name, self.server.url(name), self.project, base or 0)
        try:
            if base is None:
                for path in self.prelude:
                    self.server.load(name, path)
            if version != 0:
                db.migrate("up", version, step=f"building the template database at version {version}")
        except (MigrationCheckFailed, ConfitureError) as exc:
            failure = exc if isinstance(exc, MigrationCheckFailed) else MigrationCheckFailed(str(exc))
            self._failed[version] = failure
            db.close()
            self.server.drop(name, as_template=True)
            raise failure from None
        db.close()
        self._built[version] = name
        return name

    def database(self, version: int | None = None) -> ConfitureDatabase:
        """A new database, a copy of the template at ``version`` (``None``: the newest on disk).

        :raises KeyError: no migration has ``version`` (0 is always fine).
        :raises MigrationCheckFailed: building the template failed.
        """
        __tracebackhide__ = True
        version = self.project.head if version is None else version
        if version != 0:
            self.project.migration(version)  # a typo is said at once
        name = self.server.new_name()
        self.server.create(name, template=self.template(version))
        return ConfitureDatabase(name, self.server.url(name), self.project, version)

    def drop(self, db: ConfitureDatabase) -> None:
        """Close ``db``'s connections and drop it."""
        db.close()
        self.server.drop(db.name)

    def drop_all(self) -> None:
        """Drop every template of the session."""
        for name in self._built.values():
            with contextlib.suppress(Exception):
                self.server.drop(name, as_template=True)
        self._built.clear()


@dataclass
class DatabaseFactory:
    """The ``confiture_db_at`` fixture: ``confiture_db_at(version)`` is a new database at ``version``
    (0: empty; ``None``: the newest on disk), dropped after the test.

    :ivar templates: the session's templates.
    """

    templates: Templates
    made: list[ConfitureDatabase] = field(default_factory=list)

    @property
    def project(self) -> ConfitureProject:
        """The project whose migrations the databases run."""
        return self.templates.project

    def __call__(self, version: int | None = None) -> ConfitureDatabase:
        """A new database at ``version``.

        :raises KeyError: no migration has ``version``.
        :raises MigrationCheckFailed: a migration up to ``version`` failed.
        """
        __tracebackhide__ = True
        db = self.templates.database(version)
        self.made.append(db)
        return db

    def drop_all(self) -> None:
        """Drop every database made (the test's end)."""
        while self.made:
            self.templates.drop(self.made.pop())
