"""``confiture server start|stop|status``: the project's embedded PostgreSQL server.

The server's life cycle is :mod:`confiture_core.embedded`; the commands that use it
when no database URL is configured get it from :meth:`~confiture_core.cli.app.App.database_url`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import ConfigError
from ..paths import shown
from .app import App, current_app
from .output import format_option

if TYPE_CHECKING:
    from ..embedded import Status


@click.group()
def server() -> None:
    """The project's embedded PostgreSQL server, used when no database URL is configured.

    The first command that needs it starts it, and it stays running between commands.
    """


@server.command("start")
@format_option
def server_start(fmt: str) -> None:
    """Start the embedded server (nothing to do when it already runs)."""
    from ..embedded import ensure_server

    app = current_app()
    if app.config.config_file is None:
        raise ConfigError(f"no confiture.toml here or above {shown(app.project or Path.cwd())}: run `confiture "
                          "init` first, or give the project with -C DIR")
    _note_database_url(app)
    info, started = ensure_server(app.config.embedded_dir, say=app.output.info)
    if fmt == "json":
        app.output.emit_json({"ok": True, "state": "running", "started": started, **info.as_json()})
        return
    if started:
        app.output.say(app.stays_running(info))
    else:
        app.output.say(f"the embedded PostgreSQL server in {shown(info.data_dir)} is already running (pid {info.pid})")


@server.command("stop")
@format_option
def server_stop(fmt: str) -> None:
    """Stop the embedded server; one that is not running is fine.

    Open sessions are ended (`pg_ctl stop -m fast`).
    """
    from ..embedded import stop_server

    app = current_app()
    data_dir = _data_dir(app)
    stopped = stop_server(data_dir, say=app.output.info)
    if fmt == "json":
        app.output.emit_json({"ok": True, "state": "stopped", "stopped": stopped is not None,
                              "data_dir": str(data_dir.absolute()), "pid": None if stopped is None else stopped.pid})
    elif stopped is None:
        app.output.say(f"the embedded PostgreSQL server in {shown(data_dir)} is not running: nothing to stop")
    else:
        app.output.say(f"stopped the embedded PostgreSQL server in {shown(data_dir)} (pid {stopped.pid})")


@server.command("status")
@format_option
def server_status_cmd(fmt: str) -> None:
    """Show whether the embedded server runs (exit 0) or not (exit 1).

    Exit 1 also when its postmaster lives but does not answer; `pg_ctl status` exits
    non-zero (3) alike. Exit 2 for a configuration error.
    """
    from ..embedded import server_status

    app = current_app()
    data_dir = _data_dir(app)
    if "config" in vars(app):  # loaded (a configuration that does not load has no URL to note)
        _note_database_url(app)
    status = server_status(data_dir)
    if fmt == "json":
        app.output.emit_json(_status_json(status, data_dir))
    else:
        app.output.say(_status_line(status, data_dir))
        if status.server is not None and status.state == "running":
            app.output.say(f"url: {status.server.url()}")
    if status.state != "running":
        raise SystemExit(1)


def _status_json(status: Status, data_dir: Path) -> dict[str, Any]:
    info: dict[str, Any] = {"data_dir": str(data_dir.absolute()), "pid": None, "socket": None, "url": None}
    if status.server is not None:
        info.update(status.server.as_json())
    return {"ok": status.state == "running", "state": status.state, "running": status.state == "running",
            "version": status.version, **info}


def _status_line(status: Status, data_dir: Path) -> str:
    where = f"the embedded PostgreSQL server in {shown(data_dir)}"
    if status.server is None:
        return f"{where} is not running (the next command that needs it starts it, or `confiture server start`)"
    if status.state == "not responding":
        return (f"{where} does not answer (pid {status.server.pid}): it is starting, stopping or hung; see "
                f"{shown(data_dir / 'log')}")
    socket = status.server.socket_dir / f".s.PGSQL.{status.server.port}"
    return f"{where} is running: pid {status.server.pid}, PostgreSQL {status.version}, socket {shown(socket)}"


def _data_dir(app: App) -> Path:
    """The server's data folder; with a configuration that does not load, the default one if it exists, so
    that one bad edit never keeps a person from stopping or checking the server (a warning says so).

    :raises ConfigError: the configuration does not load and no default data folder exists.
    """
    from ..config import CONFIG_FILE

    try:
        return app.config.embedded_dir
    except ConfigError as exc:
        start = app.project or Path.cwd()
        for folder in (start, *start.parents):
            if (folder / CONFIG_FILE).exists() or (folder / "pyproject.toml").is_file():
                data_dir = folder / ".confiture" / "pgdata"
                if not data_dir.is_dir():
                    break
                app.output.warn(f"{exc}; using the default data folder {shown(data_dir)}")
                return data_dir
        raise


def _note_database_url(app: App) -> None:
    if app.config.database_url:
        app.output.info(f"note: a database URL is configured (from {app.config.database_url_source}); the other "
                        "commands use it, not the embedded server")
