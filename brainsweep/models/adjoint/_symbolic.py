"""The adjoint's equations of a model compiled from a TVB-O file (``brainsweep.models.symbolic``).

Built from the parsed definition the engine's code was generated from (``cls.model_def``,
``cls.coupling_map``), with the same conventions as that code
(:mod:`brainsweep.models.symbolic._codegen`):

* derived parameters and variables, clamped state reads, coupling inputs and the calls of
  declared functions (their bodies with the arguments) stay intermediate variables (the VJP code computes them, then their adjoints
  by reverse accumulation, :func:`._codegen._vjp`);
* coupling inputs are the coupling's post-expressions of the network sums ``S_m`` (coupling
  vector entries 0..) and of the node's own factors ``L_m`` (the entries after them, read with
  the zero local delay); coupling inputs that the network does not drive are 0;
* a file whose rates are per second has its derivatives multiplied by 1e-3;
* every state variable in ``input_channels`` gets its input channel added to its derivative.

Clamped domains (``enforce: clamp``) are piecewise: a state is read clamped,
``min(max(x, lo), hi)``, and its derivative is limited so that a step ends in the domain,
``(clamp(x + dt f) - x) / dt``. Both are written as ``Piecewise``; their derivative is that of
the active piece: 1 (times the inner derivative) inside the domain, 0 where the clamp holds the
value (on the boundary itself the inside piece is taken). The gradient is therefore exact wherever
no state sits exactly on a boundary kink, which is where the run is differentiable at all.

Sigmoids of the form ``a / (1 + exp(z))`` are rewritten as :class:`._specs.logistic` for the
derivative only (the forward values are the engine's own code): the derivative of the plain form
is inf/inf = NaN far from the midpoint.
"""

from __future__ import annotations

import math

import sympy as sp
from sympy.core.function import AppliedUndef

from ._specs import DT, SymbolicSpec, logistic

__all__ = ["spec_from_definition", "spec_from_brainsweep_definition"]

_CACHE: dict = {}


def _clamp(z, lo, hi):
    """``min(max(z, lo), hi)`` as a Piecewise (open sides left out)."""
    pieces = []
    if lo is not None and math.isfinite(lo):
        pieces.append((sp.Float(lo), z < lo))
    if hi is not None and math.isfinite(hi):
        pieces.append((sp.Float(hi), z > hi))
    return sp.Piecewise(*pieces, (z, True)) if pieces else z


def _logistic_form(expr):
    """``1 / (1 + exp(z))`` (any constant 1) -> ``logistic(z)``: same value, NaN-free derivative."""
    def is_sigmoid(e):
        return (isinstance(e, sp.Pow) and e.exp == -1 and isinstance(e.base, sp.Add) and len(e.base.args) == 2
                and any(a.is_Number and float(a) == 1.0 for a in e.base.args)
                and any(isinstance(a, sp.exp) for a in e.base.args))

    return expr.replace(is_sigmoid, lambda e: logistic(next(a for a in e.base.args if isinstance(a, sp.exp)).args[0]))


class _Chain:
    """Intermediate variables ``_d_<name>`` (chained, not substituted: substituting a long chain of
    definitions grows the expressions beyond what sympy differentiates quickly), and each call of
    a declared function as an intermediate variable of its body."""

    def __init__(self, m, subs: dict):
        self.subs, self.derived, self._calls = subs, [], {}
        self._bodies = {f.name: f for f in m.functions}

    def define(self, name, expr):
        x = sp.Symbol("_d_" + name, real=True)
        self.derived.append((x, _logistic_form(expr)))
        return x

    def calls_of(self, expr):
        def value(c):
            key = (c.func.__name__, c.args)
            if key not in self._calls:
                f = self._bodies[c.func.__name__]
                args = [a if a.is_Atom else self.define(f"{f.name}_arg{len(self.derived)}", a) for a in c.args]
                body = self.calls_of(f.body.xreplace(dict(zip(f.args, args))).xreplace(self.subs))
                self._calls[key] = self.define(f"{f.name}_{len(self.derived)}", body)
            return self._calls[key]

        return expr.replace(lambda e: isinstance(e, AppliedUndef) and e.func.__name__ in self._bodies, value)


