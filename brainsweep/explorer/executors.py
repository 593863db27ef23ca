"""Executors: where the runs of a batch are evaluated.

Every executor maps an evaluator over chunks of tasks and yields lists of
records as they finish; only the calling process ever touches the study file.

- :class:`SerialExecutor` — in this process (``n_jobs=1``).
- :class:`PoolExecutor` — a local process pool (``n_jobs=N``).
- :class:`brainsweep.mpi.MPIExecutor` — MPI ranks (``executor="mpi"`` or
  automatic under ``mpiexec`` with more than one rank).

Per-run time limits are enforced inside the evaluator, the same way on every
executor (see :mod:`.runner`); a ``sys.exit()`` that escapes an evaluator's own
handling fails the runs of its chunk instead of ending the study or a worker.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
import warnings
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Iterator

__all__ = ["Executor", "SerialExecutor", "PoolExecutor", "ChunkSizer", "make_executor"]


class Executor:
    """Base class. ``start`` once per study, ``imap`` once per batch, ``close`` at the end."""

    n_workers = 1

    def is_worker_process(self) -> bool:
        """True on processes that only evaluate (MPI ranks other than 0)."""
        return False

    def serve(self, evaluator) -> None:
        """Evaluate tasks sent by the coordinator until told to stop (MPI workers)."""
        raise NotImplementedError

    def start(self, evaluator) -> None:
        self.evaluator = evaluator

    def imap(self, tasks: list) -> Iterator[list]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def share_outcome(self, error: BaseException | None = None) -> None:
        """After the study: tell worker processes whether it failed (MPI); nothing locally."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SerialExecutor(Executor):
    """Evaluate in the calling process, one chunk at a time."""

    def imap(self, tasks: list) -> Iterator[list]:
        # an evaluator that integrates a chunk in parallel threads (a model's run_batch)
        # asks for chunks of at least that many runs
        sizer = ChunkSizer(1, min_chunk=getattr(self.evaluator, "threads", 1))
        pending = deque(tasks)
        while pending:
            chunk = sizer.take(pending)
            t0 = time.perf_counter()
            records = evaluate_guarded(self.evaluator, chunk)
            sizer.update(len(records), time.perf_counter() - t0)
            yield records


_EVALUATOR = None  # set in the parent before the pool forks; inherited by the workers


def _pool_chunk(chunk):
    t0 = time.perf_counter()
    return evaluate_guarded(_EVALUATOR, chunk), time.perf_counter() - t0


def evaluate_guarded(evaluator, chunk: list) -> list:
    """``evaluator.evaluate_chunk(chunk)``; a ``sys.exit()`` escaping it fails the chunk's runs."""
    try:
        return evaluator.evaluate_chunk(chunk)
    except SystemExit as err:
        return failed_records(chunk, f"the evaluation called sys.exit({err.code!r}); recorded as a failed run")


def _pool_init_spawn(evaluator):
    global _EVALUATOR
    _EVALUATOR = evaluator
    worker_setup()


def worker_setup() -> None:
    """In a worker process (pool or MPI rank): one thread per process. Workers already
    run in parallel with each other, and an OpenMP runtime inherited through fork()
    must not be used again (numba's omp layer aborts)."""
    engine = sys.modules.get("brainsweep.models.engine")
    if engine is not None and hasattr(engine, "set_parallel"):
        engine.set_parallel(False)


def _noop(_=None):
    return os.getpid()


