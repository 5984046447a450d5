"""The run-directory lock: one writing command per run directory at a time.

An OS file lock (``flock``) on ``crisiseval.lock`` in the run directory, held for the life of a
writing command. The OS releases it when the process ends however it ends (``kill -9`` included),
so a stale lock can never block a run. The holder writes its PID into the file so that a second
writer can say who holds it. Readers (``status``, ``scores``, ``report``) never take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from crisiseval.errors import StoreError

LOCK_FILENAME = "crisiseval.lock"


@contextlib.contextmanager
def run_dir_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run directory's writer lock; a second writer fails at once naming the holder."""
    path = run_dir / LOCK_FILENAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"{run_dir}: cannot lock the run directory ({exc.strerror})") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise StoreError(
                f"{run_dir}: another crisiseval command (PID {holder}) is writing to this run "
                "directory; wait for it to finish, or stop it (its finished calls are kept)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
