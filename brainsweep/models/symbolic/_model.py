"""``from_yaml``: a TVB-O model file + coupling function -> a generated brainsweep Model class."""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path

import numpy as np
import sympy as sp

from ..base import Model
from ..params import Param, State, unknown_name_error
from ._codegen import generate
from ._coupling import map_coupling, parse_coupling
from ._generated import import_generated
from ._schema import check_value, parse_model
from ._source import YamlModelError, find_yaml

__all__ = ["from_yaml", "model_class", "YamlModel", "DEFAULT_COUPLING"]

DEFAULT_COUPLING = "Linear"  # TVB's default coupling
_CLASSES: dict = {}
_DEFS: dict = {}
_LOCK = threading.Lock()


class YamlModel(Model):
    """Base of the classes generated from TVB-O files (``yaml_path``, ``coupling_path``)."""

    yaml_path: str = ""
    coupling_path: str = ""
    model_def = None
    coupling_def = None
    coupling_map = None
    clamped: bool = False

    def constants(self, dt: float = 0.1) -> tuple:
        """const[0][0] = dt (ms): clamped states limit their derivative with it."""
        return (np.array([float(dt)]),)

    def __reduce__(self):  # rebuilt from the files (the class is generated)
        return (_rebuild, (self.yaml_path, self.coupling_path, self.input_channels, self.__dict__))

    def report(self) -> str:
        """Markdown: the base report plus the file's equations with units and descriptions."""
        m, c, cm = self.model_def, self.coupling_def, self.coupling_map
        lines = [super().report(), "", f"### Equations as written in {m.path.name}", ""]
        lines += ["| variable | equation | unit | description |", "|---|---|---|---|"]
        for s in m.states:
            dom = "" if not s.clamp else f" (clamped to [{s.lo:g}, {s.hi:g}])"
            lines.append(f"| {s.name} | d{s.name}/dt = {s.text}{dom} | {s.unit} | {s.description} |")
        for d in m.derived:
            lines.append(f"| {d.name} | {d.name} = {d.text} | {d.unit} | {d.description} |")
        for f in m.functions:
            args = ", ".join(str(a)[len("__arg_"):] for a in f.args)
            lines.append(f"| {f.name}({args}) | {f.name}({args}) = {f.text} | | {f.description} |")
        if m.time_unit == "s":
            lines += ["", "The file's rates are per second: its derivatives are multiplied by 1e-3 (time in ms)."]
        lines += ["", f"### Coupling {c.name} ({c.path.name})", "",
                  f"pre(x_i, x_j) = {c.pre_text}; post(gx) = {c.post_text}; gx = sum_j C_ij pre(x_i, x_j(t - D_ij)); "
                  f"parameters {', '.join(p.name for p in c.params) or '-'}. Engine form: "
                  + ("diffusive sums of " if cm.diffusive else "sums of ") + (", ".join(map(str, cm.quantities)) or "-")
                  + (f"; own state at t: {', '.join(map(str, cm.local))}" if cm.local else "") + ". Inputs: "
                  + ", ".join(f"{n} = {cm.outputs.get(n, 0)}" for n, _, _ in m.coupling_inputs)
                  + " (local coupling inputs are 0 on a region network)."]  # fmt: skip
        return "\n".join(lines)


def _rebuild(yaml_path, coupling_path, inputs, state):
    cls = model_class(yaml_path, coupling_path, inputs=inputs)
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    return obj


def _identifier(text: str) -> str:
    return re.sub(r"\W", "_", text).strip("_").lower() or "model"


def _definitions(model, coupling, database):
    """(key, ModelDef, CouplingDef, CouplingMap) of a model and coupling file/name (cached)."""
    mpath = find_yaml(model, "models", database).resolve()
    cpath = find_yaml(coupling or DEFAULT_COUPLING, "coupling_functions", database).resolve()
    key = hashlib.sha256(mpath.read_bytes() + b"\0" + cpath.read_bytes() + str(mpath).encode()).hexdigest()
    with _LOCK:
        if key not in _DEFS:
            m = parse_model(mpath)
            c = parse_coupling(cpath)
            _DEFS[key] = (key, m, c, map_coupling(c, m))
        return _DEFS[key]


def model_class(model, coupling=None, *, inputs=None, database=None) -> type:
    """The generated Model class of a model file/name and a coupling file/name (cached)."""
    return _class_of(_definitions(model, coupling, database), inputs)


def _class_of(defs, inputs) -> type:
    states = [s.name for s in defs[1].states]
    inputs = tuple(states if inputs is None else inputs)
    for name in inputs:
        if name not in states:
            raise unknown_name_error("state variable (input channel)", name, states)
    key = (defs[0], inputs)
    with _LOCK:
        if key not in _CLASSES:
            _CLASSES[key] = _build(*defs[1:], inputs)
        return _CLASSES[key]


