"""tvbo experiment files (``tvbo/database/experiments/*.yaml``) run as brainsweep studies.

``brainsweep run experiment.yaml`` recognises a TVB-O experiment (a top-level ``dynamics``
section) and translates what the engine can run:

- ``dynamics``: a model written out in the file (then saved unchanged as a model file in the
  kernel cache folder and compiled by :func:`brainsweep.models.from_yaml`), or a tvbo database
  model by ``name`` with the file's parameter values. Spike/reset ``events`` are refused.
- ``network``: ``number_of_nodes: 1`` (one node), or ``bids_dir`` naming a data set
  :func:`brainsweep.data.load_dataset` has (``dk_average``: weights and tract lengths); a weight
  transform ``W / max(W)`` (or ``W / W_max``) is normalisation by the maximum; ``conduction_speed``
  (mm/ms) is ``signalV``; ``coupling`` (one entry: a tvbo coupling by ``iri``, or its own
  ``pre_expression``/``post_expression`` over ``incoming_states``/``local_states``).
- ``integration``: ``method`` (Euler/Heun), ``step_size`` (ms), ``duration`` (ms), additive
  ``noise`` (its ``sigma`` is ``sigma_white``: increments ``sigma * sqrt(dt) * N(0, 1)``).
- ``explorations``: the first grid (``mode: product``, domains with ``lo``, ``hi``, ``n``) over
  ``<dynamics name>.<parameter>``, ``<coupling name>.<parameter>`` or ``noise.sigma``. Without
  one, the study is one run.

Everything else (``optimizations``, ``algorithms``, ``inferences``, ``continuations``,
``observations``, ``functions`` with their jax/Python code, ...) is not run; :func:`translate`
says so in one line per section. The file is read with ``yaml.safe_load`` only and no code it
holds is ever executed. Nothing runnable: :class:`~brainsweep.studyfile.StudySpecError`.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import yaml

__all__ = ["is_experiment", "translate", "files_dir", "NOT_RUN"]

#: sections of an experiment brainsweep does not run, with the reason given for them
NOT_RUN = {
    "optimizations": "not run (gradient-based fits with jax losses; brainsweep's GradientDescent/CMAES "
                     "studies are written as brainsweep study files)",
    "algorithms": "not run (iterative tuning rules such as FIC/EIB)",
    "inferences": "not run (posterior inference; see brainsweep's SBI strategy)",
    "continuations": "not run (bifurcation continuation)",
    "observations": "not computed (observation pipelines with jax/Python code); the runs store the state outputs",
    "functions": "not used (functions with jax/Python code are never executed)",
    "events": "not applied (stimulus events)",
    "execution": "ignored (workers and precision: use brainsweep run -j)",
    "coupling": None,  # a top-level coupling is read as the network's coupling
}
_QUIET = ("id", "label", "description", "references", "iri", "name", "tags")
_NETWORK_KEYS = ("label", "description", "number_of_nodes", "bids_dir", "structural_measures",
                 "observational_measures", "parameters", "transforms", "coupling", "iri")
_INTEGRATION_KEYS = ("method", "step_size", "duration", "noise", "description", "time_scale", "transient_time",
                     "differentiation")
_WEIGHT_BY_MAX = re.compile(r"^\s*W\s*/\s*(max\s*\(\s*W\s*\)|W_max)\s*$")


def is_experiment(data) -> bool:
    """A TVB-O experiment (has ``dynamics``), not a brainsweep study file (``model``/``function``)."""
    return isinstance(data, dict) and "dynamics" in data and not ({"model", "function", "space"} & set(data))


class _Refusal(ValueError):
    """A section that cannot be run; the message is its one line."""


def translate(path, *, out_dir=None) -> tuple[dict, list[str]]:
    """``(plan, notes)`` for an experiment file: the plan has the keys of
    :func:`brainsweep.studyfile.parse_study`'s (model, space, strategy, run_kwargs, keep, seed,
    path, files, ...); notes say per section what was run and what not. Raises
    :class:`~brainsweep.studyfile.StudySpecError` listing every refused section when nothing
    runnable remains. ``out_dir``: folder of the study file (default: the current folder)."""
    from .studyfile import StudySpecError

    path = Path(path)
    text = path.read_text()
    data = yaml.safe_load(text)
    if not is_experiment(data):
        raise StudySpecError(str(path), ["not a tvbo experiment (no dynamics section)"])
    notes, refused = [], []
    for key in data:
        if key in NOT_RUN and NOT_RUN[key]:
            notes.append(f"{key}: {NOT_RUN[key]}")
        elif key not in NOT_RUN and key not in _QUIET and key not in ("dynamics", "network", "integration",
                                                                      "explorations"):
            notes.append(f"{key}: not supported, ignored")
    files: dict = {}
    model = None
    try:
        coupling = _coupling_file(data, path, files)
        model, net_note = _model(data, path, files, coupling)
        notes.append(f"dynamics: {model.model_def.name} ({len(model.state_vars)} state variable(s)) "
                     f"with coupling {model.coupling_def.name}")
        notes.append(net_note)
    except _Refusal as err:
        refused.append(str(err))
    run_kwargs, fixed = {}, {}
    try:
        run_kwargs, fixed, line = _integration(data.get("integration"), model)
        notes.append(line)
    except _Refusal as err:
        refused.append(str(err))
    space = None
    if model is not None and not refused:
        try:
            space, line = _exploration(data, model, fixed)
            notes.append(line)
        except _Refusal as err:
            refused.append(str(err))
    if refused or model is None:
        raise StudySpecError(str(path), [f"tvbo experiment not run: {r}" for r in refused] + notes)
    from .explorer import GridSearch

    first = model.bold_input or model.spec()["state_names"][0]
    plan = {"source": str(path), "base_dir": str(path.parent), "files": files, "model": model, "space": space,
            "strategy": GridSearch(), "run_kwargs": run_kwargs, "keep": [first], "objectives": [],
            "seed": _seed(data), "timeout": None, "name": re.sub(r"[^A-Za-z0-9_-]", "_", path.stem),
            "path": str(Path(out_dir or ".") / f"{path.stem}.h5")}
    notes.append(f"stored: output {first!r} of every run, sampled every {run_kwargs['sampling_dt']:g} ms")
    return plan, notes


# -- dynamics and coupling ----------------------------------------------------------------------
def files_dir() -> Path:
    """Folder of the model and coupling files written from experiments (in the kernel cache)."""
    from .models.engine import kernel_dir

    return kernel_dir() / "tvbo_experiments"


def _cache_file(kind: str, doc: dict, stem: str, files: dict) -> str:
    """Write ``doc`` (a model or coupling definition taken from the experiment) as a YAML file in the
    kernel cache folder, named by its content hash, and attach it to the study; return its path."""
    text = yaml.safe_dump(doc, sort_keys=False)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    folder = files_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{stem}-{kind}-{digest}.yaml"
    if not target.is_file() or target.read_text() != text:
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(target)
    files[target.name] = text.encode()
    return str(target)


def _one_coupling(data) -> tuple[str, dict] | None:
    net = data.get("network") if isinstance(data.get("network"), dict) else {}
    entries = net.get("coupling")
    if entries is None and isinstance(data.get("coupling"), dict):
        top = data["coupling"]
        return str(top.get("name") or "coupling"), top
    if not entries:
        return None
    if not isinstance(entries, dict) or len(entries) != 1:
        raise _Refusal(f"network.coupling: {len(entries)} couplings; brainsweep runs one coupling function per model")
    (name, entry), = entries.items()
    if not isinstance(entry, dict):
        raise _Refusal(f"network.coupling.{name}: expected a mapping")
    return str(name), entry


def _coupling_file(data, path: Path, files: dict):
    """(coupling file or tvbo name, {coupling parameter: value}, delayed) of the experiment."""
    found = _one_coupling(data)
    if found is None:
        return None, {}, True
    name, entry = found
    params = {}
    for p, spec in (entry.get("parameters") or {}).items():
        if isinstance(spec, dict) and (spec.get("shape") or spec.get("heterogeneous")):
            raise _Refusal(f"network.coupling.{name}.parameters.{p}: a heterogeneous (per-connection) coupling "
                           f"parameter is not supported")
        params[p] = spec.get("value") if isinstance(spec, dict) else spec
    delayed = bool(entry.get("delayed", True))
    pre = (entry.get("pre_expression") or {}).get("rhs")
    if pre is None:  # a tvbo coupling function by name
        iri = str(entry.get("iri") or "")
        if not iri.startswith("tvbo:"):
            raise _Refusal(f"network.coupling.{name}: neither pre_expression nor a tvbo:<name> iri")
        return iri[len("tvbo:"):], params, delayed
    pre = str(pre)
    if pre.strip().startswith("["):
        raise _Refusal(f"network.coupling.{name}: a multi-output pre_expression ({pre[:40]}...) is not supported")
    states = list(entry.get("local_states") or entry.get("incoming_states") or [])
    for k, s in enumerate(states):  # the file's state names -> TVB-O's indexed x_j[k] / x_i[k]
        pre = re.sub(rf"\b{re.escape(s)}_j\b", f"x_j[{k}]", pre)
        pre = re.sub(rf"\b{re.escape(s)}_i\b", f"x_i[{k}]", pre)
        pre = re.sub(rf"\b{re.escape(s)}\b", f"x_j[{k}]", pre)
    kept = ("value", "domain", "unit", "description")  # the file's own parameter settings, nothing else
    doc = {"name": name, "parameters": {p: {k: spec[k] for k in kept if k in spec} if isinstance(spec, dict)
                                        else {"value": spec} for p, spec in (entry.get("parameters") or {}).items()},
           "pre_expression": {"rhs": pre}, "post_expression": dict(entry.get("post_expression") or {"rhs": "gx"}),
           "delayed": delayed}
    if states:
        doc["local_states"] = states
    return _cache_file("coupling", doc, path.stem, files), {}, delayed


def _model(data, path: Path, files: dict, coupling):
    """The model of the experiment's dynamics on its network; (model, note)."""
    from .models.symbolic import YamlModelError, from_yaml

    dyn = data.get("dynamics")
    if not isinstance(dyn, dict) or not dyn.get("name"):
        raise _Refusal("dynamics: expected a mapping with a name")
    if dyn.get("events"):
        raise _Refusal(f"dynamics.events: spike/reset events ({', '.join(map(str, dyn['events']))}) are not "
                       f"supported by the engine (continuous dynamics only)")
    coupling_ref, coupling_params, delayed = coupling
    params = {f"coupling_{k}": v for k, v in coupling_params.items()}
    if dyn.get("state_variables"):
        source, how = _cache_file("model", dyn, path.stem, files), "written out in the file"
    else:
        source, how = str(dyn["name"]), "the tvbo database model"
        params.update({k: (v.get("value") if isinstance(v, dict) else v)
                       for k, v in (dyn.get("parameters") or {}).items()})
    Cmat, Dmat, signal_v, net_note = _network(data.get("network"), delayed)
    if signal_v is not None:
        params["signalV"] = signal_v
    try:
        model = from_yaml(source, coupling_ref, Cmat, Dmat, **params)
    except (YamlModelError, ValueError, FileNotFoundError) as err:
        msg = str(err).replace(str(Path(source).parent) + "/", "") if how != "the tvbo database model" else str(err)
        raise _Refusal(f"dynamics ({how}): {msg}") from None
    return model, net_note


