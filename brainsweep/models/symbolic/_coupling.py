"""TVB-O coupling functions mapped onto the engine's network sums.

TVB computes, for node i and coupling output k, ``c_k = post(sum_j w_ij pre(x_i, x_j(t - d_ij)))``.
The engine sums ``w_ij q_m(x_j(t - d_ij))`` for quantities ``q_m`` computed from a node's own
state, and (diffusive mode) subtracts ``rowsum_i q_m(x_i(t))``. So ``pre`` is split into terms
``a(x_i) * b(x_j)`` (after expanding, and expanding trigonometric sums: Kuramoto's
``sin(x_j - x_i) = sin x_j cos x_i - cos x_j sin x_i``): every distinct ``b`` becomes a summed
quantity, and ``sum_j w_ij pre = sum_b a_b(x_i) S_b``. A ``pre`` that is exactly ``x_j - x_i``
for every output uses the engine's diffusive mode. A term that mixes x_i and x_j inside one
factor (e.g. ``tanh(x_j - x_i)``) cannot be split and is refused.

``a(x_i)`` is the node's own state at time t: computed like a summed quantity and read back
through the engine's local-delay path with a delay of 0 ms (parameter ``coupling_xi_delay``), so
it stays fixed in both Heun stages, as TVB's Heun keeps the coupling of time t.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp

from ._expr import ParseError, parse
from ._schema import _text, parse_params
from ._source import Refused, YamlModelError, line_of, load_yaml

__all__ = ["CouplingDef", "CouplingMap", "parse_coupling", "map_coupling"]

GX = sp.Symbol("gx")


@dataclass
class CouplingDef:
    name: str
    path: Path
    params: list
    pre: sp.Expr
    post: sp.Expr
    pre_text: str
    post_text: str
    pre_line: int | None
    post_line: int | None
    delayed: bool
    local_states: list | None
    local_states_lines: list
    delayed_line: int | None = None
    description: str = ""


@dataclass
class CouplingMap:
    """quantities: sympy expressions of a node's state, summed over the network (ring buffer
    rows); local: factors a(x_i) of the node's own state at time t (ring rows read back with a
    zero local delay, so both Heun stages see time t as in TVB); outputs: coupling input name ->
    expression of the sums (Symbols ``S0``, ...), the local factors (``L0``, ...) and coupling
    parameters; diffusive: use the engine's diffusive mode."""

    quantities: list = field(default_factory=list)
    local: list = field(default_factory=list)
    outputs: dict = field(default_factory=dict)
    diffusive: bool = False


def parse_coupling(path) -> CouplingDef:
    path = Path(path)
    data, lines = load_yaml(path)
    name = str(data.get("name") or path.stem)
    params = parse_params(path, data, lines, prefix="coupling_")
    for p in params:
        p.description = p.description or f"{name} coupling {p.name[len('coupling_'):]}"
    names = {p.name[len("coupling_"):]: sp.Symbol(p.name) for p in params}
    local_states = data.get("local_states")
    pre_names = dict(names)
    pre_names.update({n: sp.Symbol(n) for n in ("x_i", "x_j")})
    pre_text = str((data.get("pre_expression") or {}).get("rhs", "x_j"))
    for k in sorted({int(m) for m in re.findall(r"\bx_[ij]\[(\d+)\]", pre_text)}):
        pre_names[f"x_i__{k}"] = sp.Symbol(f"x_i__{k}")
        pre_names[f"x_j__{k}"] = sp.Symbol(f"x_j__{k}")
    if local_states is not None:
        pre_names["local_states"] = pre_names["x_j"]
    post_text = str((data.get("post_expression") or {}).get("rhs", "gx"))
    exprs = []
    for key, text, nm in ((("pre_expression", "rhs"), pre_text, pre_names),
                          (("post_expression", "rhs"), post_text, dict(names, gx=GX))):  # fmt: skip
        try:
            exprs.append(parse(text, nm))
        except ParseError as exc:
            raise YamlModelError(path, line_of(lines, *key), exc.symbol, f"in the coupling {key[0]}: {exc}") from None
    return CouplingDef(name, path, params, exprs[0], exprs[1], pre_text, post_text,
                       line_of(lines, "pre_expression", "rhs"), line_of(lines, "post_expression", "rhs"),
                       bool(data.get("delayed", True)), list(local_states) if local_states is not None else None,
                       [line_of(lines, "local_states", i) for i in range(len(local_states or []))],
                       line_of(lines, "delayed"), _text(data.get("description")))


