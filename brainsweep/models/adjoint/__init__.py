"""Exact gradients of a scalar objective through the engine's scheme (discrete adjoint).

>>> from brainsweep.models.adjoint import gradient
>>> from brainsweep.evaluation.differentiable import sum_of_squares
>>> loss, grads = gradient(model, sum_of_squares(target, key="x"), wrt=["K_gl", "a"],
...                        duration=200.0, dt=0.1, sampling_dt=1.0, seed=3, per_node=["a"])

What is covered: deterministic runs (no noise, no stimulus) of the models with symbolic
equations in :mod:`._specs` (Hopf, Jansen-Rit), Euler and Heun exactly as the engine integrates
them (coupling and delays rounded to steps, history = initial state, coupling held fixed in both
Heun stages), outputs sampled every ``sampling_dt``. The forward pass calls the model's own
numba functions in the engine's order of operations, so its outputs equal ``model.run``'s; the
backward sweep is the discrete adjoint of that scheme (sympy vector-Jacobian products generated
into numba), so the gradient is exact to rounding, for any number of parameters at the cost of
about one extra run. Every step's state is kept (memory ~ steps x nodes x states x 8 bytes):
no checkpointing yet.
"""

from __future__ import annotations

import numpy as np

from ..noise import seed_state
from ._codegen import load_kernels
from ._specs import SPECS, SymbolicSpec, spec_for

__all__ = ["gradient", "forward", "SPECS", "SymbolicSpec"]


def _setup(model, duration, dt, sampling_dt, integrator, seed, initial_state):
    cls = type(model)
    if cls.coupling_squared if hasattr(cls, "coupling_squared") else False:
        raise ValueError(f"{cls.__name__}: coupling with squared weights has no adjoint here")
    if getattr(cls, "local_delays", ()):
        raise ValueError(f"{cls.__name__}: local delays have no adjoint here")
    spec = spec_for(model)
    mspec = cls.spec()
    pnames = list(mspec["param_names"])
    pd = model.params.to_dict()
    for name in ("sigma_ou", "sigma_white"):
        if name in pd and np.any(np.asarray(pd[name]) != 0):
            raise ValueError(f"gradient: {name} = {pd[name]}; only deterministic runs are covered "
                             f"(set {name} to 0)")
    for name in cls.ou_mean_params:
        if name and np.any(np.asarray(pd[name]) != 0):
            raise ValueError(f"gradient: {name} = {pd[name]} makes the OU input vary in time; set it to 0")
    dt = float(model.dt if dt is None else dt)
    n_steps = int(round(duration / dt))
    if abs(n_steps * dt - duration) > 1e-9 * max(1.0, duration):
        raise ValueError(f"duration {duration} ms is not a whole number of steps of dt = {dt} ms")
    sampling_dt = dt if sampling_dt is None else float(sampling_dt)
    sample_every = int(round(sampling_dt / dt))
    if sample_every < 1 or abs(sample_every * dt - sampling_dt) > 1e-9 * sampling_dt:
        raise ValueError(f"sampling_dt {sampling_dt} ms is not a whole number of steps of dt = {dt} ms")
    integrator = cls.integrator if integrator is None else integrator
    if integrator not in ("euler", "heun"):
        raise ValueError(f"integrator: expected 'euler' or 'heun', got {integrator!r}")
    net = model.network
    N = net.n_nodes
    specs = mspec["params"]
    P = np.empty((N, len(pnames)))
    for k, name in enumerate(pnames):
        P[:, k] = specs[name].as_float(pd[name])
    steps = net.delay_steps(pd.get("signalV"), dt)
    indptr, indices, w, _ = net.csr()
    delays = np.ascontiguousarray(net.csr_delays(steps))
    if delays.size and delays.max() > n_steps:
        raise ValueError("delays longer than the run")
    rowsum = np.ascontiguousarray(net.Cmat.sum(axis=1))
    diff = (1.0 if pd["coupling"] == "diffusive" else 0.0) if "coupling" in specs else \
        (1.0 if cls.coupling_mode == "diffusive" else 0.0)
    if seed is None:
        raise ValueError("gradient: give seed= (the initial state is drawn from it, as model.run does)")
    _, init_rng = seed_state(int(seed))
    X0 = model._initial_state_array(initial_state, init_rng)
    out_names = list(mspec["output_names"])
    kern = load_kernels(cls, spec, pnames, out_names)
    return dict(kern=kern, n_steps=n_steps, dt=dt, heun=integrator == "heun", P=P, X0=X0,
                const=tuple(model.constants()), indptr=indptr, indices=indices, w=w, delays=delays,
                diff=diff, rowsum=rowsum, sample_every=sample_every, out_names=out_names,
                pnames=pnames, N=N, NS=len(spec.states), NC=len(spec.coupling))


