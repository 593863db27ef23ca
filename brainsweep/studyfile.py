"""Study files: a whole study described in YAML, validated with line numbers.

```yaml
path: hopf_fc.h5                  # study file (relative to this YAML's folder); default <stem>.h5
model:
  name: HopfModel                 # a class of brainsweep.models (or its short name: hopf, aln, wc, ...)
  params: {a: -0.02, sigma_ou: 0.02}
connectome: {name: tvb68, normalize: max}     # TVB name or a path; omit for a single node
integration: {duration: 60000, dt: 0.1, sampling_dt: 10, bold: true, tr: 500, seed: 42}
                                  # initial_state: {y1: 5.0}: fixed state values (else drawn from each run's seed)
outputs: [BOLD]                   # model outputs stored for every run
space:
  grid: {K_gl: [0.0, 0.3, 0.6, 0.9]}
  bounds: {sigma_ou: [0.001, 0.1, log]}       # for evolution / bayes
  fixed: {signalV: 10.0}
  # per_node: [a, b]              # bounded parameters with one value per node (a__0 .. a__{N-1}, ...)
strategy: grid                    # or {evolution: {pop_init: 20, pop: 10, generations: 5}} or {bayes: {n_calls: 30}}
                                  # or {sbi: {simulations: 1000, features: {fc_fcd: {k: 40}}}}
                                  # or {gradient: {optimizer: adam, lr: 0.005, steps: 200, starts: 64, start: grid}}
objectives:
  - fc: {target: fc_emp.csv}                  # or {target: {synthetic: {K_gl: 0.6}, seed: 7}}
```

Objectives: ``fc`` (score ``fc_fit``), ``fcd`` (``fcd_ks``), ``peak_frequency``
(``peak_frequency_error``), ``spectrum`` (``spectral_loss``), ``dipole`` (``dipole_rmse``).
A gradient study of a model (``strategy: {gradient: ...}``) minimises one differentiable loss
with exact gradients (the discrete adjoint): ``spectrum_correlation``, ``log_spectral``,
``peak_frequency`` (per region: ``f_hz`` a number, a list, a file or ``{gradient: {from:
[cuneus, ...], high: 11, low: 7}}``), ``spectral_centroid``, ``fc`` or ``dipole``; see
:mod:`brainsweep._yaml_gradient` (``spectrum_correlation``, ``log_spectral`` and
``spectral_centroid`` are also the minimised score ``loss`` of any other strategy). Every iterate of every start is a stored run (``loss``,
``grad__<param>``); explored parameters need bounds and a derivative (no choices, delays,
noise settings), ``lr`` > 0; each is checked, with its line, before anything runs::

    model: {name: JansenRitModel, params: {mu: 0.22}}
    connectome: {name: tvb68}
    integration: {duration: 2500, dt: 0.1, sampling_dt: 1, integrator: heun, initial_state: {y1: 5, y2: 5}}
    space: {bounds: {a: [0.04, 0.1], b: [0.04, 0.09]}, per_node: [a, b]}
    strategy: {gradient: {optimizer: adam, lr: 0.001, steps: 20, start: grid, starts: 1}}
    objectives:
      - peak_frequency: {f_hz: {gradient: {from: [cuneus, pericalcarine, lateraloccipital, lingual],
                                           high: 11, low: 7}}, band: [3, 20], nperseg: 1000, transient_ms: 500}

A target is a file (FC: a matrix; FCD: a matrix or values; spectrum: two columns f (Hz), S;
dipole: hnn's text format) or ``{synthetic: {param: value, ...}, seed: N}``: a run of the same
model with those hidden parameters, from which the target is computed the same way.
``model: {yaml: JansenRit, coupling: SigmoidalJansenRit, inputs: [y4], params: {mu: 0.2}}`` is a
model generated from a TVB-O YAML file (a file relative to the study's folder, attached to the
study, or a tvbo database name; :func:`brainsweep.models.from_yaml`); the study records its files
by path, name and content hash, so ``reproduce`` and resuming rebuild it without a pickle.
Instead of ``model``, ``function: module:callable`` studies a plain Python function, and
``model: {hnn: {network_kwargs: ..., set_params: module:function, tstop: 40, target: dipole.txt}}``
hnn-core's network (:class:`~brainsweep.explorer.hnn_eval.HNNEvaluator`; scores ``dipole_rmse``,
``dipole_corr`` or ``maximize_psd``; no connectome, integration, outputs or objectives; the
space's fixed values reach ``set_params`` in every run).

:func:`load_study` validates everything first and raises one :class:`StudySpecError`
listing every problem with its line number.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import re
from pathlib import Path

import numpy as np
import yaml

__all__ = ["load_study", "StudySpecError", "parse_study", "OBJECTIVES", "STRATEGIES"]

TOP_KEYS = ("path", "name", "model", "function", "connectome", "integration", "outputs", "space",
            "strategy", "objectives", "seed", "timeout")
INTEGRATION_KEYS = ("duration", "dt", "sampling_dt", "bold", "tr", "bold_dt", "integrator", "seed",
                    "stimulus", "chunk_ms", "initial_state")
CONNECTOME_KEYS = ("name", "normalize", "zero_diagonal")
#: keys of ``model:``: name + params (a brainsweep model) or yaml, coupling, inputs + params (TVB-O files)
MODEL_KEYS = ("name", "params", "yaml", "coupling", "inputs")
SPACE_KEYS = ("grid", "bounds", "fixed", "per_node")
STRATEGIES = ("grid", "evolution", "bayes", "cmaes", "sbi", "gradient")
#: the scores of a ``model: {hnn: ...}`` study (its ``objective`` setting chooses among them)
HNN_SCORES = ("dipole_rmse", "dipole_corr", "maximize_psd")
#: strategy key of a study file -> (module of brainsweep, class)
_STRATEGY_CLASSES = {"evolution": (".explorer.evolution", "Evolution"), "bayes": (".explorer.bayes", "BayesOpt"),
                     "cmaes": (".explorer.cmaes", "CMAES"), "sbi": (".inference", "SBI"),
                     "gradient": (".explorer.gradient", "GradientDescent")}
#: the feature functions of ``strategy: {sbi: {features: ...}}`` (brainsweep.inference.features)
SBI_FEATURES = ("fc_upper", "fc_fcd", "psd_bands", "peak_frequencies", "dipole_samples", "log_psd", "moments")
#: objective kind -> (its main score, weight sign (+1 maximise, -1 minimise), allowed options)
OBJECTIVES = {
    "fc": ("fc_fit", 1.0, ("target", "key", "transient_ms", "detrend", "band", "keep", "prefix")),
    "fcd": ("fcd_ks", -1.0, ("target", "key", "window", "step", "transient_ms", "keep", "prefix")),
    "peak_frequency": ("peak_frequency_error", -1.0, ("f_hz", "band", "key", "transient_ms", "nperseg", "prefix")),
    "spectrum": ("spectral_loss", -1.0, ("target", "key", "band", "transient_ms", "nperseg", "keep", "prefix")),
    "dipole": ("dipole_rmse", -1.0, ("target", "scale", "y1", "y2", "nodes", "smooth_window", "tstart", "tstop",
                                     "keep", "prefix", "key")),
}
_MODEL_ALIASES = {"hopf": "HopfModel", "fhn": "FitzHughNagumoModel", "kuramoto": "KuramotoModel",
                  "wc": "WilsonCowanModel", "wongwang": "WongWangModel", "ww": "WongWangModel",
                  "jansenrit": "JansenRitModel", "jr": "JansenRitModel", "thalamic": "ThalamicMassModel",
                  "aln": "ALNModel"}


class StudySpecError(ValueError):
    """A study file with mistakes; ``problems`` lists them as ``"line N: ..."`` strings."""

    def __init__(self, source: str, problems: list[str]):
        self.source, self.problems = source, list(problems)
        n = len(self.problems)
        super().__init__(f"{source}: {n} problem{'s' if n != 1 else ''}:\n  " + "\n  ".join(self.problems))


# -- YAML nodes with line numbers ---------------------------------------------------------
class _Problems:
    def __init__(self):
        self.items: list[tuple[int, str]] = []

    def add(self, node, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 0
        self.items.append((line, message))

    def sorted(self) -> list[str]:
        return [f"line {ln}: {msg}" if ln else msg for ln, msg in sorted(self.items, key=lambda x: x[0])]


class _Loader(yaml.SafeLoader):
    """Safe YAML, plus YAML 1.2 floats such as ``1e9`` and ``2.5E-3`` (YAML 1.1 reads them as strings)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def _value(node):
    """Python value of a YAML node (safe constructors)."""
    try:
        return _Loader("").construct_document(node)
    except (ValueError, TypeError) as err:  # e.g. "!!int abc": reported with its line by parse_study
        raise yaml.constructor.ConstructorError(
            None, None, f"{_tag_name(node.tag)} cannot hold this value ({err})", node.start_mark) from None


