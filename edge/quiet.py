"""Keep TensorFlow's C++ chatter (converter dumps, "Saved artifact at ...", delegate INFO lines)
out of the terminal and out of ``--json`` output, at the file-descriptor level where it is
written. What it said is kept and shown if the stage fails unexpectedly."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import TextIO


class Captured:
    def __init__(self) -> None:
        self.text = ""

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.text.strip().splitlines()[-lines:])


def terminal_stream(fd: int) -> TextIO:
    """A text stream on a duplicate of ``fd`` that keeps reaching the terminal while ``fd``
    itself is redirected (for the progress bars)."""
    return os.fdopen(os.dup(fd), "w", buffering=1, encoding="utf-8", errors="replace")


#: File descriptors are the process's, not a thread's: two threads capturing at once (a camera
#: reopening its stream while the loop loads a model) would each restore what the other had
#: redirected, and stderr would stay in a deleted temporary file. One capture at a time.
_ONE_AT_A_TIME = threading.RLock()


@contextlib.contextmanager
def captured_fds(fds: tuple[int, ...] = (1, 2)) -> Iterator[Captured]:
    with _ONE_AT_A_TIME:
        captured = Captured()
        sys.stdout.flush()
        sys.stderr.flush()
        saved = {fd: os.dup(fd) for fd in fds}
        with (
            tempfile.TemporaryFile(mode="w+b") as sink,
            open(sink.fileno(), "w", closefd=False, encoding="utf-8", errors="replace") as text,
        ):
            try:
                for fd in fds:
                    os.dup2(sink.fileno(), fd)
                # Python-level writers of the same streams too (TensorFlow prints some of its
                # chatter with print()); only those asked for: another thread may be printing to
                # the others (the camera loop's JSON lines while its reader reopens a stream).
                with contextlib.ExitStack() as python_level:
                    if 1 in fds:
                        python_level.enter_context(contextlib.redirect_stdout(text))
                    if 2 in fds:
                        python_level.enter_context(contextlib.redirect_stderr(text))
                    yield captured
            finally:
                text.flush()
                sys.stdout.flush()
                sys.stderr.flush()
                for fd, copy in saved.items():
                    os.dup2(copy, fd)
                    os.close(copy)
                sink.seek(0)
                captured.text = sink.read().decode("utf-8", "replace")
