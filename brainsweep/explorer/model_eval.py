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
that raises (or calls ``sys.exit``) is a ``failed`` run. ``timeout`` is enforced with
SIGALRM: the engine returns to Python after every ``chunk_ms`` of simulated time, so
a batch is interrupted within one chunk of the limit.

:meth:`ModelEvaluation.reference` records the evaluation as plain data (model class
name, parameters, network, run arguments, objective spec) so that a study file's
reader can rebuild it without unpickling (see ``_evaluator_ref``).
"""

from __future__ import annotations

import hashlib
import time

import numpy as np

from . import _plain
from .runner import _Alarm, RunTimeout, classify, failure, qualified_name, worker_label
from .storage import RunRecord, StudyFileError

__all__ = ["ModelEvaluation"]

_RUN_KWARGS = ("duration", "dt", "sampling_dt", "bold", "tr", "bold_dt", "integrator", "stimulus",
               "initial_state", "initial_history", "outputs", "chunk_ms")


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
        A differentiable objective (``objective(out) -> (loss, {output: dloss/doutput})``,
        :mod:`brainsweep.evaluation.differentiable`) is accepted as it is: each run stores its
        ``loss`` score (the signal gradient is dropped), so CMA-ES, Evolution or BayesOpt
        minimise the very loss a GradientDescent study of the same objective does.
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
        if callable(run_kwargs.get("initial_history")):
            raise ValueError("run_kwargs: initial_history in a study must be an array (nodes, coupled quantities, "
                             "steps); a callable cannot be recorded in the study file: evaluate it first")
        if "initial_history" in run_kwargs:
            run_kwargs["initial_history"] = np.asarray(run_kwargs["initial_history"], dtype=float)
        if "seed" in run_kwargs or "seeds" in run_kwargs:
            raise ValueError("run_kwargs: seeds come from the study (Study(seed=...)), not run_kwargs")
        from ..models.engine import timing_problems
        timing = timing_problems(run_kwargs, getattr(model, "dt", 0.1))
        if timing:
            raise ValueError("run_kwargs: " + "; ".join(f"{key}: {msg}" for key, msg in timing))
        if objective is not None and not callable(objective):
            raise TypeError(f"objective: expected a callable out -> dict (or -> (loss, gradients)), got "
                            f"{type(objective).__name__}")
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
        """Model class, its parameters and network, the objective (its settings and targets, or
        its code) and run arguments: a resumed study must simulate the same thing."""
        return self._identity(with_objective=True)

    @property
    def legacy_identity(self) -> str:
        """The identity brainsweep gave this evaluation before it hashed the objective (format-1
        study files record it): lets such a study resume."""
        return self._identity(with_objective=False)

    def _identity(self, with_objective: bool) -> str:
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
        h.update(repr(sorted((k, _stable_repr(v)) for k, v in self.run_kwargs.items())).encode())
        h.update(repr(self.keep).encode())
        if with_objective:
            h.update(self._objective_identity().encode())
        obj_name = "none" if self.objective is None else qualified_name(self.objective)
        return f"{qualified_name(m)}[{obj_name}]#{h.hexdigest()[:16]}"

    def _objective_identity(self) -> str:
        """The objective's settings and targets (brainsweep's adapters), and the code hash of
        any part that is a user's own callable."""
        from ..evaluation.differentiable import objective_digest
        from ..evaluation.objectives import Combine, objective_spec
        from ._evaluator_ref import code_hash
        if self.objective is None:
            return "none"
        h = hashlib.sha256(_plain.encode(objective_spec(self.objective, opaque=True)))
        parts = self.objective.objectives if type(self.objective) is Combine else [self.objective]
        for part in parts:
            if objective_spec(part) is None:
                h.update(f"code:{code_hash(part)}".encode())
            digest = objective_digest(part)  # a differentiable objective: its settings and targets
            if digest is not None:
                h.update(f"settings:{digest}".encode())
        return h.hexdigest()

    # -- plain-data reference (see _evaluator_ref) ----------------------------------------
    def reference(self) -> dict | None:
        """Plain data to rebuild this evaluation without unpickling, or None when the model
        class is not one of brainsweep.models or a stimulus is not one of brainsweep's.
        A user's own objective callable is named only (``"complete": False``): the file's
        reader can then read the other objectives' targets but not rebuild the evaluation."""
        from ..evaluation.objectives import objective_spec
        model = _model_reference(self.model)
        run_kwargs = _run_kwargs_reference(self.run_kwargs)
        if model is None or run_kwargs is None:
            return None
        objective = None if self.objective is None else objective_spec(self.objective, opaque=True)
        doc = {"kind": "model", **model, "fixed": self.fixed, "run_kwargs": run_kwargs, "keep": list(self.keep),
               "objective": objective, "timeout": self.timeout,
               "complete": self.objective is None or objective_spec(self.objective) is not None}
        return _plain.or_none(doc)

    @classmethod
    def from_reference(cls, doc: dict) -> "ModelEvaluation":
        """The evaluation :meth:`reference` described (only brainsweep's models, stimuli and
        objective adapters can be named)."""
        from ..evaluation.objectives import objective_from_spec
        model = _model_from_reference(doc)
        objective = None if doc.get("objective") is None else objective_from_spec(doc["objective"])
        return cls(model, _FixedOnly(doc.get("fixed") or {}), objective=objective,
                   run_kwargs=_run_kwargs_from_reference(doc.get("run_kwargs") or {}),
                   keep=doc.get("keep") or None, timeout=doc.get("timeout"))

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
            result = {} if self.objective is None else _scores(self.objective(out))
            for name in self.keep:
                if name not in out:
                    raise KeyError(f"keep: the model produced no output {name!r} "
                                   f"(outputs: {sorted(out)}; BOLD needs run_kwargs bold=True)")
                result[name] = out[name]
        except (Exception, SystemExit) as err:  # noqa: BLE001 - sys.exit in an objective: a failed run
            return failure(idx, seed, err, t0, worker)
        return classify(idx, seed, result, t0, worker)