def _forward(s):
    n, N = s["n_steps"], s["N"]
    X = np.empty((n + 1, N, s["NS"]))
    X[0] = s["X0"]
    H = np.empty((n + 1, N, s["NC"]))
    Y = np.zeros((len(s["out_names"]), N, n // s["sample_every"]))
    s["kern"].forward(n, s["dt"], s["heun"], X, H, s["P"], s["const"], s["indptr"], s["indices"], s["w"],
                      s["delays"], s["diff"], s["rowsum"], s["sample_every"], Y)
    return X, H, Y


def forward(model, duration, *, dt=None, sampling_dt=None, integrator=None, seed=None, initial_state=None):
    """The outputs {name: (nodes, samples)} of the adjoint's forward pass (equal to ``model.run``'s)."""
    s = _setup(model, duration, dt, sampling_dt, integrator, seed, initial_state)
    _, _, Y = _forward(s)
    return {name: Y[k] for k, name in enumerate(s["out_names"])}


def gradient(model, objective, wrt, duration, *, dt=None, sampling_dt=None, integrator=None,
             seed=None, initial_state=None, per_node=()):
    """(loss, {param: dloss/dparam}) of ``objective`` on a deterministic run of ``model``.

    ``objective(outputs) -> (loss, {output name: dloss/doutput})`` with outputs as
    ``model.run`` returns them (nodes x samples; see :mod:`brainsweep.evaluation.differentiable`).
    ``wrt``: parameter names; the gradient of a parameter in ``per_node`` is an array (one value
    per node, the parameter's value at that node), else the derivative with respect to one value
    shared by all nodes (the sum over nodes). Units: loss units per parameter unit.
    """
    s = _setup(model, duration, dt, sampling_dt, integrator, seed, initial_state)
    wrt = list(wrt)
    for name in wrt + list(per_node):
        if name not in s["pnames"]:
            raise ValueError(f"gradient: unknown parameter {name!r} of {type(model).__name__}")
        p = type(model).spec()["params"][name]
        if p.choices is not None:
            raise ValueError(f"gradient: parameter {name!r} is a choice {p.choices}; it has no derivative")
        if name == "signalV":
            raise ValueError("gradient: signalV sets delays rounded to whole steps; it has no derivative")
    X, H, Y = _forward(s)
    outputs = {name: Y[k] for k, name in enumerate(s["out_names"])}
    loss, dY = objective(outputs)
    LY = np.zeros_like(Y)
    for name, g in dY.items():
        if name not in s["out_names"]:
            raise ValueError(f"the objective's gradient names output {name!r}; outputs are {s['out_names']}")
        LY[s["out_names"].index(name)] = g
    GP = np.zeros_like(s["P"])
    s["kern"].backward(s["n_steps"], s["dt"], s["heun"], X, H, s["P"], s["const"], s["indptr"], s["indices"],
                       s["w"], s["delays"], s["diff"], s["rowsum"], s["sample_every"], LY, GP)
    out = {}
    for name in wrt:
        col = GP[:, s["pnames"].index(name)]
        out[name] = col.copy() if name in per_node else float(col.sum())
    return float(loss), out
