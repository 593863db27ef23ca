"""A study evaluation that returns the loss and its exact gradient (GradientDescent's protocol).

>>> ev = AdjointEvaluation(jr, spectral_correlation_loss(target, 1000.0, 256, "v_pyr"), space,
...                        run_kwargs=dict(duration=4000.0, dt=0.1, sampling_dt=1.0, integrator="heun"))
>>> Study(ev, space, GradientDescent("adam", lr=0.002, steps=30, starts=4), path="fit.h5").run()

Explored names are model parameters (one value shared by all nodes) or ``<param>__<node>``
(that parameter's value at one node, e.g. ``a__0 ... a__67``, as ``ParameterSpace(bounds=...,
per_node=["a"]).bind(model)`` writes them; the other nodes keep the model's value). Each run
returns ``loss`` and ``grad__<name>`` for every explored name. ``Study(model, space,
GradientDescent(...), objective=..., run_kwargs=...)`` makes this evaluation itself.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from ..models.adjoint import gradient, no_derivative
from .runner import FunctionEvaluator
from .space import split_per_node_name

__all__ = ["AdjointEvaluation", "check_differentiable", "split_node_name"]


def split_node_name(name: str, params) -> tuple[str, int | None]:
    """``"a__3"`` -> ``("a", 3)`` when ``a`` is a model parameter; ``"a"`` -> ``("a", None)``."""
    if name in params:
        return name, None
    split = split_per_node_name(name)
    if split is not None and split[0] in params:
        return split
    raise ValueError(f"{name!r} is neither a model parameter nor <parameter>__<node>")


def check_differentiable(model, names) -> None:
    """``ValueError`` naming the first of ``names`` (model parameters) that the discrete adjoint
    cannot differentiate, before anything runs, for the reasons of
    :func:`brainsweep.models.adjoint.no_derivative` (the same check :func:`gradient` makes)."""
    cls = type(model)
    specs = cls.spec()["params"]
    for name in names:
        if name not in specs:
            raise ValueError(f"{name!r} is not a parameter of {cls.__name__}")
        why = no_derivative(model, name)
        if why:
            raise ValueError(f"parameter {name!r} of {cls.__name__} {why}; it has no derivative")


def _check_objective(objective) -> None:
    """A callable, and not one of brainsweep's score objectives (they have no gradient)."""
    module = type(objective).__module__
    if not callable(objective) or (module.startswith("brainsweep.evaluation")
                                   and module != "brainsweep.evaluation.differentiable"):
        raise ValueError(f"objective {type(objective).__name__}: has no gradient (it computes scores); a gradient "
                         f"study needs a differentiable objective returning (loss, {{output: dloss/doutput}}), e.g. "
                         f"brainsweep.evaluation.differentiable.spectral_correlation_loss")


