"""A TVB-O model file parsed and checked: parameters, functions, derived parameters/variables,
state variables and coupling inputs, every expression as sympy with the line it came from."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp
from sympy.core.function import AppliedUndef

from ._expr import ParseError, parse, topological_order
from ._source import Refused, YamlModelError, _num, _text, line_of, load_yaml

__all__ = ["ParamDef", "VarDef", "StateDef", "ModelDef", "parse_model", "parse_params", "check_value"]


@dataclass
class ParamDef:
    """A parameter: value, domain [lo, hi] (None: open), unit, description, line in the file."""

    name: str
    value: float
    lo: float | None
    hi: float | None
    unit: str
    description: str
    line: int | None
    value_line: int | None = None


@dataclass
class VarDef:
    """A derived parameter/variable (``lhs = expr``) or, as StateDef, a state equation."""

    name: str
    expr: sp.Expr
    text: str
    line: int | None
    unit: str = ""
    description: str = ""
    record: bool = False


@dataclass
class StateDef(VarDef):
    lo: float | None = None
    hi: float | None = None
    clamp: bool = False
    initial: tuple = (0.0, 0.0)  # uniform range of the random initial value
    coupling_variable: bool = False
    algebraic: bool = False  # brainsweep definitions: the equation is the new value, not the derivative


@dataclass
class FunctionDef:
    """A declared function: argument Symbols, body, the parameter Symbols it uses (also through
    the functions it calls; passed as extra arguments in the generated code)."""

    name: str
    args: list
    body: sp.Expr
    params: list
    line: int | None
    text: str
    description: str = ""


@dataclass
class ModelDef:
    name: str
    path: Path
    description: str
    params: list
    derived: list  # derived parameters then derived variables, dependencies first
    states: list
    coupling_inputs: list  # (name, local, line)
    symbols: dict = field(default_factory=dict)  # name -> sympy Symbol of every declared name
    functions: list = field(default_factory=list)  # FunctionDefs, callees first
    time_unit: str = "ms"  # "s" when the file's rates are per second (derivatives scaled by 1e-3)
    # brainsweep definition files only: coupled quantity name -> sympy expression of a node's own
    # state (read in the equations as the network sum cpl_<name>), and the input channels (inp_<name>)
    sums: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)


def check_value(path, p: ParamDef, value, line=None) -> None:
    """YamlModelError if ``value`` (number or per-node array) lies outside the domain of ``p``."""
    import numpy as np

    vals = np.atleast_1d(np.asarray(value, dtype=float))
    lo = -math.inf if p.lo is None else p.lo
    hi = math.inf if p.hi is None else p.hi
    if not np.all(np.isfinite(vals)) or np.any(vals < lo) or np.any(vals > hi):
        raise YamlModelError(path, line or p.line, p.name, f"value {value!r} is outside its domain [{lo:g}, {hi:g}]"
                             + (f" {p.unit}" if p.unit else ""))


def parse_params(path, data: dict, lines: dict, prefix: str = "") -> list:
    """The ``parameters`` section as ParamDefs (names get ``prefix``); a value that is not a number
    is refused."""
    params = []
    for pname, pd in (data.get("parameters") or {}).items():
        pd = pd if isinstance(pd, dict) else {"value": pd}
        value = _num(pd.get("value"))
        if pd.get("choices") is not None and pd.get("value") in pd["choices"]:
            value = str(pd["value"])  # a choice parameter (brainsweep definitions): not a number
        elif value is None:
            raise Refused(path, line_of(lines, "parameters", pname, "value"), pname,
                          f"parameter value {pd.get('value')!r} is not a number")
        dom = pd.get("domain") or {}
        params.append(ParamDef(f"{prefix}{pname}", value, _num(dom.get("lo")), _num(dom.get("hi")),
                               str(pd.get("unit") or ""), _text(pd.get("description") or pd.get("definition")),
                               line_of(lines, "parameters", pname), line_of(lines, "parameters", pname, "value")))
    return params


def parse_model(path) -> ModelDef:
    """Parse and check a TVB-O model file (raises YamlModelError / Refused naming file, line, symbol)."""
    path = Path(path)
    data, lines = load_yaml(path)
    name = str(data.get("name") or path.stem)
    modes = data.get("number_of_modes", 1)
    if modes not in (None, 1):
        raise Refused(path, line_of(lines, "number_of_modes"), "number_of_modes",
                      f"multi-mode model ({modes} modes per node) is not supported")
    for key in ("parameters", "state_variables"):
        if not isinstance(data.get(key) or {}, dict):
            raise YamlModelError(path, line_of(lines, key), key, "expected a mapping of name -> entry")
    if not data.get("state_variables"):
        raise YamlModelError(path, 1, "state_variables", "the model declares no state variables")

    params = parse_params(path, data, lines)

    states_raw = data["state_variables"]
    derived_raw = {}
    for section in ("derived_parameters", "derived_variables"):
        for dname, dd in (data.get(section) or {}).items():
            derived_raw[dname] = (section, dd if isinstance(dd, dict) else {"equation": {"rhs": dd}})
    cins = []
    for cname, cd in (data.get("coupling_inputs") or {}).items():
        cd = cd or {}
        cins.append((cname, bool(cd.get("local")) or cname == "local_coupling", line_of(lines, "coupling_inputs", cname)))
    bs = data.get("brainsweep") if isinstance(data.get("brainsweep"), dict) else {}
    sums_raw = ((bs.get("coupling") or {}).get("sums") or {})
    cins += [(f"cpl_{c}", False, line_of(lines, "brainsweep", "coupling", "sums", c)) for c in sums_raw]
    inputs = [str(c) for c in (bs.get("inputs") or {})]

    symbols = {}
    for kind, names, section in (("parameter", [p.name for p in params], "parameters"),
                                 ("state variable", list(states_raw), "state_variables"),
                                 ("derived variable", list(derived_raw), "derived_variables"),
                                 ("coupling input", [c[0] for c in cins], "coupling_inputs"),
                                 ("input", [f"inp_{c}" for c in inputs], "brainsweep"),
                                 ("built-in", ["n_nodes"] if bs else [], "brainsweep")):  # fmt: skip
        for n in names:
            if not str(n).isidentifier():
                raise YamlModelError(path, line_of(lines, section, n), str(n), f"{kind} name is not an identifier")
            if n in symbols:
                raise YamlModelError(path, line_of(lines, section, n), n, f"{kind} name declared twice")
            symbols[n] = sp.Symbol(n)

    functions, fdefs = {}, []
    param_syms = {symbols[p.name] for p in params}
    for fname, fd in (data.get("functions") or {}).items():
        fd = fd or {}
        args = list((fd.get("arguments") or {}).keys())
        local = dict(symbols)
        local.update({a: sp.Symbol(f"__arg_{a}") for a in args})
        key = ("functions", fname, "equation", "rhs")
        body = _parse(path, lines, key, fname, (fd.get("equation") or {}).get("rhs"), local, functions)
        extra = sorted(body.free_symbols - param_syms - {local[a] for a in args}, key=str)
        if extra:
            raise YamlModelError(path, line_of(lines, *key), str(extra[0]).replace("__arg_", ""),
                                 f"function {fname!r} may use only its arguments and parameters")
        used = set(body.free_symbols & param_syms)
        for call in body.atoms(AppliedUndef):  # parameters of the functions it calls
            used |= set(next(f.params for f in fdefs if f.name == call.func.__name__))
        fdefs.append(FunctionDef(fname, [local[a] for a in args], body, sorted(used, key=str), line_of(lines, *key),
                                 str((fd.get("equation") or {}).get("rhs")), _text(fd.get("definition"))))
        functions[fname] = sp.Function(fname)

    derived = {}
    for dname, (section, dd) in derived_raw.items():
        eq = dd.get("equation") or {}
        rhs = eq.get("rhs")
        if rhs is None and dd.get("cases"):
            rhs = "Piecewise(" + ", ".join(f"(({c['equation']['rhs']}), {c.get('condition', 'True')})"
                                           for c in dd["cases"]) + ")"  # fmt: skip
        key = (section, dname, "equation", "rhs")
        expr = _parse(path, lines, key, dname, rhs, symbols, functions)
        derived[dname] = VarDef(dname, expr, str(rhs), line_of(lines, *key), str(dd.get("unit") or ""),
                                _text(dd.get("description")), bool(dd.get("record", False)))
    try:
        order = topological_order({n: {str(s) for s in d.expr.free_symbols} for n, d in derived.items()})
    except ParseError as exc:
        raise YamlModelError(path, derived[exc.symbol].line, exc.symbol, str(exc)) from None

    states = []
    for sname, sd in states_raw.items():
        sd = sd or {}
        key = ("state_variables", sname, "equation", "rhs")
        rhs = (sd.get("equation") or {}).get("rhs")
        expr = _parse(path, lines, key, sname, rhs, symbols, functions)
        dom = sd.get("domain") or {}
        lo, hi = _num(dom.get("lo")), _num(dom.get("hi"))
        enforce = dom.get("enforce")
        if enforce not in (None, "clamp"):
            raise Refused(path, line_of(lines, "state_variables", sname, "domain", "enforce"), sname,
                          f"state domain enforcement {enforce!r} is not supported (only 'clamp')")
        init = _initial_range(sd, lo, hi)
        states.append(StateDef(sname, expr, str(rhs), line_of(lines, *key), str(sd.get("unit") or ""),
                               _text(sd.get("description")), sd.get("record", True) is not False,
                               lo, hi, enforce == "clamp", init, bool(sd.get("coupling_variable", False)),
                               bool(sd.get("algebraic", False))))
    sums = {c: _parse(path, lines, ("brainsweep", "coupling", "sums", c), f"cpl_{c}", text, symbols, functions)
            for c, text in sums_raw.items()}
    return ModelDef(name, path, _text(data.get("description")), params, [derived[n] for n in order], states,
                    cins, symbols, fdefs, "ms" if bs else _time_unit(params, states), sums, inputs)


def _time_unit(params, states) -> str:
    """"s" if a state variable's unit is a rate per second (``mV_per_s``: the file's time is in
    seconds) and no unit is ms or per ms; else "ms" (TVB's convention)."""
    per_s = any(s.unit == "per_s" or s.unit.endswith("_per_s") for s in states)
    ms = any(u in ("ms", "per_ms") or u.endswith("_per_ms") for u in [p.unit for p in params] + [s.unit for s in states])
    return "s" if per_s and not ms else "ms"


def _initial_range(sd: dict, lo, hi) -> tuple:
    """Range of the (uniform random) initial value: the file's ``initial_value`` when given (a
    fixed start), else its ``distribution`` domain, else the state's domain if finite (TVB's
    state_variable_range), else 0."""
    v = _num(sd.get("initial_value"))
    if v is not None:
        return (v, v)
    dist = (sd.get("distribution") or {}).get("domain") or {}
    for a, b in ((_num(dist.get("lo")), _num(dist.get("hi"))), (lo, hi)):
        if a is not None and b is not None and math.isfinite(a) and math.isfinite(b):
            return (a, b)
    return (0.0, 0.0)


def _parse(path, lines, key, owner, text, names, functions):
    try:
        return parse(text, names, functions)
    except ParseError as exc:
        raise YamlModelError(path, line_of(lines, *key), exc.symbol if exc.symbol != str(text) else owner,
                             f"in the equation of {owner!r}: {exc}") from None
