"""Objective adapters: turn a model output mapping into a dict of scores for a study.

Each adapter is a small picklable class (sent to process-pool and MPI workers) called as
``objective(out) -> dict``, where ``out`` is a model output mapping: ``out["t"]`` (ms), one
``(n_nodes, n_samples)`` array per output variable, and with BOLD ``out["BOLD"]`` /
``out["BOLD_t"]`` (ms). A variable ``key`` uses the time axis ``out[key + "_t"]`` if present,
else ``out["t"]``; samples with ``t < transient_ms`` are dropped; sampling rates are derived
from that time axis (``fs = 1000 / dt_ms`` Hz).

Scalar entries become scores in the runs table; with ``keep=True`` arrays (FC, FCD, PSD,
dipole) are added and stored per run. ``prefix`` is prepended to every key, so several
adapters of one kind can be merged with :class:`Combine`. Higher is better for ``fc_fit``;
lower is better for every other score.

``objective.spec()`` describes an adapter as plain data (its name, settings and target
arrays) and :func:`objective_from_spec` rebuilds it; a study file records that spec, so
plots can show the targets and ``reproduce`` can rebuild the objective without unpickling.
"""

import difflib
import types

import numpy as np

from ._checks import as_float_array, check_band
from .connectivity import _as_matrix_stack, _distribution, fc, fcd, ks_distance, matrix_correlation
from .dipole import _aligned, _check_time, _correlation_loss, _rmse, _uniform_dt, jansen_rit_dipole
from .spectra import log_spectral_rmse, peak_frequency, spectral_loss, welch_psd


def _lookup(out, key):
    try:
        return out[key]
    except KeyError:
        keys = [k for k in out.keys() if isinstance(k, str)]
        close = difflib.get_close_matches(str(key), keys, n=3)
        hint = f"; did you mean {close}?" if close else ""
        raise ValueError(f"key: model output has no {key!r} (available: {sorted(keys)}){hint}") from None


def _series(out, key, transient_ms):
    """``(t, x)`` of output ``key`` after dropping ``t < transient_ms``; x is (n_nodes, n_samples)."""
    x = as_float_array(_lookup(out, key), f"out[{key!r}]", min_ndim=1, max_ndim=2)
    x = x[None] if x.ndim == 1 else x
    tkey = f"{key}_t" if f"{key}_t" in out else "t"
    t = _check_time(_lookup(out, tkey), f"out[{tkey!r}]")
    if t.size != x.shape[1]:
        raise ValueError(f"out[{key!r}] has {x.shape[1]} samples but out[{tkey!r}] has {t.size}")
    keep = t >= float(transient_ms)
    if keep.sum() < 3:
        raise ValueError(f"transient_ms: dropping t < {transient_ms} ms leaves {int(keep.sum())} samples of "
                         f"out[{key!r}] (time axis {t[0]}..{t[-1]} ms); simulate longer")
    return t[keep], x[:, keep]


def _fs(t):
    return 1000.0 / _uniform_dt(t, "time axis")


class _Objective:
    prefix = ""
    #: constructor arguments, each held in the attribute of the same name (see :meth:`spec`)
    _SPEC_FIELDS: tuple = ()

    def _name(self, key):
        return f"{self.prefix}{key}"

    def spec(self):
        """Plain data (names, numbers, arrays) that :func:`objective_from_spec` rebuilds this
        objective from, or None if a part of it is not plain (a user's own callable)."""
        return objective_spec(self)

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" if np.ndim(v) == 0 else f"{k}=<array {np.shape(v)}>"
                           for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class FitFC(_Objective):
    """``{"fc_fit": r}``: correlation (upper triangles) of simulated FC with empirical FC.

    ``fc_emp`` is one ``(n, n)`` matrix or a stack/list of subject FCs; with several subjects
    the score is the mean correlation over subjects. FC of ``out[key]`` (default BOLD) after
    the transient, optional ``detrend`` and ``band`` (Hz). ``keep=True`` adds ``"fc"``.
    """

    _SPEC_FIELDS = ("fc_emp", "key", "transient_ms", "detrend", "band", "keep", "prefix")

    def __init__(self, fc_emp, key="BOLD", transient_ms=10_000.0, detrend=False, band=None,
                 keep=False, prefix=""):
        self.fc_emp = _as_matrix_stack(fc_emp, "fc_emp")
        self.key, self.transient_ms, self.detrend = key, float(transient_ms), bool(detrend)
        self.band = None if band is None else check_band(band)
        self.keep, self.prefix = bool(keep), prefix

    def __call__(self, out):
        t, x = _series(out, self.key, self.transient_ms)
        if x.shape[0] != self.fc_emp.shape[1]:
            raise ValueError(f"out[{self.key!r}] has {x.shape[0]} nodes but fc_emp is {self.fc_emp.shape[1:]}")
        fs = _fs(t) if self.band is not None else None
        fc_sim = fc(x, detrend=self.detrend, band=self.band, fs=fs)
        scores = {self._name("fc_fit"): float(np.mean([matrix_correlation(fc_sim, m) for m in self.fc_emp]))}
        if self.keep:
            scores[self._name("fc")] = fc_sim
        return scores


