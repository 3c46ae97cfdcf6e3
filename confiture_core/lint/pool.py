"""Share chunks of work between this process and forked children, without threads.

:func:`share` splits a list into chunks and lets this process and ``processes - 1``
forked children take them one at a time from a common queue until it is empty.
The queue is a pipe holding one byte per chunk index: reading one byte from a
pipe is atomic, so every chunk is taken exactly once, with no lock, no shared
memory and no thread. Each child sends each chunk's results back through its own
pipe as soon as it has them (one length-prefixed pickle per chunk), and this
process reads what has arrived between two of its own chunks: when the queue is
empty, only the children's last chunks are still to come, instead of every
result of every child being pickled, sent and unpickled after the work (on
lemmy's corpus, ~2.5 MB and ~15 ms at the end of a two-process run).

Why not :class:`concurrent.futures.ProcessPoolExecutor`: its management thread
would keep this process from linting alongside the workers on the fast parsing
path (:func:`confiture_core.sql.trusted_parsing` requires a single-threaded
process), so this process would sit idle while the workers run, and every result
would cross a pipe.

The work function is not pickled: the children are forks and call it directly.
Its results must be picklable. A child that fails or dies loses nothing: the
chunks it took and did not send back are done again in this process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: At most this many chunks (one byte per chunk index in the queue pipe).
MAX_CHUNKS = 256

#: The bytes of a frame's length, before each chunk's pickle on a child's results pipe.
_HEADER = 8


def can_fork() -> bool:
    """Whether :func:`share` can fork children here (POSIX ``fork`` exists)."""
    return hasattr(os, "fork")


def share(items: Sequence[T], work: Callable[[list[T]], list[R]], processes: int, chunks: int) -> list[R]:
    """``work`` over ``items`` in ``chunks`` interleaved chunks, by this process and ``processes - 1`` children.

    :param items: the work items.
    :param work: maps a chunk (a list of items) to one result per item, in order.
    :param processes: processes working, this one included (``>= 1``).
    :param chunks: how many chunks (each takes every ``chunks``-th item); at most :data:`MAX_CHUNKS`.
    :returns: one result per item, in the order of ``items``.
    """
    n = max(1, min(chunks, MAX_CHUNKS, len(items)))
    parts = [list(items[k::n]) for k in range(n)]
    queue_r, queue_w = os.pipe()
    os.write(queue_w, bytes(range(n)))
    os.close(queue_w)
    # imported here, not at the top (a run too small to share needs neither), before the forks (each child uses it)
    import pickle  # noqa: F401
    import signal

    children: list[_Child] = []
    done: dict[int, list[R]] = {}
    try:
        for _ in range(max(processes - 1, 0)):
            res_r, res_w = os.pipe()
            _widen(res_w)
            pid = os.fork()
            if pid == 0:  # child: never returns
                os.close(res_r)
                _child(queue_r, res_w, parts, work)
            os.close(res_w)
            os.set_blocking(res_r, False)
            children.append(_Child(pid, res_r))
        while True:
            b = os.read(queue_r, 1)
            if not b:
                break
            k = b[0]
            done[k] = work(parts[k])
            for child in children:  # what the children sent meanwhile
                child.read(done)
        while children:
            children[0].finish(done)
            children.pop(0)
    finally:
        os.close(queue_r)
        for child in children:  # only after an exception here: stop the children
            child.stop(signal.SIGTERM)
    for k in range(n):  # chunks a failed child took
        if k not in done:
            done[k] = work(parts[k])
    out: list[R | None] = [None] * len(items)
    for k in range(n):
        out[k::n] = done[k]
    return out  # type: ignore[return-value]


def _child(queue_r: int, res_w: int, parts: list[list[T]], work: Callable[[list[T]], list[R]]) -> None:
    """Take chunks until the queue is empty, sending each one's results as a frame (never returns).

    Frames are written without blocking while the parent is busy with a chunk of its own (a full
    pipe would otherwise stop this child's work): what does not fit waits here, and is written
    at the latest once the queue is empty."""
    import pickle

    code = 1
    try:
        os.set_blocking(res_w, False)
        pending = bytearray()
        while True:
            b = os.read(queue_r, 1)
            if not b:
                break
            k = b[0]
            data = pickle.dumps((k, work(parts[k])), protocol=pickle.HIGHEST_PROTOCOL)
            pending += len(data).to_bytes(_HEADER, "little")
            pending += data
            del pending[:_write_some(res_w, pending)]
        os.set_blocking(res_w, True)
        view = memoryview(pending)
        while view:
            view = view[os.write(res_w, view):]
        code = 0
    except BaseException:  # the parent redoes the chunks it did not receive
        pass
    finally:
        os._exit(code)


#: The capacity asked for a child's results pipe: a few chunks' results wait there while this process
#: is busy with a chunk of its own (Linux's default, 64 KiB, holds a fraction of one on lemmy's corpus).
PIPE_SIZE = 1 << 20


def _widen(fd: int) -> None:
    """Ask for a pipe of :data:`PIPE_SIZE` bytes where the system allows it (Linux ``F_SETPIPE_SZ``, up
    to ``/proc/sys/fs/pipe-max-size``); elsewhere, or when refused, the pipe keeps its size."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except (ImportError, AttributeError, OSError):
        pass


def _write_some(fd: int, data: bytearray) -> int:
    """Write what a non-blocking pipe takes now; how many bytes."""
    try:
        return os.write(fd, data) if data else 0
    except BlockingIOError:
        return 0


class _Child:
    """The parent's end of one child: its process id and the frames of results it sends."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd = fd
        self.buffer = bytearray()

    def read(self, done: dict[int, Any]) -> None:
        """Take in the complete frames that have arrived (without waiting)."""
        try:
            while block := os.read(self.fd, 1 << 20):
                self.buffer += block
        except BlockingIOError:
            pass
        self._frames(done)

    def finish(self, done: dict[int, Any]) -> None:
        """Read until the child closes its end, then reap it; a frame cut short is left out (its chunk is redone)."""
        os.set_blocking(self.fd, True)
        while block := os.read(self.fd, 1 << 20):
            self.buffer += block
        os.close(self.fd)
        self.fd = -1
        os.waitpid(self.pid, 0)
        self.pid = -1
        self._frames(done)

    def stop(self, sig: int) -> None:
        """End the child (after an error in this process, Ctrl-C included) and reap it."""
        try:
            if self.fd >= 0:
                os.close(self.fd)
            if self.pid > 0:
                os.kill(self.pid, sig)
                os.waitpid(self.pid, 0)
        except OSError:
            pass

    def _frames(self, done: dict[int, Any]) -> None:
        import pickle

        buf = self.buffer
        pos = 0
        while len(buf) - pos >= _HEADER:
            size = int.from_bytes(buf[pos:pos + _HEADER], "little")
            if len(buf) - pos - _HEADER < size:
                break
            try:
                k, results = pickle.loads(buf[pos + _HEADER:pos + _HEADER + size])
            except Exception:  # not what a child sent: its chunk is redone here
                k, results = None, None
            if isinstance(k, int) and isinstance(results, list):
                done[k] = results
            pos += _HEADER + size
        del buf[:pos]


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask on Linux, else every CPU)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def idle_cpus() -> int:
    """The CPUs this process may run on that other processes are not using now, at least 1.

    What ``make -l`` weighs, taken at this instant where the system says it: the CPUs of
    :func:`cpu_count` less the processes other than this one running or waiting to run right now
    (:func:`runnable_now`); elsewhere less the load average over the last minute (``os.getloadavg``),
    rounded. The instant count, because the minute's average also counts work that has ended: right
    after a build, or while commands run one after another (a script, a bench), it reports a busy CPU
    that is idle, and ``lint`` then did alone the work two processes share.
    Forking workers onto CPUs that are busy adds the cost of the forks and of sending the results
    back for no gain: on a 2-CPU machine running 8 other jobs, ``lint`` with two processes took
    1.3x the time it took with one (bench/lint_bench.py). Where no load is known: :func:`cpu_count`.
    """
    cpus = cpu_count()
    now = runnable_now()
    if now is not None:
        return max(1, min(cpus, cpus - now))
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on this platform
        return cpus
    return max(1, min(cpus, round(cpus - load)))


#: Linux's load figures; its 4th field is ``running/total`` (kernel scheduling entities: processes and threads).
LOADAVG_FILE = "/proc/loadavg"


def runnable_now() -> int | None:
    """How many processes (threads) other than this one are running or waiting for a CPU at this instant
    (the ``running`` of the 4th field of ``/proc/loadavg``, less this process); ``None`` where it is not known.

    Source: proc(5), ``/proc/loadavg``: "the number of currently runnable kernel scheduling entities".
    """
    try:
        with open(LOADAVG_FILE, "rb") as f:
            running = f.read().split()[3].split(b"/")[0]
        return max(0, int(running) - 1)
    except (OSError, IndexError, ValueError):
        return None