def _network(net, delayed: bool):
    """(Cmat, Dmat, conduction speed in m/s or None, note) of the network section."""
    if net is None:
        return None, None, None, "network: none given (one node)"
    if not isinstance(net, dict):
        raise _Refusal("network: expected a mapping")
    unknown = sorted(set(net) - set(_NETWORK_KEYS))
    if unknown:
        raise _Refusal(f"network: {', '.join(unknown)} not supported (e.g. a network's own dynamics such as a "
                       f"hemodynamic model)")
    speed = ((net.get("parameters") or {}).get("conduction_speed") or {}).get("value")
    bids = net.get("bids_dir")
    if bids is None:
        n = net.get("number_of_nodes", 1)
        if n != 1:
            raise _Refusal(f"network: {n} nodes but no connectivity data (bids_dir) to connect them")
        return None, None, speed, "network: one node"
    from .data.datasets import TVBO_DATASETS, load_dataset

    name = Path(str(bids)).name
    if name not in TVBO_DATASETS:
        raise _Refusal(f"network.bids_dir: {bids!r} is not a data set brainsweep has (known: "
                       f"{', '.join(TVBO_DATASETS)})")
    measures = list(net.get("structural_measures") or ["streamlineCount", "tractLength"])
    if measures not in (["streamlineCount", "tractLength"], ["streamlineCount"]):
        raise _Refusal(f"network.structural_measures: {measures} (brainsweep reads streamlineCount and tractLength)")
    normalize, done = None, []
    for t in net.get("transforms") or []:
        rhs = (t.get("equation") or {}).get("rhs") if isinstance(t, dict) else None
        if isinstance(t, dict) and t.get("name") == "weight" and rhs and _WEIGHT_BY_MAX.match(str(rhs)):
            normalize = "max"
            done.append(str(rhs))
            continue
        what = rhs or (t.get("callable") if isinstance(t, dict) else t)
        raise _Refusal(f"network.transforms: {what} is not supported (only weights W / max(W); code is never run)")
    ds = load_dataset(name, normalize=normalize)
    lengths = ds.Dmat if delayed and "tractLength" in measures else None
    note = (f"network: {name} ({ds.n_regions} regions, {ds.licence}; weights{' / max' if normalize else ''}"
            + (f", tract lengths at {speed:g} mm/ms" if lengths is not None and speed is not None else
               ", tract lengths" if lengths is not None else ", no delays (instantaneous coupling)") + ")")
    if net.get("observational_measures"):
        note += f"; {', '.join(net['observational_measures'])} not used (no objective is translated)"
    return ds.Cmat, lengths, speed, note


