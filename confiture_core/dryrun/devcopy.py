"""The embedded development server's default dry run: on a template copy of its database, committed per migration."""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from ..config import Config
from ..errors import ConfigError
from ..hookcaller import Hooks
from ..runner import Reporter
from .report import DryRunReport
from .run import dry_run
from .shadow import ShadowError, ShadowServer, connect, database_of, scratch_database

Conn = psycopg.Connection[Any]

#: other sessions of the database, found from the server's maintenance database (``postgres``)
_POLLS = 10  # times 0.1 s
_OTHERS_SQL = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> %s"


def dev_copy_dry_run(conn: Conn, conninfo: str, config: Config, hooks: Hooks, *, version: int | None = None,
                     reporter: Reporter | None = None, preflight: bool = False) -> tuple[DryRunReport | None, str]:
    """Dry-run on a copy of the development database instead of the database itself, when nobody else uses it.

    ``CREATE DATABASE confiture_shadow_<hex> TEMPLATE <the database>`` on the same server
    (PostgreSQL copies it file by file; the source must have no other session: "CREATE
    DATABASE", Notes), then :func:`~.run.dry_run` with ``on_copy`` (each migration committed:
    its locks are exactly its own, the cost per migration flat), then the copy dropped
    (``WITH (FORCE)``) whatever happens. The development database is never changed: no
    rollback, no sequence left advanced.

    :param conn: the command's connection to the database; closed here when the copy is made (the
        caller opens a new one for what follows).
    :param conninfo: its connection string.
    :returns: (the report with ``where = "copy"``, ``""``), or (``None``, why no copy was made:
        another session is connected, or the copy was refused; ``conn`` may then be closed).
    :raises LockBlocked, HistoryError, MigrationFileError, MigrationFailed: as :func:`~.run.dry_run`.
    """
    name = database_of(conninfo) or str(conn.info.dbname)
    admin = make_conninfo(conninfo, dbname="postgres" if name != "postgres" else "template1")
    server = ShadowServer(admin, "the development server")
    others = 0
    try:
        with connect(admin) as a:
            for _ in range(_POLLS):  # a session that just disconnected may take a moment to go
                row = a.execute(_OTHERS_SQL, [name, conn.info.backend_pid]).fetchone()
                others = int(row[0]) if row else 0
                if not others:
                    break
                time.sleep(0.1)
    except (psycopg.Error, ConfigError) as exc:  # the caller dry-runs on the database itself
        return None, f"its server's maintenance database cannot be reached ({str(exc).splitlines()[0]})"
    if others:
        return None, f"{others} other session(s) are connected to {name} (a copy needs none)"
    conn.close()
    with ExitStack() as stack:
        try:
            url = stack.enter_context(scratch_database(server, template=name))
        except ShadowError as exc:  # someone connected meanwhile, or the role may not CREATE DATABASE
            return None, str(exc)
        with connect(url) as copy:
            report = dry_run(copy, config, hooks, target=version, reporter=reporter, watch_url=url,
                             preflight=preflight, on_copy=True)
    report.where = "copy"
    return report, ""
