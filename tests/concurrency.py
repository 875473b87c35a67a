"""Running calls in threads that all start at the same instant, for race tests."""

from __future__ import annotations

import threading
from collections.abc import Callable


def at_once(calls: list[Callable[[], None]]) -> None:
    """Run every call in its own thread, released together by a barrier; wait for all."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], None]) -> None:
        start.wait()
        call()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