# -- integration and exploration ----------------------------------------------------------------
def _integration(spec, model):
    """(run_kwargs, fixed parameter values, note) of the integration section."""
    if not isinstance(spec, dict):
        raise _Refusal("integration: missing (method, step_size, duration)")
    unknown = sorted(set(spec) - set(_INTEGRATION_KEYS))
    if unknown:
        raise _Refusal(f"integration: {', '.join(unknown)} not supported")  # a run must not differ silently
    if str(spec.get("time_scale", "ms")) != "ms":
        raise _Refusal(f"integration.time_scale: {spec['time_scale']!r} not supported (brainsweep integrates in ms)")
    method = str(spec.get("method", "heun")).lower()
    if method not in ("euler", "heun"):
        raise _Refusal(f"integration.method: {spec.get('method')!r} not supported (Euler, Heun)")
    dt, duration = spec.get("step_size"), spec.get("duration")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in (dt, duration)):
        raise _Refusal(f"integration: step_size and duration must be positive numbers of ms, got {dt!r}, {duration!r}")
    every = max(1, int(np.ceil(1.0 / dt - 1e-9)))
    kw = {"integrator": method, "dt": float(dt), "duration": float(duration),
          "sampling_dt": float(every * dt) if every * dt <= duration else float(dt)}
    from .models.engine import timing_problems

    problems = timing_problems(kw)
    if problems:
        raise _Refusal("integration: " + "; ".join(f"{k}: {m}" for k, m in problems))
    fixed, parts = {}, [f"{method}, dt = {dt:g} ms, {duration:g} ms"]
    noise = spec.get("noise")
    if noise is not None:
        sigma = ((noise.get("parameters") or {}).get("sigma") or {}).get("value") if isinstance(noise, dict) else None
        if not (isinstance(noise, dict) and noise.get("additive", True) and isinstance(sigma, (int, float))):
            raise _Refusal(f"integration.noise: only additive noise with parameters.sigma is supported, got {noise!r:.80}")
        fixed["sigma_white"] = float(sigma)
        parts.append(f"additive noise sigma_white = {sigma:g}")
    skipped = [k for k in ("transient_time", "differentiation") if k in spec]
    if skipped:
        parts.append(f"{', '.join(skipped)} not applied (whole runs are stored)")
    return kw, fixed, "integration: " + "; ".join(parts)


