"""Share chunks of work between this process and forked children, without threads.

:func:`share` splits a list into chunks and lets this process and ``processes - 1``
forked children take them one at a time from a common queue until it is empty;
each child then sends its results back through its own pipe. The queue is a pipe
holding one byte per chunk index: reading one byte from a pipe is atomic, so
every chunk is taken exactly once, with no lock, no shared memory and no thread.

Why not :class:`concurrent.futures.ProcessPoolExecutor`: its management thread
would keep this process from linting alongside the workers on the fast parsing
path (:func:`confiture_core.sql.trusted_parsing` requires a single-threaded
process), so this process would sit idle while the workers run, and every result
would cross a pipe.

The work function is not pickled: the children are forks and call it directly.
Its results must be picklable. A child that fails or dies loses nothing: the
chunks it took are done again in this process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: At most this many chunks (one byte per chunk index in the queue pipe).
MAX_CHUNKS = 256


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

    children: list[tuple[int, int]] = []  # (pid, read end of its results pipe)
    done: dict[int, list[R]] = {}
    try:
        for _ in range(max(processes - 1, 0)):
            res_r, res_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # child: never returns
                os.close(res_r)
                _child(queue_r, res_w, parts, work)
            os.close(res_w)
            children.append((pid, res_r))
        done.update(_take(queue_r, parts, work))
        while children:
            pid, res_r = children.pop(0)
            done.update(_collect(pid, res_r))
    finally:
        os.close(queue_r)
        for pid, res_r in children:  # only after an exception here: stop the children
            os.close(res_r)
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except OSError:
                pass
    for k in range(n):  # chunks a failed child took
        if k not in done:
            done[k] = work(parts[k])
    out: list[R | None] = [None] * len(items)
    for k in range(n):
        out[k::n] = done[k]
    return out  # type: ignore[return-value]


def _take(queue_r: int, parts: list[list[T]], work: Callable[[list[T]], list[R]]) -> dict[int, list[R]]:
    """Take chunk indexes from the queue until it is empty; ``{index: results}``."""
    done: dict[int, list[R]] = {}
    while True:
        b = os.read(queue_r, 1)
        if not b:
            return done
        k = b[0]
        done[k] = work(parts[k])


def _child(queue_r: int, res_w: int, parts: list[list[T]], work: Callable[[list[T]], list[R]]) -> None:
    import pickle

    code = 1
    try:
        data = pickle.dumps(_take(queue_r, parts, work), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(res_w, view):]
        code = 0
    except BaseException:  # the parent redoes this child's chunks
        pass
    finally:
        os._exit(code)


def _collect(pid: int, res_r: int) -> dict[int, list[R]]:
    """A child's results (``{}`` when it failed), once it has exited."""
    blocks = []
    try:
        while True:
            block = os.read(res_r, 1 << 20)
            if not block:
                break
            blocks.append(block)
    finally:
        os.close(res_r)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        return {}
    import pickle

    try:
        found = pickle.loads(b"".join(blocks))
    except Exception:  # a truncated pickle: its chunks are redone
        return {}
    return found if isinstance(found, dict) else {}


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
