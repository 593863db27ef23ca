"""Evaluate a study's runs on MPI ranks: rank 0 coordinates and writes, the others evaluate.

Every rank runs the same script. In ``Study.run`` rank 0 drives the strategy
and is the only process that opens the study file; ranks 1..N-1 enter
:meth:`MPIExecutor.serve`, evaluate chunks of runs sent by rank 0 and send the
records back. When the study ends, every rank gets the same ``Results`` (read
from the finished file), so a script runs unchanged with ``python`` or
``mpiexec``; wrap rank-0-only work (plots, prints) in ``if is_root():``.

Transport is plain mpi4py point-to-point messages (pickled chunks). Waiting
ranks poll with a short sleep instead of MPI's busy-wait, so an idle
coordinator does not steal a core from the workers when ranks outnumber cores.
"""

from __future__ import annotations

import time
import traceback
from collections import deque
from typing import Iterator

from ..explorer.executors import ChunkSizer, Executor, evaluate_guarded, failed_records

__all__ = ["MPIExecutor", "is_root", "world"]

_TASK, _RESULT, _STOP = 11, 12, 13
_POLL_MIN, _POLL_MAX = 2e-5, 2e-3


def world():
    """``MPI.COMM_WORLD`` (imports mpi4py, which initialises MPI)."""
    from mpi4py import MPI
    return MPI.COMM_WORLD


def is_root() -> bool:
    """True on rank 0, and in any process not started by an MPI launcher."""
    from ..explorer.executors import _mpi_world_size
    if _mpi_world_size() <= 1:
        return True
    return world().Get_rank() == 0


def _wait_for_message(comm, source, tag, status):
    """Block until a message is there, sleeping between probes (no busy-wait)."""
    delay = _POLL_MIN
    while not comm.Iprobe(source=source, tag=tag, status=status):
        time.sleep(delay)
        delay = min(delay * 2, _POLL_MAX)


class MPIExecutor(Executor):
    """Executor on ``MPI.COMM_WORLD`` (or ``comm``); needs at least two ranks.

    Chunks are sized adaptively (about 0.25 s of work each, at most 256 runs) and
    each worker holds at most ``prefetch`` chunks, so the coordinator keeps every
    worker busy and a killed job loses only the runs in flight.
    """

    def __init__(self, comm=None, prefetch: int = 2):
        from mpi4py import MPI
        self.MPI = MPI
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        if self.size < 2:
            raise ValueError("executor='mpi' needs at least 2 MPI ranks (start with mpiexec -n N, N >= 2)")
        self.n_workers = self.size - 1
        self.prefetch = prefetch
        self._stopped = False

    def is_worker_process(self) -> bool:
        return self.rank != 0

    # -- worker side --------------------------------------------------------------
    def serve(self, evaluator) -> None:
        from ..explorer.executors import worker_setup
        worker_setup()  # MPI ranks: one thread each
        comm, status = self.comm, self.MPI.Status()
        while True:
            _wait_for_message(comm, 0, self.MPI.ANY_TAG, status)
            msg = comm.recv(source=0, tag=status.Get_tag())
            if status.Get_tag() == _STOP:
                return
            t0 = time.perf_counter()
            try:
                records = evaluate_guarded(evaluator, msg)
            except Exception:  # noqa: BLE001 - evaluators record failures; this is a last resort
                records = failed_records(msg, "worker error: " + traceback.format_exc(limit=5))
            comm.send((records, time.perf_counter() - t0), dest=0, tag=_RESULT)

    # -- coordinator side -----------------------------------------------------------
    def imap(self, tasks: list) -> Iterator[list]:
        comm, status = self.comm, self.MPI.Status()
        sizer = ChunkSizer(self.n_workers)
        pending = deque(tasks)
        load = {w: 0 for w in range(1, self.size)}
        sends = []

        def feed():
            # breadth first: every idle rank gets a chunk before any rank gets a second one
            # (depth-first filling sent a small batch, e.g. BayesOpt's 2 runs, all to one rank)
            for depth in range(1, self.prefetch + 1):
                for w in sorted(load, key=load.get):
                    if pending and load[w] < depth:
                        sends.append(comm.isend(sizer.take(pending), dest=w, tag=_TASK))
                        load[w] += 1

        feed()
        while any(load.values()):
            _wait_for_message(comm, self.MPI.ANY_SOURCE, _RESULT, status)
            out = []
            while comm.Iprobe(source=self.MPI.ANY_SOURCE, tag=_RESULT, status=status):
                src = status.Get_source()
                records, seconds = comm.recv(source=src, tag=_RESULT)
                load[src] -= 1
                sizer.update(len(records), seconds)
                out.extend(records)
            feed()
            sends = [r for r in sends if not r.Test()]
            yield out
        self.MPI.Request.Waitall(sends)

    def close(self) -> None:
        if self.rank == 0 and not self._stopped:
            self._stopped = True
            for w in range(1, self.size):
                self.comm.send(None, dest=w, tag=_STOP)

    # -- after the study ------------------------------------------------------------
    def share_outcome(self, error: BaseException | None = None):
        """Rank 0 tells every rank whether the study finished; workers raise if it failed."""
        message = None if error is None else f"{type(error).__name__}: {error}"
        message = self.comm.bcast(message, root=0)
        if message is not None and self.rank != 0:
            raise RuntimeError(f"the study failed on rank 0: {message}")
