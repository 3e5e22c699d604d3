"""SIGTERM (what schedulers and `docker stop` send) handled like Ctrl-C while a run or a study works."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: the run stops as on Ctrl-C (finished tasks saved, status `interrupted`, lock released)."""

    signum = signal.SIGTERM


def signal_number(exc: BaseException) -> int:
    """The signal that stopped a run: SIGTERM for `Terminated` (or what it became), SIGINT for Ctrl-C."""
    return int(getattr(exc, "signum", signal.SIGINT))


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises `Terminated` (a KeyboardInterrupt) in the main thread, so the Ctrl-C path
    saves the status and releases the lock; the previous handler comes back on leaving.

    Only the main thread can set handlers, so elsewhere this does nothing; neither does it replace a
    handler that is not Python's (None) nor an explicit SIG_IGN, which the caller chose. A second SIGTERM
    while the first is being handled is ignored, so that cleanup is not cut short.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is None or previous == signal.SIG_IGN:
        yield
        return
    fired = False

    def handler(signum: int, frame: object) -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise Terminated("terminated (SIGTERM)")

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
