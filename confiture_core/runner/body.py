"""A migration's body, SQL statements or a Python function, run and observed; its errors as file:line."""

from __future__ import annotations

import contextlib
import re
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any, cast

import psycopg
from pglast import ast
from pglast.enums import TransactionStmtKind
from psycopg import pq

from ..db import settle
from ..errors import ConfitureError, MigrationFailed
from ..migrations import Direction, Migration
from ..paths import shown
from ..sql import Statement
from .events import BatchObserver, Reporter, StatementObserver
from .plan import Planner
from .record import Recorder
from .retry import SafeApply
from .session import CommitGuard, riders_of

Conn = psycopg.Connection[Any]

_SKIP_TX = {
    TransactionStmtKind.TRANS_STMT_BEGIN,
    TransactionStmtKind.TRANS_STMT_START,
    TransactionStmtKind.TRANS_STMT_COMMIT,
}

#: at most this many statements of a migration go in one message (see Body.run)
BATCH_STATEMENTS = 100
#: between the statements of one message: on its own line, since a statement may end with a -- comment
_SEPARATOR = "\n;\n"

#: a transactional Python migration ended the runner's transaction (and went on, or returned)
_ENDED_TX = ("rolled back the runner's transaction (conn.rollback() or a ROLLBACK statement); nothing it did was "
             "applied: a transactional Python migration must not end its transaction (raise to fail it, or set "
             "transactional = False to manage transactions yourself)")


