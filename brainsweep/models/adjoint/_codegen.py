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

from ..symbolic._expr import _Printer
from ._specs import DT, SymbolicSpec
from ._template import TEMPLATE

_LOADED: dict = {}
#: a generated function longer than this (lines) is compiled once and called, not inlined: numba
#: compiles an inlined body at each of its call sites (3 in the backward sweep with Heun)
_INLINE_MAX_LINES = 400
#: functions whose derivative is zero almost everywhere (sympy leaves it unevaluated)
_STEPS = (sp.floor, sp.ceiling, sp.sign, sp.Heaviside)


def _code(expr) -> str:
    return _Printer({"fully_qualified_modules": True, "strict": True}, {}).doprint(expr)


def _almost_everywhere(expr, where: str):
    """Derivatives of step functions (DiracDelta, d floor/dx, ...) are 0 except on a set of measure
    zero: replaced by 0. Any other unevaluated derivative is an error naming ``where``."""
    expr = expr.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
    for d in expr.atoms(sp.Derivative):
        if not isinstance(d.expr, _STEPS):
            raise ValueError(f"{where}: sympy cannot differentiate {d.expr}")
    return expr.replace(lambda e: isinstance(e, sp.Derivative), lambda e: sp.S.Zero)


def _needed(exprs, derived) -> list:
    """The (symbol, expr) definitions of ``derived`` (dependencies first) that ``exprs`` use."""
    defs = dict(derived)
    need, todo = set(), [x for e in exprs for x in sp.sympify(e).free_symbols]
    while todo:
        x = todo.pop()
        if x in defs and x not in need:
            need.add(x)
            todo.extend(defs[x].free_symbols)
    return [(x, e) for x, e in derived if x in need]


def _vjp(lam, wrt, derived):
    """d lam / d w for each symbol w of ``wrt`` by reverse accumulation through the derived
    variables (``lam`` and the definitions may use them): (lines, targets) where lines define the
    needed derived values and then their adjoints ``_b_<name>``, last consumer first."""
    chain = _needed([lam], derived)
    defs = dict(chain)
    bars, adjoint = {}, []
    for x, _ in reversed(chain):
        e = sp.diff(lam, x) + sum((bars[y] * sp.diff(defs[y], x) for y in bars if defs[y].has(x)), sp.S.Zero)
        if e != 0:
            bars[x] = sp.Symbol("_b_" + x.name, real=True)
            adjoint.append((bars[x], e))
    targets = [sp.diff(lam, w) + sum((bars[y] * sp.diff(defs[y], w) for y in bars if defs[y].has(w)), sp.S.Zero)
               for w in wrt]
    return chain + adjoint, targets


def _function(name: str, args: str, targets: list[tuple[str, object]], unpack: dict, lines_before=(),
              invariant=None) -> str:
    """``def name(args)``: the assignments ``lines_before`` ((symbol, expr)), then ``target =
    expr`` lines, common subexpressions shared by both (:func:`_shared_cse`). With ``invariant``
    (a list, filled here): the parts that depend on the symbols ``unpack`` maps to ``p[..]`` or
    ``dt`` only are read from ``q[k]`` (the node's row of Q) and ``invariant`` receives their
    (k, code) lines."""
    # locals are named _s_<symbol> so that no symbol shadows an argument (x, p, ...)
    local = {sym: sp.Symbol("_s_" + sym.name, real=True) for sym in unpack}
    exprs = [_almost_everywhere(sp.sympify(e), name).xreplace(local) for _, e in targets]
    before = [(x, _almost_everywhere(sp.sympify(e), name).xreplace(local)) for x, e in lines_before]
    if invariant is not None:
        fixed = {local[s] for s, src in unpack.items() if src.startswith("p[") or src == "dt"}
        before, exprs = _hoist_invariants(before, exprs, fixed, invariant)
    before, exprs = _hoist_calls(before, exprs)
    if invariant is not None:
        before, exprs = _shared_reciprocals(before, exprs)
    hoisted, exprs = _hoist_logistics(exprs)
    repl, reduced = _shared_cse(before + hoisted, exprs)
    used = set().union(*(e.free_symbols for e in reduced + [e for _, e in repl])) if exprs else set()
    lines = ["@njit(cache=True, inline='always', error_model='numpy')", f"def {name}({args}):"]
    for sym, source in sorted(unpack.items(), key=lambda kv: kv[0].name):
        if local[sym] in used:
            lines.append(f"    {local[sym].name} = {source}")
    for k, _ in (invariant or ()):
        if sp.Symbol(f"_q{k}", real=True) in used:
            lines.append(f"    _q{k} = q[{k}]")
    for s, e in repl:
        lines.append(f"    {s} = {e.code}" if isinstance(e, _Call) else f"    {s.name} = {_code(e)}")
    for (target, _), e in zip(targets, reduced):
        if target.startswith("+"):  # accumulate: nothing to add for a zero derivative
            if e != 0:
                lines.append(f"    {target[1:]} += {_code(e)}")
        else:
            lines.append(f"    {target} {_code(sp.Float(0.0) if e == 0 else e)}")
    lines.append("    return 0")
    if len(lines) > _INLINE_MAX_LINES:  # a call costs less than compiling the body at every call site
        lines[0] = "@njit(cache=True, error_model='numpy')"
    return "\n".join(lines)