def _build(m, c, cmap, inputs: tuple) -> type:
    mpath, cpath = m.path, c.path
    params = [Param(p.name, p.value, p.unit or "1", p.description, (p.lo, p.hi)) for p in m.params]
    rows = [*cmap.outputs.values(), *cmap.quantities, *cmap.local]
    used_cparams = set().union(set(), *(sp.sympify(e).free_symbols for e in rows))
    params += [Param(p.name, p.value, p.unit or "1", p.description, (p.lo, p.hi), per_node=False)
               for p in c.params if any(str(s) == p.name for s in used_cparams)]
    extra = [Param("signalV", 3.0, "m/s", "conduction speed (delays = Dmat / signalV; TVB's default 3 mm/ms)",
                   (0.0, None), strict_low=True, per_node=False),
             Param("sigma_white", 0.0, "1/ms^0.5", "white noise intensity added to every state variable", (0.0, None)),
             Param("sigma_ou", 0.0, "1/ms^1.5", "OU noise intensity added to every state variable", (0.0, None)),
             Param("tau_ou", 5.0, "ms", "time constant of the OU noise", (0.0, None), strict_low=True)]  # fmt: skip
    if cmap.local:
        extra.append(Param("coupling_xi_delay", 0.0, "ms", "delay of the node's own state x_i in the coupling "
                           "pre-expression (TVB: 0, the state at time t in both Heun stages)", (0.0, 0.0),
                           per_node=False))
    taken = {p.name for p in params}
    for p in extra:
        if p.name in taken:
            raise YamlModelError(mpath, next(q.line for q in m.params if q.name == p.name), p.name,
                                 "parameter name is reserved by brainsweep (conduction speed / noise)")
        params.append(p)
    name = _identifier(f"tvbo_{m.name}_{c.name}")
    header = (f"# Generated by brainsweep.models.symbolic from {mpath.name} with coupling {cpath.name} -- do not edit.\n"
              f"# files sha256: {hashlib.sha256(mpath.read_bytes() + cpath.read_bytes()).hexdigest()}")
    source, recorded = generate(m, cmap, [p.name for p in params], header, inputs)
    mod = import_generated(name, source)
    local_vars = tuple(f"xi{k}" for k in range(len(cmap.local)))
    states = tuple(State(s.name, s.unit or "1", s.description, s.initial) for s in m.states)
    first = next((s.name for s in m.states if s.record), m.states[0].name)
    attrs = dict(
        name=name,
        description=m.description or m.name,
        equations="\n".join(f"d{s.name}/dt = {s.text}" for s in m.states),
        state_vars=states,
        parameters=tuple(params),
        rhs=staticmethod(mod.rhs),
        coupled_vars=tuple(f"q{k}" for k in range(len(cmap.quantities))) + local_vars,
        local_only_vars=local_vars,
        local_delays=tuple((v, "coupling_xi_delay") for v in local_vars),
        coupled_fn=staticmethod(mod.coupled),
        coupling_mode="diffusive" if cmap.diffusive else "additive",
        input_channels=inputs,
        output_vars=tuple(s.name for s in m.states) + tuple(recorded),
        derived_vars=tuple(recorded),
        derived_fn=staticmethod(mod.derived),
        bold_input=first,
        integrator="heun",
        dt=0.1,
        yaml_path=str(mpath),
        coupling_path=str(cpath),
        model_def=m,
        coupling_def=c,
        coupling_map=cmap,
        clamped=any(s.clamp for s in m.states),
        __module__=mod.__name__,
        __doc__=f"{m.name} from {mpath} with coupling {c.name} (generated by brainsweep.models.symbolic).",
    )
    cls = type(f"{_identifier(m.name).title().replace('_', '')}Model", (YamlModel,), attrs)
    cls.spec()  # checks the definition now, not at the first run
    return cls


def from_yaml(path_or_name, coupling=None, Cmat=None, Dmat=None, *, delays=None, inputs=None, database=None,
              **params) -> Model:
    """See :func:`brainsweep.models.symbolic.from_yaml` (checks values, then builds the class)."""
    defs = _definitions(path_or_name, coupling, database)
    m, c = defs[1], defs[2]
    for path, p in [(m.path, p) for p in m.params] + [(c.path, p) for p in c.params]:
        value = params.get(p.name, p.value)  # the file's value is checked only when it is used
        if not isinstance(value, str):
            check_value(path, p, value, None if p.name in params else p.value_line)
    if not c.delayed and (Dmat is not None or delays is not None):
        raise YamlModelError(c.path, c.delayed_line, "delayed", f"coupling {c.name} is instantaneous (delayed: false): "
                                                      "pass no Dmat or delays")
    cls = _class_of(defs, inputs)
    return cls(Cmat, Dmat, delays=delays, params=params or None)
