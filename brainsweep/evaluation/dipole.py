"""Current dipoles: hnn-core style smoothing and scaling, resampling, RMSE and correlation.

Times are in ms, dipoles in nAm (or whatever unit the target has: the RMSE is in the
target's unit). The simulated dipole is scaled, smoothed, then linearly interpolated onto the
target's time axis, and compared on the target samples with ``tstart <= t <= tstop``.

Why linear interpolation and not hnn-core's ``scipy.signal.resample`` (FFT): the FFT
resampling treats the window as periodic and rings at its edges, so in hnn-core an exact copy
of a measured dipole scores an RMSE of a few nAm instead of 0. Interpolation in time gives 0
for an exact copy and needs no common length.
"""

import numpy as np

from ._checks import ConstantSignalWarning, as_float_array, warn_constant


def _check_time(t, name):
    t = as_float_array(t, name, ndim=1)
    if t.size > 1 and np.any(np.diff(t) <= 0):
        raise ValueError(f"{name}: times (ms) must be strictly increasing")
    return t


def _uniform_dt(t, name):
    if t.size < 2:
        raise ValueError(f"{name}: need at least 2 time points to know the sampling step")
    d = np.diff(t)
    if not np.allclose(d, d[0], rtol=1e-6, atol=0):
        raise ValueError(f"{name}: smoothing needs a uniformly sampled time axis "
                         f"(steps range {d.min():.6g}..{d.max():.6g} ms)")
    return float(d[0])


def smooth_dipole(dipole, window_ms, dt):
    """Smooth with a normalised Hamming window, exactly as hnn-core's ``Dipole.smooth``.

    The window has ``round(window_ms / dt)`` samples (``numpy.round``, as hnn-core's
    ``smooth_waveform``); ``numpy.hamming`` of that length divided by its sum is convolved
    with each signal (``numpy.convolve(..., "same")``, zero-padded edges, so the first and last
    half-window are attenuated). A window of 0 samples returns an unchanged copy.

    Parameters
    ----------
    dipole : array (n_samples,) or (n_signals, n_samples)
    window_ms : float
        Window length in ms (hnn-core's ``window_len``), >= 0.
    dt : float
        Sampling step of ``dipole`` in ms.
    """
    x = as_float_array(dipole, "dipole", min_ndim=1, max_ndim=2)
    if not np.isfinite(window_ms) or window_ms < 0:
        raise ValueError(f"window_ms: expected a finite length >= 0 ms, got {window_ms!r}")
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt: expected a sampling step > 0 ms, got {dt!r}")
    winsz = int(np.round(1e-3 * window_ms * (1000.0 / dt)))
    if winsz <= 0:
        return x.copy()
    if winsz > x.shape[-1]:
        raise ValueError(f"window_ms: {window_ms} ms is {winsz} samples, longer than the dipole "
                         f"({x.shape[-1]} samples)")
    win = np.hamming(winsz)
    win /= win.sum()
    if x.ndim == 1:
        return np.convolve(x, win, "same")
    return np.stack([np.convolve(row, win, "same") for row in x])


def scale_dipole(dipole, factor):
    """Multiply a dipole by ``factor`` (hnn-core's ``Dipole.scale``; e.g. cells represented per
    simulated cell, or mV -> nAm for a neural-mass proxy)."""
    if not np.isfinite(factor):
        raise ValueError(f"factor: expected a finite number, got {factor!r}")
    return float(factor) * as_float_array(dipole, "dipole", min_ndim=1, max_ndim=2)


def resample_dipole(sim_t, sim_dipole, target_t):
    """Linearly interpolate ``sim_dipole`` (sampled at ``sim_t``, ms) onto ``target_t`` (ms).

    ``target_t`` must lie inside ``[sim_t[0], sim_t[-1]]``: no extrapolation. Works on
    ``(n_samples,)`` or ``(n_signals, n_samples)``.
    """
    st = _check_time(sim_t, "sim_t")
    x = as_float_array(sim_dipole, "sim_dipole", min_ndim=1, max_ndim=2)
    tt = _check_time(target_t, "target_t")
    if x.shape[-1] != st.size:
        raise ValueError(f"sim_dipole has {x.shape[-1]} samples but sim_t has {st.size}")
    slack = 1e-9 * max(1.0, abs(st[-1]))
    if tt[0] < st[0] - slack or tt[-1] > st[-1] + slack:
        raise ValueError(f"target_t: [{tt[0]}, {tt[-1]}] ms is not inside the simulated time range "
                         f"[{st[0]}, {st[-1]}] ms; simulate longer or narrow tstart/tstop")
    if x.ndim == 1:
        return np.interp(tt, st, x)
    return np.stack([np.interp(tt, st, row) for row in x])