def _numbered(prefix):
    """({expr: symbol}, a function giving an expression's symbol ``<prefix><k>``, new ones
    numbered in order of first use)."""
    found = {}

    def sym(e):
        if e not in found:
            found[e] = sp.Symbol(f"{prefix}{len(found)}", real=True)
        return found[e]

    return found, sym


def _hoist_invariants(before, exprs, fixed, out):
    """``before`` and ``exprs`` with each largest part that depends on the symbols ``fixed`` only
    (parameters and dt: the same at every step) replaced by a symbol ``_q<k>``; ``out`` receives
    the (k, expr) of each. ALN's VJP: about a third of its divisions and powers are such parts."""
    found, sym = _numbered("_q")

    def walk(e):
        if e.is_Atom or not e.args or not hasattr(e, "func"):
            return e
        if e.free_symbols and e.free_symbols <= fixed and not isinstance(e, sp.logic.boolalg.Boolean):
            return sym(e)
        if isinstance(e, (sp.Add, sp.Mul)):
            inv = [a for a in e.args if a.free_symbols and a.free_symbols <= fixed]
            if len(inv) > 1:
                rest = [walk(a) for a in e.args if a not in inv]
                return e.func(sym(e.func(*inv)), *rest, evaluate=False)
        return e.func(*[walk(a) for a in e.args])

    before = [(x, walk(e)) for x, e in before]
    exprs = [walk(e) for e in exprs]
    out.extend((int(q.name[2:]), e) for e, q in found.items())
    return before, exprs


def _shared_reciprocals(before, exprs):
    """Each divisor of the targets and adjoint lines (``_b_*``) computed once as ``_r<k> = 1 /
    divisor`` and multiplied (``x / d`` and ``y / d**2`` cost one division, not two). The lines
    that recompute forward values keep their divisions, so their values stay the forward's."""
    recips, sym = _numbered("_r")

    def rewrite(e):
        return e.replace(lambda a: isinstance(a, sp.Pow) and a.exp.is_Integer and a.exp < 0 and not a.base.is_Number,
                         lambda a: sym(a.base) ** (-a.exp))

    before = [(x, rewrite(e)) if isinstance(x, sp.Symbol) and x.name.startswith("_b_") else (x, e) for x, e in before]
    exprs = [rewrite(e) for e in exprs]
    defines = [{x} if isinstance(x, sp.Symbol) else {sp.Symbol(n.strip(), real=True) for n in x.split(",")}
               for x, _ in before]
    where, at = {}, {}
    for base, r in recips.items():  # after the last line defining a symbol of the divisor (or its _r)
        last = max([k for k, d in enumerate(defines) if d & base.free_symbols]
                   + [at[q] for q in base.free_symbols if q in at], default=-1)
        at[r] = last
        where.setdefault(last, []).append((r, 1 / base))
    out = list(where.get(-1, ()))
    for k, line in enumerate(before):
        out += [line] + where.get(k, [])
    return out, exprs


def _shared_cse(lines, exprs):
    """Common subexpressions shared by the assignment lines (the VJP's derived values and their
    adjoints: most of its arithmetic) and the target expressions: (lines in an order where each
    comes after the definitions it uses, reduced targets). Measured (backward sweep, tvb68):
    Wilson-Cowan 1.8 -> 1.54 forward runs. Not with hoisted calls (ALN's table cells): there the
    lines' own arithmetic is left as it is (measured 5 % slower shared), and only the targets share."""
    if any(isinstance(e, _Call) for _, e in lines):
        repl, reduced = sp.cse(list(exprs), symbols=sp.numbered_symbols("_t"))
        return list(lines) + list(repl), reduced
    plain = list(range(len(lines)))
    repl, reduced = sp.cse([lines[k][1] for k in plain] + list(exprs), symbols=sp.numbered_symbols("_t"))
    lines = list(lines)
    for k, e in zip(plain, reduced):
        lines[k] = (lines[k][0], e)
    return _ordered(lines + list(repl)), reduced[len(plain):]


