"""ALN's adjoint equations, read from the numba right-hand side the engine runs (``aln_rhs``).

ALN has no YAML definition: its one definition is ``brainsweep.models.aln.model.aln_rhs``. The
adjoint runs that same Python function once with sympy symbols in place of the state, coupling,
input and parameter arrays (its globals swapped for symbolic ones: ``math.sqrt``, ``max``, the
table look-up ``_lookup``), which records its arithmetic as a :class:`SymbolicSpec`; the kernels
are then generated as for every other model (sympy vector-Jacobian products in numba), and the
forward pass still calls ``aln_rhs`` itself, so its values are the engine's.

Piecewise parts and their derivatives (exact wherever the run is differentiable at all):

* transfer tables: bilinear interpolation in a (mu, sigma) cell; the derivative is that of the
  interpolation inside the cell (the table slopes, :func:`aln_slope`), 0 along an axis where the
  look-up is clipped to the table's edge; on a grid line the cell to its right is used, as the
  look-up itself does. The clipped-look-up count ``n_clipped`` is piecewise constant: derivative 0.
* ``max(0, v)`` (variance clamp) and ``max(tau_sigma, dt)``: the derivative of the active side.
* ``filter_sigma`` switches between two forms of the equations: the spec is traced for the run's
  value (the same on every node), which is part of the kernel cache key.

Not differentiable here (a clear error before anything runs): the neuron parameters (C, gL, EL,
DeltaT, VT, Vr, Vs, Tref), which set the transfer tables (recomputed, not differentiated), and
``filter_sigma`` (a switch).
"""

from __future__ import annotations

import types

import numpy as np
import sympy as sp
from numba import njit

from ..aln.model import K_AXES, K_DT, K_TABLE, P, aln_rhs
from ..aln.transfer import NEURON_PARAM_NAMES
from ._specs import DT, SymbolicSpec

__all__ = ["FIXED", "filter_on", "initial_value_params", "spec_from_aln", "aln_cell", "aln_slope"]

FIXED = {name: "sets ALN's transfer tables (recomputed for its value, not differentiated)"
         for name in NEURON_PARAM_NAMES}
FIXED["filter_sigma"] = "is a switch (0 or 1) between two forms of the equations"

_QUANTITIES = ("rate", "V", "tau_mu", "tau_sigma")  # the table's quantities, in _lookup's order
_CACHE: dict = {}


@njit(cache=True, inline="always", error_model="numpy")
def aln_cell(const, mu, sigma):
    """The 4 table quantities at (mu, sigma) as ``_lookup`` interpolates them (same arithmetic),
    then their slopes d/d mu (per mV/ms) and d/d sigma (per mV/sqrt(ms)): the slope of the
    bilinear interpolation inside its cell, 0 along an axis where the look-up is clipped.
    This form (the axis helper returns floats only, the weights' factors computed once) measured
    0.75 forward runs less per gradient than the previous one (ALN, tvb68, 10 s; which change
    counts most was not isolated)."""
    ax = const[K_AXES]
    n_mu = int(ax[2])
    n_s = int(ax[5])
    x, sx = _clip(mu, ax[0], ax[1], n_mu - 1.0)
    y, sy = _clip(sigma, ax[3], ax[4], n_s - 1.0)
    i = min(int(x), n_mu - 2)
    j = min(int(y), n_s - 2)
    fx = x - i
    fy = y - j
    gx = 1.0 - fx
    gy = 1.0 - fy
    # unsigned indices (>= 0 after the clipping) spare numba's negative-index wrap-around, as _lookup
    t = const[K_TABLE]
    a00 = np.uint64(4 * (i * n_s + j))
    a01 = a00 + np.uint64(4)
    a10 = a00 + np.uint64(4 * n_s)
    a11 = a10 + np.uint64(4)
    r0, m0, s0 = _quantity(t, a00, a01, a10, a11, np.uint64(0), fx, fy, gx, gy, sx, sy)
    r1, m1, s1 = _quantity(t, a00, a01, a10, a11, np.uint64(1), fx, fy, gx, gy, sx, sy)
    r2, m2, s2 = _quantity(t, a00, a01, a10, a11, np.uint64(2), fx, fy, gx, gy, sx, sy)
    r3, m3, s3 = _quantity(t, a00, a01, a10, a11, np.uint64(3), fx, fy, gx, gy, sx, sy)
    return (r0, r1, r2, r3, m0, m1, m2, m3, s0, s1, s2, s3)


