"""The test server (option, environment or embedded) and the databases made on it with pytest-postgresql's janitor.

Databases are created from templates with ``CREATE DATABASE ... TEMPLATE``
(pytest-postgresql's :class:`~pytest_postgresql.janitor.DatabaseJanitor`), which
copies a migrated schema in milliseconds. Names carry the pytest-xdist worker id and
a random token of the session, so parallel workers and concurrent sessions on one
server never meet: ``confiture_test_<worker>_<token>_<suffix>`` (at most 63 bytes,
PostgreSQL's ``NAMEDATALEN`` - 1).
"""

from __future__ import annotations

import itertools
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confiture_core.config import redact_url
from confiture_core.errors import ConfigError

if TYPE_CHECKING:
    import psycopg
    from pytest_postgresql.janitor import DatabaseJanitor

#: the environment variable naming the test server's admin URL (``--confiture-server-url`` wins)
SERVER_URL_ENV = "CONFITURE_TEST_SERVER_URL"
#: the prefix of every database the plugin creates
PREFIX = "confiture_test_"


def worker_id() -> str:
    """The pytest-xdist worker running this process (``gw0``, ``gw1``...), or ``main`` without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@dataclass
class TestServer:
    """A PostgreSQL server on which the plugin creates and drops its databases.

    :ivar admin_url: a libpq URL or DSN of a role allowed to ``CREATE DATABASE``, to a
        database that always exists (``postgres``); it may hold a password.
    :ivar source: where the URL came from, for messages (``--confiture-server-url``,
        ``CONFITURE_TEST_SERVER_URL`` or ``the embedded server in DIR``).
    :ivar started: the embedded server was started by this session (it is left running,
        as every ``confiture`` command leaves it: ``confiture server stop`` stops it).
    """

    __test__ = False  # not a test class, whatever its name

    admin_url: str
    source: str
    started: bool = False
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    _counter: itertools.count[int] = field(default_factory=itertools.count, repr=False)
    _params: dict[str, Any] = field(default_factory=dict, repr=False)
    _major: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from psycopg.conninfo import conninfo_to_dict

        try:
            self._params = conninfo_to_dict(self.admin_url)
        except Exception as exc:  # psycopg.ProgrammingError: not a valid URL or DSN
            raise ConfigError(f"{self.source}: not a valid PostgreSQL URL ({redact_url(self.admin_url)}): "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None

    @property
    def shown(self) -> str:
        """The admin URL with its password hidden."""
        return redact_url(self.admin_url)

    def new_name(self, suffix: str | None = None) -> str:
        """A database name of this session and worker: ``confiture_test_<worker>_<token>_<suffix>``.

        :param suffix: e.g. ``v12`` for a template; default: a counter (one per test database).
        """
        name = f"{PREFIX}{worker_id()}_{self.token}_{suffix if suffix is not None else next(self._counter)}"
        return name[:63]

    def url(self, dbname: str) -> str:
        """The admin URL with its database replaced by ``dbname``."""
        from psycopg.conninfo import make_conninfo

        return make_conninfo(self.admin_url, dbname=dbname)

    def major_version(self) -> int:
        """The server's major version (e.g. 18), asked once.

        :raises ConfigError: the server cannot be reached (password hidden in the message).
        """
        if self._major is None:
            with self.connect(str(self._params.get("dbname") or "postgres")) as conn:
                self._major = conn.info.server_version // 10000
        return self._major

    def connect(self, dbname: str) -> psycopg.Connection[Any]:
        """An autocommit psycopg connection to ``dbname`` on this server.

        :raises ConfigError: the server cannot be reached (password hidden in the message).
        """
        import psycopg

        from confiture_core.config import scrub

        try:
            return psycopg.connect(self.url(dbname), autocommit=True, prepare_threshold=None,
                                   application_name="confiture tests")
        except psycopg.OperationalError as exc:
            why = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, self.admin_url)
            raise ConfigError(f"cannot connect to the test server {self.shown} (from {self.source}): {why}") from None

    def janitor(self, dbname: str, *, template: str | None = None, as_template: bool = False) -> DatabaseJanitor:
        """pytest-postgresql's janitor for ``dbname`` on this server (``init()`` creates it, ``drop()`` drops it).

        :param template: the template database to copy (``CREATE DATABASE ... TEMPLATE``).
        :param as_template: mark the new database as a template (``IS_TEMPLATE = true``).
        """
        from pytest_postgresql.janitor import DatabaseJanitor

        p = self._params
        return DatabaseJanitor(user=str(p.get("user") or os.environ.get("PGUSER") or "postgres"),
                               host=str(p.get("host") or os.environ.get("PGHOST") or "localhost"),
                               port=str(p.get("port") or os.environ.get("PGPORT") or 5432),
                               password=str(p["password"]) if p.get("password") else None,
                               dbname=dbname, template_dbname=template, as_template=as_template,
                               maintenance_dbname=str(p.get("dbname") or "postgres"), connection_timeout=10)

    def create(self, dbname: str, *, template: str | None = None, as_template: bool = False) -> None:
        """Create ``dbname`` (a copy of ``template`` when given).

        :raises ConfigError: the server refused (no ``CREATEDB`` right, unreachable...), password hidden.
        """
        import psycopg

        from confiture_core.config import scrub

        try:
            self.janitor(dbname, template=template, as_template=as_template).init()
        except (psycopg.Error, TimeoutError) as exc:
            why = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, self.admin_url)
            raise ConfigError(f"cannot create the test database {dbname} on {self.shown} (from {self.source}): "
                              f"{why}") from None

    def load(self, dbname: str, path: Path) -> None:
        """Run the SQL file ``path`` in ``dbname`` (pytest-postgresql's loader: the whole file in one
        transaction).

        :raises ConfigError: a statement failed (the file is named, password hidden).
        """
        import psycopg

        from confiture_core.config import scrub

        try:
            self.janitor(dbname).load(path)
        except psycopg.Error as exc:
            why = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, self.admin_url)
            raise ConfigError(f"{path}: the prelude failed: {why}") from None

    def drop(self, dbname: str, *, as_template: bool = False) -> None:
        """Drop ``dbname`` (its sessions are ended first); a database already gone is fine."""
        self.janitor(dbname, as_template=as_template).drop()


def resolve_server(option_url: str | None, embedded_dir: Path) -> TestServer:
    """The test server: ``--confiture-server-url``, else ``CONFITURE_TEST_SERVER_URL``, else the embedded server.

    The embedded server is the project's own development server (``embedded_dir``,
    default ``.confiture/pgdata``), started when none answers and left running, as
    ``confiture`` commands do (see :func:`confiture_core.embedded.ensure_server`). A
    project's ``database_url`` or ``DATABASE_URL`` is never used: tests never touch the
    database the project deploys to.

    :raises ConfigError: the ``embedded`` extra is missing and no URL was given.
    :raises EmbeddedServerError: the embedded server does not start.
    """
    if option_url:
        return TestServer(option_url, "--confiture-server-url")
    env_url = os.environ.get(SERVER_URL_ENV)
    if env_url:
        return TestServer(env_url, SERVER_URL_ENV)
    from confiture_core.embedded import ensure_server

    info, started = ensure_server(embedded_dir)
    return TestServer(info.url("postgres"), f"the embedded server in {embedded_dir}", started=started)