def _exploration(data, model, fixed):
    """(ParameterSpace, note): the first grid exploration, or one run."""
    from .explorer import ParameterSpace

    names = model.param_names
    explorations = data.get("explorations") or {}
    other, chosen = [], None
    for ename, ex in explorations.items():
        strategy = (ex or {}).get("strategy", "grid")
        mode = (ex or {}).get("mode", "product")
        if chosen is None and strategy == "grid" and mode == "product":
            grid = {}
            for key, spec in ((ex or {}).get("space") or {}).items():
                grid[_parameter(key, data, names)] = _values(key, spec)
            chosen = (ename, grid, (ex or {}).get("observable"))
        else:
            why = f"strategy {strategy}" if strategy != "grid" else (f"mode {mode}" if mode != "product" else
                                                                        f"only the first grid ({chosen[0]}) runs")
            other.append(f"{ename} ({why})")
    if chosen is None:
        first = next(n for n in names if n not in fixed and n != "TR")
        value = model.params[first]
        grid = {first: [value if np.ndim(value) == 0 else float(np.mean(value))]}
        line = f"explorations: none runnable; one run (grid {first} = {grid[first]})"
    else:
        ename, grid, observable = chosen
        n_runs = int(np.prod([len(v) for v in grid.values()]))
        sizes = " x ".join(str(len(v)) for v in grid.values()) + f" = {n_runs}" if len(grid) > 1 else str(n_runs)
        line = f"explorations: {ename}: grid {', '.join(grid)} ({sizes} runs)"
        if observable:
            line += f"; observable {observable.get('function', observable) if isinstance(observable, dict) else observable} not computed"
    if other:
        line += f"; not run: {', '.join(other)}"
    from .studyfile import _check_model_values
    for name, values in grid.items():
        try:
            _check_model_values(model, name, values, "grid")
        except ValueError as err:
            raise _Refusal(f"explorations: {err}") from None
    try:
        return ParameterSpace(grid, fixed={k: v for k, v in fixed.items() if k not in grid}), line
    except ValueError as err:
        raise _Refusal(f"explorations: {err}") from None


