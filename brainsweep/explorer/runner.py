"""Worker side of a study: evaluate tasks and turn what comes back into run records.

A *task* is ``(idx, params, seed)``. An *evaluator* turns a chunk of tasks into
:class:`~brainsweep.explorer.storage.RunRecord` objects, never raising: an
exception (``sys.exit()`` included) becomes a ``failed`` run with its traceback, a
NaN/inf score a ``diverged`` run, an exceeded time limit a ``timeout`` run.
``KeyboardInterrupt`` is not caught: Ctrl-C stops the study (which resumes later).

Time limits: with ``timeout`` set, a :class:`FunctionEvaluator` runs its chunk in a
forked child process. Inside it, SIGALRM interrupts Python code at the limit (a
``timeout`` run, and the child goes on with the next run); a run stuck in C code
(a C extension, ``ctypes``, a blocking system call) never returns to Python, so the
parent kills the child once the run has taken ``timeout`` plus a grace of
``1 s + 10 %`` and records it as ``timeout``; the rest of the chunk continues in a new
child. This works the same in serial studies, pool workers and MPI ranks (the child
touches neither the study file nor MPI). Without ``os.fork`` (Windows) only the
SIGALRM limit applies.
"""

from __future__ import annotations

import difflib
import inspect
import math
import multiprocessing as mp
import os
import signal
import socket
import sys
import threading
import time
import traceback
import warnings

import numpy as np

from .storage import RunRecord, split_results

__all__ = ["Params", "FunctionEvaluator", "run_seed", "RunTimeout", "worker_label", "qualified_name",
           "run_forked", "grace_seconds"]


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
    if isinstance(err, SystemExit):
        msg = f"the evaluation called sys.exit({err.code!r}); recorded as a failed run"
    return RunRecord(idx, status, seed, runtime, time.time(), worker, message=msg, traceback=tb)


def run_record(compute, idx: int, params: dict, seed: int, fixed: dict, timeout: float | None = None) -> RunRecord:
    """The record of one run: ``compute(p)`` on the run's parameters (``fixed`` merged in, a
    :class:`Params`) under the time limit; any exception, ``sys.exit`` or time-out becomes a
    failed/timeout record, what it returns is classified (see :func:`classify`)."""
    worker = worker_label()
    t0 = time.perf_counter()
    p = Params(fixed)
    p.update(params)
    try:
        with _Alarm(timeout):
            result = compute(p)
    except (Exception, SystemExit) as err:  # noqa: BLE001 - every failure (and RunTimeout) becomes a record
        return failure(idx, seed, err, t0, worker, timeout)
    return classify(idx, seed, result, t0, worker)


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

    ``fixed`` parameters are merged into every run's ``params``. ``timeout`` (s) limits
    each run (see the module docstring for how a run stuck in C code is stopped).
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
        """``module.qualname#<code hash>``: a function whose body changed (same name) is a
        different study, so resuming refuses to mix old and new results."""
        from ._evaluator_ref import code_hash
        digest = code_hash(self.fn)
        return qualified_name(self.fn) + ("" if digest is None else f"#{digest[:16]}")

    @property
    def legacy_identity(self) -> str:
        """The identity brainsweep gave this evaluator before it hashed code (``module.qualname``,
        recorded by format-1 study files): lets such a study resume."""
        return qualified_name(self.fn)

    def reference(self) -> dict | None:
        """Plain data naming the function (``module:qualname``) and its fixed parameters, from
        which a study file's reader rebuilds this evaluator without unpickling; None for a
        function that cannot be imported by name (``__main__``, a lambda, a closure)."""
        from . import _plain
        from ._evaluator_ref import code_hash, importable_name
        target = importable_name(self.fn)
        if target is None:
            return None
        doc = {"kind": "function", "target": target, "code": code_hash(self.fn),
               "fixed": self.fixed, "timeout": self.timeout}
        return _plain.or_none(doc)

    def evaluate_one(self, idx: int, params: dict, seed: int) -> RunRecord:
        def call(p):
            return self.fn(p, seed=seed) if self.wants_seed else self.fn(p)
        return run_record(call, idx, params, seed, self.fixed, self.timeout)

    def evaluate_chunk(self, tasks: list) -> list[RunRecord]:
        if self.timeout is not None and hasattr(os, "fork"):
            return run_forked(self.evaluate_one, tasks, self.timeout)
        return [self.evaluate_one(*t) for t in tasks]


