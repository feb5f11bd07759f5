"""A word before a long wait: a compile that has run for a second says, on one line of
stderr, what it compiles and that it happens once (the disk cache keeps it).
``TINYGRAD_RNN_QUIET=1`` silences it."""
from __future__ import annotations

import contextlib
import os
import sys
import threading


@contextlib.contextmanager
def slow_notice(what: str, after_s: float = 1.0):
    """Run the body; if it is still running after ``after_s`` seconds, print one line saying
    ``what`` is being compiled (a timer thread: the body is never slowed or interrupted)."""
    if os.environ.get("TINYGRAD_RNN_QUIET"):
        yield
        return

    def say():
        print(f"tinygrad_rnn: compiling {what}; this happens once (the disk cache keeps it, "
              "for this and later processes). TINYGRAD_RNN_QUIET=1 silences this.",
              file=sys.stderr, flush=True)

    timer = threading.Timer(after_s, say)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def say(line: str):
    """Print one line to stderr (unless TINYGRAD_RNN_QUIET is set)."""
    if not os.environ.get("TINYGRAD_RNN_QUIET"):
        print(line, file=sys.stderr, flush=True)