class Body:
    """Runs a migration's body on the runner's connection, telling the observer about every statement.

    :param conn: the runner's connection.
    :param reporter: receives the notices about skipped transaction control.
    :param observer: optional statement observer.
    :param guard: the commit guard, armed around a transactional Python migration.
    :param recorder: records an autocommit migration as failed when a statement fails.
    :param planner: gives the hint about INVALID indexes a failed statement left.
    """

    def __init__(self, conn: Conn, reporter: Reporter, observer: StatementObserver | None, guard: CommitGuard,
                 recorder: Recorder, planner: Planner) -> None:
        self.conn = conn
        self.reporter = reporter
        self.observer = observer
        self.guard = guard
        self.recorder = recorder
        self.planner = planner
        #: bounds strong statements and retries lock timeouts (:mod:`.retry`); the runner sets its own
        self.safe: SafeApply | None = None
        #: client work done while the server runs a message, between sending it and reading its last result (see
        #: :meth:`_results`): given ``busy()``, whether the server still works; the runner's
        #: :class:`~.prefetch.Prefetch` parses the next migrations' files
        self.meanwhile: Callable[[Callable[[], bool]], None] | None = None

    def skip(self, m: Migration, direction: Direction, reason: str) -> None:
        """Run nothing of ``m``: tell the observer that each of its statements was not executed, and why."""
        if m.kind == "python":
            m.python_callable(direction)  # a broken file fails as it would when run
            if self.observer:
                self.observer.skipped_statement(m, python_pseudo_statement(m), reason)
            return
        for st in m.sql(direction).statements:
            if self.observer:
                self.observer.skipped_statement(m, st, reason)

    def run(self, m: Migration, direction: Direction, *, transactional: bool, python_conn: Any = None,
            last_rides: bool = False) -> None:
        """Run ``m``'s body: in the current transaction, or (``transactional`` false) in autocommit.

        :param python_conn: what a Python migration's function receives (default: the runner's connection).
        :param last_rides: the body's last batched message is held, to be sent with the ``COMMIT`` (see
            :meth:`~.session.Riders.hold`): for a migration whose transaction runs nothing else after it
            but the tracking row (no hook, no role to undo); its errors are then raised by the commit.
        :raises MigrationFailed: a statement or the function failed; the message names the file and line.
        """
        if m.kind == "python":
            self._run_python(m, direction, transactional, self.conn if python_conn is None else python_conn)
            return
        path = m.path_for(direction)
        assert path is not None
        statements = m.sql(direction).statements
        # without an observer (which measures each statement), a transactional migration's statements go
        # several to a message: one round trip for a run of them; so they do with an observer that measures
        # them in the same message (a BatchObserver)
        batching = transactional and (self.observer is None or self._batch_observer(m) is not None)
        # (statement index, whether it runs under [apply] lock_timeout, see .retry)
        batch: list[tuple[int, bool]] = []
        for i, st in enumerate(statements):
            if batching and st.copy_data is None and not isinstance(st.node, ast.TransactionStmt | ast.CopyStmt):
                batch.append((i, self.safe is not None and self.safe.enabled and self.safe.bounded(m, st)))
                if len(batch) >= BATCH_STATEMENTS:
                    self._run_batch(m, path, statements, batch)
                    batch = []
                continue
            if transactional and isinstance(st.node, ast.TransactionStmt):  # (the batch goes on past a skipped one)
                kind = st.node.kind
                if kind in _SKIP_TX:
                    if batch and self.observer:  # an observer is told of the statements in the file's order
                        self._run_batch(m, path, statements, batch)
                        batch = []
                    self.reporter.info(f"{path.name}:{st.line}: skipped {st.sql.split()[0].upper()}: the "
                                       "migration already runs in its own transaction")
                    if st.node.options:
                        self.reporter.warn(f"{path.name}:{st.line}: the options of {st.sql!r} are ignored; the "
                                           "runner's transaction uses the server's defaults (put SET TRANSACTION "
                                           "... as the migration's first statement instead)")
                    if self.observer:
                        self.observer.skipped_statement(m, st, "transaction control (runner's transaction)")
                    continue
                if st.ends_the_transaction:  # refused before the run by is_transactional; kept as a guard
                    raise MigrationFailed(
                        f"{shown(path)}:{st.line}: {st.sql.split()[0].upper()} is not allowed in a migration that runs "
                        "in a transaction; remove it (the runner rolls back on failure)")
            if batch:
                self._run_batch(m, path, statements, batch)
                batch = []
            if self.observer:
                self.observer.before_statement(m, st)
            riders_of(self.conn).flush()  # a deferred BEGIN (and the session reset) first, on their own
            t = time.perf_counter()
            try:
                cur = self._execute(st) if self.safe is None else self.safe.execute(m, st, transactional, self._execute)
            except psycopg.Error as exc:
                message = self._statement_error(m, path, statements, i, exc, transactional)
                if self.observer:
                    self.observer.failed_statement(m, st, (time.perf_counter() - t) * 1000, message)
                raise MigrationFailed(message, recorded=not transactional) from exc
            if self.observer:
                self.observer.after_statement(m, st, (time.perf_counter() - t) * 1000, cur.rowcount)
        if batch and last_rides:
            last, riders = batch, riders_of(self.conn)
            lead = riders.lead()  # now: what is added later (the tracking row) goes after the body
            riders.hold(lambda tail: self._run_batch(m, path, statements, last, tail, (lead,)))
        elif batch:
            self._run_batch(m, path, statements, batch)

    def _run_batch(self, m: Migration, path: Any, statements: Sequence[Statement],
                   batch: list[tuple[int, bool]], tail: Sequence[str] = (),
                   taken: tuple[str | None] | None = None) -> None:
        """Run ``statements[i]`` for each ``(i, bounded)`` of ``batch`` in one simple-protocol message (one round
        trip), in the current transaction; PostgreSQL returns one result per statement, so the first failed
        result says which statement failed, and its error position is made relative to that statement.

        A run of ``bounded`` statements (a strong lock, under ``[apply] lock_timeout``) is wrapped, in the
        same message, in the statements of :meth:`SafeApply.bound_texts`. The waiting riders lead the message
        (:meth:`~.session.Riders.lead`; ``taken``: the lead taken earlier, when the message was held); ``tail``
        (statements, e.g. the tracking row and ``COMMIT``) ends it.

        :raises MigrationFailed: a statement failed; the message names the file and line.
        :raises psycopg.Error: a rider or a statement of ``tail`` failed (as it would on its own).
        """
        # (text, the index of its statement and whether it is bounded; None for the bound's own statements)
        parts: list[tuple[str, tuple[int, bool] | None]] = []
        inside = False
        watcher = self._batch_observer(m)
        # the message's layout: the batch's statements by position, among the observer's own texts
        layout = watcher.batch_parts(m, [statements[i] for i, _ in batch]) if watcher else range(len(batch))
        observed: set[int] = set()  # positions in parts of the observer's texts
        for item in layout:
            if isinstance(item, str):
                observed.add(len(parts))
                parts.append((item, None))
                continue
            i, bounded = batch[item]
            if bounded != inside:
                assert self.safe is not None
                start, restore = self.safe.bound_texts()
                parts.extend((text, None) for text in (start if bounded else restore))
                inside = bounded
            parts.append((statements[i].sql, (i, bounded)))
        if inside:
            assert self.safe is not None
            parts.extend((text, None) for text in self.safe.bound_texts()[1])
        lead = riders_of(self.conn).lead() if taken is None else taken[0]
        if len(parts) == 1 and lead is None and not tail:
            self._run_one(m, path, statements, batch[0][0])
            return
        from psycopg import errors

        conn = self.conn
        own = len(parts)  # the results of the file's statements (and their bounds); the tail's follow
        parts.extend((text, None) for text in tail)
        text = _SEPARATOR.join(text for text, _ in parts)
        t = time.perf_counter()
        with conn.lock:
            conn.pgconn.send_query((text if lead is None else lead + _SEPARATOR + text).encode())
            results = self._results(watcher)
        offset = 0
        if lead is not None:  # the riders' results come first, up to BEGIN's; one of them failing is not the file's
            offset = len(lead) + len(_SEPARATOR)
            for k, res in enumerate(results):
                if res.status == pq.ExecStatus.FATAL_ERROR:
                    exc = errors.error_from_result(res, encoding=conn.info.encoding)
                    pos = exc.diag.statement_position
                    if not (pos and pos.isdigit() and int(pos) > offset):
                        raise exc
                    # a syntax error past the riders: the server parses the whole message before running any of
                    # it, so nothing ran; it is the body's (its statement found from the position, below)
                    results = results[k:]
                    break
                if res.command_status == b"BEGIN":
                    results = results[k + 1:]
                    break
        for k, res in enumerate(results):
            if watcher and res.status != pq.ExecStatus.FATAL_ERROR and k + 1 == len(results):
                watcher.batch_ran(m, _ran(statements, parts, observed, results), (time.perf_counter() - t) * 1000)
            if res.status == pq.ExecStatus.FATAL_ERROR:
                exc = errors.error_from_result(res, encoding=conn.info.encoding)
                if k >= own:
                    raise exc
                k, offset = _containing(parts, k, offset, exc.diag.statement_position, own)
                # the bound's own statements do not fail on their own (the setting is validated): were one
                # to, the error is shown at the statement it bounds
                i, bounded = parts[k][1] or next((p for _, p in parts[k:] if p), None) or batch[-1]
                if self.safe is not None:
                    self.safe.timed_out(statements[i], bounded, exc)
                message = self._statement_error(m, path, statements, i, exc, True,
                                                offset if parts[k][1] else 0)
                if watcher:
                    watcher.batch_ran(m, _ran(statements, parts, observed, results[:k]),
                                      (time.perf_counter() - t) * 1000, (statements[i], message))
                raise MigrationFailed(message, recorded=False) from exc
            offset += len(parts[k][0]) + len(_SEPARATOR)

    def _results(self, watcher: BatchObserver | None = None) -> list[Any]:
        """The results of the message just sent, one per statement, read as psycopg's ``execute`` does; while
        the server runs it, :attr:`meanwhile` works (once the whole message is sent), as long as the message's
        last result has not come: each result that comes meanwhile is read at once (PostgreSQL sends one as
        each statement ends: a message's first ones, the riders', come at once). Nothing is sent meanwhile;
        :attr:`meanwhile` touches no database and keeps its errors (:class:`~.prefetch.Prefetch`). So, first,
        does the observer's ``meanwhile`` when there is one (``watcher``: a measuring observer builds the reports of
        the messages before). On Ctrl-C there, as psycopg's own wait does: the server is asked to cancel the
        message and its results are read (:func:`~confiture_core.db.settle`), and the interrupt goes on.

        :raises psycopg.Error: the connection broke (as psycopg's wait raises it).
        """
        from psycopg import generators

        conn = self.conn
        works = [w for w in (watcher.meanwhile if watcher else None, self.meanwhile) if w is not None]
        pgconn = conn.pgconn
        if not works or pgconn.flush() != 0:  # part of it still to send: psycopg's execute sends it
            return conn.wait(generators.execute(pgconn))
        early: list[Any] = []
        done = False

        def busy() -> bool:
            nonlocal done
            try:
                pgconn.consume_input()
                while not done and not pgconn.is_busy():
                    res = pgconn.get_result()
                    if res is None:  # the message's end (ReadyForQuery)
                        done = True
                    else:
                        early.append(res)
            except psycopg.Error:  # the connection broke: psycopg's wait, below, says so
                return False
            return not done

        try:
            for work in works:
                work(busy)
        except KeyboardInterrupt:
            settle(conn)
            raise
        return early if done else early + conn.wait(generators.fetch_many(pgconn))

    def _batch_observer(self, m: Migration) -> BatchObserver | None:
        """The observer, when it measures ``m``'s statements sent several to a message."""
        obs = self.observer
        # duck-typed: isinstance() on a runtime-checkable protocol inspects the class at each call
        if obs is None or not hasattr(obs, "batch_parts"):
            return None
        batcher = cast(BatchObserver, obs)
        return batcher if batcher.batches(m) else None

    def _run_one(self, m: Migration, path: Any, statements: Sequence[Statement], i: int) -> None:
        """Run ``statements[i]`` on its own, in the current transaction.

        :raises MigrationFailed: it failed; the message names the file and line.
        """
        riders_of(self.conn).flush()
        try:
            self._execute(statements[i])
        except psycopg.Error as exc:
            if self.safe is not None:
                self.safe.timed_out(statements[i], False, exc)
            raise MigrationFailed(self._statement_error(m, path, statements, i, exc, True)) from exc

    def _run_python(self, m: Migration, direction: Direction, transactional: bool, conn: Any) -> None:
        fn = m.python_callable(direction)
        pseudo = python_pseudo_statement(m)
        if self.observer:
            self.observer.before_statement(m, pseudo)
        t = time.perf_counter()
        try:
            self._call_python(m, direction, fn, conn, transactional)
        except MigrationFailed as exc:
            if self.observer:
                self.observer.failed_statement(m, pseudo, (time.perf_counter() - t) * 1000, str(exc))
            raise
        if self.observer:
            self.observer.after_statement(m, pseudo, (time.perf_counter() - t) * 1000, -1)

    def _call_python(self, m: Migration, direction: Direction, fn: Callable[..., Any], conn: Any,
                     transactional: bool) -> None:
        """Run a Python migration's ``up``/``down`` with the same guards as plugin hooks.

        Its output goes to stderr (stdout is reserved for ``--format json``). In a
        transactional migration the commit guard is armed, and a function that
        commits, rolls back or closes the connection fails the migration, which is
        then recorded as failed (part of its work may have been committed).

        :raises MigrationFailed: the function raised (``SystemExit`` included) or
            broke the runner's transaction; the message names the file and line.
        """
        where = shown(m.up_path)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                if transactional:
                    with self.guard.armed():
                        fn(conn)
                else:
                    fn(conn)
        except (KeyboardInterrupt, GeneratorExit):
            raise
        except BaseException as exc:
            line = _traceback_line(exc, m.up_path)
            at = f"{where}:{line}" if line else where
            if transactional and isinstance(exc, psycopg.errors.ReadOnlySqlTransaction) and not self.conn.closed \
                    and self.conn.info.transaction_status == pq.TransactionStatus.IDLE:
                raise MigrationFailed(f"{at}: {direction}() {_ENDED_TX}") from exc
            if isinstance(exc, psycopg.Error):
                primary = exc.diag.message_primary or str(exc).splitlines()[0]
                raise MigrationFailed(f"{at}: {direction}() failed: {primary}"
                                      + (f" [{exc.sqlstate}]" if exc.sqlstate else "")) from exc
            what = f"called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else \
                f"raised {type(exc).__name__}: {exc}"
            raise MigrationFailed(f"{at}: {direction}() {what}") from exc
        if transactional and not self.conn.closed and \
                self.conn.info.transaction_status == pq.TransactionStatus.INERROR:
            # nothing was committed: the migration's transaction is rolled back, nothing is recorded
            raise MigrationFailed(
                f"{where}: {direction}() caught a database error and went on, which leaves the transaction "
                "aborted; nothing was applied. Let the error propagate, or catch it around a savepoint "
                "(with conn.transaction(): ...)")
        if transactional and not self.conn.closed and \
                self.conn.info.transaction_status != pq.TransactionStatus.INTRANS:
            # rolled back: what ran before is gone, and what ran after could not write (see
            # CommitEach.migration)
            raise MigrationFailed(f"{where}: {direction}() {_ENDED_TX}")
        if transactional and self.conn.closed:
            msg = (f"{where}: {direction}() closed the runner's connection; a Python migration must not do that "
                   "(set transactional = False to manage transactions yourself)")
            raise MigrationFailed(msg, recorded=True)

    def _execute(self, st: Statement) -> psycopg.Cursor[Any]:
        cur = self.conn.cursor()
        if st.copy_data is not None:
            with cur.copy(st.sql) as copy:
                copy.write(st.copy_data.encode())
        else:
            cur.execute(st.sql.encode(), prepare=False)
        return cur

    def _statement_error(self, m: Migration, path: Any, statements: Sequence[Statement], i: int,
                         exc: psycopg.Error, transactional: bool, offset: int = 0) -> str:
        """The one-line message of ``statements[i]``'s failure; ``offset``: characters of the message before the
        statement (PostgreSQL's error position counts from the start of the message)."""
        st = statements[i]
        line = st.line
        pos = exc.diag.statement_position
        if pos and pos.isdigit() and int(pos) > offset:
            line = st.line_of(int(pos) - offset)
        copy_context = exc.diag.context.splitlines()[0] if st.copy_data is not None and exc.diag.context else None
        row = _COPY_ROW.match(copy_context) if copy_context else None
        if row:  # a bad data row: its line N follows the statement's last line (N - 1 lines after the next one)
            line = st.line + st.sql.count("\n") + int(row.group(1))
        primary = exc.diag.message_primary or str(exc).splitlines()[0]
        code = f" [{exc.sqlstate}]" if exc.sqlstate else ""
        msg = f"{shown(path)}:{line}: {primary}{code}"
        if exc.diag.message_detail:  # which key is duplicated, which row fails the check...
            msg += f" ({exc.diag.message_detail.rstrip('.')})"
        if exc.diag.message_hint:
            msg += f" (hint: {exc.diag.message_hint})"
        if copy_context:
            msg += f" ({copy_context})"
        if not transactional:
            n = len(statements)

            def span(a: int, b: int) -> str:
                return f"statement {a}" if a == b else f"statements {a}-{b}"

            ran = (f"{span(1, i)} ran and {'was' if i == 1 else 'were'} committed" if i
                   else "no statement had run")
            rest = f", {span(i + 2, n)} did not run" if i + 1 < n else " (the last one)"
            msg += f"; this migration runs outside a transaction: {ran}, statement {i + 1} failed{rest}"
            hint = self.planner.invalid_index_hint(m) if not self.conn.closed else ""
            self.recorder.failure(m, msg)  # the hint is read again when shown: the index may be dropped by then
            msg += (f". It is recorded as failed{hint}" if hint else
                    ". It is recorded as failed: fix the database by hand, then run `confiture migrate repair`")
        return msg


