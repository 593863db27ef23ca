"""Generate numba kernels for the forward run and the discrete adjoint of one model.

The forward kernel calls the model's own numba right-hand side and coupled-quantity
functions (the engine's arithmetic, so its values equal ``model.run``'s); the adjoint uses
vector-Jacobian products of the model's sympy equations (:mod:`._specs`), printed as Python
and compiled by numba. The module is written to the kernel cache directory (like the
engine's kernels) so numba's ``cache=True`` reuses the compiled code in later processes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
from string import Template

import sympy as sp
from sympy.printing.pycode import pycode

from ._specs import SymbolicSpec
from ._template import TEMPLATE

_LOADED: dict = {}


def _code(expr) -> str:
    return pycode(expr, fully_qualified_modules=True, strict=True)


def _function(name: str, args: str, targets: list[tuple[str, object]], unpack: dict) -> str:
    """``def name(args)``: ``target = expr`` lines with common subexpressions shared."""
    # locals are named s_<symbol> so that no symbol shadows an argument (x, p, ...)
    local = {sym: sp.Symbol("s_" + sym.name, real=True) for sym in unpack}
    exprs = [sp.sympify(e).xreplace(local) for _, e in targets]
    hoisted, exprs = _hoist_logistics(exprs)
    repl, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("_t"), optimizations="basic")
    repl = hoisted + repl
    used = set().union(*(e.free_symbols for e in exprs)) if exprs else set()
    lines = ["@njit(cache=True, inline='always', error_model='numpy')", f"def {name}({args}):"]
    for sym, source in sorted(unpack.items(), key=lambda kv: kv[0].name):
        if local[sym] in used:
            lines.append(f"    {local[sym].name} = {source}")
    for s, e in repl:
        lines.append(f"    {s.name} = {_code(e)}")
    for (target, _), e in zip(targets, reduced):
        if target.startswith("+"):  # accumulate: nothing to add for a zero derivative
            if e != 0:
                lines.append(f"    {target[1:]} += {_code(e)}")
        else:
            lines.append(f"    {target} {_code(sp.Float(0.0) if e == 0 else e)}")
    lines.append("    return 0")
    return "\n".join(lines)


def _hoist_logistics(exprs):
    """Each distinct logistic (an exp) computed once: cse does not see that ``logistic(r*(v0 - y))``
    and ``logistic(-r*(y - v0))`` are the same (measured: twice the exps in Jansen-Rit's VJP)."""
    from ._specs import logistic

    found = {}
    for e in exprs:
        for atom in e.atoms(logistic):
            found.setdefault(sp.expand(atom.args[0]), []).append(atom)
    subs, lines = {}, []
    for k, (arg, atoms) in enumerate(found.items()):
        sym = sp.Symbol(f"_l{k}", real=True)
        lines.append((sym, logistic(arg)))
        subs.update({a: sym for a in atoms})
    return lines, [e.xreplace(subs) for e in exprs]


def generate_source(model_cls, spec: SymbolicSpec, param_names: list[str], output_names: list[str]) -> str:
    """The kernel module's source for ``model_cls`` with the equations ``spec``."""
    params = {sp.Symbol(n, real=True): f"p[{k}]" for k, n in enumerate(param_names)}
    states = {s: f"x[{k}]" for k, s in enumerate(spec.states)}
    cpl = {s: f"c[{k}]" for k, s in enumerate(spec.coupling)}
    pidx = {s: k for k, s in enumerate(params)}
    names = [s.name for s in list(params) + list(states) + list(cpl)]
    clash = sorted({n for n in names if names.count(n) > 1 or n.startswith(("adj", "s_", "_t"))})
    if clash:
        raise ValueError(f"{model_cls.__name__}: symbol name(s) {clash} are used twice among parameters, "
                         f"states and coupling (or use a prefix reserved by the kernel generator)")
    v = sp.symbols(f"adjv_0:{len(spec.states)}", real=True)
    vmap = {s: f"v[{k}]" for k, s in enumerate(v)}
    # rhs VJP: vx = J_x^T v, vc = J_c^T v, vp += J_p^T v
    lam = sum(vi * fi for vi, fi in zip(v, spec.rhs))
    t = [(f"vx[{k}] =", sp.diff(lam, s)) for k, s in enumerate(spec.states)]
    t += [(f"vc[{k}] =", sp.diff(lam, s)) for k, s in enumerate(spec.coupling)]
    t += [(f"+vp[i, {pidx[s]}]", sp.diff(lam, s)) for s in params if lam.has(s)]
    fn = [_function("_f_vjp", "x, c, p, v, vx, vc, vp, i", t, {**states, **cpl, **params, **vmap})]
    # coupled quantities h(x, p): forward (only without the model's coupled_fn) and VJP (+=)
    w = sp.symbols(f"adjw_0:{len(spec.coupled)}", real=True)
    wmap = {s: f"v[{k}]" for k, s in enumerate(w)}
    hl = sum(wi * hi for wi, hi in zip(w, spec.coupled))
    t = [(f"+vx[{k}]", sp.diff(hl, s)) for k, s in enumerate(spec.states) if hl.has(s)]
    t += [(f"+vp[i, {pidx[s]}]", sp.diff(hl, s)) for s in params if hl.has(s)]
    fn.append(_function("_h_vjp", "x, p, v, vx, vp, i", t, {**states, **params, **wmap}))
    # outputs o(x, p) and their VJP (+=)
    outs = [sp.sympify(spec.outputs[n]) for n in output_names]
    fn.append(_function("_o", "x, p, out", [(f"out[{k}] =", e) for k, e in enumerate(outs)],
                        {**states, **params}))
    u = sp.symbols(f"adju_0:{len(outs)}", real=True)
    umap = {s: f"v[{k}]" for k, s in enumerate(u)}
    ol = sum(ui * oi for ui, oi in zip(u, outs))
    t = [(f"+vx[{k}]", sp.diff(ol, s)) for k, s in enumerate(spec.states) if ol.has(s)]
    t += [(f"+vp[i, {pidx[s]}]", sp.diff(ol, s)) for s in params if ol.has(s)]
    fn.append(_function("_o_vjp", "x, p, v, vx, vp, i", t, {**states, **params, **umap}))
    if model_cls.coupled_fn is not None:
        cf = model_cls.coupled_fn
        coupled_import = f"from {cf.__module__} import {cf.__name__} as _coupled_jit"
        coupled_def = "_h = _inline(_coupled_jit.py_func)"
    else:
        coupled_import = ""
        coupled_def = _function("_h_gen", "x, p, out", [(f"out[{k}] =", e) for k, e in enumerate(spec.coupled)],
                                {**states, **params}) + "\n\n\n@_inline\ndef _h(x, p, const, out):\n    _h_gen(x, p, out)"
    rhs = model_cls.rhs
    return Template(TEMPLATE).substitute(
        MODEL=model_cls.__name__, RHS_MODULE=rhs.__module__, RHS_NAME=rhs.__name__,
        COUPLED_IMPORT=coupled_import, COUPLED_DEF=coupled_def, GENERATED="\n\n\n".join(fn),
        NS=len(spec.states), NC=len(spec.coupling), NOUT=len(outs), NI=max(len(model_cls.input_channels), 1))


def load_kernels(model_cls, spec: SymbolicSpec, param_names, output_names):
    """The imported kernel module for ``model_cls`` (generated and cached on first use)."""
    import numba

    from ..engine import kernel_dir

    key = (model_cls, tuple(param_names), tuple(output_names))
    if key in _LOADED:  # sympy's differentiation and cse take ~0.5 s: once per process
        return _LOADED[key]
    src = generate_source(model_cls, spec, list(param_names), list(output_names))
    # the model's own functions are inlined from their modules: their sources are part of the key,
    # so numba's cache (keyed on this file) never serves code compiled from an older rhs
    parts = [src, sys.version, numba.__version__]
    parts += [inspect.getsource(sys.modules[f.__module__]) for f in (model_cls.rhs, model_cls.coupled_fn) if f]
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    if digest in _LOADED:
        return _LOADED[digest]
    name = f"_bs_adjoint_{model_cls.name}_{digest}"
    path = kernel_dir() / f"{name}.py"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(src)
        os.replace(tmp, path)
    spec_ = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec_)
    sys.modules[name] = mod
    spec_.loader.exec_module(mod)
    _LOADED[digest] = _LOADED[key] = mod
    return mod