class ChunkSizer:
    """Adaptive chunk size: enough runs per message to amortise its cost, few enough that
    a chunk takes about ``target`` seconds (a killed job loses at most that much work
    per worker)."""

    def __init__(self, n_workers: int, target: float = 0.25, max_chunk: int = 256, min_chunk: int = 1):
        self.n_workers, self.target, self.max_chunk = n_workers, target, max_chunk
        self.min_chunk = max(1, int(min_chunk))
        self.runs, self.seconds = 0, 0.0

    def update(self, n_runs: int, seconds: float) -> None:
        self.runs += n_runs
        self.seconds += seconds

    def size(self, remaining: int) -> int:
        if self.runs == 0:
            return self.min_chunk
        per_run = max(self.seconds / self.runs, 1e-7)
        fair = max(1, remaining // (2 * self.n_workers))  # keep every worker busy to the end
        return int(max(self.min_chunk, min(self.max_chunk, self.target / per_run, fair)))

    def take(self, pending: deque) -> list:
        """The next chunk, taken from the front of ``pending``."""
        n = min(self.size(len(pending)), len(pending))
        return [pending.popleft() for _ in range(n)]


def failed_records(tasks: list, message: str) -> list:
    from .storage import RunRecord
    return [RunRecord(idx, "failed", seed, 0.0, time.time(), "", message=message)
            for idx, _params, seed in tasks]


class PoolExecutor(Executor):
    """A local pool of ``n_jobs`` processes.

    On Linux the workers are forked *before* the study file is opened for writing,
    so any callable works (closures and lambdas included) and no worker holds an
    open HDF5 handle. Elsewhere they are spawned and the evaluator is pickled.
    A worker process that dies (segfault, OOM kill) is replaced; the runs it held
    are retried one by one, and a run that kills a worker again is recorded failed.
    """

    def __init__(self, n_jobs: int):
        if not isinstance(n_jobs, int) or n_jobs < 1:
            raise ValueError(f"n_jobs: expected a positive integer, got {n_jobs!r}")
        self.n_workers = n_jobs
        self._pool = None
        self._suspects: set = set()

    def start(self, evaluator) -> None:
        global _EVALUATOR
        self.evaluator = evaluator
        if sys.platform.startswith("linux"):
            _EVALUATOR = evaluator
            ctx, init = mp.get_context("fork"), {"initializer": worker_setup}
        else:
            ctx, init = mp.get_context("spawn"), {"initializer": _pool_init_spawn, "initargs": (evaluator,)}
        with warnings.catch_warnings():
            # the only other threads here are idle library pools (numexpr, numba);
            # forking lets workers inherit any callable, closures included
            warnings.filterwarnings("ignore", ".* is multi-threaded", DeprecationWarning)
            self._pool = ProcessPoolExecutor(self.n_workers, mp_context=ctx, **init)
            # fork every worker now, before the caller opens the study file
            list(self._pool.map(_noop, range(self.n_workers)))

    def imap(self, tasks: list) -> Iterator[list]:
        sizer = ChunkSizer(self.n_workers)
        pending = deque(tasks)
        retry: deque = deque()
        running: dict = {}

        def submit() -> bool:
            if retry:
                chunk = [retry.popleft()]
            else:
                chunk = sizer.take(pending)
            try:
                running[self._pool.submit(_pool_chunk, chunk)] = chunk
                return True
            except BrokenProcessPool:  # a worker died since the last wait
                retry.extendleft(reversed(chunk))
                return False

        while pending or retry or running:
            while (pending or retry) and len(running) < 2 * self.n_workers:
                if not submit():
                    break
            if not running:
                self._restart()
                continue
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            out = []
            broken = False
            for fut in done:
                chunk = running.pop(fut)
                try:
                    records, seconds = fut.result()
                except BrokenProcessPool:
                    broken = True
                    if len(chunk) == 1 and chunk[0][0] in self._suspects:
                        out.extend(failed_records(chunk, "the worker process died while running this "
                                                         "run (twice); see the system log (OOM kill, segfault)"))
                    else:
                        self._suspects.update(t[0] for t in chunk)
                        retry.extend(chunk)
                    continue
                sizer.update(len(records), seconds)
                out.extend(records)
            if broken:
                for fut, chunk in running.items():
                    retry.extend(chunk)
                running.clear()
                self._restart()
            if out:
                yield out

    def _restart(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.start(self.evaluator)

    def close(self) -> None:
        global _EVALUATOR
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        _EVALUATOR = None


def make_executor(n_jobs: int | None = 1, executor=None) -> Executor:
    """Choose the executor: an explicit one, ``"mpi"``, MPI when started under
    ``mpiexec`` with several ranks, else serial or a pool of ``n_jobs``."""
    if isinstance(executor, Executor):
        return executor
    if executor not in (None, "mpi", "serial", "pool"):
        raise ValueError(f"executor: expected None, 'serial', 'pool', 'mpi' or an Executor, got {executor!r}")
    if executor == "mpi" or (executor is None and _mpi_world_size() > 1):
        from ..mpi import MPIExecutor
        return MPIExecutor()
    if n_jobs is None or n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    if executor == "serial" or n_jobs == 1:
        return SerialExecutor()
    return PoolExecutor(n_jobs)


def _mpi_world_size() -> int:
    """Size of MPI_COMM_WORLD if this process was started by an MPI launcher, else 1.

    mpi4py is imported only when a launcher's environment variables are present, so
    plain ``python study.py`` never initialises MPI."""
    markers = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS",
               "HYDI_CONTROL_FD", "SLURM_PMIXP_ABORT_AGENT_PORT")
    if not any(m in os.environ for m in markers):
        return 1
    try:
        from mpi4py import MPI
    except ImportError:
        return 1
    return MPI.COMM_WORLD.Get_size()