def _ran(statements: Sequence[Statement], parts: Sequence[tuple[str, tuple[int, bool] | None]], observed: set[int],
         results: Sequence[Any]) -> list[tuple[Statement | None, Any]]:
    """What a :class:`BatchObserver` is told: each result of a statement of the batch or of its own texts (``None``),
    in order; the statements of a lock bound (:meth:`SafeApply.bound_texts`) left out."""
    return [(statements[tag[0]] if tag else None, res)
            for k, ((_text, tag), res) in enumerate(zip(parts, results, strict=False)) if tag or k in observed]


def _containing(parts: Sequence[tuple[str, Any]], k: int, offset: int, position: str | None,
                own: int) -> tuple[int, int]:
    """The part of a batched message that holds PostgreSQL's error ``position`` (1-based, in characters from
    the message's start) and the offset of that part, from part ``k`` at ``offset`` on: a syntax error is
    reported before any statement of the message runs (its first result), wherever it is; any other error's
    position lies in the statement that failed. Among the first ``own`` parts (the file's); ``(k, offset)``
    when the position lies in part ``k`` or is unknown."""
    if not (position and position.isdigit()):
        return k, offset
    pos = int(position)
    while k + 1 < own and pos > offset + len(parts[k][0]) + len(_SEPARATOR):
        offset += len(parts[k][0]) + len(_SEPARATOR)
        k += 1
    return k, offset


