"""Keeps the garbage collector's full passes off the request path.

After start-up a service holds ~110,000 long-lived objects (modules, schemas, the app); a
full (generation 2) collection walks them all and held the event loop for 50-300 ms on the
2-core machine, longer than a request may take. They never become garbage, so once start-up is
done they are moved to the permanent generation, which no collection walks.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Call at the end of start-up, once; the collection first frees start-up's own garbage
    (frozen, it would stay)."""
    gc.collect()
    gc.freeze()
