"""``confiture server start|stop|status``, and the embedded server behind commands given no database URL.

Kept apart from :mod:`confiture_core.cli` so the command line itself stays small; the
server's life cycle is :mod:`confiture_core.embedded`.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .errors import ConfigError

if TYPE_CHECKING:
    from .cli import App
    from .embedded import ServerInfo, Status

_F = TypeVar("_F", bound=Callable[..., Any])

def embedded_database_url(app: App) -> str:
    """The URL of the ``confiture`` database on the project's embedded server, started when none answers.

    Says on stderr which server is used and, when this call started it, that it stays
    running and how to stop it.

    :raises ConfigError: the ``embedded`` extra is not installed.
    :raises EmbeddedServerError: the server does not start or answer.
    """
    from .embedded import EmbeddedServerError, ensure_server

    app.info(f"no database URL configured: using the embedded PostgreSQL server in {_shown(app.config.embedded_dir)} "
             "(set --database-url or DATABASE_URL to use another)")
    try:
        server, started = ensure_server(app.config.embedded_dir, say=app.info)
    except KeyboardInterrupt:
        raise EmbeddedServerError("interrupted while getting the embedded PostgreSQL server ready: nothing ran "
                                  "(the next command starts it)") from None
    if started:
        app.info(_stays_running(app, server))
    return server.url()


@click.group()
def server() -> None:
    """The project's embedded PostgreSQL server, used when no database URL is configured.

    The first command that needs it starts it, and it stays running between commands.
    """


def _format_option() -> Callable[[_F], _F]:
    """The CLI's ``--format text|json`` option (imported late: :mod:`.cli` imports this module)."""
    from .cli import format_option

    return format_option


@server.command("start")
@_format_option()
def server_start(fmt: str) -> None:
    """Start the embedded server (nothing to do when it already runs)."""
    from .embedded import ensure_server

    app = _app()
    if app.config.config_file is None:
        raise ConfigError(f"no confiture.toml here or above {_shown(app.project or Path.cwd())}: run `confiture "
                          "init` first, or give the project with -C DIR")
    _note_database_url(app)
    info, started = ensure_server(app.config.embedded_dir, say=app.info)
    if fmt == "json":
        _emit({"ok": True, "state": "running", "started": started, **info.as_json()})
        return
    if started:
        _say(_stays_running(app, info))
    else:
        _say(f"the embedded PostgreSQL server in {_shown(info.data_dir)} is already running (pid {info.pid})")


@server.command("stop")
@_format_option()
def server_stop(fmt: str) -> None:
    """Stop the embedded server; one that is not running is fine.

    Open sessions are ended (`pg_ctl stop -m fast`).
    """
    from .embedded import stop_server

    app = _app()
    data_dir = app.config.embedded_dir
    stopped = stop_server(data_dir, say=app.info)
    if fmt == "json":
        _emit({"ok": True, "state": "stopped", "stopped": stopped is not None, "data_dir": str(data_dir.absolute()),
               "pid": None if stopped is None else stopped.pid})
    elif stopped is None:
        _say(f"the embedded PostgreSQL server in {_shown(data_dir)} is not running: nothing to stop")
    else:
        _say(f"stopped the embedded PostgreSQL server in {_shown(data_dir)} (pid {stopped.pid})")


@server.command("status")
@_format_option()
def server_status_cmd(fmt: str) -> None:
    """Show whether the embedded server runs (exit 0) or not (exit 1).

    Exit 1 also when its postmaster lives but does not answer; `pg_ctl status` exits
    non-zero (3) alike. Exit 2 for a configuration error.
    """
    from .embedded import server_status

    app = _app()
    data_dir = app.config.embedded_dir
    _note_database_url(app)
    status = server_status(data_dir)
    if fmt == "json":
        _emit(_status_json(status, data_dir))
    else:
        _say(_status_line(status, data_dir))
        if status.server is not None and status.state == "running":
            _say(f"url: {status.server.url()}")
    if status.state != "running":
        raise SystemExit(1)


def _status_json(status: Status, data_dir: Path) -> dict[str, Any]:
    info: dict[str, Any] = {"data_dir": str(data_dir.absolute()), "pid": None, "socket": None, "url": None}
    if status.server is not None:
        info.update(status.server.as_json())
    return {"ok": status.state == "running", "state": status.state, "running": status.state == "running",
            "version": status.version, **info}


def _status_line(status: Status, data_dir: Path) -> str:
    where = f"the embedded PostgreSQL server in {_shown(data_dir)}"
    if status.server is None:
        return f"{where} is not running (the next command that needs it starts it, or `confiture server start`)"
    if status.state == "not responding":
        return (f"{where} does not answer (pid {status.server.pid}): it is starting, stopping or hung; see "
                f"{_shown(data_dir / 'log')}")
    socket = status.server.socket_dir / f".s.PGSQL.{status.server.port}"
    return f"{where} is running: pid {status.server.pid}, PostgreSQL {status.version}, socket {_shown(socket)}"


def _stays_running(app: App, info: ServerInfo) -> str:
    command = ["confiture"] + (["-C", _shown(app.project)] if app.project is not None else []) + ["server", "stop"]
    return (f"started the embedded PostgreSQL server (pid {info.pid}); it stays running for the next commands: "
            f"stop it with `{shlex.join(command)}`")


def _note_database_url(app: App) -> None:
    if app.config.database_url:
        app.info(f"note: a database URL is configured (from {app.config.database_url_source}); the other commands "
                 "use it, not the embedded server")


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when inside it, else absolute."""
    path = path.absolute()
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


def _app() -> App:
    from .cli import _app as app

    return app()


def _emit(doc: Any) -> None:
    from .cli import _emit_json

    _emit_json(doc)


def _say(message: str) -> None:
    from .cli import err_console

    err_console.print(message, markup=False)
