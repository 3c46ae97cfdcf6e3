"""Garbage-collector tuning for a lint run: the cyclic collector runs less often while linting."""

from __future__ import annotations

import gc
from types import TracebackType

#: Allocations between two young-generation collections while linting (CPython's default: 700).
#: Parsing builds hundreds of thousands of short-lived, acyclic AST objects; with the default
#: the cyclic collector runs thousands of times and takes ~15% of the run.
GC_THRESHOLD = 50_000


class relaxed_gc:  # used as a function: ``with relaxed_gc():``
    """Run the cyclic garbage collector less often inside the block (thresholds restored after).

    A class rather than a ``contextlib`` generator: this module is imported before the CLI
    (:func:`for_lint_process`), where a replayed run imports nothing it does not use.
    """

    def __init__(self) -> None:
        self._saved: tuple[int, int, int] | None = None

    def __enter__(self) -> None:
        saved = gc.get_threshold()
        if saved[0] == 0 or saved[0] >= GC_THRESHOLD:  # collector disabled by threshold, or already relaxed
            return
        self._saved = saved
        gc.set_threshold(GC_THRESHOLD, *saved[1:])

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None


#: Set by :func:`for_lint_process`: this process is a ``confiture lint`` command that ends with the run.
_lint_process = False


def for_lint_process() -> None:
    """Tune the collector for a whole ``confiture lint`` process (the console script calls it first).

    Its start-up (click, pglast's enums and AST classes, the plugins and their rules) builds objects
    that live until the end, which the collector would otherwise go through again and again, some
    fifty times before the first file is read and at every collection while linting: it is off
    until :func:`settle`, which freezes them (``gc.freeze``) before the files are linted. At exit,
    what is left is frozen too, so the interpreter's last collection goes through none of it; memory
    is given back by the process ending, as it would be anyway. Never call it in a process that
    lives on (a test run, an editor's server).
    """
    import atexit

    global _lint_process
    _lint_process = True
    gc.disable()
    atexit.register(gc.freeze)


def settle() -> None:
    """In a process tuned by :func:`for_lint_process`: move every object made so far out of the
    collector's sight (``gc.freeze``) and turn it back on, with :class:`relaxed_gc`'s threshold for
    what linting makes. Elsewhere (a test, a library user): nothing."""
    global _lint_process
    if not _lint_process:
        return
    _lint_process = False
    gc.freeze()
    saved = gc.get_threshold()
    if saved[0] != 0:
        gc.set_threshold(max(saved[0], GC_THRESHOLD), *saved[1:])
    gc.enable()
