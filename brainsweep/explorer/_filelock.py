"""The writer lock of a study file: one process writes a study, readers need no lock.

HDF5's own file locking is switched off for readers (so that ``load`` and ``info``
work while a study runs), so brainsweep keeps its own lock: an exclusive ``flock`` on
``<real path of the study file>.lock``. It is keyed on the real path, so a symlink or a
relative path to the same file takes the same lock. The operating system drops it when
the holder dies (SIGKILL included); forked pool workers close their inherited copy, so a
worker left behind by a killed parent does not keep the study locked.
"""

from __future__ import annotations

import os
import socket
import weakref

__all__ = ["WriterLock", "LockedError"]

_HELD: "weakref.WeakSet[WriterLock]" = weakref.WeakSet()


class LockedError(RuntimeError):
    """Another process (named in the message) writes the study."""


class WriterLock:
    """Exclusive writer lock on the study file ``path``; ``release()`` gives it back."""

    def __init__(self, path: str):
        self.study = os.fspath(path)
        self.path = os.path.realpath(self.study) + ".lock"
        self.fd = None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no protection
            return
        for _ in range(20):  # retry if the holder unlinked the file between our open and flock
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 200).decode(errors="replace").strip() or "a process that did not say"
                os.close(fd)
                raise LockedError(f"{self.study} is being written by another process ({holder}); "
                                  f"wait for it to finish or stop it first") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        else:  # pragma: no cover - needs a pathological race
            raise LockedError(f"{self.study}: could not take the writer lock {self.path}")
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on host {socket.gethostname()}".encode())
        self.fd = fd
        _HELD.add(self)

    @property
    def held(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None
            _HELD.discard(self)


def _forget_in_child() -> None:
    """In a forked child: close the inherited lock descriptors (the parent keeps its lock)."""
    for lock in list(_HELD):
        if lock.fd is not None:
            try:
                os.close(lock.fd)
            except OSError:
                pass
            lock.fd = None
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
