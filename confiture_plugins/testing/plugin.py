"""The pytest plugin (entry point ``pytest11``): options, ini settings and the ``confiture_*`` fixtures.

Loading it costs nothing: it adds options and fixtures, and imports psycopg,
Confiture's runner or pytest-postgresql only when a test asks for a ``confiture_*``
fixture; no server is started, no database made, before that.

Fixtures (see each one's docstring): ``confiture_project`` and ``confiture_server``,
``confiture_settings`` and ``confiture_templates`` (session), ``confiture_db_at``,
``confiture_db`` and ``confiture_runner`` (one per test).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from confiture_core.runner import Runner

    from .databases import ConfitureDatabase, DatabaseFactory, Templates
    from .project import ConfitureProject
    from .server import TestServer
    from .settings import Settings

_STARTED = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--confiture-project``, ``--confiture-server-url`` and the ``confiture_*`` ini settings."""
    group = parser.getgroup("confiture", "Confiture migrations (confiture_* fixtures)")
    group.addoption("--confiture-project", dest="confiture_project", metavar="DIR", default=None,
                    help="the Confiture project to test (its confiture.toml is searched from DIR upwards); "
                         "default: the confiture_project ini setting, else the rootdir")
    group.addoption("--confiture-server-url", dest="confiture_server_url", metavar="URL", default=None,
                    help="admin URL of the PostgreSQL server the test databases are made on (a role with "
                         "CREATEDB); default: $CONFITURE_TEST_SERVER_URL, else the project's embedded server")
    parser.addini("confiture_project", "the Confiture project folder, relative to the ini file (default: rootdir)",
                  default="")
    parser.addini("confiture_stairway_start", "the first version the stairway and the exact-revert check walk "
                  "(older migrations are applied once, not reverted)", default="")
    parser.addini("confiture_irreversible", "versions the stairway applies without reverting", type="args",
                  default=[])
    parser.addini("confiture_prelude", "SQL files loaded into the empty database before any migration "
                  "(extensions, schemas the migrations expect)", type="paths", default=[])
    parser.addini("confiture_lint_fail_on", "test_lint_clean fails on findings at or above this level: "
                  "error or warning", default="error")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Say that the session started the embedded server, which stays running, and how to stop it."""
    message = config.stash.get(_STARTED, None)
    if message:
        terminalreporter.write_line(message)


def _usage(message: str) -> pytest.UsageError:
    return pytest.UsageError(message)


def _version(text: str, what: str) -> int:
    if not text.strip().isdigit():
        raise _usage(f"{what} = {text!r}: expected a migration version (a non-negative integer)")
    return int(text)


@pytest.fixture(scope="session")
def confiture_settings(pytestconfig: pytest.Config) -> Settings:
    """The built-in tests' settings (:class:`~confiture_plugins.testing.Settings`) from the ini options
    ``confiture_stairway_start``, ``confiture_irreversible``, ``confiture_lint_fail_on`` and ``confiture_prelude``
    (paths relative to the ini file)."""
    from .checks import LINT_LEVELS
    from .settings import Settings

    start = str(pytestconfig.getini("confiture_stairway_start")).strip()
    level = str(pytestconfig.getini("confiture_lint_fail_on")).strip() or "error"
    if level not in LINT_LEVELS:
        raise _usage(f"confiture_lint_fail_on = {level!r}: expected one of {', '.join(LINT_LEVELS)}")
    irreversible = frozenset(_version(v, "confiture_irreversible")
                             for v in pytestconfig.getini("confiture_irreversible"))
    prelude = tuple(Path(p) for p in pytestconfig.getini("confiture_prelude"))
    missing = [str(p) for p in prelude if not p.is_file()]
    if missing:
        raise _usage(f"confiture_prelude: no such file: {', '.join(missing)}")
    return Settings(_version(start, "confiture_stairway_start") if start else None, irreversible, level, prelude)


@pytest.fixture(scope="session")
def confiture_project(pytestconfig: pytest.Config) -> ConfitureProject:
    """The project under test (:class:`~confiture_plugins.testing.ConfitureProject`): its configuration
    (without any database URL), migrations and plugins; from ``--confiture-project DIR``, else the
    ``confiture_project`` ini setting, else the rootdir (``confiture.toml`` searched upwards)."""
    from confiture_core.errors import ConfitureError

    from .project import ConfitureProject

    option = pytestconfig.getoption("confiture_project")
    ini = str(pytestconfig.getini("confiture_project")).strip()
    if option:
        root = pytestconfig.invocation_params.dir / option
    elif ini:
        root = (pytestconfig.inipath.parent if pytestconfig.inipath else pytestconfig.rootpath) / ini
    else:
        root = pytestconfig.rootpath
    try:
        project = ConfitureProject.load(Path(root))
        project.migrations  # noqa: B018  (a missing folder is said once, here)
    except ConfitureError as exc:
        message = f"confiture: {exc}"
    else:
        return project
    pytest.fail(message, pytrace=False)  # outside the except: no "during handling" chain


@pytest.fixture(scope="session")
def confiture_server(pytestconfig: pytest.Config, confiture_project: ConfitureProject) -> TestServer:
    """The PostgreSQL server the test databases are made on (:class:`~confiture_plugins.testing.TestServer`):
    ``--confiture-server-url``, else ``CONFITURE_TEST_SERVER_URL``, else the project's embedded server
    (started if needed and left running, as ``confiture`` commands leave it)."""
    from confiture_core.errors import ConfitureError

    from .server import resolve_server

    try:
        server = resolve_server(pytestconfig.getoption("confiture_server_url"), confiture_project.config.embedded_dir)
        server.major_version()  # reachable?
    except ConfitureError as exc:
        message = f"confiture: {exc}"
    else:
        message = ""
    if message:
        pytest.fail(message, pytrace=False)
    if server.started:
        pytestconfig.stash[_STARTED] = (
            f"confiture: started the embedded PostgreSQL server in {confiture_project.config.embedded_dir}; it "
            f"stays running for the next runs: stop it with `confiture -C {confiture_project.config.project_dir} "
            "server stop`")
    return server


@pytest.fixture(scope="session")
def confiture_templates(confiture_server: TestServer, confiture_project: ConfitureProject,
                        confiture_settings: Settings) -> Iterator[Templates]:
    """The session's template databases, one per version asked for (built on first use, dropped at the end)."""
    from .databases import Templates

    templates = Templates(confiture_server, confiture_project, confiture_settings.prelude)
    yield templates
    templates.drop_all()


@pytest.fixture
def confiture_db_at(confiture_templates: Templates) -> Iterator[DatabaseFactory]:
    """A factory: ``confiture_db_at(version)`` is a new database at ``version`` (0: empty; ``None``: the
    newest), a copy of a template migrated once per session; every one is dropped after the test."""
    from .databases import DatabaseFactory

    factory = DatabaseFactory(confiture_templates)
    yield factory
    factory.drop_all()


@pytest.fixture
def confiture_db(confiture_db_at: DatabaseFactory) -> ConfitureDatabase:
    """A database migrated to the newest version, for this test only
    (:class:`~confiture_plugins.testing.ConfitureDatabase`: ``.conn``, ``.url``, ``.runner()``...)."""
    from .databases import MigrationCheckFailed

    try:
        return confiture_db_at(None)
    except MigrationCheckFailed as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)


@pytest.fixture
def confiture_runner(confiture_db: ConfitureDatabase) -> Runner:
    """A Confiture :class:`~confiture_core.runner.Runner` on ``confiture_db`` (the project's config,
    migrations and plugins)."""
    return confiture_db.runner()