class FitFCD(_Objective):
    """``{"fcd_ks": d}``: Kolmogorov-Smirnov distance between simulated and empirical FCD values.

    ``fcd_emp`` is an empirical FCD matrix (see :func:`fcd`), a 1-D array of FCD values, or a
    list of them (one per subject: the score is the mean distance). ``window``/``step`` are in
    samples of ``out[key]``. ``keep=True`` adds ``"fcd"``.
    """

    _SPEC_FIELDS = ("fcd_emp", "key", "window", "step", "transient_ms", "keep", "prefix")

    def __init__(self, fcd_emp, key="BOLD", window=30, step=5, transient_ms=10_000.0, keep=False, prefix=""):
        items = fcd_emp if isinstance(fcd_emp, (list, tuple)) else [fcd_emp]
        self.fcd_emp = [_distribution(m, "fcd_emp") for m in items]
        self.key, self.window, self.step = key, int(window), int(step)
        self.transient_ms, self.keep, self.prefix = float(transient_ms), bool(keep), prefix

    def __call__(self, out):
        _, x = _series(out, self.key, self.transient_ms)
        fcd_sim = fcd(x, window=self.window, step=self.step)
        scores = {self._name("fcd_ks"): float(np.mean([ks_distance(fcd_sim, d) for d in self.fcd_emp]))}
        if self.keep:
            scores[self._name("fcd")] = fcd_sim
        return scores


class FitSpectrum(_Objective):
    """``{"spectral_loss", "log_spectral_rmse"}`` of the node-averaged Welch PSD of ``out[key]``
    against a target spectrum ``S_target`` at frequencies ``f_target`` (Hz), inside ``band``.

    ``nperseg`` as in :func:`welch_psd`. ``keep=True`` adds ``"psd_f"`` and ``"psd"``.
    """

    _SPEC_FIELDS = ("S_target", "f_target", "key", "band", "transient_ms", "nperseg", "keep", "prefix")

    def __init__(self, S_target, f_target, key, band=None, transient_ms=0.0, nperseg=None, keep=False,
                 prefix=""):
        self.S_target = as_float_array(S_target, "S_target", ndim=1)
        self.f_target = as_float_array(f_target, "f_target", ndim=1)
        if self.S_target.shape != self.f_target.shape:
            raise ValueError(f"S_target {self.S_target.shape} and f_target {self.f_target.shape} differ in length")
        self.key, self.band = key, None if band is None else check_band(band)
        self.transient_ms, self.nperseg = float(transient_ms), nperseg
        self.keep, self.prefix = bool(keep), prefix

    def __call__(self, out):
        t, x = _series(out, self.key, self.transient_ms)
        f, S = welch_psd(x, _fs(t), nperseg=self.nperseg)
        S = S.mean(axis=0)
        kw = dict(f=f, f_target=self.f_target, band=self.band)
        scores = {self._name("spectral_loss"): spectral_loss(S, self.S_target, **kw),
                  self._name("log_spectral_rmse"): log_spectral_rmse(S, self.S_target, **kw)}
        if self.keep:
            scores[self._name("psd_f")], scores[self._name("psd")] = f, S
        return scores


