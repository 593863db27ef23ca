"""brainsweep's model definitions: a TVB-O model file plus a ``brainsweep`` section, read and
checked here and compiled into a Model class by ``_defined_model`` (equations evaluated in the
order they are written).

The TVB-O part: ``name``, ``description``, ``parameters`` (value, unit, description, domain
lo/hi; brainsweep adds ``domain.lo_strict``, ``per_node: false`` and ``choices``),
``functions`` (arguments + equation), ``derived_variables`` (equation; ``record: true`` makes it
an output computed from the state), ``state_variables`` (equation, unit, description, ``domain``
= uniform range of the random initial value as TVB's state_variable_range, or
``initial_value``; brainsweep adds ``algebraic: true``: the equation is the variable's new value,
not its derivative). The ``brainsweep`` section::

    class: HopfModel          # the class name
    name: hopf                # Model.name (kernel files, studies)
    coupling:
      mode: coupling          # additive | diffusive | coupling (the choice parameter "coupling")
      sums: {x: x}            # name: quantity of a node's own state summed over the network;
                              # equations read sum_j C_ij q(x_j(t - D_ij)) as cpl_<name>
    inputs:                   # input channels (stimulus + OU + white noise), read as inp_<name>
      x: {ou_mean: x_ou_mean}
    outputs: [x, y]           # recorded variables (default: states and recorded derived ones)
    bold: {input: x, offset: 1.0, scale: 4.0}   # BOLD input (var + offset) * scale
    integration: {method: euler, dt: 0.1}       # default scheme, dt (ms)
    single_node: false        # true: refuses Cmat/Dmat/delays
    equations: |              # the equations in mathematical notation, for report()

``n_nodes`` (number of nodes) may be read by any equation. Every equation is checked (unknown
symbols and functions, circular definitions: errors naming the file, the line and the symbol)
and printed as numba source from its own syntax tree (``_textcode``), so the numbers are those
of the same formula written by hand. sympy is not needed to build the class; the sympy form of
the file (``Class.model_def``, for derivatives and the adjoint) is parsed on first access.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..params import Param
from ._source import YamlModelError, _num, _text, line_of, load_yaml
from ._textcode import TextCodeError, calls_in, names_in, text_code, topological_order

__all__ = ["Definition", "Expr", "parse_definition", "definitions_folder", "builtin_definitions", "is_definition",
           "closure"]

_SCHEMES = ("euler", "heun")


def definitions_folder():
    """brainsweep's own definition files (an importlib.resources Traversable)."""
    return resources.files("brainsweep.models") / "definitions"


def builtin_definitions() -> dict:
    """Definition name (file stem) -> path of brainsweep's own definition files."""
    return {f.name[:-5]: f for f in sorted(definitions_folder().iterdir(), key=lambda f: f.name)
            if f.name.endswith(".yaml")}


def is_definition(path) -> bool:
    """True if the YAML file at ``path`` has a ``brainsweep`` section (a brainsweep definition)."""
    data, _ = load_yaml(Path(path))
    return isinstance(data.get("brainsweep"), dict)


@dataclass
class Expr:
    """One equation: its text and the line it is on."""

    name: str
    text: str
    line: int | None
    unit: str = ""
    description: str = ""


@dataclass
class Definition:
    path: Path
    name: str
    class_name: str
    short_name: str
    description: str
    equations: str
    params: list
    states: list  # Expr; derivative (or new value if algebraic)
    algebraic: tuple
    initial: dict  # state -> (lo, hi) range of the random initial value
    derived: dict  # name -> Expr, dependencies first
    recorded: tuple
    functions: dict  # name -> (argument names, Expr, parameter names its body reads)
    sums: dict  # coupled variable name -> Expr of a node's own state
    inputs: dict  # channel -> OU-mean parameter name or None
    coupling_mode: str
    outputs: tuple
    bold: tuple  # (input, offset, scale)
    integrator: str
    dt: float
    single_node: bool
    uses_n_nodes: bool = False
    digest: str = field(default="", repr=False)


class _File:
    """A definition file being read: data, lines and errors that name the file and the line."""

    def __init__(self, path: Path):
        self.path = path
        self.data, self.lines = load_yaml(path)

    def error(self, keys, symbol, message):
        return YamlModelError(self.path, line_of(self.lines, *keys), str(symbol), message)

    def mapping(self, *keys) -> dict:
        node = self.data
        for k in keys:
            node = node.get(k) if isinstance(node, dict) else None
        if node is None:
            return {}
        if not isinstance(node, dict):
            raise self.error(keys, keys[-1], "expected a mapping of name -> entry")
        return node


