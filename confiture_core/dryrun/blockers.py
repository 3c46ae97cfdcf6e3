"""Who blocks the dry run: a second connection watching pg_blocking_pids while a statement waits."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from ..blockers import Blocker, blockers_of
from ..errors import ConfitureError
from ..risk import mode_name
from ..sql import builds_no_nodes
from .report import DryRunReport

Conn = psycopg.Connection[Any]


def is_lock_timeout(error: str | None) -> bool:
    """Whether a statement's error message says it waited longer than ``lock_timeout`` (SQLSTATE 55P03)."""
    return bool(error) and ("[55P03]" in (error or "") or "lock timeout" in (error or ""))


class LockBlocked(ConfitureError):
    """The dry run's statement waited longer than ``lock_timeout`` for another session's lock (exit 1).

    :ivar report: the dry run's report up to the blocked statement (its ``error``
        is this message), or ``None``.
    :ivar detail: the message without its closing "Nothing was changed."
    """

    exit_code = 1

    def __init__(self, message: str, report: DryRunReport | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.report = report
        self.detail = detail or message



#: the relation locks ``%(me)s`` waits for: (oid, PostgreSQL mode name, relation as text)
_WAITING_SQL = """
SELECT w.relation::bigint, w.mode, w.relation::regclass::text
  FROM pg_locks w WHERE w.pid = %(me)s AND NOT w.granted AND w.locktype = 'relation'
"""


class BlockerWatch:
    """Watches, from a second connection, who blocks our backend while a statement runs.

    A background thread, started by the first :meth:`arm` and declared to build no pglast node (the migration
    files are parsed on the fast path while it runs, see :func:`~confiture_core.sql.trusted_parsing`: it only
    queries the server), is armed before each statement; if the statement is still running after ``after_s``
    seconds it polls ``pg_blocking_pids(our pid)`` every ``every_s`` seconds and keeps the last non-empty
    answer, described from ``pg_stat_activity`` and ``pg_locks``.

    :param url: libpq URL for the second connection.
    :param pid: our backend's pid (``conn.info.backend_pid``).
    """

    def __init__(self, url: str, pid: int, after_s: float = 0.1, every_s: float = 0.05) -> None:
        self.url = url
        self.pid = pid
        self.after_s = after_s
        self.every_s = every_s
        self.blockers: list[Blocker] = []
        #: the relation locks our statement was seen waiting for: (oid, SQL mode, relation as text)
        self.waiting: list[tuple[int, str, str]] = []
        self._armed_at: float | None = None
        self._cv = threading.Condition()
        self._stop = False
        #: the thread waits for an arming (not for a deadline): :meth:`arm` must wake it (a statement a
        #: message costs no thread switch otherwise)
        self._idle = False
        self._conn: Conn | None = None
        self._thread: threading.Thread | None = None

    def arm(self) -> None:
        """A statement starts: forget the last blockers, start watching."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="confiture-blocker-watch", daemon=True)
            builds_no_nodes(self._thread)  # the migration files are still parsed on the fast path meanwhile
            self._thread.start()
        with self._cv:
            self.blockers = []
            self.waiting = []
            self._armed_at = time.monotonic()
            if self._idle:  # else the thread sleeps until the previous arming's deadline and looks again then
                self._cv.notify()

    def disarm(self) -> None:
        """The statement ended (blockers seen are kept for the error message)."""
        with self._cv:
            self._armed_at = None

    def close(self) -> None:
        """Stop the thread and close the second connection."""
        with self._cv:
            self._stop = True
            self._cv.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._conn is not None:
            self._conn.close()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._stop and self._armed_at is None:
                    self._idle = True
                    self._cv.wait()
                self._idle = False
                if self._stop:
                    return
                wait = self._armed_at + self.after_s - time.monotonic() if self._armed_at else 0
            if wait > 0:
                with self._cv:
                    self._cv.wait(timeout=wait)
                continue
            try:
                found, waiting = self._poll()
            except psycopg.Error:
                found, waiting = [], []
            with self._cv:
                if found and self._armed_at is not None:
                    self.blockers = found
                    self.waiting = waiting or self.waiting
                self._cv.wait(timeout=self.every_s)

    def _poll(self) -> tuple[list[Blocker], list[tuple[int, str, str]]]:
        if self._conn is None:
            self._conn = psycopg.connect(self.url, autocommit=True, application_name="confiture dry-run watch")
        found = blockers_of(self._conn, self.pid)
        if not found:
            return [], []
        rows = self._conn.execute(_WAITING_SQL, {"me": self.pid}).fetchall()
        return found, [(int(o), mode_name(m), str(t)) for o, m, t in rows]

