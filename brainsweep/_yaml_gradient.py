"""The differentiable objectives of a YAML gradient study of a model (``strategy: {gradient: ...}``).

```yaml
strategy: {gradient: {optimizer: adam, lr: 0.005, steps: 200, starts: 64, start: grid}}
objectives:
  - spectrum_correlation: {target: {synthetic: {a: 0.08, b: 0.05}, seed: 1}, nperseg: 256, transient_ms: 500}
```

One objective (the loss the gradient descends), one of :data:`KINDS`, each built from
:mod:`brainsweep.evaluation.differentiable`. The kinds of :data:`LOSS_ONLY` are also the loss of
a study with any other strategy (score ``loss``, minimised: CMA-ES, Evolution, BayesOpt minimise
what a gradient study would); ``peak_frequency``, ``fc`` and ``dipole`` keep their score meaning
(``peak_frequency_error``, ``fc_fit``, ``dipole_rmse``) there.

=======================  =========================================  ==========================================
kind                     loss                                       options (``key``: the output, default
                                                                    ``v_pyr`` or the first state; ``fc``:
                                                                    ``BOLD`` with ``bold: true``)
=======================  =========================================  ==========================================
``spectrum_correlation`` 1 - corr(node-mean Welch PSD, target)      target, band, nperseg, transient_ms, log
``log_spectral``         RMS of 10 log10(PSD / target) (dB)         target, band, nperseg, transient_ms
``peak_frequency``       per region 1 - corr(PSD, Lorentzian at f)  f_hz, band, width, nperseg, transient_ms, log
``spectral_centroid``    per region (centroid - f)^2 (Hz^2)         f_hz, band, nperseg, transient_ms
``fc``                   1 - corr(FC, target FC)                    target, transient_ms
``dipole``               RMSE to a target dipole (nAm)              target, scale, nodes, smooth_window, tstart,
                                                                    tstop
=======================  =========================================  ==========================================

``target``: a file (spectrum: two columns f (Hz), S, linearly interpolated onto the Welch
frequencies, which it must cover; fc: a matrix; dipole: hnn's text format) or
``{synthetic: {param: value}, seed: N}`` (a run of the study's model with those values,
reduced the same way). ``f_hz`` (per region): a number (every region), a list (one per
region), a file of one value per region, or ``{gradient: {from: [cuneus, ...], high: 11, low: 7}}``:
``high`` Hz at the regions whose connectome label is (or ends in ``_``) one of ``from``, falling
linearly with the distance of a region's centre to the nearest of them to ``low`` Hz at the
farthest region. Spectra: sampling rate ``1000 / sampling_dt`` Hz, ``nperseg`` samples
(default: one second of output), ``transient_ms`` left out first, ``band`` (Hz, ends included).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from .studyfile import _attach, _kind, _mapping, _number, _output_names, _parse_target, _value

#: differentiable objective kind -> allowed options
KINDS = {
    "spectrum_correlation": ("target", "key", "band", "nperseg", "transient_ms", "log"),
    "log_spectral": ("target", "key", "band", "nperseg", "transient_ms"),
    "peak_frequency": ("f_hz", "key", "band", "width", "nperseg", "transient_ms", "log"),
    "spectral_centroid": ("f_hz", "key", "band", "nperseg", "transient_ms"),
    "fc": ("target", "key", "transient_ms"),
    "dipole": ("target", "key", "scale", "nodes", "smooth_window", "tstart", "tstop"),
}
_SPECTRAL = ("spectrum_correlation", "log_spectral", "peak_frequency", "spectral_centroid")
#: the kinds that only exist as differentiable losses: in a study of any strategy they are its loss
LOSS_ONLY = ("spectrum_correlation", "log_spectral", "spectral_centroid")
#: ms of a run when integration gives no duration (``model.run``'s default)
DEFAULT_DURATION = 2000.0
#: integration settings a gradient (the discrete adjoint) does not take
_NOT_FOR_GRADIENT = ("stimulus", "chunk_ms")


def parse_objectives(top, model, run_kwargs, base_dir, files, problems, connectome=None, gradient=True) -> list:
    """The one differentiable objective of ``objectives:`` as a spec (built by :func:`build`).
    ``gradient``: for ``strategy: gradient`` (the adjoint's limits checked); otherwise another
    strategy minimises the same loss (score ``loss``) on the engine's runs."""
    if gradient:
        _check_gradient_run(top, run_kwargs, problems)
    if "objectives" not in top:
        problems.add(top["strategy"][1], "strategy.gradient: a model's gradient study needs one differentiable "
                                         f"objective ({', '.join(KINDS)}) under objectives:")
        return []
    node = top["objectives"][1]
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    if len(items) != 1:
        problems.add(node, f"objectives: a differentiable loss is minimised on its own; give one objective, "
                           f"not {len(items)}")
        return []
    m = _mapping(items[0], "objectives", problems)
    if len(m) != 1:
        problems.add(items[0], "objectives: one kind per list item")
        return []
    (kind, (kn, vn)), = m.items()
    if kind not in KINDS:
        hint = "; spectrum_correlation with log: true is spectrum's loss" if kind == "spectrum" else ""
        problems.add(kn, f"objectives.{kind}: has no gradient{hint}; a gradient study takes one of "
                         f"{', '.join(KINDS)}")
        return []
    opts = _mapping(vn, f"objectives.{kind}", problems, KINDS[kind])
    spec = {"kind": kind, "node": vn, "gradient": True, "options": {}, "score": "loss", "weight": -1.0}
    for key, (okn, ovn) in opts.items():
        if key == "target":
            spec["target"] = _parse_target(ovn, "spectrum" if kind in _SPECTRAL else kind, base_dir, files, model,
                                           problems)
        elif key == "f_hz":
            spec["f_hz"] = _parse_f_hz(ovn, model, base_dir, files, connectome, problems)
        else:
            spec["options"][key] = _value(ovn)
            spec["nodes_of"] = {**spec.get("nodes_of", {}), key: ovn}
    need = "f_hz" if "f_hz" in KINDS[kind] else "target"
    if need not in opts:
        what = "target peak frequency per region (Hz)" if need == "f_hz" else "a file or {synthetic: {param: value}}"
        problems.add(vn, f"objectives.{kind}: missing {need} ({what})")
    if model is not None:
        _check_options(spec, model, run_kwargs, problems)
    return [spec]


def _check_gradient_run(top, run_kwargs, problems) -> None:
    """What the adjoint needs of the runs: a duration, no stimulus or chunking, no stored outputs."""
    for key in _NOT_FOR_GRADIENT:
        node = _integration_node(top, key)
        if node is not None:
            problems.add(node, f"integration.{key}: not for a gradient study (the adjoint integrates runs "
                               f"without {key})")
    if "duration" not in run_kwargs:
        problems.add(top["integration"][1] if "integration" in top else top["model"][1],
                     "integration.duration: a gradient study needs the run's duration (ms)")
    if "outputs" in top:
        problems.add(top["outputs"][0], "outputs: a gradient study stores the loss and its gradient, no outputs")


def objective_kinds(top) -> list:
    """The kinds named by the items of ``objectives:`` (first key of each mapping)."""
    node = top["objectives"][1] if "objectives" in top else None
    items = node.value if isinstance(node, yaml.SequenceNode) else [node] if node is not None else []
    return [_value(i.value[0][0]) for i in items if isinstance(i, yaml.MappingNode) and i.value]


def _integration_node(top, key):
    if "integration" not in top or not isinstance(top["integration"][1], yaml.MappingNode):
        return None
    return next((k for k, _ in top["integration"][1].value if _value(k) == key), None)


def _check_options(spec, model, run_kwargs, problems) -> None:
    """The output key and the sampling settings, checked before anything runs."""
    kind, opts, vn = spec["kind"], spec["options"], spec["node"]
    known = _output_names(model, run_kwargs)
    key = opts.get("key", _default_key(kind, known, run_kwargs))
    if key not in known:
        extra = " (needs integration: bold: true)" if str(key).startswith("BOLD") else ""
        problems.add(spec.get("nodes_of", {}).get("key", vn),
                     f"objectives.{kind}: the model has no output {key!r}{extra} (outputs: {', '.join(known)})")
        return
    opts["key"] = key
    for name in ("nperseg", "transient_ms", "width", "scale", "smooth_window", "tstart", "tstop"):
        if name in opts:
            v = _number(spec["nodes_of"][name], f"objectives.{kind}.{name}", problems,
                        positive=name in ("nperseg", "width"), integer=name == "nperseg")
            if v is None:
                return
            if v < 0:
                problems.add(spec["nodes_of"][name], f"objectives.{kind}.{name}: expected a number >= 0, got {v!r}")
                return
    if "band" in opts:
        b = opts["band"]
        if not (isinstance(b, list) and len(b) == 2 and all(isinstance(x, (int, float)) for x in b) and b[0] < b[1]):
            problems.add(spec["nodes_of"]["band"], f"objectives.{kind}.band: expected [low, high] in Hz, got {b!r}")
            return
    if kind in _SPECTRAL:
        n, transient = _samples(model, run_kwargs, opts)
        nperseg = int(opts.get("nperseg", _default_nperseg(model, run_kwargs, n - transient)))
        if not 2 <= nperseg <= n - transient:
            problems.add(spec.get("nodes_of", {}).get("nperseg", vn), f"objectives.{kind}: nperseg {nperseg} must be between 2 and the {n - transient} "
                             f"samples after the transient ({n} samples of {_sampling_dt(model, run_kwargs):g} ms)")


def _default_key(kind, known, run_kwargs):
    if kind == "fc" and run_kwargs.get("bold"):
        return "BOLD"
    return "v_pyr" if "v_pyr" in known else known[1]


def _sampling_dt(model, run_kwargs) -> float:
    return float(run_kwargs.get("sampling_dt", run_kwargs.get("dt", getattr(model, "dt", 0.1))))


def _samples(model, run_kwargs, opts) -> tuple[int, int]:
    """(samples of the output, samples of the transient) for a spectral objective."""
    sdt = _sampling_dt(model, run_kwargs)
    n = int(round(run_kwargs.get("duration", DEFAULT_DURATION) / sdt))
    return n, int(round(float(opts.get("transient_ms", 0.0)) / sdt))


def _default_nperseg(model, run_kwargs, available: int) -> int:
    """One second of output, or all there is."""
    return max(2, min(available, int(round(1000.0 / _sampling_dt(model, run_kwargs)))))


def _parse_f_hz(node, model, base_dir, files, connectome, problems):
    """Per-region target frequencies (Hz): an array of one value per node, or None after a problem."""
    n = model.network.n_nodes if model is not None else None
    if isinstance(node, yaml.MappingNode):
        m = _mapping(node, "f_hz", problems, ("gradient",))
        if "gradient" not in m:
            problems.add(node, "f_hz: expected a number, a list, a file or {gradient: {from: [...], high, low}}")
            return None
        g = _mapping(m["gradient"][1], "f_hz.gradient", problems, ("from", "high", "low"))
        missing = [k for k in ("from", "high", "low") if k not in g]
        if missing:
            problems.add(m["gradient"][1], f"f_hz.gradient: missing {', '.join(missing)}")
            return None
        high = _number(g["high"][1], "f_hz.gradient.high", problems, positive=True)
        low = _number(g["low"][1], "f_hz.gradient.low", problems, positive=True)
        names = _value(g["from"][1])
        if not (isinstance(names, list) and names and all(isinstance(x, str) for x in names)):
            problems.add(g["from"][1], f"f_hz.gradient.from: expected a list of region names, got {_kind(g['from'][1])}")
            return None
        if connectome is None or getattr(connectome, "centres", None) is None:
            problems.add(node, "f_hz.gradient: needs a connectome with region labels and centres (connectome: ...)")
            return None
        try:
            return frequency_gradient(connectome, names, high, low) if None not in (high, low) else None
        except ValueError as err:
            problems.add(g["from"][1], f"f_hz.gradient: {err}")
            return None
    v = _value(node) if isinstance(node, yaml.ScalarNode) or isinstance(node, yaml.SequenceNode) else None
    if isinstance(v, str):
        path = Path(v) if Path(v).is_absolute() else Path(base_dir) / v
        try:
            values = np.loadtxt(path, dtype=float, ndmin=1).ravel()
        except (OSError, ValueError) as err:
            problems.add(node, f"f_hz: cannot read {str(path)!r} as one frequency per line ({err})")
            return None
        _attach(files, v, path)
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        values = np.full(n or 1, float(v))
    elif isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        values = np.asarray(v, dtype=float)
    else:
        problems.add(node, f"f_hz: expected a number, a list, a file or {{gradient: ...}}, got {_kind(node)}")
        return None
    if not np.all(np.isfinite(values) & (values > 0)):
        problems.add(node, "f_hz: frequencies must be finite and > 0 Hz")
        return None
    if n is not None and values.size != n:
        problems.add(node, f"f_hz: {values.size} frequencies for {n} regions (nodes)")
        return None
    return values


def frequency_gradient(connectome, names, high: float, low: float) -> np.ndarray:
    """Per region (Hz): ``high`` at the regions named in ``names`` (a label equal to one, or ending
    in ``_<name>``), down to ``low`` at the region farthest from them, linear in the distance (mm)
    of a region's centre to the nearest named centre."""
    labels = list(connectome.labels)
    named = np.array([any(lab == o or lab.endswith("_" + o) for o in names) for lab in labels])
    if not named.any():
        raise ValueError(f"no region of the connectome is named {names} (labels such as {labels[:3]})")
    centres = np.asarray(connectome.centres, dtype=float)
    d = np.linalg.norm(centres[:, None, :] - centres[None, named, :], axis=-1).min(axis=1)
    return high - (high - low) * d / d.max() if d.max() > 0 else np.full(len(labels), float(high))


# -- building ---------------------------------------------------------------------------------------

def build(spec, model, run_kwargs, synthetic_output):
    """The differentiable objective of ``spec``; ``synthetic_output(hidden, seed)`` runs the model."""
    from .evaluation import differentiable as d

    kind, opts, target = spec["kind"], dict(spec["options"]), spec.get("target")
    key = opts.pop("key")
    out = synthetic_output(target["synthetic"], target["seed"]) if target and "synthetic" in target else None
    sdt = _sampling_dt(model, run_kwargs)
    if kind in _SPECTRAL:
        n, transient = _samples(model, run_kwargs, opts)
        fs = 1000.0 / sdt
        nperseg = int(opts.get("nperseg", _default_nperseg(model, run_kwargs, n - transient)))
        band = tuple(opts["band"]) if "band" in opts else None
        common = dict(fs=fs, nperseg=nperseg, key=key, transient=transient)
        if kind == "peak_frequency":
            return d.peak_frequency_loss(spec["f_hz"], band=band or (2.0, 20.0), width=float(opts.get("width", 1.0)),
                                         log=bool(opts.get("log", False)), **common)
        if kind == "spectral_centroid":
            return d.spectral_centroid_loss(spec["f_hz"], band=band or (2.0, 20.0), **common)
        cls = d.spectral_correlation_loss if kind == "spectrum_correlation" else d.log_spectral_rmse_loss
        f = np.fft.rfftfreq(nperseg, 1.0 / fs)
        keep = np.ones(f.size, bool) if band is None else (f >= band[0]) & (f <= band[1])
        if kind == "log_spectral":
            keep &= f > 0
        if out is not None:
            _, S, _ = d.welch_with_vjp(np.atleast_2d(out[key])[:, transient:], fs, nperseg)
            psd = S.mean(axis=0)[keep]
        else:
            psd = _on_frequencies(*target["data"], f[keep])
        extra = {"log": bool(opts.get("log", False))} if kind == "spectrum_correlation" else {}
        return cls(psd, band=band, **common, **extra)
    if kind == "fc":
        step = float(run_kwargs.get("tr", model.params["TR"])) if key == "BOLD" else sdt
        transient = int(round(float(opts.get("transient_ms", 0.0)) / step))
        fc = np.corrcoef(np.atleast_2d(out[key])[:, transient:]) if out is not None else target["data"]
        return d.fc_fit_loss(fc, key=key, transient=transient)
    # dipole
    scale = float(opts.get("scale", 1.0))
    if out is not None:
        y = np.atleast_2d(out[key])
        t_t = (np.arange(y.shape[1]) + 1.0) * sdt
        d_t = scale * (y if opts.get("nodes") is None else y[np.atleast_1d(opts["nodes"])]).sum(axis=0)
    else:
        t_t, d_t = target["data"]
    return d.dipole_rmse_loss(t_t, d_t, key=key, sampling_dt=sdt, nodes=opts.get("nodes"), scale=scale,
                              smooth_window=opts.get("smooth_window"), tstart=float(opts.get("tstart", 0.0)),
                              tstop=opts.get("tstop"))


def _on_frequencies(f_file, s_file, freqs):
    """A target spectrum read from a file, linearly interpolated onto the Welch frequencies."""
    f_file, s_file = np.asarray(f_file, float), np.asarray(s_file, float)
    order = np.argsort(f_file)
    f_file, s_file = f_file[order], s_file[order]
    if freqs[0] < f_file[0] - 1e-9 or freqs[-1] > f_file[-1] + 1e-9:
        raise ValueError(f"the target spectrum covers {f_file[0]:g}..{f_file[-1]:g} Hz; the Welch PSD needs "
                         f"{freqs[0]:g}..{freqs[-1]:g} Hz")
    return np.interp(freqs, f_file, s_file)