class TargetPeakFrequency(_Objective):
    """``{"peak_frequency": f, "peak_frequency_error": |f - f_hz|}`` for the node-averaged
    spectrum of ``out[key]`` within ``band`` (Hz).

    A signal without power in the band (e.g. a fixed point) has ``peak_frequency`` NaN and, so
    that optimisers still get a finite score, ``peak_frequency_error`` equal to the largest
    possible error inside the band: ``max(f_hz - lo, hi - f_hz)``.
    """

    _SPEC_FIELDS = ("f_hz", "band", "key", "transient_ms", "nperseg", "prefix")

    def __init__(self, f_hz, band, key, transient_ms=0.0, nperseg=None, prefix=""):
        self.f_hz, self.band = float(f_hz), check_band(band)
        if not self.band[0] <= self.f_hz <= self.band[1]:
            raise ValueError(f"f_hz: target {f_hz} Hz lies outside band {band}")
        self.key, self.transient_ms, self.nperseg, self.prefix = key, float(transient_ms), nperseg, prefix

    def __call__(self, out):
        t, x = _series(out, self.key, self.transient_ms)
        fp = peak_frequency(x, _fs(t), band=self.band, nperseg=self.nperseg)
        err = abs(fp - self.f_hz) if np.isfinite(fp) else max(self.f_hz - self.band[0], self.band[1] - self.f_hz)
        return {self._name("peak_frequency"): fp, self._name("peak_frequency_error"): float(err)}


class JansenRitDipole:
    """Picklable dipole builder for :class:`FitDipole`: ``scale * (out[y1] - out[y2])``.

    See :func:`jansen_rit_dipole` for the convention. Returns ``(n_nodes, n_samples)``.
    """

    def __init__(self, scale=1.0, y1="y1", y2="y2"):
        self.scale, self.y1, self.y2 = float(scale), y1, y2

    def __call__(self, out):
        return jansen_rit_dipole(_lookup(out, self.y1), _lookup(out, self.y2), self.scale)

    def __repr__(self):
        return f"JansenRitDipole(scale={self.scale!r}, y1={self.y1!r}, y2={self.y2!r})"


class FitDipole(_Objective):
    """``{"dipole_rmse", "dipole_corr_loss"}`` between the simulated and a target dipole.

    ``dipole`` is an output key (e.g. ``"agg"``) or a picklable callable ``dipole(out) -> array``
    (e.g. :class:`JansenRitDipole`). A 2-D dipole ``(n_nodes, n_samples)`` is summed over
    ``nodes`` (all if None) to an aggregate. The time axis is ``out["t"]`` (ms). ``scale``,
    ``smooth_window`` (ms), ``tstart``/``tstop`` (ms) as in :func:`dipole_rmse`. ``keep=True``
    adds ``"dipole"``: the processed simulation on the target times.
    """

    _SPEC_FIELDS = ("target_t", "target", "dipole", "nodes", "smooth_window", "scale", "tstart", "tstop", "keep",
                   "prefix")

    def __init__(self, target_t, target, dipole="agg", nodes=None, smooth_window=None, scale=1.0,
                 tstart=0.0, tstop=None, keep=False, prefix=""):
        self.target_t = _check_time(target_t, "target_t")
        self.target = as_float_array(target, "target", ndim=1)
        if self.target.size != self.target_t.size:
            raise ValueError(f"target has {self.target.size} samples but target_t has {self.target_t.size}")
        if not (isinstance(dipole, str) or callable(dipole)):
            raise ValueError(f"dipole: expected an output key or a callable, got {type(dipole).__name__}")
        self.dipole, self.nodes = dipole, nodes
        self.smooth_window, self.scale = smooth_window, float(scale)
        self.tstart, self.tstop = float(tstart), tstop
        self.keep, self.prefix = bool(keep), prefix

    def simulated(self, out):
        """``(t, dipole)`` of the simulation: aggregate over ``nodes``, before scaling/smoothing."""
        d = self.dipole(out) if callable(self.dipole) else _lookup(out, self.dipole)
        d = as_float_array(d, "simulated dipole", min_ndim=1, max_ndim=2)
        if d.ndim == 2:
            d = (d if self.nodes is None else d[np.atleast_1d(self.nodes)]).sum(axis=0)
        return _check_time(_lookup(out, "t"), "out['t']"), d

    def __call__(self, out):
        t, d = self.simulated(out)
        sim, tgt = _aligned(t, d, self.target_t, self.target, self.smooth_window, self.scale,
                            self.tstart, self.tstop)
        scores = {self._name("dipole_rmse"): _rmse(sim, tgt),
                  self._name("dipole_corr_loss"): _correlation_loss(sim, tgt)}
        if self.keep:
            scores[self._name("dipole")] = sim
        return scores


