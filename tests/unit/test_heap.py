"""The start-up heap is frozen: no later collection walks it, and start-up's garbage is freed
first rather than frozen with it."""

from __future__ import annotations

import gc
import weakref

from services.kernel.heap import freeze_startup_heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_freezing_frees_start_up_garbage_then_freezes_what_lives() -> None:
    garbage = _Node()
    gone = weakref.ref(garbage)
    del garbage
    try:
        freeze_startup_heap()
        assert gone() is None
        assert gc.get_freeze_count() > 1000  # the modules and objects this process holds
    finally:
        gc.unfreeze()
