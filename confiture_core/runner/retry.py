"""Safe apply: strong locks under a lock_timeout, a lock timeout retried with backoff, the blockers named.

A statement that takes SHARE or stronger on a table (:mod:`.strong_locks`) runs under
``[apply] lock_timeout`` (default ``5s``): while it waits in the lock queue, every later
query on that table waits behind it, so the wait is bounded (PostgreSQL docs, 20.11
"Client Connection Defaults", ``lock_timeout``; 13.3 "Explicit Locking"). A lock timeout
(SQLSTATE 55P03, ``lock_not_available``) is retried ``[apply] retries`` times (default 5)
after an exponential backoff with jitter (``[apply] retry_backoff``, default ``1s``,
doubled each time, at most :data:`MAX_BACKOFF_S`): a transactional migration is retried as
a whole (its transaction was rolled back), a statement of a migration that runs outside a
transaction on its own (the statements before it were committed). Each attempt is
reported with the sessions in the way; after the last one the error names them.

A ``CREATE INDEX CONCURRENTLY`` that failed leaves an INVALID index: it is dropped before
the statement is retried (:mod:`.invalid_indexes`).

``[apply] lock_timeout = "0"`` leaves the lock wait unbounded and ``retries = 0`` fails at
the first timeout: both together are the behaviour before safe apply. A migration file that sets
``lock_timeout`` itself keeps its own. Without ``[apply] lock_timeout``, a top-level
``lock_timeout`` in the configuration is used for these statements too.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from pglast import ast
from psycopg import pq

from ..blockers import Blocker, holders
from ..config import DEFAULT_STRONG_LOCK_TIMEOUT, Config, duration_ms
from ..errors import ConfitureError
from ..migrations import Migration
from ..sql import Statement
from ..words import count
from .events import Reporter
from .invalid_indexes import concurrent_index, drop, find_invalid
from .strong_locks import StrongLock, relations, strong_lock, takes_strong_lock

Conn = psycopg.Connection[Any]
T = TypeVar("T")

DEFAULT_LOCK_TIMEOUT = DEFAULT_STRONG_LOCK_TIMEOUT
DEFAULT_RETRIES = 5
DEFAULT_BACKOFF = "1s"
#: the longest wait between two attempts, in seconds
MAX_BACKOFF_S = 30.0
#: SQLSTATE of a lock wait that gave up (``lock_not_available``: lock_timeout, NOWAIT)
LOCK_NOT_AVAILABLE = "55P03"
#: the transaction-local setting holding the ``lock_timeout`` a batched bound replaced (see SafeApply.bound_texts)
_SAVED = "confiture.lock_timeout"


@dataclass(frozen=True)
class ApplySettings:
    """``[apply]``: the lock_timeout of strong statements, the retries after a lock timeout, the backoff.

    :ivar lock_timeout: a PostgreSQL duration (``"5s"``), or ``None`` for no bound (``"0"``).
    :ivar retries: attempts after the first one (0: none).
    :ivar backoff_s: the first wait between attempts, in seconds (doubled each time, capped).
    """

    lock_timeout: str | None = DEFAULT_LOCK_TIMEOUT
    retries: int = DEFAULT_RETRIES
    backoff_s: float = 1.0

    @classmethod
    def of(cls, config: Config) -> ApplySettings:
        """Read ``[apply]`` (validated when the configuration was loaded).

        :raises ConfigError: a setting is not a duration or a whole number.
        """
        section = config.section("apply")
        return cls(config.strong_lock_timeout(), int(section.get("retries", DEFAULT_RETRIES)),
                   duration_ms(str(section.get("retry_backoff", DEFAULT_BACKOFF))) / 1000)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): ``backoff * 2**(attempt-1)``, capped at
        :data:`MAX_BACKOFF_S`, then "equal jitter" (a random point in its upper half), so that runners
        retrying together do not queue again at the same instant."""
        full = min(MAX_BACKOFF_S, self.backoff_s * 2 ** (attempt - 1))
        return float(full / 2 + random.uniform(0, full / 2))