#: at most this many characters of YAML and this many values once every alias (``*name``) is
#: expanded: a study file is small, and an "anchor bomb" is refused before anything reads it
MAX_TEXT = 5_000_000
MAX_VALUES = 1_000_000
#: the tags SafeLoader constructs (plain data); any other tag (``!!python/...``, ``!custom``) is refused
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in
               ("null", "bool", "int", "float", "str", "seq", "map", "binary", "timestamp", "set", "omap", "pairs")}


def _tag_name(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag


def _check_nodes(root) -> list[str]:
    """Problems of the node graph before any value is built: tags that are not plain data
    (one per tag and line), and an expansion through aliases beyond :data:`MAX_VALUES`."""
    sizes, problems, stack = {}, [], [(root, False)]
    while stack:  # iterative post-order over the graph; each node visited once, however often aliased
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else (
            node.value if isinstance(node, yaml.SequenceNode) else [])
        if not done:
            if node.tag not in _PLAIN_TAGS:
                problems.append(f"line {node.start_mark.line + 1}: the YAML tag {_tag_name(node.tag)!r} is not "
                                f"allowed (a study file holds plain values; no Python objects or custom tags)")
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        sizes[id(node)] = min(1 + sum(sizes[id(c)] for c in children), MAX_VALUES + 1)
    if sizes[id(root)] > MAX_VALUES:
        problems.append(f"the YAML expands to more than {MAX_VALUES:,} values through its aliases "
                        f"(&anchor / *alias): refused (a study file needs far fewer)")
    return problems


def _mapping(node, where: str, problems: _Problems, allowed=None) -> dict:
    """``{key: (key_node, value_node)}`` of a mapping node; unknown keys reported with a did-you-mean."""
    if not isinstance(node, yaml.MappingNode):
        problems.add(node, f"{where}: expected a mapping (key: value lines), got {_kind(node)}")
        return {}
    out = {}
    for knode, vnode in node.value:
        key = _value(knode)
        if not isinstance(key, str):
            problems.add(knode, f"{where}: key {key!r} is not a name")
            continue
        if key in out:
            problems.add(knode, f"{where}: {key!r} given twice")
        if allowed is not None and key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (expected: {', '.join(allowed)})"
            problems.add(knode, f"{where}: unknown key {key!r}{hint}")
            continue
        out[key] = (knode, vnode)
    return out


def _kind(node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    v = _value(node)
    shown = repr(v) if len(repr(v)) <= 80 else repr(v)[:70] + " ..."
    return "nothing" if v is None else f"{type(v).__name__} {shown}"


def _number(node, where, problems, positive=False, integer=False, allow_none=False):
    v = _value(node) if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) else node
    if v is None and allow_none:
        return None
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
    if ok and integer and not isinstance(v, int):
        ok = False
    if ok and positive and v <= 0:
        problems.add(node, f"{where}: expected a positive number, got {v!r}")
        return None
    if not ok:
        what = "an integer" if integer else "a number"
        problems.add(node, f"{where}: expected {what}, got {_kind(node)}")
        return None
    return v


# -- parsing ------------------------------------------------------------------------------
def parse_study(text: str, source: str = "<study>", base_dir: str | os.PathLike = ".") -> dict:
    """Validate a YAML study text; return a plan (plain dict) or raise :class:`StudySpecError`.

    The plan holds constructed objects where construction is cheap (model, space, strategy)
    and the objective specs to build (targets may need a simulation).
    """
    if len(text) > MAX_TEXT:
        raise StudySpecError(source, [f"the file has {len(text):,} characters; a study file has at most "
                                      f"{MAX_TEXT:,} (put large data such as targets in files it names)"])
    try:
        root = yaml.compose(text, Loader=_Loader)
    except RecursionError:
        raise StudySpecError(source, ["the YAML is nested too deeply"]) from None
    except yaml.YAMLError as err:
        mark, ctx = getattr(err, "problem_mark", None), getattr(err, "context_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        where = f"; {err.context} on line {ctx.line + 1}" if ctx is not None and getattr(err, "context", None) else ""
        raise StudySpecError(source, [f"{line}not valid YAML ({getattr(err, 'problem', None) or err}{where})"]) \
            from None
    if root is None:
        raise StudySpecError(source, ["the file is empty"])
    unsafe = _check_nodes(root)
    if unsafe:
        raise StudySpecError(source, unsafe)
    try:
        return _parse_root(root, source, Path(base_dir))
    except yaml.YAMLError as err:  # a plain tag with a value it cannot hold, e.g. "!!int abc"
        mark = getattr(err, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise StudySpecError(source, [f"{line}{getattr(err, 'problem', None) or err}"]) from None


def _parse_root(root, source: str, base_dir: Path) -> dict:
    """The plan of a composed, checked YAML document (see :func:`parse_study`)."""
    problems = _Problems()
    top = _mapping(root, "study", problems, TOP_KEYS)
    plan = {"source": source, "base_dir": str(base_dir), "files": {}}

    # path / name / seed / timeout
    stem = Path(source).stem if source != "<study>" else "study"
    plan["path"] = str(base_dir / f"{stem}.h5")
    if "path" in top:
        v = _value(top["path"][1])
        if not isinstance(v, str) or not v.endswith((".h5", ".hdf5")):
            problems.add(top["path"][1], f"path: expected a file name ending in .h5, got {_kind(top['path'][1])}")
        else:
            plan["path"] = str(base_dir / v)
    plan["name"] = _value(top["name"][1]) if "name" in top else None
    plan["timeout"] = _number(top["timeout"][1], "timeout", problems, positive=True) if "timeout" in top else None

    # model or function
    model = None
    if "model" in top and "function" in top:
        problems.add(top["function"][0], "give either model or function, not both")
    elif "model" not in top and "function" not in top:
        problems.add(root, "missing model (a brainsweep model) or function (module:callable)")
    hnn = "model" in top and _is_hnn(top["model"][1])
    if hnn:
        plan["function"] = _parse_hnn(top["model"][1], base_dir, plan["files"], problems)
        for key in ("connectome", "integration", "outputs", "objectives"):
            if key in top:
                problems.add(top[key][0], f"{key}: not for model: hnn (its settings go under model.hnn; "
                                          f"its scores are {', '.join(HNN_SCORES)})")
    elif "model" in top and isinstance(top["model"][1], yaml.MappingNode) and any(
            _value(k) == "hnn" for k, _ in top["model"][1].value):
        problems.add(top["model"][1], "model: hnn must be the only key under model (model: {hnn: {...}})")
    elif "model" in top:
        model = _parse_model(top, base_dir, plan["files"], problems, plan)
    elif "function" in top:
        plan["function"] = _parse_function(top["function"][1], problems)
        for key in ("connectome", "integration", "outputs", "objectives"):
            if key in top:
                problems.add(top[key][0], f"{key}: only for studies of a model; a function computes its own scores")
    plan["model"] = model

    # integration
    run_kwargs, seed = _parse_integration(top, model, problems)
    plan["run_kwargs"], plan["seed"] = run_kwargs, seed
    if "seed" in top:
        s = _number(top["seed"][1], "seed", problems, integer=True)
        if s is not None and seed is not None:
            problems.add(top["seed"][0], "seed given twice (top level and integration.seed)")
        plan["seed"] = s if s is not None else seed

    # outputs
    keep = []
    if "outputs" in top:
        node = top["outputs"][1]
        v = _value(node)
        v = [v] if isinstance(v, str) else v
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            problems.add(node, f"outputs: expected a list of output names, got {_kind(node)}")
        else:
            keep = v
            if model is not None:
                known = _output_names(model, run_kwargs)
                for name in v:
                    if name not in known:
                        close = difflib.get_close_matches(name, known, n=1)
                        hint = f"; did you mean {close[0]!r}?" if close else ""
                        extra = " (BOLD needs integration: bold: true)" if name.startswith("BOLD") else ""
                        problems.add(node, f"outputs: the model has no output {name!r}{hint}{extra} "
                                           f"(outputs: {', '.join(known)})")
    plan["keep"] = keep

    # space
    space = _parse_space(top, model, plan.get("function"), problems)
    plan["space"] = space
    if hnn and plan["function"] is not None and space is not None:
        plan["function"].fixed = dict(space.fixed)  # the evaluator applies them in every run

    # objectives (a model's gradient study, or a loss-only kind: one differentiable loss)
    from ._yaml_gradient import LOSS_ONLY, objective_kinds
    gradient = _strategy_kind(top) == "gradient"
    if "model" in top and not hnn and (gradient or set(objective_kinds(top)) & set(LOSS_ONLY)):
        from ._yaml_gradient import parse_objectives as parse_gradient_objectives
        objectives = parse_gradient_objectives(top, model, run_kwargs, base_dir, plan["files"], problems,
                                               plan.pop("connectome", None), gradient=gradient)
    else:
        objectives = _parse_objectives(top, model, run_kwargs, base_dir, plan["files"], problems)
    plan.pop("connectome", None)
    plan["objectives"] = objectives

    # strategy
    plan["strategy"] = _parse_strategy(top, space, objectives, problems,
                                       model if not hnn else plan["function"])  # hnn gives no gradients

    if problems.items:
        raise StudySpecError(source, problems.sorted())
    return plan


def _model_class(name: str):
    from . import models
    name = _MODEL_ALIASES.get(name.lower().replace("_", "").replace("-", ""), name)
    if name == "ALNModel":
        from .models.aln import ALNModel
        return ALNModel
    cls = getattr(models, name, None)
    if isinstance(cls, type) and issubclass(cls, models.Model) and cls is not models.Model:
        return cls
    return None


def _known_models() -> list[str]:
    from . import models
    names = [n for n in dir(models) if n.endswith("Model") and n != "Model"]
    return sorted(set(names) | {"ALNModel"})


def _strategy_kind(top):
    """The strategy's name as written (``grid``, ``gradient``, ...), or None if it is malformed."""
    node = top["strategy"][1] if "strategy" in top else None
    if node is None:
        return "grid"
    if isinstance(node, yaml.ScalarNode):
        return _value(node)
    if isinstance(node, yaml.MappingNode) and len(node.value) == 1:
        return _value(node.value[0][0])
    return None


def _parse_model(top, base_dir, files, problems, plan=None):
    knode, node = top["model"]
    if not isinstance(node, yaml.MappingNode):
        v = _value(node) if not isinstance(node, yaml.SequenceNode) else None
        if isinstance(v, str):  # "model: HopfModel"
            spec = {"name": (knode, node)}
        else:
            problems.add(node, f"model: expected a mapping with name and params, got {_kind(node)}")
            return None
    else:
        spec = _mapping(node, "model", problems, MODEL_KEYS)
    if "yaml" in spec and "name" in spec:
        problems.add(spec["yaml"][0], "model: give either name (a brainsweep model) or yaml (a TVB-O file), not both")
        return None
    yaml_only = [k for k in ("coupling", "inputs") if k in spec and "yaml" not in spec]
    for key in yaml_only:
        problems.add(spec[key][0], f"model.{key}: only for a model given as yaml: (a TVB-O file or tvbo name)")
    if "name" not in spec and "yaml" not in spec:
        problems.add(node, "model: missing name (e.g. HopfModel) or yaml (a TVB-O model file or tvbo name)")
        return None
    Cmat = Dmat = None
    if "connectome" in top:
        sc = _parse_connectome(top["connectome"][1], base_dir, files, problems)
        if sc is not None:
            Cmat, Dmat = sc.Cmat, sc.Dmat
            if plan is not None:
                plan["connectome"] = sc  # labels and centres (a per-region target frequency gradient)
    if "yaml" in spec:
        return _parse_yaml_model(spec, base_dir, files, problems, Cmat, Dmat)
    name = _value(spec["name"][1])
    cls = _model_class(name) if isinstance(name, str) else None
    if cls is None:
        close = difflib.get_close_matches(str(name), _known_models(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        problems.add(spec["name"][1], f"model: unknown model {name!r}{hint} (known: {', '.join(_known_models())})")
        return None
    try:
        model = cls(Cmat=Cmat, Dmat=Dmat) if Cmat is not None else cls()
    except (ValueError, TypeError) as err:
        problems.add(spec["name"][1], f"model: {name} cannot be built ({err})")
        return None
    if "params" in spec:
        for key, (pk, pv) in _mapping(spec["params"][1], "model.params", problems).items():
            if key not in model.param_names:
                close = difflib.get_close_matches(key, model.param_names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.add(pk, f"model.params: {name} has no parameter {key!r}{hint}")
                continue
            try:
                model.params[key] = _value(pv)
            except (ValueError, TypeError) as err:
                problems.add(pv, f"model.params.{key}: {err}")
    return model


def _parse_yaml_model(spec, base_dir, files, problems, Cmat, Dmat):
    """``model: {yaml: file-or-tvbo-name, coupling: ..., inputs: [...], params: {...}}``: a model
    generated from TVB-O files (:func:`brainsweep.models.from_yaml`). A file named relative to the
    study's folder is attached to the study; otherwise the name is looked up in tvbo's database."""
    from .models.symbolic import YamlModelError, from_yaml, model_class
    given = {}
    for key, folder in (("yaml", "models"), ("coupling", "coupling_functions")):
        if key not in spec:
            continue
        v = _value(spec[key][1])
        if not isinstance(v, str) or not v:
            problems.add(spec[key][1], f"model.{key}: expected a YAML file or a tvbo {folder} name, got "
                                       f"{_kind(spec[key][1])}")
            return None
        path = Path(v) if Path(v).is_absolute() else base_dir / v
        given[key] = str(path) if path.is_file() else v
        if path.is_file():
            _attach(files, v, path)
    inputs = None
    if "inputs" in spec:
        inputs = _value(spec["inputs"][1])
        if not (isinstance(inputs, list) and all(isinstance(x, str) for x in inputs)):
            problems.add(spec["inputs"][1], f"model.inputs: expected a list of state variable names, got "
                                            f"{_kind(spec['inputs'][1])}")
            return None
    where = spec["yaml"][1]
    try:
        cls = model_class(given["yaml"], given.get("coupling"), inputs=inputs)
    except (YamlModelError, FileNotFoundError, ValueError) as err:
        key = "inputs" if "inputs" in spec and "input channel" in str(err) else "yaml"
        problems.add(spec[key][1], f"model.{key}: {err}")
        return None
    params, nodes = {}, {}
    known = cls.spec()["param_names"]
    for key, (pk, pv) in (_mapping(spec["params"][1], "model.params", problems).items() if "params" in spec else ()):
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.add(pk, f"model.params: {cls.__name__} has no parameter {key!r}{hint}")
            continue
        params[key], nodes[key] = _value(pv), pv
    try:
        return from_yaml(given["yaml"], given.get("coupling"), Cmat, Dmat, inputs=inputs, **params)
    except (YamlModelError, ValueError, TypeError) as err:
        symbol = getattr(err, "symbol", None)
        hit = symbol if symbol in nodes else next((k for k in nodes if repr(k) in str(err)), None)
        problems.add(nodes[hit] if hit else where, f"model.params.{hit}: {err}" if hit else f"model.yaml: {err}")
        return None


def _is_hnn(node) -> bool:
    """``model: {hnn: {...}}``: hnn-core's network as the study's evaluation."""
    return isinstance(node, yaml.MappingNode) and len(node.value) == 1 and _value(node.value[0][0]) == "hnn"


def _parse_hnn(node, base_dir, files, problems):
    """The :class:`~brainsweep.explorer.hnn_eval.HNNEvaluator` of ``model: {hnn: {...}}`` (its ``fixed``
    is set once the space is parsed); a target file given by name is attached."""
    knode, vnode = node.value[0]
    spec = _value(vnode)
    if spec is None:
        spec = {}
    try:
        from .explorer.hnn_eval import HNNEvaluator
        evaluator = HNNEvaluator.from_spec(spec, base_dir=base_dir)
    except ImportError as err:
        problems.add(knode, f"model.hnn: hnn-core and NEURON are needed: pip install brainsweep[hnn] "
                            f"({str(err).splitlines()[0][:120]})")
        return None
    except (ValueError, TypeError, OSError) as err:
        msg = str(err) if str(err).startswith("model.hnn") else f"model.hnn: {err}"
        problems.add(_hnn_key_node(vnode, msg), msg)
        return None
    target = spec.get("target") if isinstance(spec, dict) else None
    if isinstance(target, str) and (base_dir / target).is_file():
        _attach(files, target, base_dir / target)
    return evaluator


def _hnn_key_node(node, message: str):
    """The node of the setting ``model.hnn.<key>`` a message names (its line), else ``node``."""
    return _option_node(node, message, r"model\.hnn\.(\w+)") or node


def _parse_connectome(node, base_dir, files, problems):
    from .data import load_connectome
    if isinstance(node, yaml.ScalarNode):
        spec = {"name": _value(node)}
        where = node
    else:
        m = _mapping(node, "connectome", problems, CONNECTOME_KEYS)
        spec = {k: _value(v) for k, (_, v) in m.items()}
        where = m["name"][1] if "name" in m else node
        if "name" not in m:
            problems.add(node, "connectome: missing name (tvb68, tvb76, ... or a path)")
            return None
    name = spec["name"]
    if not isinstance(name, str):
        problems.add(where, f"connectome: expected a name or path, got {name!r}")
        return None
    from .data import TVB_CONNECTOMES
    given = name
    if name.lower() not in TVB_CONNECTOMES and not Path(name).is_absolute():
        name = str(base_dir / name)
    try:
        sc = load_connectome(name, normalize=spec.get("normalize"), zero_diagonal=bool(spec.get("zero_diagonal")))
    except (ValueError, OSError) as err:
        problems.add(where, f"connectome: {err}")
        return None
    if given.lower() not in TVB_CONNECTOMES:  # a user's files: attach what was read
        path = Path(name)
        parts = [path / f for f in _CONNECTOME_FILES if (path / f).is_file()] if path.is_dir() else [path]
        for part in parts:
            _attach(files, given if part == path else f"{given.rstrip('/')}/{part.name}", part)
    return sc


_CONNECTOME_FILES = ("weights.txt", "tract_lengths.txt", "centres.txt", "weights.txt.bz2",
                     "tract_lengths.txt.bz2", "centres.txt.bz2")


def _attach(files: dict, given: str, path: Path) -> None:
    """Attach a file the study reads under the name the YAML uses, if that name stays inside the
    study's folder (an archive unpacks it there); other files are listed under ``files[None]``."""
    p = Path(given)
    if p.is_absolute() or ".." in p.parts:
        files.setdefault(None, []).append(given)
    else:
        files[p.as_posix()] = path.read_bytes()


def _parse_function(node, problems):
    v = _value(node) if isinstance(node, yaml.ScalarNode) else None
    if not isinstance(v, str) or ":" not in v:
        problems.add(node, f"function: expected 'module:callable', got {_kind(node)}")
        return None
    mod, _, attr = v.partition(":")
    try:
        fn = getattr(importlib.import_module(mod), attr)
    except ImportError as err:
        problems.add(node, f"function: cannot import module {mod!r} ({err})")
        return None
    except AttributeError:
        problems.add(node, f"function: module {mod!r} has no {attr!r}")
        return None
    if not callable(fn):
        problems.add(node, f"function: {v} is not callable")
        return None
    return fn


def _parse_integration(top, model, problems):
    if "integration" not in top:
        return {}, None
    node = top["integration"][1]
    m = _mapping(node, "integration", problems, INTEGRATION_KEYS)
    kw, seed = {}, None
    for key, (_, vn) in m.items():
        if key == "seed":
            seed = _number(vn, "integration.seed", problems, integer=True)
            if seed is not None and seed < 0:
                problems.add(vn, f"integration.seed: expected a non-negative integer, got {seed}")
                seed = None
        elif key == "bold":
            v = _value(vn)
            if not isinstance(v, bool):
                problems.add(vn, f"integration.bold: expected true or false, got {_kind(vn)}")
            else:
                kw["bold"] = v
        elif key == "integrator":
            v = _value(vn)
            if v not in ("euler", "heun"):
                problems.add(vn, f"integration.integrator: expected euler or heun, got {_kind(vn)}")
            else:
                kw["integrator"] = v
        elif key == "stimulus":
            stim = _parse_stimulus(vn, model, problems)
            if stim is not None:
                kw["stimulus"] = stim
        elif key == "initial_state":
            init = _parse_initial_state(vn, model, problems)
            if init is not None:
                kw["initial_state"] = init
        else:
            v = _number(vn, f"integration.{key}", problems, positive=True)
            if v is not None:
                kw[key] = float(v)
    if "dt" in m and "dt" not in kw:
        return kw, seed  # a bad dt is reported already; the steps below are measured in it
    from .models.engine import timing_problems
    for key, message in timing_problems(kw, getattr(model, "dt", 0.1)):
        problems.add(m[key][1], f"integration.{key}: {message}")
    if "tr" in kw and not kw.get("bold"):
        problems.add(m["tr"][1], "integration.tr: the BOLD sampling period needs bold: true")
    return kw, seed


def _parse_initial_state(node, model, problems):
    """``{state variable: value}``: those states start at the value in every node and run (the
    others are drawn from the run's seed)."""
    states = list(model.spec()["state_names"]) if model is not None else None
    out = {}
    for name, (kn, vn) in _mapping(node, "integration.initial_state", problems).items():
        if states is not None and name not in states:
            close = difflib.get_close_matches(name, states, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.add(kn, f"integration.initial_state: the model has no state variable {name!r}{hint} "
                             f"(states: {', '.join(states)})")
            continue
        v = _number(vn, f"integration.initial_state.{name}", problems)
        if v is not None:
            out[name] = float(v)
    return out or None


def _parse_stimulus(node, model, problems):
    """``{channel: {type: PulseTrain, amplitude: .., ...}}`` -> {channel: Stimulus}."""
    from .models import stimulus as stim_mod
    out = {}
    channels = list(getattr(model, "input_channels", ()) or ())
    for ch, (kn, vn) in _mapping(node, "integration.stimulus", problems).items():
        if model is not None and ch not in channels:
            problems.add(kn, f"integration.stimulus: the model has no input channel {ch!r} (channels: {channels})")
            continue
        spec = _value(vn) if isinstance(vn, yaml.MappingNode) else None
        if not isinstance(spec, dict) or "type" not in spec:
            problems.add(vn, "integration.stimulus: expected {type: StepStimulus|PulseTrain|Sinusoid, ...}")
            continue
        kind = spec.pop("type")
        cls = getattr(stim_mod, str(kind), None)
        if kind not in ("StepStimulus", "PulseTrain", "Sinusoid") or cls is None:
            problems.add(vn, f"integration.stimulus.{ch}: unknown type {kind!r} (StepStimulus, PulseTrain, Sinusoid)")
            continue
        try:
            out[ch] = cls(**spec)
        except (TypeError, ValueError) as err:
            problems.add(vn, f"integration.stimulus.{ch}: {err}")
    return out or None


def _output_names(model, run_kwargs) -> list[str]:
    names = ["t"] + list(model.spec()["output_names"])
    if run_kwargs.get("bold"):
        names += ["BOLD", "BOLD_t"]
    return names


def _parse_space(top, model, function, problems):
    from .explorer.space import ParameterSpace
    if "space" not in top:
        problems.add(None, "missing space (grid, bounds and/or fixed parameters)")
        return None
    node = top["space"][1]
    m = _mapping(node, "space", problems, SPACE_KEYS)
    known = model.param_names if model is not None else None
    parts, ok = {}, True
    for key in ("grid", "bounds", "fixed"):
        if key not in m:
            continue
        sub = _mapping(m[key][1], f"space.{key}", problems)
        vals = {}
        for name, (kn, vn) in sub.items():
            if known is not None and name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.add(kn, f"space.{key}: the model has no parameter {name!r}{hint}")
                ok = False
                continue
            v = _value(vn)
            try:
                if key == "grid":
                    v = _grid_values(v)
                    ParameterSpace({name: v})
                elif key == "bounds":
                    v = tuple(v) if isinstance(v, list) and len(v) in (2, 3) and not (
                        isinstance(v[0], str)) else v
                    ParameterSpace(bounds={name: v})
                if model is not None:
                    _check_model_values(model, name, v, key)
            except (ValueError, TypeError) as err:
                problems.add(vn, f"space.{key}.{name}: {err}")
                ok = False
                continue
            vals[name] = v
        parts[key] = vals
    if not parts.get("grid") and not parts.get("bounds"):
        if ok:
            problems.add(node, "space: needs at least one explored parameter (grid or bounds)")
        return None
    per_node = None
    if "per_node" in m:
        pn = m["per_node"][1]
        per_node = _value(pn) if isinstance(pn, (yaml.SequenceNode, yaml.ScalarNode)) else None
        per_node = [per_node] if isinstance(per_node, str) else per_node
        if not (isinstance(per_node, list) and per_node and all(isinstance(x, str) for x in per_node)):
            problems.add(pn, f"space.per_node: expected a list of parameter names given bounds, got {_kind(pn)}")
            return None
        if model is None and function is not None:
            problems.add(pn, "space.per_node: one value per node needs a model (a function has no nodes)")
            return None
    try:
        space = ParameterSpace(parts.get("grid"), bounds=parts.get("bounds"), fixed=parts.get("fixed"),
                               per_node=per_node)
    except ValueError as err:
        where = m["per_node"][1] if str(err).startswith("per_node") else node
        problems.add(where, f"space.{err}" if str(err).startswith("per_node") else f"space: {err}")
        return None
    if per_node and model is not None:
        try:
            space.bind(model)
        except ValueError as err:
            problems.add(m["per_node"][1], f"space.per_node: {err}")
            return None
    return space


def _grid_values(v):
    """A list, or ``{start, stop, num}`` (numpy.linspace) / ``{start, stop, step}`` (arange)."""
    if isinstance(v, dict):
        extra = set(v) - {"start", "stop", "num", "step", "log"}
        if extra or not {"start", "stop"} <= set(v) or ("num" in v) == ("step" in v):
            raise ValueError("expected a list of values or {start, stop, num} / {start, stop, step}")
        if "num" in v:
            f = np.geomspace if v.get("log") else np.linspace
            return [round(float(x), 12) for x in f(v["start"], v["stop"], int(v["num"]))]
        return [round(float(x), 12) for x in np.arange(v["start"], v["stop"] + v["step"] / 2, v["step"])]
    if not isinstance(v, list):
        raise ValueError(f"expected a list of values, got {v!r}")
    return v


def _check_model_values(model, name, v, key):
    """A value outside the model parameter's validity bounds is a mistake in the file."""
    if key == "bounds" or key == "grid":
        values = list(v[:2]) if key == "bounds" and isinstance(v, tuple) else (v if isinstance(v, list) else [])
    else:
        values = [v]
    saved = model.params[name]
    try:
        for x in values:
            model.params[name] = x
    finally:
        model.params[name] = saved


def _parse_objectives(top, model, run_kwargs, base_dir, files, problems):
    if "objectives" not in top or "function" in top:
        return []
    node = top["objectives"][1]
    items = node.value if isinstance(node, yaml.SequenceNode) else None
    if items is None:
        if isinstance(node, yaml.MappingNode):
            items = [node]
        else:
            problems.add(node, f"objectives: expected a list like '- fc: {{target: fc.csv}}', got {_kind(node)}")
            return []
    out = []
    for item in items:
        m = _mapping(item, "objectives", problems, tuple(OBJECTIVES))
        if len(m) != 1:
            if m:
                problems.add(item, "objectives: one kind per list item (fc, fcd, peak_frequency, spectrum, dipole)")
            continue
        (kind, (kn, vn)), = m.items()
        main, sign, allowed = OBJECTIVES[kind]
        opts = _mapping(vn, f"objectives.{kind}", problems, allowed)
        spec = {"kind": kind, "node": vn, "options": {}}
        for key, (okn, ovn) in opts.items():
            if key == "target":
                spec["target"] = _parse_target(ovn, kind, base_dir, files, model, problems)
            else:
                spec["options"][key] = _value(ovn)
        if kind in ("fc", "fcd", "spectrum", "dipole") and "target" not in opts:
            problems.add(vn, f"objectives.{kind}: missing target (a file or {{synthetic: {{param: value}}}})")
        if kind == "peak_frequency" and "f_hz" not in opts:
            problems.add(vn, "objectives.peak_frequency: missing f_hz (target peak frequency, Hz)")
        prefix = spec["options"].get("prefix", "")
        spec["score"], spec["weight"] = f"{prefix}{main}", sign
        out.append(spec)
        if model is None:
            continue
        if kind in ("fc", "fcd") and model.network.n_nodes < 3:
            problems.add(vn, f"objectives.{kind}: FC needs a network of at least 3 nodes; the model has "
                             f"{model.network.n_nodes} (add a connectome)")
        data = (spec.get("target") or {}).get("data")
        if kind == "fc" and data is not None and np.shape(data)[-2:] != (model.network.n_nodes,) * 2:
            rows, cols = np.shape(data)[-2:]
            problems.add(opts["target"][1], f"objectives.fc.target: {Path(spec['target']['file']).name} is a "
                                            f"{rows} x {cols} matrix, but the model has {model.network.n_nodes} "
                                            f"nodes (connectome regions)")
        key = spec["options"].get("key", _default_key(kind, model, run_kwargs))
        spec["options"]["key"] = key
        known = _output_names(model, run_kwargs)
        if kind != "dipole" and key not in known:
            extra = " (needs integration: bold: true)" if key.startswith("BOLD") else ""
            problems.add(vn, f"objectives.{kind}: the model has no output {key!r}{extra} (outputs: {', '.join(known)})")
    names = [s["score"] for s in out]
    for s in out:
        if names.count(s["score"]) > 1:
            problems.add(s["node"], f"objectives: score {s['score']!r} produced twice; give one a prefix")
            break
    return out


def _default_key(kind, model, run_kwargs):
    if kind in ("fc", "fcd"):
        return "BOLD" if run_kwargs.get("bold") else (list(_output_names(model, run_kwargs))[1])
    if kind == "dipole":
        return None
    outputs = _output_names(model, run_kwargs)
    return "v_pyr" if "v_pyr" in outputs else outputs[1]


def _parse_target(node, kind, base_dir, files, model, problems):
    if isinstance(node, yaml.MappingNode):
        m = _mapping(node, f"objectives.{kind}.target", problems, ("synthetic", "seed"))
        if "synthetic" not in m:
            problems.add(node, f"objectives.{kind}.target: expected a file name or {{synthetic: {{param: value}}, seed: N}}")
            return None
        hidden = {}
        for name, (kn, vn) in _mapping(m["synthetic"][1], f"objectives.{kind}.target.synthetic", problems).items():
            if model is not None and name not in model.param_names:
                close = difflib.get_close_matches(name, model.param_names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.add(kn, f"objectives.{kind}.target.synthetic: the model has no parameter {name!r}{hint}")
                continue
            hidden[name] = _value(vn)
        seed = _number(m["seed"][1], "target seed", problems, integer=True) if "seed" in m else 0
        return {"synthetic": hidden, "seed": seed}
    v = _value(node) if isinstance(node, yaml.ScalarNode) else None
    if not isinstance(v, str):
        problems.add(node, f"objectives.{kind}.target: expected a file name or a synthetic target, got {_kind(node)}")
        return None
    path = Path(v) if Path(v).is_absolute() else base_dir / v
    if not path.is_file():
        problems.add(node, f"objectives.{kind}.target: no such file {str(path)!r}")
        return None
    try:
        data = _read_target(path, kind)
    except (ValueError, OSError) as err:
        problems.add(node, f"objectives.{kind}.target: {err}")
        return None
    _attach(files, v, path)
    return {"data": data, "file": str(path)}


def _read_target(path: Path, kind: str):
    from .data import read_dipole, read_matrix
    if kind == "fc":
        return read_matrix(path)
    if kind == "fcd":
        return read_matrix(path, square=False)
    if kind == "spectrum":
        m = read_matrix(path, square=False)
        if m.ndim != 2 or m.shape[1] != 2:
            raise ValueError(f"{path.name}: expected two columns (frequency Hz, power), got shape {m.shape}")
        return m[:, 0], m[:, 1]
    d = read_dipole(path)
    return d.t, d.agg


# -- building -----------------------------------------------------------------------------
def _synthetic_output(model, hidden: dict, seed: int, run_kwargs: dict):
    return model.run_batch([hidden], seeds=[int(seed)], **run_kwargs)[0]


def _after(out, key, transient_ms):
    t = out[f"{key}_t"] if f"{key}_t" in out else out["t"]
    return np.asarray(out[key])[:, np.asarray(t) >= transient_ms]


def build_objectives(plan: dict):
    """The objective callable for the plan's objectives (targets from files or synthetic runs)."""
    from . import evaluation as ev
    from .models import DivergenceError
    model, run_kwargs = plan["model"], plan["run_kwargs"]
    built, problems = [], _Problems()
    for spec in plan["objectives"]:
        try:
            if spec.get("gradient"):
                from ._yaml_gradient import build
                built.append(build(spec, model, run_kwargs,
                                   lambda hidden, seed: _synthetic_output(model, hidden, seed, run_kwargs)))
                continue
            built.append(_build_one(spec, model, run_kwargs))
        except (ValueError, TypeError, KeyError, DivergenceError) as err:
            problems.add(spec["node"], f"objectives.{spec['kind']}: {err}")
    if problems.items:
        raise StudySpecError(plan["source"], problems.sorted())
    if not built:
        return None
    return built[0] if len(built) == 1 else ev.combine(*built)


def _build_one(spec, model, run_kwargs):
    """One objective adapter from its spec (simulating the synthetic target if there is one)."""
    from . import evaluation as ev
    kind, opts, target = spec["kind"], dict(spec["options"]), spec.get("target")
    synthetic = None
    if target is not None and "synthetic" in target:
        synthetic = _synthetic_output(model, target["synthetic"], target["seed"], run_kwargs)
    key = opts.pop("key", None)
    if kind == "fc":
        tr_ms = opts.get("transient_ms", 10_000.0)
        fc_emp = ev.fc(_after(synthetic, key, tr_ms)) if synthetic is not None else target["data"]
        return ev.fit_fc(fc_emp, key=key, **opts)
    elif kind == "fcd":
        tr_ms = opts.get("transient_ms", 10_000.0)
        fcd_emp = ev.fcd(_after(synthetic, key, tr_ms), window=opts.get("window", 30), step=opts.get("step", 5)) \
            if synthetic is not None else target["data"]
        return ev.fit_fcd(fcd_emp, key=key, **opts)
    elif kind == "spectrum":
        if synthetic is not None:
            tr_ms = opts.get("transient_ms", 0.0)
            t = np.asarray(synthetic["t"])
            f, S = ev.welch_psd(_after(synthetic, key, tr_ms), 1000.0 / (t[1] - t[0]), nperseg=opts.get("nperseg"))
            f_t, S_t = f, S.mean(axis=0)
        else:
            f_t, S_t = target["data"]
        return ev.fit_spectrum(S_t, f_t, key=key, **opts)
    elif kind == "peak_frequency":
        f_hz = opts.pop("f_hz")
        return ev.target_peak_frequency(f_hz, opts.pop("band", (1.0, 100.0)), key=key, **opts)
    elif kind == "dipole":
        dip = ev.JansenRitDipole(scale=opts.pop("scale", 1.0), y1=opts.pop("y1", "y1"), y2=opts.pop("y2", "y2")) \
            if key is None else key
        if synthetic is not None:
            t_t = np.asarray(synthetic["t"])
            d_t = np.asarray(dip(synthetic) if callable(dip) else synthetic[dip])
            d_t = d_t.sum(axis=0) if d_t.ndim == 2 else d_t
        else:
            t_t, d_t = target["data"]
        return ev.fit_dipole(t_t, d_t, dipole=dip, **opts)
    raise ValueError(f"unknown objective kind {kind!r}")


def _parse_strategy(top, space, objectives, problems, model=None):
    from .explorer import GridSearch
    node = top["strategy"][1] if "strategy" in top else None
    if node is None:
        kind, opts, onode = "grid", {}, None
    elif isinstance(node, yaml.ScalarNode):
        kind, opts, onode = _value(node), {}, node
    else:
        m = _mapping(node, "strategy", problems, STRATEGIES)
        if len(m) != 1:
            if m:
                problems.add(node, f"strategy: give exactly one of {', '.join(STRATEGIES)}")
            return None
        (kind, (_, onode)), = m.items()
        opts = _value(onode) or {}
        if not isinstance(opts, dict):
            problems.add(onode, f"strategy.{kind}: expected a mapping of options, got {_kind(onode)}")
            return None
    if kind not in STRATEGIES:
        close = difflib.get_close_matches(str(kind), STRATEGIES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        problems.add(node, f"strategy: unknown strategy {kind!r}{hint} (expected {', '.join(STRATEGIES)})")
        return None
    where = onode if onode is not None else (top["space"][1] if "space" in top else None)
    space_ok = True
    if kind == "gradient" and model is not None and hasattr(model, "run_batch") and space is not None:
        space_ok = _check_gradient_space(top, model, space, problems)
    try:
        if kind == "grid":
            strategy = GridSearch(**opts)
        else:
            module, cls_name = _STRATEGY_CLASSES[kind]
            try:
                cls = getattr(importlib.import_module(module, __package__), cls_name)
            except (ImportError, AttributeError) as err:
                extra = " (pip install brainsweep[sbi])" if kind == "sbi" else ""
                problems.add(where, f"strategy: {cls_name} is not available in this installation{extra} ({err})")
                return None
            params = inspect.signature(cls).parameters
            takes_any = any(v.kind is inspect.Parameter.VAR_KEYWORD for v in params.values())
            unknown = [] if takes_any else [k for k in opts if k not in params]
            for key in unknown:
                close = difflib.get_close_matches(key, list(params), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"options: {', '.join(params)}"
                problems.add(onode, f"strategy.{kind}: unknown option {key!r}; {hint}")
            if unknown:
                return None
            if "objectives" in params and "objectives" not in opts and objectives:
                opts["objectives"] = [o["score"] for o in objectives]
            if kind == "evolution" and "weights" in params and "weights" not in opts and objectives:
                opts["weights"] = tuple(o["weight"] for o in objectives)
            if kind in ("bayes", "cmaes") and objectives:
                if "objective" in params and "objective" not in opts:
                    opts["objective"] = objectives[0]["score"]
                chosen = [o for o in objectives if o["score"] == opts.get("objective")]
                if "minimize" in params and "minimize" not in opts and chosen:
                    opts["minimize"] = chosen[0]["weight"] < 0
            if "weights" in opts and isinstance(opts["weights"], list):
                opts["weights"] = tuple(opts["weights"])
            if kind == "sbi" and "features" in opts:
                fnode = next(v for k, v in onode.value if _value(k) == "features")
                opts["features"] = _sbi_features(opts["features"], fnode, problems)
                if opts["features"] is None:
                    return None
            strategy = cls(**opts)
    except TypeError as err:
        problems.add(where, f"strategy.{kind}: {err}")
        return None
    except ValueError as err:
        problems.add(_option_node(onode, str(err)) or where, f"strategy.{kind}: {err}")
        return None
    if space is not None and space_ok:
        try:
            strategy.check(space)
        except ValueError as err:
            problems.add(where, f"strategy {kind}: {err}")
    return strategy


def _option_node(node, message: str, pattern: str = r"(\w+):"):
    """The value node (in the mapping ``node``) of the option a message starts with (``pattern``'s
    group: by default ``lr`` of ``lr: expected ...``), for its line; None if there is none."""
    m = re.match(pattern, message)
    if m and isinstance(node, yaml.MappingNode):
        for knode, vnode in node.value:
            if _value(knode) == m.group(1):
                return vnode
    return None


def _check_gradient_space(top, model, space, problems) -> bool:
    """Every explored parameter of a model's gradient study has bounds and a derivative (not a
    choice, an integer, a delay or a noise setting), each problem reported at its line in space."""
    from .explorer.adjoint_eval import check_differentiable
    nodes = {}
    if isinstance(top["space"][1], yaml.MappingNode):
        for knode, vnode in top["space"][1].value:
            if _value(knode) in ("grid", "bounds") and isinstance(vnode, yaml.MappingNode):
                nodes.update({_value(k): k for k, _ in vnode.value})
    ok = True
    for dim in space.dimensions:
        where = nodes.get(dim.name, top["space"][1])
        if dim.kind == "grid":
            problems.add(where, f"space.grid.{dim.name}: a gradient study needs bounds [low, high] for every "
                                f"explored parameter, not a list of values")
        elif dim.kind == "categorical" or dim.scale == "int":
            problems.add(where, f"space.bounds.{dim.name}: {'categories' if dim.kind == 'categorical' else 'integers'}"
                                f" have no gradient; a gradient study needs real-valued bounds")
        else:
            try:
                check_differentiable(model, [dim.name])
                continue
            except ValueError as err:
                problems.add(where, f"space: {err}")
        ok = False
    return ok


def _sbi_features(spec, node, problems):
    """The feature function of ``features:``: a name, ``{name: {args}}`` (several names one after
    the other) or a list of those, from :data:`SBI_FEATURES`; ``None`` after a problem."""
    from .inference import features
    items = spec if isinstance(spec, list) else [spec]
    parts, ok = [], True
    for item in items:
        pairs = [(item, {})] if isinstance(item, str) else list(item.items()) if isinstance(item, dict) else None
        if not pairs:
            problems.add(node, f"strategy.sbi.features: expected a feature name, {{name: {{arguments}}}} or a list "
                               f"of those ({', '.join(SBI_FEATURES)}), got {item!r:.60}")
            ok = False
            continue
        for name, args in pairs:
            if name not in SBI_FEATURES:
                close = difflib.get_close_matches(str(name), SBI_FEATURES, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.add(node, f"strategy.sbi.features: unknown feature {name!r}{hint} "
                                   f"(expected {', '.join(SBI_FEATURES)})")
                ok = False
                continue
            fn = getattr(features, name)
            args = {} if args is None else args
            if not isinstance(args, dict):
                problems.add(node, f"strategy.sbi.features.{name}: expected a mapping of arguments, got {args!r:.60}")
                ok = False
                continue
            known = list(inspect.signature(fn).parameters)
            unknown = [k for k in args if k not in known]
            for key in unknown:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"arguments: {', '.join(known)}"
                problems.add(node, f"strategy.sbi.features.{name}: unknown argument {key!r}; {hint}")
            if unknown:
                ok = False
                continue
            try:
                parts.append(fn(**{k: tuple(v) if isinstance(v, list) and k != "bands" else v
                                   for k, v in args.items()}))
            except (ValueError, TypeError) as err:
                problems.add(node, f"strategy.sbi.features.{name}: {err}")
                ok = False
    if not ok or not parts:
        return None
    return parts[0] if len(parts) == 1 else features.concat(*parts)


def load_study(path, *, overwrite: bool = False, study_path: str | None = None, trust: bool = False, say=None):
    """Read, validate and build the :class:`~brainsweep.explorer.Study` of a YAML study file.

    The YAML text (and any target files it names) are attached to the study file, so
    ``brainsweep archive`` can pack them and the study can be rerun from the archive.
    ``study_path`` overrides the file's ``path``; ``trust`` is passed to the Study (resuming a
    file of format 1 whose strategy state is a pickle: only for a file you trust).
    A tvbo experiment file (:mod:`brainsweep.tvbo_experiment`) is translated into a study written
    to ``<experiment stem>.h5`` in the current folder; ``say`` (a callable taking a line, e.g.
    ``print``) receives its one line per section saying what runs and what does not.
    """
    from .explorer import Study
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such study file: {path}")
    text = path.read_text()
    if _is_tvbo_experiment(text):
        from .tvbo_experiment import translate
        plan, notes = translate(path)
        for line in notes:
            (say or (lambda _: None))(f"tvbo experiment {path.name}: {line}")
    else:
        plan = parse_study(text, str(path), base_dir=path.parent)
    files = dict(plan["files"])
    outside = files.pop(None, [])
    attachments = {path.name: text, **files}
    if outside:  # recorded so that `brainsweep archive` can say what it could not pack
        attachments["NOT_ATTACHED.txt"] = "files outside the study folder, not packed:\n" + "\n".join(outside) + "\n"
    target = study_path or plan["path"]
    common = dict(path=target, seed=plan["seed"], overwrite=overwrite, timeout=plan["timeout"],
                  name=plan["name"], attachments=attachments, trust=trust)
    if plan["model"] is None:
        return Study(plan["function"], plan["space"], plan["strategy"], **common)
    objective = build_objectives(plan)
    return Study(plan["model"], plan["space"], plan["strategy"], objective=objective,
                 run_kwargs=plan["run_kwargs"], keep=plan["keep"] or None, **common)


def _is_tvbo_experiment(text: str) -> bool:
    """A TVB-O experiment (``dynamics:`` at the top level, no ``model``/``function``); a text that is
    too long or not plain YAML is left to :func:`parse_study`, which reports why."""
    from .tvbo_experiment import is_experiment
    if len(text) > MAX_TEXT or not re.search(r"^dynamics\s*:", text, re.M):
        return False
    try:
        root = yaml.compose(text, Loader=_Loader)
    except (yaml.YAMLError, RecursionError):
        return False
    return root is not None and not _check_nodes(root) and is_experiment(_value(root))
