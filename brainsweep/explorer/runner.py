"""Worker side of a study: evaluate tasks and turn what comes back into run records.

A *task* is ``(idx, params, seed)``. An *evaluator* turns a chunk of tasks into
:class:`~brainsweep.explorer.storage.RunRecord` objects, never raising: an
exception becomes a ``failed`` run with its traceback, a NaN/inf score a
``diverged`` run, an exceeded time limit a ``timeout`` run.
"""

from __future__ import annotations

import difflib
import inspect
import math
import os
import signal
import socket
import threading
import time
import traceback

import numpy as np

from .storage import RunRecord, split_results

__all__ = ["Params", "FunctionEvaluator", "run_seed", "RunTimeout", "worker_label", "qualified_name"]


def run_seed(study_seed: int, idx: int) -> int:
    """The seed of run ``idx``: a function of the study seed and the index only, so a
    run gets the same seed whether it runs serially, in a pool or on any MPI rank."""
    return int(np.random.SeedSequence([int(study_seed), int(idx)]).generate_state(1, np.uint32)[0])


def qualified_name(obj) -> str:
    """``module.qualname`` of a function, or of the class of a callable object."""
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"


def worker_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Params(dict):
    """The parameters of one run; reading a name that is not there says what is."""

    def __missing__(self, key):
        close = difflib.get_close_matches(str(key), list(self), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(f"parameter {key!r} is not explored or fixed in this study{hint} "
                       f"(run parameters: {', '.join(sorted(self))})")


class RunTimeout(Exception):
    """Raised inside a run that exceeded its time limit."""


def _on_alarm(signum, frame):
    raise RunTimeout()


def classify(idx: int, seed: int, result, t0: float, worker: str) -> RunRecord:
    """Validate and split what an evaluation returned into a record."""
    runtime = time.perf_counter() - t0
    now = time.time()
    if isinstance(result, (int, float, np.integer, np.floating)) and not isinstance(result, bool):
        result = {"score": float(result)}
    if not isinstance(result, dict):
        return RunRecord(idx, "failed", seed, runtime, now, worker,
                         message=f"the evaluation returned {type(result).__name__}; expected a dict "
                                 f"of scores and arrays (or a number)")
    try:
        scalars, values = split_results(result)
    except TypeError as err:
        return RunRecord(idx, "failed", seed, runtime, now, worker, message=str(err))
    bad = [k for k, v in scalars.items() if isinstance(v, float) and not math.isfinite(v)]
    status = "diverged" if bad else "ok"
    message = f"non-finite score(s): {', '.join(f'{k}={scalars[k]}' for k in bad)}" if bad else ""
    return RunRecord(idx, status, seed, runtime, now, worker, scalars, values, message)


def failure(idx: int, seed: int, err: BaseException, t0: float, worker: str,
            timeout: float | None = None) -> RunRecord:
    runtime = time.perf_counter() - t0
    if isinstance(err, RunTimeout):
        return RunRecord(idx, "timeout", seed, runtime, time.time(), worker,
                         message=f"run exceeded the time limit of {timeout} s")
    status = "diverged" if isinstance(err, FloatingPointError) else "failed"
    tb = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    msg = f"{type(err).__name__}: {err}"
    return RunRecord(idx, status, seed, runtime, time.time(), worker, message=msg, traceback=tb)


class _Alarm:
    """A per-run wall-clock limit via SIGALRM (main thread of a POSIX process only).

    Python code is interrupted at once; a long numba kernel is interrupted when it
    returns to Python.
    """

    def __init__(self, seconds: float | None):
        usable = (seconds is not None and hasattr(signal, "setitimer")
                  and threading.current_thread() is threading.main_thread())
        self.seconds = seconds if usable else None

    def __enter__(self):
        if self.seconds:
            self._old = signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        if self.seconds:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)


class FunctionEvaluator:
    """Evaluate a plain Python callable ``fn(params)`` (or ``fn(params, seed=...)``).

    ``fixed`` parameters are merged into every run's ``params``.
    """

    def __init__(self, fn, fixed: dict | None = None, timeout: float | None = None):
        if not callable(fn):
            raise TypeError(f"evaluate: expected a callable, got {type(fn).__name__}")
        self.fn = fn
        self.fixed = dict(fixed or {})
        self.timeout = timeout
        try:
            sig = inspect.signature(fn)
            self.wants_seed = "seed" in sig.parameters or any(
                p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        except (TypeError, ValueError):
            self.wants_seed = False

    @property
    def identity(self) -> str:
        return qualified_name(self.fn)

    def evaluate_one(self, idx: int, params: dict, seed: int) -> RunRecord:
        worker = worker_label()
        t0 = time.perf_counter()
        p = Params(self.fixed)
        p.update(params)
        try:
            with _Alarm(self.timeout):
                result = self.fn(p, seed=seed) if self.wants_seed else self.fn(p)
        except Exception as err:  # noqa: BLE001 - every failure (and RunTimeout) becomes a record
            return failure(idx, seed, err, t0, worker, self.timeout)
        return classify(idx, seed, result, t0, worker)

    def evaluate_chunk(self, tasks: list) -> list[RunRecord]:
        return [self.evaluate_one(*t) for t in tasks]