_INTERRUPTED = "brainsweep: KeyboardInterrupt in the run's process"


def grace_seconds(timeout: float) -> float:
    """How long past its limit a run may take before its process is killed (s)."""
    return 1.0 + 0.1 * float(timeout)


def run_forked(evaluate_one, tasks: list, timeout: float) -> list[RunRecord]:
    """``[evaluate_one(*task) for task in tasks]`` in forked children, killing a child whose
    current run has not returned after ``timeout + grace_seconds(timeout)``."""
    records, pending = [], list(tasks)
    limit = timeout + grace_seconds(timeout)
    parent = os.getpid()
    while pending:
        recv, send = mp.Pipe(duplex=False)
        _flush_std()  # or the child would write the parent's buffered output a second time
        with warnings.catch_warnings():  # idle library threads only; the child uses none of them
            warnings.filterwarnings("ignore", ".*fork", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            _child(evaluate_one, pending, recv, send, parent)
        send.close()
        try:
            while pending:
                idx, _, seed = pending[0]
                t0 = time.perf_counter()
                if not recv.poll(limit):
                    records.append(RunRecord(
                        idx, "timeout", seed, time.perf_counter() - t0, time.time(), worker_label(),
                        message=f"run exceeded the time limit of {timeout} s without returning to Python; "
                                f"its process was killed after {limit:.3g} s"))
                    pending.pop(0)
                    break
                try:
                    record = recv.recv()
                except EOFError:  # the child died (segfault, OOM kill) during this run
                    records.append(RunRecord(idx, "failed", seed, time.perf_counter() - t0, time.time(),
                                             worker_label(), message=f"the process running this run died "
                                                                     f"({_exit_text(pid)})"))
                    pid = None
                    pending.pop(0)
                    break
                if isinstance(record, str) and record == _INTERRUPTED:
                    raise KeyboardInterrupt
                records.append(record)
                pending.pop(0)
        finally:
            recv.close()
            if pid is not None:
                _reap(pid)
    return records


def _child(evaluate_one, tasks, recv, send, parent: int) -> None:
    """In the forked child: evaluate, send each record, and leave without running any of the
    parent's exit handlers (its open study file, its MPI state) whatever happens. The child
    dies with its parent (Linux), so a killed study leaves no run behind hanging in C."""
    try:
        recv.close()
        _die_with_parent(parent)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends the child; the parent handles it
        engine = sys.modules.get("brainsweep.models.engine")
        if engine is not None and hasattr(engine, "set_parallel"):
            engine.set_parallel(False)  # an OpenMP runtime inherited through fork must not be used
        for task in tasks:
            try:
                record = evaluate_one(*task)
            except KeyboardInterrupt:  # raised by the evaluation itself: stop the study, as serially
                send.send(_INTERRUPTED)
                break
            try:
                send.send(record)
            except Exception as err:  # noqa: BLE001 - e.g. a value that cannot be sent
                send.send(RunRecord(record.idx, "failed", record.seed, record.runtime, record.finished,
                                    record.worker, message=f"the run's results cannot be sent back "
                                                           f"({type(err).__name__}: {err})"))
        send.close()
    finally:
        _flush_std()
        os._exit(0)


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(0)


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed or replaced stream
            pass


def _reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _exit_text(pid: int) -> str:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return "exit status unknown"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return f"killed by signal {sig} ({signal.Signals(sig).name})"
    return f"exit code {os.WEXITSTATUS(status)}"