@njit(cache=True, inline="always", error_model="numpy")
def _clip(v, origin, scale, top):
    """(grid coordinate (v - origin) * scale clipped to [0, top] as ``_lookup`` clips it, its
    derivative per unit of v: scale inside, 0 where clipped)."""
    g = (v - origin) * scale
    if g < 0.0:
        return 0.0, 0.0
    if g > top:
        return top, 0.0
    return g, scale


@njit(cache=True, inline="always", error_model="numpy")
def _quantity(t, a00, a01, a10, a11, q, fx, fy, gx, gy, sx, sy):
    """Value (``_lookup``'s arithmetic: weights (1 - fx) (1 - fy), ...), d/d mu and d/d sigma of
    quantity q (unsigned) in its cell; gx = 1 - fx, gy = 1 - fy."""
    t00, t01, t10, t11 = t[a00 + q], t[a01 + q], t[a10 + q], t[a11 + q]
    value = (gx * gy) * t00 + (gx * fy) * t01 + (fx * gy) * t10 + (fx * fy) * t11
    return value, sx * (gy * (t10 - t00) + fy * (t11 - t01)), sy * (gx * (t01 - t00) + fx * (t11 - t10))


@njit(cache=True, error_model="numpy")
def aln_slope(const, q, axis, mu, sigma):
    """d quantity_q / d mu (axis 0) or d / d sigma (axis 1) of ``_lookup``'s interpolation."""
    return aln_cell(const, mu, sigma)[4 + 4 * axis + q]


class _TableSlope(sp.Function):
    """d table_q / d (mu or sigma): printed as a call of :func:`aln_slope`."""

    nargs = 2
    q = 0
    axis = 0
    hoist_call, hoist_size = "_aln_cell(const, {}, {})", 12

    @property
    def hoist_index(self):
        return 4 + 4 * self.axis + self.q

    def fdiff(self, argindex=1):  # piecewise linear in each cell: second derivatives are not needed
        raise NotImplementedError("second derivatives of ALN's tables are not used by the adjoint")

    def _pythoncode(self, printer):
        mu, sigma = (printer._print(a) for a in self.args)
        return f"_aln_slope(const, {self.q}, {self.axis}, {mu}, {sigma})"


class _Table(sp.Function):
    """Quantity q of ALN's transfer tables at (mu, sigma): the engine's own ``_lookup``."""

    nargs = 2
    q = 0
    hoist_call, hoist_size = "_aln_cell(const, {}, {})", 12

    @property
    def hoist_index(self):
        return self.q

    def fdiff(self, argindex=1):
        return _SLOPES[self.q][argindex - 1](*self.args)

    def _pythoncode(self, printer):
        mu, sigma = (printer._print(a) for a in self.args)
        return f"_aln_lookup(const, {mu}, {sigma})[{1 + self.q}]"


class _Sqrt(sp.Function):
    """``math.sqrt`` of a value the tracer names ``root`` (a derived symbol): its derivative is
    ``1 / (2 root)``, so the adjoint reuses the forward square root instead of recomputing it
    (sympy's own ``sqrt`` differentiates to a second square root of the whole argument)."""

    nargs = 1
    root = None

    def fdiff(self, argindex=1):
        return sp.S.Half / self.root

    def _pythoncode(self, printer):
        return f"math.sqrt({printer._print(self.args[0])})"


_TABLES = [type(f"aln_{name}", (_Table,), {"q": q}) for q, name in enumerate(_QUANTITIES)]
_SLOPES = [[type(f"aln_d{name}_d{ax}", (_TableSlope,), {"q": q, "axis": a}) for a, ax in enumerate(("mu", "sigma"))]
           for q, name in enumerate(_QUANTITIES)]


