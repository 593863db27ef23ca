"""numba source of a parsed TVB-O model + coupling, in the engine's model form.

State equations and derived variables are printed from the file's text in the order written
(``_textcode``, as brainsweep's own definitions); sympy's printer serves the coupling terms
(which ``_coupling`` rewrites symbolically) and any text the order-keeping printer refuses.

Three module-level ``@njit(cache=True)`` functions, inlined into the engine's kernel like a
hand-written model's: ``rhs(x, cpl, inp, p, const, dx)``, ``coupled(x, p, const, cv)`` (the
quantities the network sums) and ``derived(x, p, const, out)`` (recorded derived variables).
Each state variable named in ``inputs`` (default: all) has an input channel of its own (stimulus
+ OU + white noise, added to its derivative). A state whose domain is enforced by clamping is read clamped, and its derivative is
limited so that a step ends inside the domain (``const[0][0]`` is dt). With Euler this is TVB's
clamp after each step; with Heun both stages are limited and the new state is the mean of two
points inside the domain (TVB clamps the predictor and the final sum instead): the two differ
only for steps that reach the boundary. (An engine hook for state bounds would make Heun exact.) A file whose rates are per
second (units ``per_s``, ``mV_per_s``, ``Hz``) has its derivatives multiplied by 1e-3: the engine's
time is in ms.
"""

from __future__ import annotations

import math

import sympy as sp

from ._expr import to_code
from ._textcode import TextCodeError, text_code

__all__ = ["generate"]


def _dependencies(exprs, derived: dict) -> list:
    """Derived variables (in definition order) that ``exprs`` need, directly or indirectly."""
    need, todo = set(), [s for e in exprs for s in e.free_symbols]
    while todo:
        s = str(todo.pop())
        if s in derived and s not in need:
            need.add(s)
            todo.extend(derived[s].expr.free_symbols)
    return [n for n in derived if n in need]


def _clamp(code: str, lo, hi) -> str:
    if lo is not None and math.isfinite(lo):
        code = f"max({code}, {float(lo)!r})"
    if hi is not None and math.isfinite(hi):
        code = f"min({code}, {float(hi)!r})"
    return code


def generate(model, cmap, param_names: list, header: str, inputs: tuple) -> tuple[str, list]:
    """(module source, names of the recorded derived variables)."""
    pidx = {n: k for k, n in enumerate(param_names)}
    sidx = {s.name: k for k, s in enumerate(model.states)}
    derived = {d.name: d for d in model.derived}
    rename = {}
    for n, k in pidx.items():
        rename[sp.Symbol(n)] = f"p[{k}]"
    for s in model.states:
        rename[model.symbols[s.name]] = f"x_{s.name}"
    for d in model.derived:
        rename[model.symbols[d.name]] = f"d_{d.name}"
    for n, _, _ in model.coupling_inputs:
        rename[model.symbols[n]] = f"c_{n}"
    for m in range(len(cmap.quantities)):
        rename[sp.Symbol(f"S{m}")] = f"cpl[{m}]"
    for m in range(len(cmap.local)):  # after the network sums in the coupling vector
        rename[sp.Symbol(f"L{m}")] = f"cpl[{len(cmap.quantities) + m}]"
    zero_inputs = {model.symbols[n]: sp.S.Zero for n, _, _ in model.coupling_inputs if n not in cmap.outputs}

    fparams = {f.name: f.params for f in model.functions}

    def code(expr):
        return to_code(expr.xreplace(zero_inputs), rename, fparams)

    # equations as written (left to right, as the file's text), sympy's printing only for text the
    # order-keeping printer does not take (e.g. Eq, Heaviside, sign)
    by_name = {str(sym): c for sym, c in rename.items()}
    by_name.update({str(sym): "0.0" for sym in zero_inputs})
    fnames = {f.name: [by_name[str(q)] for q in f.params] for f in model.functions}

    def written(var):
        try:
            return text_code(var.text, by_name, fnames)
        except TextCodeError:
            return code(var.expr)

    # declared functions: scalar arguments only (their parameters after the arguments), no arrays,
    # so that a call that LLVM does not inline costs no reference counting
    funcs = []
    for f in model.functions:
        local = {a: f"a_{str(a)[len('__arg_'):]}" for a in f.args}
        local.update({s: f"P_{s}" for s in f.params})
        funcs += ["@njit(cache=True, error_model=\"numpy\")",
                  f"def f_{f.name}({', '.join(list(local.values()))}):",
                  f"    return {to_code(f.body, local, fparams)}", "", ""]

    def load_states(exprs, indent="    "):
        used = set().union(*(e.free_symbols for e in exprs)) if exprs else set()
        lines = []
        for s in model.states:
            if model.symbols[s.name] in used:
                raw = f"x[{sidx[s.name]}]"
                lines.append(f"{indent}x_{s.name} = {_clamp(raw, s.lo, s.hi) if s.clamp else raw}")
        return lines

    def derived_lines(names, indent="    "):
        return [f"{indent}d_{n} = {written(derived[n])}" for n in names]

    clamped = any(s.clamp for s in model.states)
    # right-hand side
    state_exprs = [s.expr.xreplace(zero_inputs) for s in model.states]
    need = _dependencies(state_exprs, derived)
    input_exprs = [cmap.outputs[n] for n, _, _ in model.coupling_inputs if n in cmap.outputs]
    body_exprs = state_exprs + [derived[n].expr for n in need] + input_exprs
    rhs = ["@njit(cache=True)", "def rhs(x, cpl, inp, p, const, dx):"]
    rhs += load_states(body_exprs)
    if clamped:
        rhs.append("    dt_ = const[0][0]")
    rhs += [f"    c_{n} = {code(cmap.outputs[n])}" for n, _, _ in model.coupling_inputs if n in cmap.outputs]
    rhs += derived_lines(need)
    scale = "0.001 * " if model.time_unit == "s" else ""  # d/dt per second -> per ms
    for k, s in enumerate(model.states):
        f = f"{scale}({written(s)})" if scale else written(s)
        if s.name in inputs:
            f += f" + inp[{inputs.index(s.name)}]"
        if s.clamp:
            raw = f"x[{k}]"
            rhs.append(f"    dx[{k}] = ({_clamp(f'{raw} + dt_ * ({f})', s.lo, s.hi)} - {raw}) / dt_")
        else:
            rhs.append(f"    dx[{k}] = {f}")
    # coupled quantities (from a node's own state; summed over the network by the engine)
    cpl = ["@njit(cache=True)", "def coupled(x, p, const, cv):"]
    rows = cmap.quantities + cmap.local
    cpl += load_states(rows)
    cpl += [f"    cv[{m}] = {code(sp.sympify(q))}" for m, q in enumerate(rows)] or ["    pass"]
    # recorded derived variables that do not depend on the coupling
    inputs = {model.symbols[n] for n, _, _ in model.coupling_inputs}
    recorded = []
    for d in model.derived:
        chain = _dependencies([d.expr], derived) + [d.name]
        if d.record and not any(derived[n].expr.free_symbols & inputs for n in chain):
            recorded.append(d.name)
    der = ["@njit(cache=True)", "def derived(x, p, const, out):"]
    chain = _dependencies([model.symbols[n] for n in recorded], derived)
    der += load_states([derived[n].expr for n in chain])
    der += derived_lines(chain)
    der += [f"    out[{j}] = d_{n}" for j, n in enumerate(recorded)] or ["    out[0] = 0.0"]
    source = "\n".join([header, "import math", "from numba import njit", "", "", *funcs, *rhs, "", "", *cpl, "", "",
                        *der, ""])
    return source, recorded