def _aligned(sim_t, sim_dipole, target_t, target, smooth_window, scale, tstart, tstop):
    st = _check_time(sim_t, "sim_t")
    sim = as_float_array(sim_dipole, "sim_dipole", ndim=1)
    tt = _check_time(target_t, "target_t")
    tgt = as_float_array(target, "target", ndim=1)
    if sim.size != st.size:
        raise ValueError(f"sim_dipole has {sim.size} samples but sim_t has {st.size}")
    if tgt.size != tt.size:
        raise ValueError(f"target has {tgt.size} samples but target_t has {tt.size}")
    sim = scale_dipole(sim, scale)
    if smooth_window:
        sim = smooth_dipole(sim, smooth_window, _uniform_dt(st, "sim_t"))
    tstop = tt[-1] if tstop is None else float(tstop)
    sel = (tt >= float(tstart)) & (tt <= tstop)
    if sel.sum() < 2:
        raise ValueError(f"tstart/tstop: [{tstart}, {tstop}] ms holds {int(sel.sum())} target sample(s); "
                         "need at least 2")
    return resample_dipole(st, sim, tt[sel]), tgt[sel]


def dipole_rmse(sim_t, sim_dipole, target_t, target, smooth_window=None, scale=1.0, tstart=0.0,
                tstop=None):
    """Root-mean-square error between a simulated and a target (measured) dipole.

    The simulation is multiplied by ``scale``, smoothed with a Hamming window of
    ``smooth_window`` ms (:func:`smooth_dipole`, skipped if None or 0), linearly interpolated
    onto the target times, and compared on the target samples with ``tstart <= t <= tstop``
    (ms; ``tstop=None``: last target time). Returns the RMSE in the target's unit (nAm).
    An exact copy of the target scores exactly 0.
    """
    return _rmse(*_aligned(sim_t, sim_dipole, target_t, target, smooth_window, scale, tstart, tstop))


def _rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


def dipole_correlation_loss(sim_t, sim_dipole, target_t, target, smooth_window=None, scale=1.0,
                            tstart=0.0, tstop=None):
    """``1 - Pearson correlation`` between simulated and target dipole, in [0, 2].

    Same preprocessing as :func:`dipole_rmse`; insensitive to ``scale`` (except its sign). A
    constant simulated or target dipole gives 1.0 with a :class:`ConstantSignalWarning`.
    """
    return _correlation_loss(*_aligned(sim_t, sim_dipole, target_t, target, smooth_window, scale, tstart, tstop))


def _correlation_loss(a, b):
    ca, cb = a - a.mean(), b - b.mean()
    na, nb = np.sqrt(ca @ ca), np.sqrt(cb @ cb)
    flat = [i for i, (nrm, v) in enumerate(((na, a), (nb, b)))
            if nrm <= 1e-12 * np.abs(v).max() * np.sqrt(v.size)]
    if flat:
        warn_constant("dipole_correlation_loss: constant dipole (0=simulated, 1=target)", flat, stacklevel=4)
        return 1.0
    return float(1.0 - np.clip((ca @ cb) / (na * nb), -1.0, 1.0))


def jansen_rit_dipole(y1, y2, scale=1.0):
    """Neural-mass dipole proxy from a Jansen-Rit model: ``scale * (y1 - y2)``.

    Convention (TVB's ``JansenRit`` state variables ``y0..y5``, Jansen & Rit 1995): ``y1`` is
    the excitatory and ``y2`` the inhibitory postsynaptic potential (mV) on the pyramidal
    population, so ``y1 - y2`` is the pyramidal membrane potential that generates the EEG/MEG
    signal. ``scale`` converts mV to the target's unit (nAm) and absorbs the number of
    synchronously active pyramidal cells and the source orientation (its sign may be negative).
    Arrays of any matching shape, e.g. ``(n_nodes, n_samples)``.
    """
    a = as_float_array(y1, "y1")
    b = as_float_array(y2, "y2")
    if a.shape != b.shape:
        raise ValueError(f"y1 and y2 must have the same shape, got {a.shape} and {b.shape}")
    if not np.isfinite(scale):
        raise ValueError(f"scale: expected a finite number, got {scale!r}")
    return float(scale) * (a - b)


__all__ = ["smooth_dipole", "scale_dipole", "resample_dipole", "dipole_rmse",
           "dipole_correlation_loss", "jansen_rit_dipole", "ConstantSignalWarning"]
