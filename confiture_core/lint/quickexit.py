"""A ``confiture lint`` console-script process ends without the interpreter's teardown.

Once a lint run has written its report, what is left is the interpreter's own
finalization: every module, class and object it built is torn down one by one
(~8-10 ms of CPU after a lint of lemmy's 684 files), for memory the end of the
process gives back anyway. :func:`arm`, called first thing by the console script,
registers an exit handler; because handlers run last-registered first, it runs
after every handler registered later (the collector's :func:`gc.freeze`, a
plugin's own), flushes stdout and stderr, and ends the process with the exit code
:func:`record` took from the ``SystemExit`` that ended the command (``os._exit``).

It never acts when: the code was not recorded (another exception ended the run:
the interpreter reports it as always), a flush fails (the interpreter's own flush
then reports it, exit 120, as always), or coverage measures the process (its
handler, registered before this one at start-up, must still save its data).
Only the console script arms it, never a process that lives on (tests call
:func:`confiture_core.entry.main` with their own arguments).
"""

from __future__ import annotations

import atexit
import os
import sys

#: The exit code :func:`record` took; ``None``: none (the interpreter ends the process as usual).
_code: int | None = None
_armed = False


def arm() -> None:
    """Register the exit handler (once); nothing when coverage is measuring this process."""
    global _armed
    if _armed or "coverage" in sys.modules:
        return
    _armed = True
    atexit.register(_end)


def record(code: object) -> None:
    """Keep the exit code of the ``SystemExit`` that ends the process (``code``: its ``.code``), as the
    interpreter reads it: ``None`` is 0, an ``int`` is itself; anything else (a message) is left to it."""
    global _code
    if code is None:
        _code = 0
    elif isinstance(code, int) and -(2**31) <= code < 2**31:
        _code = int(code)


def _end() -> None:
    if _code is None:
        return
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except Exception:  # the interpreter's flush at exit reports it, as it always did
        return
    os._exit(_code)