class AdjointEvaluation(FunctionEvaluator):
    """Evaluate points of ``space`` with :func:`brainsweep.models.adjoint.gradient`.

    ``objective(outputs) -> (loss, {output: dloss/doutput})`` (see
    :mod:`brainsweep.evaluation.differentiable`); ``run_kwargs``: ``duration`` (ms) and the
    keyword arguments of :func:`~brainsweep.models.adjoint.gradient` (``dt``, ``sampling_dt``,
    ``integrator``, ``initial_state``, ``bold``, ``tr``, ``bold_dt``). The run seed sets the
    initial state and the noise realisation (held fixed by the gradient), as ``model.run``.
    """

    def __init__(self, model, objective, space, run_kwargs: dict, loss: str = "loss",
                 timeout: float | None = None):
        from .gradient import grad_name

        kwargs = dict(run_kwargs)
        if "duration" not in kwargs:
            raise ValueError("run_kwargs: give duration (ms)")
        bad = sorted(set(kwargs) - {"duration", "dt", "sampling_dt", "integrator", "initial_state", "bold", "tr",
                                    "bold_dt"})
        if bad:
            raise ValueError(f"run_kwargs: {bad} not accepted (duration, dt, sampling_dt, integrator, "
                             f"initial_state, bold, tr, bold_dt; the seed is each run's study seed)")
        if space.per_node:
            raise ValueError(f"space: per_node {list(space.per_node)} is not bound to the model's nodes; give "
                             f"Study the model (it binds the space) or pass space.bind(model) here")
        pnames = set(type(model).spec()["param_names"])
        n = model.network.n_nodes
        self._targets = {}
        for name in space.names:
            base, node = split_node_name(name, pnames)
            if node is not None and node >= n:
                raise ValueError(f"{name!r}: node {node} does not exist (the network has {n} nodes)")
            if node is not None and not model.params.specs[base].per_node:
                raise ValueError(f"{name!r}: {type(model).__name__}'s parameter {base!r} takes one value for all "
                                 f"nodes, not one per node")
            self._targets[name] = (base, node)
        check_differentiable(model, sorted({base for base, _ in self._targets.values()}))
        _check_objective(objective)
        self._model, self._objective, self._kwargs, self._loss = model.copy(), objective, kwargs, loss
        self._grad_names = {name: grad_name(name) for name in space.names}
        super().__init__(self._evaluate, fixed=space.fixed, timeout=timeout)

    def _evaluate(self, params: dict, seed: int) -> dict:
        m = self._model
        n = m.network.n_nodes
        values = {}
        for name, (base, node) in self._targets.items():
            if node is None:
                values[base] = float(params[name])
            else:
                arr = values.get(base)
                if arr is None or np.ndim(arr) == 0:
                    arr = np.broadcast_to(np.asarray(m.params[base], dtype=float), (n,)).copy()
                arr[node] = float(params[name])
                values[base] = arr
        fixed = {k: v for k, v in params.items() if k not in self._targets}
        saved = {k: m.params[k] for k in list(values) + list(fixed)}
        try:
            m.params.update({**fixed, **values})
            wrt = sorted({base for base, _ in self._targets.values()})
            per_node = sorted({base for base, node in self._targets.values() if node is not None})
            kw = dict(self._kwargs)
            loss, g = gradient(m, self._checked_objective, wrt, kw.pop("duration"), seed=seed, per_node=per_node,
                               **kw)
        finally:
            m.params.update(saved)
        out = {self._loss: loss}
        for name, (base, node) in self._targets.items():
            out[self._grad_names[name]] = float(g[base] if node is None else g[base][node])
        return out

    def _checked_objective(self, outputs):
        """The objective's (loss, {output: gradient}), or a TypeError saying what it returned."""
        got = self._objective(outputs)
        if not (isinstance(got, tuple) and len(got) == 2 and isinstance(got[1], dict)):
            raise TypeError(f"objective {type(self._objective).__name__} returned {type(got).__name__}, not "
                            f"(loss, {{output: dloss/doutput}}); a gradient study needs a differentiable objective "
                            f"(brainsweep.evaluation.differentiable)")
        return got

    @property
    def objective(self):
        """The differentiable objective ``objective(outputs) -> (loss, {output: dloss/doutput})``."""
        return self._objective

    @property
    def identity(self) -> str:
        """What the evaluation computes: model class, parameters and network, objective settings,
        run settings and explored names (hashed), so a resumed study is the same computation."""
        m = self._model
        h = hashlib.sha256()
        h.update(type(m).__module__.encode() + b":" + type(m).__qualname__.encode())
        h.update(json.dumps({k: np.asarray(v).tolist() if not isinstance(v, str) else v
                             for k, v in m.params.to_dict().items()}, sort_keys=True).encode())
        for mat in (m.network.Cmat, m.network.Dmat, m.network.delays):
            h.update(b"-" if mat is None else np.ascontiguousarray(mat).tobytes())
        obj = self._objective
        h.update(type(obj).__qualname__.encode())
        for k, v in sorted(vars(obj).items()):
            h.update(k.encode() + (np.asarray(v).tobytes() if isinstance(v, np.ndarray) else repr(v).encode()))
        h.update(json.dumps(self._kwargs, sort_keys=True, default=repr).encode())
        h.update(json.dumps(sorted(self._targets)).encode())
        return "brainsweep.models.adjoint.AdjointEvaluation#" + h.hexdigest()[:16]

    def reference(self):
        return None  # rebuilt from the pickled evaluator only (with trust)