def _param(f: _File, name: str, pd) -> Param:
    pd = pd if isinstance(pd, dict) else {"value": pd}
    dom = pd.get("domain") or {}
    choices = pd.get("choices")
    value = pd.get("value")
    if choices is not None:
        if not isinstance(value, str) or value not in choices:
            raise f.error(("parameters", name, "value"), name, f"value {value!r} is not one of the choices {choices}")
        choices = tuple(str(c) for c in choices)
    else:
        value = _num(value)
        if value is None:
            raise f.error(("parameters", name, "value"), name, f"parameter value {pd.get('value')!r} is not a number")
    p = Param(name, value, str(pd.get("unit") if pd.get("unit") is not None else "1"), _text(pd.get("description")),
              (_num(dom.get("lo")), _num(dom.get("hi"))), strict_low=bool(dom.get("lo_strict", False)),
              per_node=bool(pd.get("per_node", True)), choices=choices)  # fmt: skip
    try:
        p.validate(value)
    except ValueError as exc:
        raise f.error(("parameters", name, "value"), name, str(exc)) from None
    return p


def _expr(f: _File, keys, name, entry, unit="", description="") -> Expr:
    rhs = ((entry or {}).get("equation") or {}).get("rhs") if isinstance(entry, dict) else entry
    if rhs is None:
        raise f.error(keys, name, "no equation (expected equation: {rhs: ...})")
    return Expr(name, str(rhs), line_of(f.lines, *keys, "equation", "rhs"), unit, description)


def parse_definition(path) -> Definition:
    """Read and check a definition file (YamlModelError naming file, line and symbol)."""
    f = _File(Path(path))
    bs = f.mapping("brainsweep")
    if not bs:
        raise f.error(("brainsweep",), "brainsweep", "not a brainsweep model definition (no 'brainsweep' section)")
    params = [_param(f, n, pd) for n, pd in f.mapping("parameters").items()]
    pnames = [p.name for p in params]

    functions = _functions(f, pnames)
    derived = {}
    for section in ("derived_parameters", "derived_variables"):
        for dname, dd in f.mapping(section).items():
            dd = dd if isinstance(dd, dict) else {"equation": {"rhs": dd}}
            derived[dname] = (_expr(f, (section, dname), dname, dd, str(dd.get("unit") or ""),
                                    _text(dd.get("description"))), bool(dd.get("record", False)))
    states, algebraic, initial = [], [], {}
    for sname, sd in f.mapping("state_variables").items():
        sd = sd or {}
        states.append(_expr(f, ("state_variables", sname), sname, sd, str(sd.get("unit") or "1"),
                            _text(sd.get("description"))))
        if sd.get("algebraic"):
            algebraic.append(sname)
        initial[sname] = _initial_range(f, sname, sd)
    if not states:
        raise f.error(("state_variables",), "state_variables", "the model declares no state variables")

    cpl = bs.get("coupling") or {}
    sums = {}
    for cname, ctext in (cpl.get("sums") or {}).items():
        sums[cname] = Expr(cname, str(ctext), line_of(f.lines, "brainsweep", "coupling", "sums", cname))
    inputs = {}
    for ch, cd in f.mapping("brainsweep", "inputs").items():
        mean = (cd or {}).get("ou_mean")
        if mean is not None and mean not in pnames:
            raise f.error(("brainsweep", "inputs", ch, "ou_mean"), mean, "OU mean is not a parameter of this file")
        inputs[str(ch)] = mean

    symbols = _declare(f, (
        ("parameter", pnames, ("parameters",)), ("state variable", [s.name for s in states], ("state_variables",)),
        ("derived variable", list(derived), ("derived_variables",)),
        ("coupling sum", [f"cpl_{c}" for c in sums], ("brainsweep", "coupling", "sums")),
        ("input", [f"inp_{c}" for c in inputs], ("brainsweep", "inputs")), ("built-in", ["n_nodes"], ())))
    d = Definition(
        path=f.path, name=str(f.data.get("name") or f.path.stem), class_name=str(bs.get("class") or ""),
        short_name=str(bs.get("name") or f.path.stem), description=_text(f.data.get("description")),
        equations=str(bs.get("equations") or ""), params=params, states=states, algebraic=tuple(algebraic),
        initial=initial, derived={}, recorded=(), functions=functions, sums=sums, inputs=inputs,
        coupling_mode=str(cpl.get("mode", "additive")), outputs=(), bold=("", 0.0, 1.0),
        integrator=str((bs.get("integration") or {}).get("method", "euler")).lower(),
        dt=_num((bs.get("integration") or {}).get("dt", 0.1)), single_node=bool(bs.get("single_node", False)))
    everything = set(symbols)
    for e, _ in derived.values():
        _check(f, e, everything, set(functions))
    try:
        order = topological_order({n: names_in(e.text) for n, (e, _) in derived.items()})
    except TextCodeError as exc:
        raise YamlModelError(f.path, derived[exc.symbol][0].line, exc.symbol, str(exc)) from None
    d.derived = {n: derived[n][0] for n in order}
    for s in states:
        _check(f, s, everything, set(functions))
    own_state = set(pnames) | {s.name for s in states} | set(derived) | {"n_nodes"}
    for e in sums.values():
        _check(f, e, own_state, set(functions), "a coupling sum is computed from a node's own state")
    d.recorded = tuple(n for n in d.derived if derived[n][1])
    network = {f"cpl_{c}" for c in sums} | {f"inp_{c}" for c in inputs}
    for n in d.recorded + tuple(c for c in sums):
        chain = closure([d.derived[n].text if n in d.derived else sums[n].text], d.derived)
        bad = sorted(network & set().union(*(names_in(d.derived[m].text) for m in chain)))
        if bad:
            raise f.error(("derived_variables", n), n, f"a recorded derived variable or coupling sum cannot read {bad[0]} "
                          "(it is computed from the state alone)")
    d.uses_n_nodes = any("n_nodes" in names_in(e.text) for e in [*states, *d.derived.values(), *sums.values()])
    _settings(f, d, bs)
    d.digest = hashlib.sha256(f.path.read_bytes()).hexdigest()
    return d