def _scores(result) -> dict:
    """An objective's scores: its dict, or ``{"loss": loss}`` for a differentiable objective's
    ``(loss, {output: dloss/doutput})``."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict):
        return {"loss": float(result[0])}
    if not isinstance(result, dict):
        raise TypeError(f"objective returned {type(result).__name__}; expected a dict of scores or "
                        f"(loss, {{output: gradient}})")
    return dict(result)


class _FixedOnly:
    """The part of a ParameterSpace an evaluation keeps: its fixed values (explored values
    come with each run)."""

    def __init__(self, fixed: dict):
        if not isinstance(fixed, dict):
            raise StudyFileError(f"evaluator reference: 'fixed' must be a mapping, got {type(fixed).__name__}")
        self.fixed = dict(fixed)

    def validate(self, known, what: str) -> None:
        unknown = sorted(set(self.fixed) - set(known))
        if unknown:
            raise ValueError(f"fixed parameter(s) {unknown} are not parameters of {what}")


# -- models, networks and stimuli as plain data ----------------------------------------------------
_RUN_STATE = ("outputs", "state", "last_seed", "last_seeds", "last_states", "_tables")  # results of runs
_STIMULI = ("StepStimulus", "PulseTrain", "Sinusoid", "OUStimulus")


def _brainsweep_model_class(name):
    from .. import models
    cls = getattr(models, name, None) if isinstance(name, str) and name in models.__all__ else None
    if not (isinstance(cls, type) and issubclass(cls, models.Model) and cls is not models.Model):
        raise StudyFileError(f"evaluator reference: {name!r} is not a model class of brainsweep.models")
    return cls


def _stable_repr(value) -> str:
    """``repr`` of a run setting for the study's identity; numpy abbreviates arrays of over 1000
    elements with "...", so those are named by the hash of their bytes instead (two studies that
    differ only inside a long stimulus or initial state must not share an identity)."""
    if isinstance(value, np.ndarray) and value.size > np.get_printoptions()["threshold"]:
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()[:16]
        return f"ndarray(shape={value.shape}, dtype={value.dtype}, sha256={digest})"
    return repr(value)


def _model_reference(model) -> dict | None:
    from ._evaluator_ref import yaml_model_source
    cls = type(model)
    source = yaml_model_source(model)  # a model generated from TVB-O files: recorded by file hashes
    try:
        if source is None and _brainsweep_model_class(cls.__name__) is not cls:
            return None
    except StudyFileError:
        return None
    attrs = {k: v for k, v in vars(model).items()
             if k not in _RUN_STATE and k not in ("network", "params", "_tables_arg")}
    if any(not _settable_attr(cls, k) for k in attrs) or getattr(model, "_tables_arg", None) is not None:
        return None  # e.g. ALN transfer tables given as objects: keep only the pickle
    net = model.network
    default_net = net.n_nodes == 1 and not net.Cmat.any() and net.Dmat is None and net.delays is None
    network = {} if default_net else {k: v for k, v in (("Cmat", net.Cmat), ("Dmat", net.Dmat),
                                                        ("delays", net.delays)) if v is not None}
    return {"model": cls.__name__, "params": model.params.to_dict(), "network": network, "attrs": attrs,
            **({"yaml": source} if source is not None else {})}


def _settable_attr(cls, name: str) -> bool:
    """Instance settings a reference may carry: the initial state, or a plain class setting
    (``dt``, ``integrator``...) overridden on the instance."""
    if name == "initial_state":
        return True
    return not name.startswith("_") and isinstance(getattr(cls, name, None), (str, int, float, tuple))


def _model_from_reference(doc: dict):
    from ._evaluator_ref import yaml_model_class
    cls = yaml_model_class(doc["yaml"]) if doc.get("yaml") is not None else _brainsweep_model_class(doc.get("model"))
    network = doc.get("network") or {}
    unknown = sorted(set(network) - {"Cmat", "Dmat", "delays"})
    if unknown:
        raise StudyFileError(f"evaluator reference: unknown network entries {unknown}")
    model = cls(**network, params=doc.get("params") or {})
    for name, value in (doc.get("attrs") or {}).items():
        if not _settable_attr(cls, name):
            raise StudyFileError(f"evaluator reference: {cls.__name__}.{name} is not a setting a study may record")
        setattr(model, name, tuple(value) if isinstance(getattr(cls, name, None), tuple) else value)
    return model


def _run_kwargs_reference(run_kwargs: dict) -> dict | None:
    out = dict(run_kwargs)
    stimulus = out.get("stimulus")
    if stimulus is not None:
        if not isinstance(stimulus, dict):
            return None
        out["stimulus"] = {}
        for channel, value in stimulus.items():
            ref = _stimulus_reference(value)
            if ref is None:
                return None
            out["stimulus"][channel] = ref
    return out


def _stimulus_reference(value) -> dict | None:
    import dataclasses

    from ..models import stimulus as stim
    if isinstance(value, np.ndarray):
        return {"array": value}
    name = type(value).__name__
    if name == "_Sum" and type(value) is stim._Sum:
        a, b = _stimulus_reference(value.a), _stimulus_reference(value.b)
        return None if a is None or b is None else {"sum": [a, b]}
    if name in _STIMULI and type(value) is getattr(stim, name):
        return {"stimulus": name, "fields": {f.name: getattr(value, f.name) for f in dataclasses.fields(value)
                                             if not f.name.startswith("_")}}
    return None


def _stimulus_from_reference(doc):
    from ..models import stimulus as stim
    if not isinstance(doc, dict):
        raise StudyFileError(f"evaluator reference: a stimulus must be a mapping, got {type(doc).__name__}")
    if "array" in doc:
        return np.asarray(doc["array"], dtype=float)
    if "sum" in doc:
        a, b = (_stimulus_from_reference(part) for part in doc["sum"])
        return a + b
    name = doc.get("stimulus")
    if name not in _STIMULI:
        raise StudyFileError(f"evaluator reference: unknown stimulus {name!r} (known: {', '.join(_STIMULI)})")
    return getattr(stim, name)(**(doc.get("fields") or {}))


def _run_kwargs_from_reference(doc: dict) -> dict:
    out = dict(doc)
    if out.get("stimulus") is not None:
        out["stimulus"] = {ch: _stimulus_from_reference(v) for ch, v in out["stimulus"].items()}
    if isinstance(out.get("outputs"), list):
        out["outputs"] = list(out["outputs"])
    return out