#: PostgreSQL's error context for a bad COPY row: "COPY t, line 3, column id: ..." (line of the data, 1-based)
_COPY_ROW = re.compile(r"COPY [^,]+, line (\d+)")


def failure_message(m: Migration, direction: Direction, exc: BaseException) -> str:
    """The one-line message of a migration's failure: a Confiture error as is, else prefixed with the file name."""
    if isinstance(exc, ConfitureError):
        return str(exc)
    path = m.path_for(direction) or m.up_path
    return f"{path.name}: {exc}"


def changes_role(m: Migration, direction: Direction) -> bool:
    """Whether a migration may have run SET ROLE / SET SESSION AUTHORIZATION."""
    if m.kind == "python":
        return True
    return any(
        isinstance(st.node, ast.VariableSetStmt) and (st.node.name in ("role", "session_authorization")
                                                      or st.node.name is None)
        for st in m.sql(direction).statements
    )


def python_pseudo_statement(m: Migration) -> Statement:
    """The statement an observer is shown for a Python migration's body."""
    return Statement(sql=f"-- python migration {m.up_path.name}", node=ast.SelectStmt(), index=0, offset=0,
                     line=1, column=1)


def _traceback_line(exc: BaseException, path: Any) -> int | None:
    """The line of ``path`` nearest to where ``exc`` was raised, if it is in the traceback."""
    target = str(path)
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == target:
            line = frame.lineno
    return line