def _ordered(lines):
    """``lines`` ((symbol or "a, b, ..." names, expr or :class:`_Call`)) reordered, as little as
    possible, so that each comes after the lines defining the symbols it uses."""
    defs = [{sp.Symbol(n.strip(), real=True) for n in x.split(",")} if isinstance(x, str) else {x} for x, _ in lines]
    local = set().union(*defs) if defs else set()
    uses = [e.free_symbols & local for _, e in lines]
    done, out, pending = set(), [], list(range(len(lines)))
    while pending:
        j = next((j for j, k in enumerate(pending) if uses[k] <= done), None)
        if j is None:
            raise ValueError("generated adjoint: circular definitions")
        k = pending.pop(j)
        out.append(lines[k])
        done |= defs[k]
    return out


class _Call:
    """A call's code and its argument expressions (their symbols count as used)."""

    def __init__(self, code: str, args):
        self.code = code
        self.free_symbols = set().union(*(sp.sympify(a).free_symbols for a in args))


def _hoist_calls(before, exprs):
    """Functions computed together (atoms with ``hoist_call``, a call template returning a tuple
    of ``hoist_size`` values of which the atom is number ``hoist_index``: ALN's table values and
    slopes at one (mu, sigma)): one call per distinct arguments, unpacked into ``_h<n>_<k>``
    just before the first line that uses one of them. Returns (before, exprs) with the atoms
    replaced; a call line is a (names, :class:`_Call`) pair."""
    groups, out = {}, []

    def replaced(e):
        subs = {}
        for a in e.atoms(sp.Function):
            if not hasattr(a, "hoist_call"):
                continue
            key = (a.hoist_call, a.args)
            if key not in groups:
                groups[key] = g = len(groups)
                names = ", ".join(f"_h{g}_{k}" for k in range(a.hoist_size))
                out.append((names, _Call(a.hoist_call.format(*(_code(x) for x in a.args)), a.args)))
            subs[a] = sp.Symbol(f"_h{groups[key]}_{a.hoist_index}", real=True)
        return e.xreplace(subs)

    for x, e in before:
        e = replaced(e)
        out.append((x, e))
    exprs = [replaced(e) for e in exprs]
    return out, exprs


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


def _pre_function(invariant, params) -> str:
    """``def _f_pre(p, const, dt, Q, i)``: Q[i, k] = the k-th step-invariant part of the VJP
    (:func:`_hoist_invariants`; its symbols are the locals ``_s_<parameter>`` and ``_s_adjdt``)."""
    lines = ["@njit(cache=True, error_model='numpy')", "def _f_pre(p, const, dt, Q, i):"]
    used = set().union(*(e.free_symbols for _, e in invariant)) if invariant else set()
    for sym, source in sorted({**params, DT: "dt"}.items(), key=lambda kv: kv[0].name):
        if sp.Symbol("_s_" + sym.name, real=True) in used:
            lines.append(f"    _s_{sym.name} = {source}")
    lines += [f"    Q[i, {k}] = {_code(e)}" for k, e in invariant]
    lines.append("    return 0")
    return "\n".join(lines)


def _uses(expr, sym, derived) -> bool:
    """True if ``expr`` depends on ``sym``, directly or through the derived variables."""
    return expr.has(sym) or any(e.has(sym) for _, e in _needed([expr], derived))


def _vjp_function(name, lam, states, params, pidx, derived, unpack) -> str:
    """``def name(x, p, const, v, vx, vp, i)``: vx += d lam/dx, vp[i] += d lam/dp (lam: v . h(x, p));
    ``params``: the parameter symbols to differentiate for (the others are constants here)."""
    xs = [s for s in states if _uses(lam, s, derived)]
    pl = [s for s in params if _uses(lam, s, derived)]
    before, d = _vjp(lam, xs + pl, derived)
    t = [(f"+vx[{list(states).index(s)}]", e) for s, e in zip(xs, d)]
    t += [(f"+vp[i, {pidx[s]}]", e) for s, e in zip(pl, d[len(xs):])]
    return _function(name, "x, p, const, v, vx, vp, i", t, unpack, before)