def lock_timed_out(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is a lock wait that gave up (SQLSTATE 55P03)."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, psycopg.Error) and exc.sqlstate == LOCK_NOT_AVAILABLE:
            return True
        exc = exc.__cause__
        seen += 1
    return False


def _sets_lock_timeout(statements: Sequence[Statement]) -> bool:
    """Whether ``statements`` (one SQL file) set ``lock_timeout`` themselves (then their own value is kept)."""
    return any(isinstance(st.node, ast.VariableSetStmt) and st.node.name == "lock_timeout" for st in statements)


class SafeApply:
    """The runner's safe apply: bounds strong statements, retries lock timeouts, names the blockers.

    Used by the body for each statement (:meth:`execute`) and by the runner around a transactional
    migration (:meth:`transactional`); the message of the last failure is completed by :meth:`explain`.

    :param conn: the runner's connection.
    :param settings: the ``[apply]`` settings; ``None``: everything runs as is (work that is rolled back:
        its caller bounds every lock wait itself and names the blockers).
    :param reporter: told about each failed attempt (a warning).
    :param sleep: how to wait between attempts (tests may pass their own).
    """

    def __init__(self, conn: Conn, settings: ApplySettings | None, reporter: Reporter,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.conn = conn
        self.settings = settings or ApplySettings(None, 0, 0.0)
        #: (version, direction) -> whether that file sets lock_timeout itself
        self._own: dict[tuple[int, str], bool] = {}
        self.enabled = settings is not None
        self.reporter = reporter
        self.sleep = sleep
        self._last: tuple[Statement, StrongLock | None] | None = None
        self._gave_up: str | None = None

    # ----------------------------------------------------------------- one statement

    def bounded(self, m: Migration, st: Statement) -> bool:
        """Whether ``st`` runs under ``[apply] lock_timeout``: it takes SHARE or stronger on a table (the modes
        of :mod:`.strong_locks`; the relations it names are read only if it times out) and the file that
        holds it does not set ``lock_timeout`` itself. A table the same file created is not told apart (no
        other session can wait for it before the commit, so the bound is harmless; in a file run outside a
        transaction, other sessions can)."""
        if self.settings.lock_timeout is None:
            return False
        return takes_strong_lock(st.node) and not self._sets_own(m, st)

    def _sets_own(self, m: Migration, st: Statement) -> bool:
        """Whether the file of ``m`` that holds ``st`` (its up file, else its down file; the other one is not
        read) sets ``lock_timeout`` itself."""
        if m.kind != "sql":
            return False
        for d in ("up", "down"):
            if m.path_for(d) is None:
                continue
            statements = m.sql(d).statements
            if st.index < len(statements) and statements[st.index] is st:  # (st.index: its place in its file)
                key = (m.version, d)
                if key not in self._own:
                    self._own[key] = _sets_lock_timeout(statements)
                return self._own[key]
        return False

    def bound_texts(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The statements that bound the strong statements of a batched message (see :mod:`.body`): the ones
        sent before them (the current ``lock_timeout`` saved in the transaction-local setting
        ``confiture.lock_timeout``, then ``SET LOCAL lock_timeout`` to ``[apply] lock_timeout``), and the one
        sent after them (the saved value put back). Transaction-local (PostgreSQL docs, SET: ``SET LOCAL``;
        9.28.1 ``set_config``), so a rolled-back migration leaves nothing set; the same bound as
        :meth:`execute` gives a statement sent alone, with no round trip of its own.

        :raises AssertionError: safe apply bounds nothing (``[apply] lock_timeout = "0"``, or disabled).
        """
        assert self.settings.lock_timeout is not None
        value = self.settings.lock_timeout.replace("'", "''")
        return ((f"SELECT set_config('{_SAVED}', current_setting('lock_timeout'), true)",
                 f"SET LOCAL lock_timeout = '{value}'"),
                (f"SELECT set_config('lock_timeout', current_setting('{_SAVED}'), true)",))

    def timed_out(self, st: Statement, bounded: bool, exc: BaseException) -> None:
        """``st`` (run under ``[apply] lock_timeout`` if ``bounded``) failed with ``exc`` in a batched message:
        when it is a lock timeout, it is the statement the retry and give-up messages name."""
        if self.enabled and lock_timed_out(exc):
            self._last = (st, strong_lock(st.node) if bounded else None)

    def execute(self, m: Migration, st: Statement, transactional: bool,
                run: Callable[[Statement], psycopg.Cursor[Any]]) -> psycopg.Cursor[Any]:
        """Run ``st`` with ``run``: under ``[apply] lock_timeout`` when it takes a strong lock; outside a
        transaction, retried after a lock timeout (an INVALID index it left dropped first).

        :raises psycopg.Error: the statement failed (after the last attempt, for a lock timeout outside a
            transaction; at once inside one: the runner retries the whole migration).
        """
        if not self.enabled:
            return run(st)
        bounded = self.bounded(m, st)
        attempt = 1
        started = time.monotonic()
        built = concurrent_index(st) if not transactional else None
        while True:
            try:
                if attempt > 1 and built is not None:  # the INVALID index the last attempt left
                    drop(self.conn, find_invalid(self.conn, [built]))
                return self._run_bounded(st, bounded, transactional, run)
            except psycopg.Error as exc:
                if not lock_timed_out(exc):
                    raise
                self._last = (st, strong_lock(st.node) if bounded else None)
                if transactional or self.conn.closed or attempt > self.settings.retries:
                    if not transactional:
                        self._give_up(m, attempt, started)
                    raise
                self._wait(m, attempt, f"{st.sql.split()[0].upper()} at line {st.line}")
                attempt += 1

    def _run_bounded(self, st: Statement, bounded: bool, transactional: bool,
                     run: Callable[[Statement], psycopg.Cursor[Any]]) -> psycopg.Cursor[Any]:
        if not bounded:
            return run(st)
        local = transactional
        row = self.conn.execute("SELECT current_setting('lock_timeout'), set_config('lock_timeout', %s, %s)",
                                [self.settings.lock_timeout, local]).fetchone()
        before = str(row[0]) if row else "0"
        failed = False
        try:
            return run(st)
        except psycopg.Error:
            failed = True
            raise
        finally:
            if not self.conn.closed and not (failed and transactional) \
                    and self.conn.info.transaction_status in (pq.TransactionStatus.IDLE, pq.TransactionStatus.INTRANS):
                self.conn.execute("SELECT set_config('lock_timeout', %s, %s)", [before, local])

    # ----------------------------------------------------------------- one transactional migration

    def transactional(self, m: Migration, run: Callable[[], T]) -> T:
        """Run a transactional migration with ``run``; after a lock timeout (its transaction rolled back)
        wait and run it again, up to ``[apply] retries`` times.

        :raises: what ``run`` raised, when it is no lock timeout or after the last attempt (then
            :meth:`explain` completes its message with the attempts and the blockers).
        """
        self.begin()
        if not self.enabled:
            return run()
        attempt = 1
        started = time.monotonic()
        while True:
            self._last = None
            try:
                return run()
            except (psycopg.Error, ConfitureError) as exc:
                rolled_back = not self.conn.closed and self.conn.info.transaction_status == pq.TransactionStatus.IDLE
                if not lock_timed_out(exc) or not rolled_back or attempt > self.settings.retries:
                    if lock_timed_out(exc) and not self.conn.closed:
                        self._give_up(m, attempt, started)
                    raise
                where = (f"{self._last[0].sql.split()[0].upper()} at line {self._last[0].line}"
                         if self._last else "a statement")
                self._wait(m, attempt, where + "; the migration's transaction was rolled back")
                attempt += 1

    # ----------------------------------------------------------------- reporting

    def blockers(self) -> list[Blocker]:
        """The sessions in the way of the statement that last timed out (a catalog read; ``[]`` when unknown)."""
        if self._last is None or self.conn.closed or \
                self.conn.info.transaction_status == pq.TransactionStatus.INERROR:
            return []
        st, lock = self._last
        rels = lock.relations if lock else relations(st.node)
        try:
            return holders(self.conn, rels, lock.mode if lock else "ACCESS EXCLUSIVE")
        except psycopg.Error:
            return []

    def _who(self) -> str:
        found = self.blockers()
        if not found and self._last is not None and self._last[1] is not None and not self._last[1].relations:
            return "the sessions in the way are not known (the statement names no table Confiture can look up)"
        if not found:
            return "no session holds a conflicting lock any more"
        return "blocked by " + "; ".join(b.describe() for b in found)

    def _what(self) -> str:
        lock = self._last[1] if self._last else None
        bound = f"lock_timeout {self.settings.lock_timeout}" if lock else "lock timeout"
        return f"waiting for {lock.describe()} ({bound})" if lock else f"waiting for a lock ({bound})"

    def _wait(self, m: Migration, attempt: int, where: str) -> None:
        delay = self.settings.delay(attempt)
        total = self.settings.retries + 1
        self.reporter.warn(f"migration {m.version} ({m.name}): attempt {attempt} of {total} gave up {self._what()} "
                           f"at {where}; {self._who()}; retrying in {delay:.1f} s")
        self.sleep(delay)

    def _give_up(self, m: Migration, attempt: int, started: float) -> None:
        self.reporter.warn(f"migration {m.version} ({m.name}): attempt {attempt} of {self.settings.retries + 1} "
                           f"gave up {self._what()}; no retry left")
        self._gave_up = (f"gave up after {count(attempt, 'attempt')} over {time.monotonic() - started:.1f} s "
                         f"([apply] retries = {self.settings.retries}); {self._who()}")

    def begin(self) -> None:
        """A migration starts: forget the previous one's failure."""
        self._gave_up = None
        self._last = None

    def autocommit(self, m: Migration, run: Callable[[], T]) -> T:
        """Run a migration that runs outside a transaction with ``run`` (its statements are retried one by
        one by :meth:`execute`)."""
        self.begin()
        return run()

    def explain(self, message: str) -> str:
        """``message`` completed, after a lock timeout that exhausted the retries, with the attempts made and
        the sessions in the way (pid, user, application, transaction and query start, state, lock held)."""
        return f"{message}; {self._gave_up}" if self._gave_up else message