def spec_from_definition(cls) -> SymbolicSpec:
    """The :class:`SymbolicSpec` of a generated YAML model class (cached per class)."""
    if cls in _CACHE:
        return _CACHE[cls]
    m, cmap = cls.model_def, cls.coupling_map
    real = {}

    def sym(name):
        return real.setdefault(name, sp.Symbol(name, real=True))

    raw = [sym(s.name) for s in m.states]
    nq = len(cmap.quantities)
    cpl = [sym(f"cpl_{k}") for k in range(nq + len(cmap.local))]
    inputs = [sym(f"inp_{k}") for k in range(len(cls.input_channels))]
    # every name of the file -> its adjoint symbol; clamped reads, coupling inputs and derived
    # variables become intermediate variables ``_d_<name>`` (chained, not substituted: substituting
    # a long chain of definitions grows the expressions beyond what sympy differentiates quickly)
    subs = {m.symbols[p.name]: sym(p.name) for p in m.params}
    subs.update({sp.Symbol(p.name): sym(p.name) for p in cls.coupling_def.params})
    chain = _Chain(m, subs)
    define, chain_calls = chain.define, chain.calls_of

    for s, x in zip(m.states, raw):
        subs[m.symbols[s.name]] = define(s.name, _clamp(x, s.lo, s.hi)) if s.clamp else x
    sums = {sp.Symbol(f"S{k}"): cpl[k] for k in range(nq)}
    sums.update({sp.Symbol(f"L{k}"): cpl[nq + k] for k in range(len(cmap.local))})
    for name, _, _ in m.coupling_inputs:
        out = cmap.outputs.get(name)
        subs[m.symbols[name]] = sp.S.Zero if out is None else define(name, sp.sympify(out).xreplace(sums).xreplace(subs))
    for d in m.derived:  # dependencies first
        subs[m.symbols[d.name]] = define(d.name, chain_calls(d.expr.xreplace(subs)))

    def ours(expr):
        return _logistic_form(chain_calls(sp.sympify(expr).xreplace(subs)))

    rhs = []
    for k, s in enumerate(m.states):
        f = sp.Float(0.001) * ours(s.expr) if m.time_unit == "s" else ours(s.expr)  # per s -> per ms
        if s.name in cls.input_channels:
            f = f + inputs[cls.input_channels.index(s.name)]
        if s.clamp:
            f = (_clamp(raw[k] + DT * f, s.lo, s.hi) - raw[k]) / DT
        rhs.append(f)
    coupled = [ours(q) for q in list(cmap.quantities) + list(cmap.local)]
    return _checked_spec(cls, raw, cpl, inputs, rhs, coupled, ours, chain,
                         "are neither states, parameters nor coupling inputs after substitution")


def _checked_spec(cls, raw, cpl, inputs, rhs, coupled, ours, chain, problem: str, constants=None) -> SymbolicSpec:
    """The spec (outputs: the states and the class's recorded derived variables), cached per
    class, after checking that every symbol left is a state, coupling entry, input, step, parameter
    or intermediate variable (else ``ValueError`` naming the symbols and the ``problem``)."""
    m = cls.model_def
    outputs = {s.name: x for s, x in zip(m.states, raw)}
    outputs.update({n: ours(m.symbols[n]) for n in cls.derived_vars})
    constants = constants or {}
    known = {str(s) for s in raw + cpl + inputs + [DT] + [x for x, _ in chain.derived] + list(constants)} \
        | set(cls.spec()["param_names"])
    bad = sorted({str(s) for e in rhs + coupled + list(outputs.values()) + [e for _, e in chain.derived]
                  for s in e.free_symbols} - known)
    if bad:
        raise ValueError(f"{cls.__name__}: symbols {bad} of {m.path.name} {problem}")
    _CACHE[cls] = spec = SymbolicSpec(tuple(raw), tuple(cpl), tuple(rhs), tuple(coupled), outputs, tuple(inputs),
                                      tuple(chain.derived), constants)
    return spec


def spec_from_brainsweep_definition(cls) -> SymbolicSpec:
    """The :class:`SymbolicSpec` of a model defined by one of brainsweep's definition files
    (``brainsweep/models/definitions``: Hopf, Jansen-Rit, ...; cached per class). Its equations
    read the network sums as ``cpl_<sum>`` and the input channels as ``inp_<channel>`` (already in
    the right-hand sides); the delay buffer holds the ``sums`` expressions of a node's own state."""
    if cls in _CACHE:
        return _CACHE[cls]
    m = cls.model_def
    clamped = [s.name for s in m.states if getattr(s, "clamp", False)]
    if clamped:
        raise ValueError(f"{cls.__name__}: clamped states {clamped} in a brainsweep definition have no adjoint here")
    real = {}

    def sym(name):
        return real.setdefault(name, sp.Symbol(name, real=True))

    raw = [sym(s.name) for s in m.states]
    cpl = [sym(f"cpl_{k}") for k in range(len(cls.coupled_vars))]
    inputs = [sym(f"inp_{k}") for k in range(len(cls.input_channels))]
    subs = {m.symbols[p.name]: sym(p.name) for p in m.params if p.name in m.symbols}
    subs.update({m.symbols[f"cpl_{n}"]: cpl[k] for k, n in enumerate(cls.coupled_vars) if f"cpl_{n}" in m.symbols})
    subs.update({m.symbols[f"inp_{n}"]: inputs[k] for k, n in enumerate(cls.input_channels)
                 if f"inp_{n}" in m.symbols})
    subs.update({m.symbols[s.name]: x for s, x in zip(m.states, raw)})
    constants = {}
    if "n_nodes" in m.symbols:  # a constant of the network: the engine's const[0][0] (DefinedModel.constants)
        constants[sym("n_nodes")] = "const[0][0]"
        subs[m.symbols["n_nodes"]] = sym("n_nodes")
    chain = _Chain(m, subs)
    for d in m.derived:  # dependencies first
        subs[m.symbols[d.name]] = chain.define(d.name, chain.calls_of(d.expr.xreplace(subs)))

    def ours(expr):
        return _logistic_form(chain.calls_of(sp.sympify(expr).xreplace(subs)))

    rhs = [ours(s.expr) for s in m.states]
    coupled = [ours(m.sums[n]) for n in cls.coupled_vars]
    return _checked_spec(cls, raw, cpl, inputs, rhs, coupled, ours, chain,
                         "are neither states, parameters, coupling sums, inputs nor n_nodes", constants)