class Combine(_Objective):
    """Call several objectives on the same output and merge their score dicts.

    Raises ``ValueError`` if two objectives produce the same key (give them a ``prefix``).
    """

    def __init__(self, *objectives):
        if not objectives:
            raise ValueError("objectives: give at least one objective")
        for i, obj in enumerate(objectives):
            if not callable(obj):
                raise ValueError(f"objectives[{i}]: expected a callable objective(out) -> dict, "
                                 f"got {type(obj).__name__}")
        self.objectives = list(objectives)

    def __call__(self, out):
        merged = {}
        for obj in self.objectives:
            scores = obj(out)
            dup = sorted(set(scores) & set(merged))
            if dup:
                raise ValueError(f"combine: score name(s) {dup} produced twice; set a prefix on one objective")
            merged.update(scores)
        return merged

    def __repr__(self):
        return f"Combine({', '.join(map(repr, self.objectives))})"


# -- plain-data specs: what a study file records of its objective ----------------------------
def _is_plain(v) -> bool:
    if v is None or isinstance(v, (bool, int, float, str, np.bool_, np.integer, np.floating)):
        return True
    if isinstance(v, np.ndarray):
        return v.dtype.kind in "biuf"
    if isinstance(v, (list, tuple)):
        return all(_is_plain(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _is_plain(x) for k, x in v.items())
    return False


def objective_spec(objective, opaque: bool = False):
    """``{"objective": name, "settings": {...}}`` (``{"objective": "combine", "parts": [...]}``)
    for brainsweep's own adapters; None for anything else (a user's callable, a subclass), for
    which a study keeps only a code hash. With ``opaque=True`` such a part is described as
    ``{"objective": "opaque", "callable": "module.qualname"}`` instead (its targets cannot be
    read and it cannot be rebuilt, but the other parts of a combination can be read)."""
    if type(objective) is Combine:
        parts = [objective_spec(o, opaque) for o in objective.objectives]
        return None if any(p is None for p in parts) else {"objective": "combine", "parts": parts}
    name = _SPEC_NAMES.get(type(objective))
    if name is None:
        return _opaque(objective) if opaque else None
    settings = {k: getattr(objective, k) for k in objective._SPEC_FIELDS}
    if type(settings.get("dipole")) is JansenRitDipole:
        d = settings["dipole"]
        settings["dipole"] = {"jansen_rit_dipole": {"scale": d.scale, "y1": d.y1, "y2": d.y2}}
    elif "dipole" in settings and not isinstance(settings["dipole"], str):
        return None
    if _is_plain(settings):
        return {"objective": name, "settings": settings}
    return _opaque(objective) if opaque else None


def _opaque(objective) -> dict:
    named = objective if isinstance(objective, (types.FunctionType, types.MethodType)) else type(objective)
    return {"objective": "opaque", "callable": f"{named.__module__}.{named.__qualname__}"}


def objective_from_spec(spec):
    """The objective :func:`objective_spec` described (only brainsweep's adapters: a spec
    read from a file can name nothing else)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("objective"), str):
        raise ValueError(f"objective spec: expected {{'objective': name, ...}}, got {type(spec).__name__}")
    name = spec["objective"]
    if name == "opaque":
        raise ValueError(f"objective {spec.get('callable')!r} is a user's callable, recorded by name only; "
                         f"it cannot be rebuilt from the study file")
    if name == "combine":
        return Combine(*(objective_from_spec(p) for p in spec.get("parts") or []))
    cls = {v: k for k, v in _SPEC_NAMES.items()}.get(name)
    if cls is None:
        raise ValueError(f"objective spec: unknown objective {name!r} (known: {sorted(_SPEC_NAMES.values())}, "
                         f"combine)")
    settings = dict(spec.get("settings") or {})
    unknown = sorted(set(settings) - set(cls._SPEC_FIELDS))
    if unknown:
        raise ValueError(f"objective spec {name}: unknown setting(s) {unknown}; expected some of {cls._SPEC_FIELDS}")
    dipole = settings.get("dipole")
    if isinstance(dipole, dict):
        if set(dipole) != {"jansen_rit_dipole"}:
            raise ValueError(f"objective spec {name}: dipole must be an output key or "
                             f"{{'jansen_rit_dipole': {{...}}}}, got keys {sorted(dipole)}")
        settings["dipole"] = JansenRitDipole(**dipole["jansen_rit_dipole"])
    return cls(**settings)


# lower-case factory names used in studies: ``objective=ev.fit_fc(fc_emp)``
fit_fc = FitFC
fit_fcd = FitFCD
fit_spectrum = FitSpectrum
target_peak_frequency = TargetPeakFrequency
fit_dipole = FitDipole
combine = Combine

_SPEC_NAMES = {FitFC: "fit_fc", FitFCD: "fit_fcd", FitSpectrum: "fit_spectrum",
               TargetPeakFrequency: "target_peak_frequency", FitDipole: "fit_dipole"}
