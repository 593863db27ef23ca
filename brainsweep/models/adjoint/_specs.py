"""Symbolic right-hand sides (sympy) of brainsweep's built-in models, for the discrete adjoint.

Each spec gives, in the engine's conventions (see :mod:`brainsweep.models.engine`): the time
derivatives of the state of one node as functions of its state ``x``, its coupling vector ``c``
(the network sums, then the node's own locally delayed quantities), its input channels (noise,
held fixed by the adjoint), the step ``DT`` and its parameters (sympy symbols named as the
model's parameters); the coupled quantities written to the delay buffer; and the recorded
outputs. Models defined by a TVB-O file get their spec from that definition
(:mod:`._symbolic`); the hand-written specs here are for the built-ins still written in Python.
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
    inputs: tuple = ()   # sympy symbols of the input channels (noise + stimulus), in channel order
    derived: tuple = ()  # (symbol, expression) of intermediate variables used above, dependencies first


#: the integration step (ms) where an equation uses it (clamped states limit their derivative)
DT = sp.Symbol("adjdt", real=True)


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
    u = sp.symbols("inp_0:2", real=True)
    rhs = ((p["a"] - r2) * x - p["w"] * y + p["K_gl"] * c0 + u[0] + p["x_ext"],
           (p["a"] - r2) * y + p["w"] * x + u[1] + p["y_ext"])
    return SymbolicSpec((x, y), (c0,), rhs, (x,), {"x": x, "y": y}, u)


def jansen_rit_spec(model_cls) -> SymbolicSpec:
    p = _params(model_cls)
    y = sp.symbols("y0:6", real=True)
    c0 = sp.Symbol("cpl_0", real=True)

    def sigm(v):
        return 2 * p["nu_max"] * logistic(p["r"] * (p["v0"] - v))

    a, b, A, B, J = p["a"], p["b"], p["A"], p["B"], p["J"]
    u = sp.Symbol("inp_0", real=True)
    afferent = p["mu"] + p["coupling_a"] * c0 + u
    rhs = (y[3], y[4], y[5],
           A * a * sigm(y[1] - y[2]) - 2 * a * y[3] - a * a * y[0],
           A * a * (afferent + p["a_2"] * J * sigm(p["a_1"] * J * y[0])) - 2 * a * y[4] - a * a * y[1],
           B * b * (p["a_4"] * J * sigm(p["a_3"] * J * y[0])) - 2 * b * y[5] - b * b * y[2])
    cmin, cmax = p["coupling_cmin"], p["coupling_cmax"]
    coupled = (cmin + (cmax - cmin) * logistic(p["coupling_r"] * (p["coupling_midpoint"] - (y[1] - y[2]))),)
    outputs = {f"y{k}": y[k] for k in range(6)}
    outputs["v_pyr"] = y[1] - y[2]
    return SymbolicSpec(tuple(y), (c0,), rhs, coupled, outputs, (u,))


#: model name (``Model.name``) -> spec builder
SPECS = {"hopf": hopf_spec, "jansenrit": jansen_rit_spec}


def spec_for(model) -> SymbolicSpec:
    """The symbolic spec of ``model``: from its TVB-O definition when it has one (every model
    compiled by :func:`brainsweep.models.from_yaml`), else a hand-written one here, else a clear error."""
    cls = type(model)
    if getattr(cls, "model_def", None) is not None and getattr(cls, "coupling_map", None) is not None:
        from ._symbolic import spec_from_definition

        return spec_from_definition(cls)
    name = getattr(cls, "name", None)
    if name not in SPECS:
        raise ValueError(f"no symbolic equations for model {type(model).__name__} (name {name!r}) in "
                         f"brainsweep.models.adjoint; exact gradients are available for every model defined by a TVB-O file "
                         f"(brainsweep.models.from_yaml) and for {sorted(SPECS)}")
    return SPECS[name](type(model))
