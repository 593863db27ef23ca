"""Evaluate a brainsweep model in a study: one batched kernel call per chunk of runs.

::

    from brainsweep import evaluation as ev
    study = Study(HopfModel(Cmat=sc.Cmat, Dmat=sc.Dmat), space, GridSearch(), path="hopf.h5",
                  objective=ev.fit_fc(fc_emp), run_kwargs=dict(duration=60_000, bold=True),
                  keep=["BOLD"])

Each chunk of runs a worker receives becomes one ``model.run_batch`` call (numba
``prange`` over the runs); each run's outputs go through ``objective(out) -> dict``
(scalars are scores, arrays are stored), and the outputs named in ``keep`` are
stored as they are. A diverged simulation is a ``diverged`` run; an objective
that raises is a ``failed`` run.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np

from .runner import _Alarm, RunTimeout, classify, failure, qualified_name, worker_label
from .storage import RunRecord

__all__ = ["ModelEvaluation"]

_RUN_KWARGS = ("duration", "dt", "sampling_dt", "bold", "tr", "bold_dt", "integrator", "stimulus",
               "initial_state", "outputs", "chunk_ms")


class ModelEvaluation:
    """Runs of ``model`` with the explored (and fixed) parameters of a space.

    Parameters
    ----------
    model : brainsweep Model
        Its current parameters are the defaults of every run.
    space : ParameterSpace
        Every explored and fixed name must be a model parameter.
    objective : callable ``objective(out) -> dict``, optional
        Scores (and arrays) from a run's outputs (see ``brainsweep.evaluation`` adapters).
    run_kwargs : dict
        Passed to ``model.run_batch`` (duration, dt, sampling_dt, bold, tr, stimulus, ...).
    keep : list of output names
        Outputs stored for every run (e.g. ``["BOLD", "BOLD_t"]``); default none.
    timeout : float, optional
        Seconds per run; a chunk of n runs may take n times that.
    """

    def __init__(self, model, space, objective=None, run_kwargs=None, keep=None, timeout=None):
        space.validate(model.param_names, f"model {type(model).__name__}")
        run_kwargs = dict(run_kwargs or {})
        unknown = [k for k in run_kwargs if k not in _RUN_KWARGS]
        if unknown:
            raise ValueError(f"run_kwargs: unknown argument(s) {unknown}; expected some of {list(_RUN_KWARGS)}")
        if "seed" in run_kwargs or "seeds" in run_kwargs:
            raise ValueError("run_kwargs: seeds come from the study (Study(seed=...)), not run_kwargs")
        if objective is not None and not callable(objective):
            raise TypeError(f"objective: expected a callable out -> dict, got {type(objective).__name__}")
        keep = [keep] if isinstance(keep, str) else list(keep or [])
        self.model = model
        self.fixed = dict(space.fixed)
        self.objective = objective
        self.run_kwargs = run_kwargs
        self.keep = keep
        self.timeout = timeout

    @property
    def threads(self) -> int:
        """Runs one chunk should hold so the batched kernel keeps every thread busy."""
        try:
            import numba
            return int(numba.get_num_threads())
        except Exception:  # noqa: BLE001
            return 1

    @property
    def identity(self) -> str:
        """Model class, its parameters and network, the objective and run arguments: a
        resumed study must simulate the same thing."""
        m = self.model
        h = hashlib.sha256()
        for name in sorted(m.param_names):
            h.update(name.encode())
            value = m.params[name]
            # the bytes of the value itself: an object array's bytes would be its pointers,
            # which differ from process to process
            h.update(value.encode() if isinstance(value, str) else np.ascontiguousarray(value).tobytes())
        net = m.network
        for arr in (getattr(net, "Cmat", None), getattr(net, "Dmat", None), getattr(net, "delays", None)):
            if arr is not None:
                h.update(np.ascontiguousarray(arr, dtype=float).tobytes())
        h.update(repr(sorted((k, repr(v)) for k, v in self.run_kwargs.items())).encode())
        h.update(repr(self.keep).encode())
        obj_name = "none" if self.objective is None else qualified_name(self.objective)
        return f"{qualified_name(m)}[{obj_name}]#{h.hexdigest()[:16]}"

    def evaluate_chunk(self, tasks: list) -> list[RunRecord]:
        worker = worker_label()
        t0 = time.perf_counter()
        dicts = [{**self.fixed, **params} for _, params, _ in tasks]
        seeds = [seed for _, _, seed in tasks]
        limit = None if self.timeout is None else self.timeout * len(tasks)
        try:
            with _Alarm(limit):
                outs = self.model.run_batch(dicts, seeds=seeds, on_diverge="return", **self.run_kwargs)
        except RunTimeout as err:
            return [failure(idx, seed, err, t0, worker, self.timeout) for idx, _, seed in tasks]
        except Exception as err:  # noqa: BLE001 - e.g. one invalid value: isolate it
            if len(tasks) > 1:
                return [rec for task in tasks for rec in self.evaluate_chunk([task])]
            idx, _, seed = tasks[0]
            return [failure(idx, seed, err, t0, worker)]
        elapsed = (time.perf_counter() - t0) / len(tasks)
        return [self._record(task, out, worker, elapsed) for task, out in zip(tasks, outs)]

    def _record(self, task, out, worker, sim_seconds) -> RunRecord:
        idx, _, seed = task
        t0 = time.perf_counter() - sim_seconds  # runtime = this run's share of the batch + objective
        if isinstance(out, BaseException):
            return failure(idx, seed, out, t0, worker)
        try:
            result = {} if self.objective is None else self.objective(out)
            if not isinstance(result, dict):
                raise TypeError(f"objective returned {type(result).__name__}; expected a dict")
            result = dict(result)
            for name in self.keep:
                if name not in out:
                    raise KeyError(f"keep: the model produced no output {name!r} "
                                   f"(outputs: {sorted(out)}; BOLD needs run_kwargs bold=True)")
                result[name] = out[name]
        except Exception as err:  # noqa: BLE001
            return failure(idx, seed, err, t0, worker)
        return classify(idx, seed, result, t0, worker)
