"""The garbage collector paused around the pre-flight parse, and what it parsed frozen for the run.

Every pending migration's parsed statements (pglast ASTs: hundreds of thousands of
objects for thousands of migrations) stay alive for the whole run; each young-generation
collection during the apply would scan them again and again (~20% of the runner's CPU
at 5,000 pending migrations). The cyclic collector is disabled while they are built,
then ``gc.freeze()`` moves everything alive to the permanent generation, which
collections skip (Python docs, ``gc.freeze``); ``gc.unfreeze()`` at the end of the run. The
trees the pre-flight leaves to be built during the run (see :mod:`.prefetch`) are frozen as
they are built (:func:`freeze_more`).
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


_frozen = 0  # how many frozen() blocks are open


@contextmanager
def frozen() -> Iterator[None]:
    """Freeze what is alive now for the block (survivors of a parse are not scanned again), unfreeze after."""
    global _frozen
    gc.freeze()
    _frozen += 1
    try:
        yield
    finally:
        _frozen -= 1
        gc.unfreeze()


def freeze_more() -> None:
    """Inside a :func:`frozen` block, freeze what is alive now too (the trees parsed during the run, see
    :mod:`.prefetch`: unfrozen, collections would scan them again and again: ~1.7 s of CPU for 5,000 of
    lemmy's files parsed one by one); outside one, nothing (nothing would unfreeze it)."""
    if _frozen:
        gc.freeze()