def generate_source(model_cls, spec: SymbolicSpec, param_names: list[str], output_names: list[str],
                    wrt=()) -> str:
    """The kernel module's source for ``model_cls`` with the equations ``spec``; the backward
    sweep accumulates the derivatives for the parameters ``wrt`` only (the others cost nothing)."""
    params = {sp.Symbol(n, real=True): f"p[{k}]" for k, n in enumerate(param_names)}
    dparams = [s for s in params if s.name in set(wrt)]
    states = {s: f"x[{k}]" for k, s in enumerate(spec.states)}
    states.update(spec.constants)  # read from const wherever the equations use them
    cpl = {s: f"c[{k}]" for k, s in enumerate(spec.coupling)}
    inp = {s: f"inp[{k}]" for k, s in enumerate(spec.inputs)}
    pidx = {s: k for k, s in enumerate(params)}
    names = [s.name for s in list(params) + list(states) + list(cpl) + list(inp)]
    clash = sorted({n for n in names if names.count(n) > 1 or n.startswith(("adj", "_"))})
    if clash:
        raise ValueError(f"{model_cls.__name__}: symbol name(s) {clash} are used twice among parameters, "
                         f"states and coupling (or use a prefix reserved by the kernel generator)")
    der = list(spec.derived)
    v = sp.symbols(f"adjv_0:{len(spec.states)}", real=True)
    vmap = {s: f"v[{k}]" for k, s in enumerate(v)}
    # rhs VJP: vx = J_x^T v, vc = J_c^T v, vp += J_p^T v
    lam = sum((vi * fi for vi, fi in zip(v, spec.rhs)), sp.S.Zero)
    pl = [s for s in dparams if _uses(lam, s, der)]
    before, d = _vjp(lam, list(spec.states) + list(spec.coupling) + pl, der)
    ns, nc = len(spec.states), len(spec.coupling)
    t = [(f"vx[{k}] =", d[k]) for k in range(ns)] + [(f"vc[{k}] =", d[ns + k]) for k in range(nc)]
    t += [(f"+vp[i, {pidx[s]}]", e) for s, e in zip(pl, d[ns + nc:])]
    # ALN (table look-ups): the parts of its VJP that depend on parameters and dt only are computed
    # once per node before the backward sweep (_f_pre), not at every step
    tables = any(hasattr(a, "hoist_call") for _, e in der for a in sp.sympify(e).atoms(sp.Function))
    inv = [] if tables else None
    fn = [_function("_f_vjp", "x, c, inp, p, const, dt, v, vx, vc, vp, i, q", t,
                    {**states, **cpl, **inp, **params, **vmap, DT: "dt"}, before, inv)]
    fn.append(_pre_function(inv or [], params))
    # coupled quantities h(x, p): forward (only without the model's coupled_fn) and VJP (+=)
    w = sp.symbols(f"adjw_0:{len(spec.coupled)}", real=True)
    wmap = {s: f"v[{k}]" for k, s in enumerate(w)}
    hl = sum((wi * hi for wi, hi in zip(w, spec.coupled)), sp.S.Zero)
    fn.append(_vjp_function("_h_vjp", hl, spec.states, dparams, pidx, der, {**states, **params, **wmap}))
    # outputs o(x, p) and their VJP (+=)
    outs = [sp.sympify(spec.outputs[n]) for n in output_names]
    fn.append(_function("_o", "x, p, const, out", [(f"out[{k}] =", e) for k, e in enumerate(outs)],
                        {**states, **params}, _needed(outs, der)))
    u = sp.symbols(f"adju_0:{len(outs)}", real=True)
    umap = {s: f"v[{k}]" for k, s in enumerate(u)}
    ol = sum((ui * oi for ui, oi in zip(u, outs)), sp.S.Zero)
    fn.append(_vjp_function("_o_vjp", ol, spec.states, dparams, pidx, der, {**states, **params, **umap}))
    if model_cls.coupled_fn is not None:
        cf = model_cls.coupled_fn
        coupled_import = f"from {cf.__module__} import {cf.__name__} as _coupled_jit"
        coupled_def = "_h = _inline(_coupled_jit.py_func)"
    else:
        coupled_import = ""
        coupled_def = _function("_h_gen", "x, p, const, out", [(f"out[{k}] =", e) for k, e in enumerate(spec.coupled)],
                                {**states, **params}, _needed(spec.coupled, der)) + "\n\n\n@_inline\ndef _h(x, p, const, out):\n    _h_gen(x, p, const, out)"
    rhs = model_cls.rhs
    coupled_vars = list(model_cls.coupled_vars)
    ncn = len(coupled_vars) - len(getattr(model_cls, "local_only_vars", ()))
    local_c = tuple(coupled_vars.index(v) for v, _ in getattr(model_cls, "local_delays", ()))
    sq = bool(getattr(model_cls, "coupling_squared", False))
    nct = ncn * (2 if sq else 1) + len(local_c)
    if len(spec.coupling) != nct or len(spec.coupled) != len(coupled_vars):
        raise ValueError(f"{model_cls.__name__}: the symbolic spec has {len(spec.coupling)} coupling entries and "
                         f"{len(spec.coupled)} coupled quantities; the engine has {nct} and "
                         f"{len(coupled_vars)}")
    alg = tuple(s.name in set(getattr(model_cls, "algebraic_vars", ())) for s in spec.states)
    return Template(TEMPLATE).substitute(
        MODEL=model_cls.__name__, RHS_MODULE=rhs.__module__, RHS_NAME=rhs.__name__,
        COUPLED_IMPORT=coupled_import, COUPLED_DEF=coupled_def, GENERATED="\n\n\n".join(fn),
        EXTRA_IMPORT="\n".join(spec.imports), SQ=sq, ALG=repr(alg), HAS_ALG=any(alg),
        HEUN_OK="heun" in getattr(model_cls, "integrators", ("euler", "heun")),
        NS=len(spec.states), NC=len(coupled_vars), NCN=ncn, NL=len(local_c), LOCAL_C=repr(local_c + (0,)),
        NCT=len(spec.coupling), NOUT=len(outs), NQ=len(inv or ()), NI=max(len(model_cls.input_channels), 1), NP=len(param_names))