def _functions(f: _File, pnames: list) -> dict:
    """name -> (argument names, body Expr, parameters it reads, also through the functions it
    calls, which are passed as extra arguments). A body reads only its arguments and parameters
    and calls only math functions and the functions declared before it."""
    functions = {}
    for fname, fd in f.mapping("functions").items():
        fd = fd or {}
        args = list((fd.get("arguments") or {}).keys())
        body = _expr(f, ("functions", fname), fname, fd, description=_text(fd.get("description")))
        _check(f, body, set(args) | set(pnames), set(functions), "a function may read only its arguments and the "
               "parameters")
        used = [p for p in pnames if p in names_in(body.text) and p not in args]
        for g in calls_in(body.text) & set(functions):
            used += [p for p in functions[g][2] if p not in used]
        functions[fname] = (args, body, used)
    return functions


def _declare(f: _File, groups) -> dict:
    """name -> kind of every declared name; each once, each an identifier."""
    symbols: dict = {}
    for kind, names, section in groups:
        for n in names:
            if not str(n).isidentifier():
                raise f.error(section + (n,), n, f"{kind} name is not an identifier")
            if n in symbols:
                raise f.error(section + (n,), n, f"{kind} name already declared as a {symbols[n]}")
            symbols[n] = kind
    return symbols


def _settings(f: _File, d: Definition, bs: dict) -> None:
    """Coupling mode, outputs, BOLD and integration settings of the brainsweep section (checked)."""
    snames = [s.name for s in d.states]
    params = {p.name: p for p in d.params}
    if d.coupling_mode == "coupling":
        p = params.get("coupling")
        if p is None or p.choices is None or not {"additive", "diffusive"} >= set(p.choices):
            raise f.error(("brainsweep", "coupling", "mode"), "coupling", "mode 'coupling' needs a choice parameter "
                          "'coupling' with choices among additive, diffusive")
    elif d.coupling_mode not in ("additive", "diffusive"):
        raise f.error(("brainsweep", "coupling", "mode"), d.coupling_mode, "expected additive, diffusive or coupling")
    if d.coupling_mode == "diffusive" or (d.coupling_mode == "coupling" and "diffusive" in params["coupling"].choices):
        for c, e in d.sums.items():
            if e.text.strip() != c:
                raise f.error(("brainsweep", "coupling", "sums", c), c, "diffusive coupling needs sums of state variables")
    outputs = bs.get("outputs")
    d.outputs = tuple(outputs) if outputs is not None else tuple(snames) + d.recorded
    bold = bs.get("bold") or {}
    d.bold = (str(bold.get("input") or ""), float(bold.get("offset", 0.0)), float(bold.get("scale", 1.0)))
    for v, key in [(o, ("brainsweep", "outputs")) for o in d.outputs] + [(d.bold[0], ("brainsweep", "bold", "input"))]:
        if v and v not in snames and v not in d.recorded:
            raise f.error(key, v, "output is neither a state variable nor a derived variable with record: true")
    if d.integrator not in _SCHEMES:
        raise f.error(("brainsweep", "integration", "method"), d.integrator, f"expected one of {', '.join(_SCHEMES)}")
    if d.dt is None or not d.dt > 0:
        raise f.error(("brainsweep", "integration", "dt"), "dt", "expected a positive time step in ms")


def _initial_range(f: _File, name: str, sd: dict) -> tuple:
    v = _num(sd.get("initial_value"))
    if v is not None:
        return (v, v)
    dom = sd.get("domain") or {}
    lo, hi = _num(dom.get("lo")), _num(dom.get("hi"))
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        raise f.error(("state_variables", name), name, "needs initial_value or a finite domain {lo, hi} "
                      "(the range of its random initial value)")
    return (lo, hi)


def _check(f: _File, e: Expr, allowed: set, functions: set, why: str = "") -> None:
    """Generate the code once with every allowed name: unknown symbols/functions are errors."""
    try:
        text_code(e.text, {n: n for n in allowed}, {g: [] for g in functions})
    except TextCodeError as exc:
        msg = str(exc) + (f"; {why}" if why and "unknown symbol" in str(exc) else "")
        raise YamlModelError(f.path, e.line, exc.symbol, f"in the equation of {e.name!r}: {msg}") from None


def closure(texts, derived: dict) -> list:
    """Derived variables (in definition order) that ``texts`` need, directly or indirectly."""
    need, todo = set(), [n for t in texts for n in names_in(t)]
    while todo:
        n = todo.pop()
        if n in derived and n not in need:
            need.add(n)
            todo.extend(names_in(derived[n].text))
    return [n for n in derived if n in need]
