"""SIGTERM, SIGHUP and SIGINT end a command the way an error does: every cleanup runs.

By default SIGTERM (``kill PID``, a job scheduler, ``docker stop``) ends Python at once:
no ``finally`` block runs, so a half-written temporary file (``.NAME.PID.TOKEN.tmp``, as
large as the output) stays behind. While a command runs, :func:`signals_raise` turns each
of these signals into an :class:`Interrupted` exception raised in the main thread, so the
atomic writers remove their temporary files, a new run folder that is still empty is removed,
and locks are released; the command then exits with status ``128 + signal number`` (130 for
Ctrl-C, 143 for SIGTERM). A second signal of the same kind ends the process at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

HANDLED_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Interrupted(BaseException):
    """Raised in the main thread when the process receives a termination signal.

    A ``BaseException`` (like ``KeyboardInterrupt``): ``except Exception`` does not swallow
    it, ``finally`` and ``except BaseException`` clean-ups see it.
    """

    def __init__(self, signal_number: int):
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number

    @property
    def exit_status(self) -> int:
        """The shell's convention for a process ended by a signal: ``128 + number``."""
        return 128 + self.signal_number


# the signals received while a command runs (most recent last). Python discards an
# exception raised while it runs a weakref callback or a finaliser ("Exception ignored
# in ..."): a signal arriving then would be lost and the command would run to its end
# (replacing an earlier run's files), so the command also checks this list at its safe
# points (raise_if_interrupted)
_received: list[int] = []


def _raise_interrupted(signal_number: int, _frame) -> None:
    # the clean-up now under way is not interrupted again by the same signal's default
    # handler: a second signal of this kind ends the process without clean-up
    signal.signal(signal_number, signal.SIG_DFL)
    _received.append(signal_number)
    raise Interrupted(signal_number)


def raise_if_interrupted() -> None:
    """Raise :class:`Interrupted` if a signal arrived while the command ran but its
    exception was discarded (see ``_received``); called between epochs and before a run's
    files are put in place."""
    if _received:
        raise Interrupted(_received[0])


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, SIGINT / SIGTERM / SIGHUP raise :class:`Interrupted`.

    A signal the process was told to ignore (``nohup`` ignores SIGHUP, a shell's background
    job SIGINT) stays ignored. The previous handlers are restored afterwards. Outside the
    main thread (where Python cannot install signal handlers) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in HANDLED_SIGNALS}
    _received.clear()
    try:
        for number, handler in previous.items():
            if handler is not signal.SIG_IGN:
                signal.signal(number, _raise_interrupted)
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Within the block, a signal that :func:`signals_raise` turns into :class:`Interrupted`
    is held until the block ends, then raised: a few renames that must all happen (a run
    folder's files put in place) are not cut in the middle.

    As in :func:`signals_raise`, a second signal of the same kind ends the process at once.
    Signals not handled by :func:`signals_raise` (outside a command, or outside the main
    thread) are left as they are.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def hold(signal_number: int, _frame) -> None:
        signal.signal(signal_number, signal.SIG_DFL)
        pending.append(signal_number)

    raise_if_interrupted()
    held = [n for n in HANDLED_SIGNALS if signal.getsignal(n) is _raise_interrupted]
    try:
        for number in held:
            signal.signal(number, hold)
        yield
    finally:
        for number in held:
            if number not in pending:
                signal.signal(number, _raise_interrupted)
        if pending:
            raise Interrupted(pending[0])