def map_coupling(c: CouplingDef, model) -> CouplingMap:
    """Map coupling ``c`` onto the engine for ``model`` (a ModelDef)."""
    state_sym = {s.name: model.symbols[s.name] for s in model.states}
    if c.local_states is not None:
        for s, line in zip(c.local_states, c.local_states_lines):
            if s not in state_sym:
                raise YamlModelError(c.path, line, str(s),
                                     f"coupling {c.name} names state {s!r}, which model {model.name} does not have "
                                     f"(states: {', '.join(state_sym)})")
        cvars = list(c.local_states)
    else:
        cvars = [s.name for s in model.states if s.coupling_variable]
    network_inputs = [n for n, local, _ in model.coupling_inputs if not local]
    split = [(n, ln) for n, local, ln in model.coupling_inputs if n in ("instant", "delayed")]
    if split:
        raise Refused(model.path, split[0][1], split[0][0], "coupling inputs 'instant'/'delayed' (tvboptim's split of "
                      "instantaneous and delayed coupling) are not supported")
    used = set().union(*(v.expr.free_symbols for v in model.states + model.derived)) if model.states else set()
    used_inputs = [n for n in network_inputs if model.symbols[n] in used]
    if not used_inputs:
        return CouplingMap()
    if not cvars:
        raise Refused(model.path, model.coupling_inputs[0][2], used_inputs[0],
                      "the model reads a coupling input but declares no coupling_variable")
    xj = {s: sp.Symbol(f"__xj_{s}") for s in cvars}
    indexed = sorted({int(str(s).split("__")[1]) for s in c.pre.free_symbols if "__" in str(s)})
    for k in indexed:
        if k >= len(cvars):
            raise YamlModelError(c.path, c.pre_line, f"x_j[{k}]",
                                 f"coupling {c.name} reads coupling variable {k} but model {model.name} has "
                                 f"{len(cvars)} ({', '.join(cvars)})")
    if indexed:
        subs = {}
        for k, s in enumerate(cvars):
            subs[sp.Symbol(f"x_j__{k}")] = xj[s]
            subs[sp.Symbol(f"x_i__{k}")] = state_sym[s]
        pres = [c.pre.xreplace(subs)]
    else:
        pres = [c.pre.xreplace({sp.Symbol("x_j"): xj[s], sp.Symbol("x_i"): state_sym[s]}) for s in cvars]
    if len(used_inputs) > len(pres) or network_inputs.index(used_inputs[-1]) >= len(pres):
        name = next(n for n in used_inputs if network_inputs.index(n) >= len(pres))
        raise Refused(model.path, next(ln for n, _, ln in model.coupling_inputs if n == name), name,
                      f"the model reads coupling input {name!r} (number {network_inputs.index(name)}) but coupling "
                      f"{c.name} gives {len(pres)} output(s)")
    out = CouplingMap()
    xi_syms = set(state_sym.values())
    xj_syms = set(xj.values())
    back = {v: state_sym[k] for k, v in xj.items()}
    wanted = [(n, pres[network_inputs.index(n)]) for n in used_inputs]
    diff = [_difference_of(pre, xj, state_sym) for _, pre in wanted]
    if all(diff):
        out.diffusive = True
        for (n, _), s in zip(wanted, diff):
            m = _quantity(out.quantities, state_sym[s])
            out.outputs[n] = c.post.xreplace({GX: sp.Symbol(f"S{m}")})
        return out
    for n, pre in wanted:
        gx = sp.S.Zero
        for a, b in _split(pre, xi_syms, xj_syms, c, n):
            m = _quantity(out.quantities, b.xreplace(back))
            if a.free_symbols & xi_syms:
                a = sp.Symbol(f"L{_quantity(out.local, a)}")
            gx += a * sp.Symbol(f"S{m}")
        out.outputs[n] = c.post.xreplace({GX: gx})
    return out


def _quantity(quantities: list, q) -> int:
    """Index of q in quantities (appended if new)."""
    if q not in quantities:
        quantities.append(q)
    return quantities.index(q)


def _difference_of(pre, xj: dict, state_sym: dict):
    """The coupling variable s if pre is exactly x_j[s] - x_i[s] (TVB's Difference), else None."""
    found = [s for s, v in xj.items() if v in pre.free_symbols]
    if len(found) == 1 and sp.expand(pre - (xj[found[0]] - state_sym[found[0]])) == 0:
        return found[0]
    return None


def _split(pre, xi_syms, xj_syms, c: CouplingDef, input_name):
    """[(a(x_i), b(x_j))] with pre = sum a * b; pre without x_i is kept whole (its form unchanged)."""
    if not pre.free_symbols & xi_syms:
        return [(sp.S.One, pre)]
    expanded = sp.expand(sp.expand_trig(pre) if pre.has(sp.sin, sp.cos) else pre)
    groups: dict = {}
    for term in sp.Add.make_args(expanded):
        a, b = [], []
        for f in sp.Mul.make_args(term):
            fs = f.free_symbols
            if fs & xi_syms and fs & xj_syms:
                raise Refused(c.path, c.pre_line, "x_i",
                              f"coupling {c.name}: pre-expression {c.pre_text!r} mixes x_i and x_j in {f} and cannot "
                              "be written as a sum over the network of a function of x_j")
            (b if fs & xj_syms else a).append(f)
        key = sp.Mul(*b)
        groups[key] = groups.get(key, sp.S.Zero) + sp.Mul(*a)
    return [(a, b) for b, a in groups.items()]
