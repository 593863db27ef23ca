"""Symbolic right-hand sides (sympy) of brainsweep's built-in models, for the discrete adjoint.

Each spec gives, in the engine's conventions (see :mod:`brainsweep.models.engine`): the time
derivatives of the state of one node as functions of its state ``x``, its coupling vector ``c``
(one entry per coupled quantity) and its parameters (sympy symbols named as the model's
parameters); the coupled quantities written to the delay buffer; and the recorded outputs.
Noise and input channels are zero here (deterministic runs without stimulus).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp


@dataclass
class SymbolicSpec:
    """One node's equations: ``rhs[k]`` = d state_k / dt (per ms)."""

    states: tuple        # sympy symbols of the state variables (engine order)
    coupling: tuple      # sympy symbols of the coupling vector entries
    rhs: tuple           # expressions, one per state
    coupled: tuple       # expressions of the coupled quantities (one per coupling entry)
    outputs: dict        # output name -> expression


class logistic(sp.Function):
    """``1 / (1 + exp(z))``, printed as the kernels' overflow-safe ``_logistic``: the derivative
    of the sympy form, ``-exp(z) / (1 + exp(z))**2``, is inf/inf = NaN for z > ~355 (a
    Jansen-Rit sigmoid far from its midpoint)."""

    def fdiff(self, argindex=1):
        q = logistic(self.args[0])
        return -q * (1 - q)

    def _pythoncode(self, printer):
        return f"_logistic({printer._print(self.args[0])})"


def _params(model_cls):
    return {p.name: sp.Symbol(p.name, real=True) for p in model_cls.parameters}


def hopf_spec(model_cls) -> SymbolicSpec:
    p = _params(model_cls)
    x, y = sp.symbols("x y", real=True)
    c0 = sp.Symbol("cpl_0", real=True)
    r2 = x * x + y * y
    rhs = ((p["a"] - r2) * x - p["w"] * y + p["K_gl"] * c0 + p["x_ext"],
           (p["a"] - r2) * y + p["w"] * x + p["y_ext"])
    return SymbolicSpec((x, y), (c0,), rhs, (x,), {"x": x, "y": y})


def jansen_rit_spec(model_cls) -> SymbolicSpec:
    p = _params(model_cls)
    y = sp.symbols("y0:6", real=True)
    c0 = sp.Symbol("cpl_0", real=True)

    def sigm(v):
        return 2 * p["nu_max"] * logistic(p["r"] * (p["v0"] - v))

    a, b, A, B, J = p["a"], p["b"], p["A"], p["B"], p["J"]
    afferent = p["mu"] + p["coupling_a"] * c0
    rhs = (y[3], y[4], y[5],
           A * a * sigm(y[1] - y[2]) - 2 * a * y[3] - a * a * y[0],
           A * a * (afferent + p["a_2"] * J * sigm(p["a_1"] * J * y[0])) - 2 * a * y[4] - a * a * y[1],
           B * b * (p["a_4"] * J * sigm(p["a_3"] * J * y[0])) - 2 * b * y[5] - b * b * y[2])
    cmin, cmax = p["coupling_cmin"], p["coupling_cmax"]
    coupled = (cmin + (cmax - cmin) * logistic(p["coupling_r"] * (p["coupling_midpoint"] - (y[1] - y[2]))),)
    outputs = {f"y{k}": y[k] for k in range(6)}
    outputs["v_pyr"] = y[1] - y[2]
    return SymbolicSpec(tuple(y), (c0,), rhs, coupled, outputs)


#: model name (``Model.name``) -> spec builder
SPECS = {"hopf": hopf_spec, "jansenrit": jansen_rit_spec}


def spec_for(model) -> SymbolicSpec:
    """The symbolic spec of ``model`` (a built-in with a spec here), or a clear error."""
    name = getattr(type(model), "name", None)
    if name not in SPECS:
        raise ValueError(f"no symbolic equations for model {type(model).__name__} (name {name!r}) in "
                         f"brainsweep.models.adjoint; exact gradients are available for {sorted(SPECS)}")
    return SPECS[name](type(model))