def _parameter(key: str, data, names) -> str:
    """The model parameter an exploration's ``owner.parameter`` names."""
    owner, _, pname = str(key).rpartition(".")
    dyn_name = str((data.get("dynamics") or {}).get("name"))
    found = _one_coupling(data)
    if owner == dyn_name and pname in names:
        return pname
    if found is not None and owner == found[0] and f"coupling_{pname}" in names:
        return f"coupling_{pname}"
    if owner == "noise" and pname == "sigma":
        return "sigma_white"
    raise _Refusal(f"explorations: {key!r} is not a parameter of the dynamics ({dyn_name}) or its coupling")


def _values(key: str, spec) -> list:
    dom = spec.get("domain") if isinstance(spec, dict) else None
    if isinstance(spec, dict) and spec.get("transform"):
        raise _Refusal(f"explorations.{key}: transform {spec['transform']!r} not supported")
    if not (isinstance(dom, dict) and all(isinstance(dom.get(k), (int, float)) for k in ("lo", "hi"))
            and isinstance(dom.get("n"), int) and dom["n"] >= 1):
        raise _Refusal(f"explorations.{key}: a grid needs domain lo, hi and n (number of values), got {spec!r:.80}")
    f = np.geomspace if dom.get("log_scale") else np.linspace
    return [round(float(x), 12) for x in f(dom["lo"], dom["hi"], dom["n"])]


def _seed(data) -> int | None:
    seed = (data.get("execution") or {}).get("random_seed") if isinstance(data.get("execution"), dict) else None
    return int(seed) if isinstance(seed, int) and seed >= 0 else None