def _definition_key(model_cls, param_names, output_names, wrt, variant="") -> str:
    """A hash of everything the generated source depends on, computed without sympy: the
    adjoint's own modules, the model's numba functions' modules and, for a model from a TVB-O
    file, the file and its coupling's bytes and the input channels."""
    import numba

    here = sys.modules[__name__]
    mods = [here] + [sys.modules[f"{__package__}.{m}"] for m in ("_specs", "_symbolic", "_template", "_aln")]
    # the template as this process generates it (its file may have changed since it was imported)
    parts = [inspect.getsource(m) for m in mods] + [TEMPLATE]
    parts += [inspect.getsource(sys.modules[f.__module__]) for f in (model_cls.rhs, model_cls.coupled_fn) if f]
    for attr in ("yaml_path", "coupling_path"):
        if getattr(model_cls, attr, ""):
            with open(getattr(model_cls, attr), "rb") as fh:
                parts.append(fh.read().decode(errors="replace"))
    parts += [repr((model_cls.__name__, model_cls.name, tuple(param_names), tuple(output_names), tuple(wrt),
                    tuple(model_cls.input_channels), tuple(model_cls.coupled_vars),
                    tuple(getattr(model_cls, "local_delays", ())), variant)), sys.version, numba.__version__]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def load_kernels(model_cls, spec_of, param_names, output_names, wrt=(), variant=""):
    """The imported kernel module for ``model_cls`` (generated and cached on first use).
    ``spec_of()`` gives the model's SymbolicSpec; it is called only when the module is not in
    the kernel cache yet (sympy's differentiation takes 0.1-20 s per model). One module per set
    of parameters ``wrt`` (its backward sweep computes their derivatives only) and ``variant``
    (see :func:`._specs.variant_of`)."""
    from . import _aln, _symbolic  # noqa: F401  (part of the key)
    from ..engine import kernel_dir

    wrt = tuple(sorted(set(wrt)))
    key = (model_cls, tuple(param_names), tuple(output_names), wrt, variant)
    if key in _LOADED:
        return _LOADED[key]
    digest = _definition_key(model_cls, param_names, output_names, wrt, variant)
    name = f"_bs_adjoint_{model_cls.name}_{digest}"
    path = kernel_dir() / f"{name}.py"
    if not path.exists():
        src = generate_source(model_cls, spec_of(), list(param_names), list(output_names), wrt)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(src)
        os.replace(tmp, path)
    spec_ = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec_)
    sys.modules[name] = mod
    spec_.loader.exec_module(mod)
    _LOADED[key] = mod
    return mod
