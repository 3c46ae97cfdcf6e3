"""The garbage collector paused around the pre-flight parse, and what it parsed frozen for the run.

Every pending migration's parsed statements (pglast ASTs: hundreds of thousands of
objects for thousands of migrations) stay alive for the whole run; each young-generation
collection during the apply would scan them again and again (~20% of the runner's CPU
at 5,000 pending migrations). The cyclic collector is disabled while they are built,
then ``gc.freeze()`` moves everything alive to the permanent generation, which
collections skip (Python docs, ``gc.freeze``); ``gc.unfreeze()`` at the end of the run.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """Disable the cyclic collector inside the block (restored after, if it was enabled)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@contextmanager
def frozen() -> Iterator[None]:
    """Freeze what is alive now for the block (survivors of a parse are not scanned again), unfreeze after."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