def initial_value_params(initial_state) -> dict:
    """{state: parameter} of the states whose initial value is a parameter's value in ALN's run
    (``ALNModel._prepare``: the filtered sigmas start at ``sigmae_ext`` / ``sigmai_ext`` unless
    the run is given their initial values)."""
    if initial_state is not None and not isinstance(initial_state, dict):
        return {}
    given = initial_state or {}
    return {s: p for s, p in (("sigmae_f", "sigmae_ext"), ("sigmai_f", "sigmai_ext")) if s not in given}


def filter_on(model) -> bool:
    """True if ALN's ``filter_sigma`` switch is on (it must be the same on every node)."""
    v = np.unique(np.atleast_1d(np.asarray(model.params["filter_sigma"], dtype=float)) >= 0.5)
    if v.size > 1:
        raise ValueError("gradient: ALN's filter_sigma must be the same on every node (it selects the "
                         "form of the equations)")
    return bool(v[0])


class _Tracer:
    """The symbolic stand-ins of ``aln_rhs``'s globals; intermediate values it names become
    ``derived`` variables (chained, so the expressions sympy differentiates stay small)."""

    def __init__(self):
        self.derived = []

    def define(self, expr, tag):
        x = sp.Symbol(f"_d_{tag}{len(self.derived)}", real=True)
        self.derived.append((x, expr))
        return x

    def sqrt(self, e):
        x = sp.Symbol(f"_d_sqrt{len(self.derived)}", real=True)
        self.derived.append((x, type(f"_sqrt_of{x.name}", (_Sqrt,), {"root": x})(e)))
        return x

    @staticmethod
    def max(a, b):
        """Python's ``max(a, b)``: a unless b > a."""
        return sp.Piecewise((b, sp.StrictGreaterThan(b, a)), (a, True))

    def lookup(self, const, mu, sigma):
        mu, sigma = self.define(mu, "mu"), self.define(sigma, "sigma")
        values = [self.define(t(mu, sigma), f"{t.__name__}_") for t in _TABLES]
        return (sp.S.Zero, *values)  # the clip flag: piecewise constant, derivative 0


def spec_from_aln(model) -> SymbolicSpec:
    """The :class:`SymbolicSpec` of ALN, traced from ``aln_rhs`` for the model's ``filter_sigma``."""
    cls = type(model)
    filt = filter_on(model)
    if (cls, filt) in _CACHE:
        return _CACHE[cls, filt]
    mspec = cls.spec()
    states = [sp.Symbol(n, real=True) for n in mspec["state_names"]]
    nct = (len(cls.coupled_vars) - len(cls.local_only_vars)) * (2 if cls.coupling_squared else 1) \
        + len(cls.local_delays)
    cpl = [sp.Symbol(f"cpl_{k}", real=True) for k in range(nct)]
    inputs = [sp.Symbol(f"inp_{k}", real=True) for k in range(len(cls.input_channels))]
    params = [sp.Symbol(n, real=True) for n in mspec["param_names"]]
    params[P.filter_sigma] = 1.0 if filt else 0.0  # a switch: the branch of this run
    const = [None] * 3
    const[K_DT] = [DT]
    tracer = _Tracer()
    fn = aln_rhs.py_func
    glob = dict(fn.__globals__)
    glob.update(math=types.SimpleNamespace(sqrt=tracer.sqrt), max=tracer.max, _lookup=tracer.lookup)
    traced = types.FunctionType(fn.__code__, glob, fn.__name__, fn.__defaults__, fn.__closure__)
    dx = [None] * len(states)
    traced(list(states), list(cpl), list(inputs), params, tuple(const), dx)
    missing = [n for n, e in zip(mspec["state_names"], dx) if e is None]
    if missing:
        raise ValueError(f"ALNModel: aln_rhs wrote no value for {missing} when traced")
    by_name = dict(zip(mspec["state_names"], states))
    outputs = {n: by_name[n] for n in mspec["output_names"]}
    spec = SymbolicSpec(tuple(states), tuple(cpl), tuple(sp.sympify(e) for e in dx),
                        tuple(by_name[n] for n in cls.coupled_vars), outputs, tuple(inputs), tuple(tracer.derived),
                        imports=("from brainsweep.models.aln.model import _lookup as _aln_lookup",
                                 f"from {__name__} import aln_cell as _aln_cell, aln_slope as _aln_slope"))
    _CACHE[cls, filt] = spec
    return spec

