"""Differentiable objectives (brainsweep.evaluation.differentiable): values equal independent
implementations (scipy.signal.welch, np.corrcoef, np.average, brainsweep.evaluation's own
scores); signal gradients equal central differences of the objective; through the discrete
adjoint, parameter gradients equal central differences of model.run + objective."""

import numpy as np
import pytest
import scipy.signal

from brainsweep.evaluation import dipole_rmse, fc, log_spectral_rmse, matrix_correlation
from brainsweep.evaluation.differentiable import (dipole_rmse_loss, fc_fit_loss, log_spectral_rmse_loss,
                                                  lorentzian, peak_frequency_loss, spectral_centroid_loss,
                                                  spectral_correlation_loss)
from brainsweep.models import HopfModel, JansenRitModel
from brainsweep.models.adjoint import gradient

FS = 500.0


def _signals(n=4, samples=600, seed=0):
    """Rows: a sine of 6 + 2 i Hz plus noise (distinct spectra, correlated rows)."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / FS
    common = rng.standard_normal(samples)
    return np.stack([np.sin(2 * np.pi * (6 + 2 * i) * t + i) + 0.5 * rng.standard_normal(samples)
                     + 0.3 * common for i in range(n)])


def _check_signal_gradient(obj, key, x, h=1e-6, rel=1e-6, n_coords=4, seed=1):
    """The returned gradient against central differences of ``obj`` itself: along two random
    directions and at single samples."""
    loss, grads = obj({key: x})
    g = grads[key]
    assert g.shape == x.shape
    rng = np.random.default_rng(seed)
    dirs = [(h, rng.standard_normal(x.shape)) for _ in range(2)]
    for _ in range(n_coords):  # one sample moves the loss little: a larger step keeps rounding small
        e = np.zeros_like(x)
        e[rng.integers(x.shape[0]), rng.integers(x.shape[1])] = 1.0
        if np.sum(g * e) != 0.0:
            dirs.append((100 * h, e))
    for h, v in dirs:
        fd = (obj({key: x + h * v})[0] - obj({key: x - h * v})[0]) / (2 * h)
        assert abs(np.sum(g * v) - fd) <= rel * abs(fd) + 1e-12, (np.sum(g * v), fd)
    return loss, g


def test_log_spectral_rmse_value_and_gradient():
    x = _signals()
    f, S_t = scipy.signal.welch(_signals(seed=5)[0] * 1.7, fs=FS, nperseg=100)
    band = (3.0, 60.0)
    obj = log_spectral_rmse_loss(S_t[(f >= 3) & (f <= 60)], FS, 100, "v", band=band)
    np.testing.assert_array_equal(obj.freqs, f[(f >= 3) & (f <= 60)])
    loss, _ = _check_signal_gradient(obj, "v", x)
    S = scipy.signal.welch(x, fs=FS, nperseg=100)[1]
    assert loss == pytest.approx(log_spectral_rmse(S, S_t, f, f, band=band), rel=1e-12)
    by_hand = np.sqrt(np.mean((10 * np.log10(S.mean(0)[(f >= 3) & (f <= 60)] / S_t[(f >= 3) & (f <= 60)])) ** 2))
    assert loss == pytest.approx(by_hand, rel=1e-12)
    # no band: every frequency but DC
    obj_all = log_spectral_rmse_loss(S_t[1:], FS, 100, "v")
    assert obj_all({"v": x})[0] == pytest.approx(log_spectral_rmse(S, S_t, f, f), rel=1e-12)
    with pytest.raises(ValueError, match="target_psd has shape"):
        log_spectral_rmse_loss(S_t, FS, 100, "v")  # includes the DC bin
    with pytest.raises(ValueError, match="> 0"):
        log_spectral_rmse_loss(0 * S_t[1:], FS, 100, "v")


@pytest.mark.parametrize("log", [False, True])
def test_peak_frequency_loss_value_and_gradient(log):
    x = _signals()
    target = np.array([6.0, 8.0, 10.0, 12.0])
    obj = peak_frequency_loss(target, FS, 100, "v", band=(2.0, 30.0), width=1.5, log=log)
    loss, _ = _check_signal_gradient(obj, "v", x)
    f, S = scipy.signal.welch(x, fs=FS, nperseg=100)
    keep = (f >= 2) & (f <= 30)
    ref = []
    for i in range(4):
        L = 1.0 / (1.0 + ((f[keep] - target[i]) / 1.5) ** 2)
        a, b = (np.log10(S[i, keep]), np.log10(L)) if log else (S[i, keep], L)
        ref.append(1.0 - np.corrcoef(a, b)[0, 1])
    assert loss == pytest.approx(np.mean(ref), rel=1e-12)
    # the rows' sines are at 6, 8, 10, 12 Hz: the right targets score better than reversed ones
    assert loss < peak_frequency_loss(target[::-1], FS, 100, "v", band=(2.0, 30.0), width=1.5,
                                      log=log)({"v": x})[0]
    np.testing.assert_allclose(lorentzian([7.0, 8.0, 9.5], 8.0, 1.5), [1 / (1 + 1 / 2.25), 1.0, 0.5])
    with pytest.raises(ValueError, match="4 target frequencies for 3 nodes"):
        obj({"v": x[:3]})
    with pytest.raises(ValueError, match="width"):
        peak_frequency_loss(target, FS, 100, "v", width=0.0)


def test_spectral_centroid_loss_value_and_gradient():
    x = _signals()
    target = np.array([6.0, 8.0, 10.0, 12.0])
    obj = spectral_centroid_loss(target, FS, 100, "v", band=(3.0, 20.0))
    loss, _ = _check_signal_gradient(obj, "v", x)
    f, S = scipy.signal.welch(x, fs=FS, nperseg=100)
    keep = (f >= 3) & (f <= 20)
    cent = np.array([np.average(f[keep], weights=S[i, keep]) for i in range(4)])
    np.testing.assert_allclose(obj.centroids(S[:, keep]), cent, rtol=1e-13)
    assert loss == pytest.approx(np.mean((cent - target) ** 2), rel=1e-12)
    assert np.all(np.abs(cent - target) < 2.5)  # each row's centroid sits near its sine


@pytest.mark.parametrize("transient", [0, 100])
def test_fc_fit_loss_value_and_gradient(transient):
    x = _signals(n=5)
    target = np.corrcoef(_signals(n=5, seed=3))
    obj = fc_fit_loss(target, "v", transient=transient)
    loss, g = _check_signal_gradient(obj, "v", x)
    iu = np.triu_indices(5, 1)
    ref = 1.0 - np.corrcoef(np.corrcoef(x[:, transient:])[iu], target[iu])[0, 1]
    assert loss == pytest.approx(ref, rel=1e-12)
    assert loss == pytest.approx(1.0 - matrix_correlation(fc(x[:, transient:]), target), rel=1e-12)
    assert np.all(g[:, :transient] == 0.0)
    with pytest.raises(ValueError, match="4 nodes, target_fc 5"):
        obj({"v": x[:4]})
    with pytest.raises(ValueError, match="constant"):
        obj({"v": np.vstack([x[:4], np.ones(x.shape[1])])})


@pytest.mark.parametrize("smooth, nodes, window", [(None, None, (0.0, None)), (12.0, [0, 2], (20.0, 700.0)),
                                                   (7.0, None, (5.0, 1100.0))])
def test_dipole_rmse_loss_value_and_gradient(smooth, nodes, window):
    x = _signals(n=3)
    dt = 2.0                                   # ms between samples: t = 2, 4, ..., 1200 ms
    sim_t = (np.arange(x.shape[1]) + 1) * dt
    target_t = np.arange(3.0, 1199.0, 2.5)     # not on the simulated samples
    target = np.sin(target_t / 40.0)
    obj = dipole_rmse_loss(target_t, target, "v", dt, nodes=nodes, scale=0.7, smooth_window=smooth,
                           tstart=window[0], tstop=window[1])
    loss, g = _check_signal_gradient(obj, "v", x, n_coords=8)
    d = x.sum(0) if nodes is None else x[nodes].sum(0)
    ref = dipole_rmse(sim_t, d, target_t, target, smooth_window=smooth, scale=0.7, tstart=window[0],
                      tstop=window[1])
    assert loss == pytest.approx(ref, rel=1e-12)
    if nodes is not None:
        assert np.all(g[1] == 0.0) and np.any(g[0] != 0.0)
        np.testing.assert_array_equal(g[0], g[2])
    with pytest.raises(ValueError, match="sampling_dt"):
        dipole_rmse_loss(target_t, target, "v", 0.0)
    with pytest.raises(ValueError, match=r"nodes \[0, 5\]: output 'v' has 3 nodes"):
        dipole_rmse_loss(target_t, target, "v", dt, nodes=[0, 5])({"v": x})


def test_missing_output_named():
    with pytest.raises(ValueError, match="no output 'w'"):
        fc_fit_loss(np.eye(3), "w")({"v": np.ones((3, 10))})


# -- through the adjoint: parameter gradients vs central differences of model.run ------------------

def _network(seed):
    rng = np.random.default_rng(seed)
    C = rng.random((4, 4))
    np.fill_diagonal(C, 0.0)
    D = rng.random((4, 4)) * 30.0
    return C, D + D.T


def _jr():
    C, D = _network(1)
    m = JansenRitModel(Cmat=C, Dmat=D)
    m.params.update(signalV=5.0, a=np.array([0.04, 0.045, 0.05, 0.055]))
    return m


def _hopf():
    C, D = _network(2)
    m = HopfModel(Cmat=C, Dmat=D)
    m.params.update(K_gl=0.4, signalV=10.0, a=0.1)   # limit cycles: the signals keep their variance
    return m


def _fd(model, obj, run, dur, param, node, rel=1e-5):
    """Central difference of obj(model.run(...)) in ``param`` (at one node if ``node`` is given)."""
    base = np.broadcast_to(np.array(model.params[param], dtype=float), (model.network.n_nodes,)).copy()
    where = slice(None) if node is None else node
    h = rel * max(abs(float(base[where].mean())), 1e-3)
    losses = {}
    for sign in (1.0, -1.0):
        moved = base.copy()
        moved[where] += sign * h
        model.params.update({param: moved})
        losses[sign] = obj(model.run(duration=dur, **run))[0]
    model.params.update({param: base})
    return (losses[1.0] - losses[-1.0]) / (2 * h)


def _jr_target_run(run, dur):
    hidden = _jr()
    hidden.params.update(a=0.05, b=0.045)
    return hidden.run(duration=dur, **run)


JR_RUN = dict(dt=0.1, sampling_dt=2.0, seed=4, integrator="heun")
JR_DUR = 600.0
FS_JR = 500.0


def _jr_objectives():
    out = _jr_target_run(JR_RUN, JR_DUR)
    f, S = scipy.signal.welch(out["v_pyr"], fs=FS_JR, nperseg=100)
    keep = (f > 0) & (f <= 60)
    return {
        "log_rmse": log_spectral_rmse_loss(S.mean(0)[keep], FS_JR, 100, "v_pyr", band=(0.0, 60.0)),
        "peak": peak_frequency_loss([8.0, 9.0, 10.0, 11.0], FS_JR, 100, "v_pyr", band=(2.0, 40.0), width=3.0),
        "centroid": spectral_centroid_loss([8.0, 9.0, 10.0, 11.0], FS_JR, 100, "v_pyr", band=(2.0, 40.0)),
        "fc": fc_fit_loss(np.corrcoef(out["v_pyr"][:, 50:]), "v_pyr", transient=50),
        "dipole": dipole_rmse_loss(np.arange(10.0, 590.0, 3.0), np.interp(np.arange(10.0, 590.0, 3.0),
                                   out["t"], out["v_pyr"].sum(0)), "v_pyr", 2.0, scale=1.0, smooth_window=10.0),
        "spectral_corr": spectral_correlation_loss(S.mean(0), FS_JR, 100, "v_pyr"),
    }


@pytest.mark.parametrize("name", ["log_rmse", "peak", "centroid", "fc", "dipole"])
def test_jansen_rit_objective_gradients_equal_central_differences(name):
    m = _jr()
    obj = _jr_objectives()[name]
    loss, g = gradient(m, obj, ["a", "b"], JR_DUR, per_node=["a"], **JR_RUN)
    assert loss == pytest.approx(obj(m.run(duration=JR_DUR, **JR_RUN))[0], rel=1e-12)
    assert loss > 0
    checks = [("b", None, g["b"]), ("a", 1, g["a"][1]), ("a", 3, g["a"][3])]
    for param, node, value in checks:
        fd = _fd(m, obj, JR_RUN, JR_DUR, param, node)
        assert abs(value - fd) < 1e-6 * abs(fd), (name, param, node, value, fd)


HOPF_RUN = dict(dt=0.1, sampling_dt=1.0, seed=2, integrator="euler")
HOPF_DUR = 300.0


@pytest.mark.parametrize("name", ["fc", "dipole"])
def test_hopf_objective_gradients_equal_central_differences(name):
    m = _hopf()
    hidden = _hopf()
    hidden.params.update(K_gl=0.2, w=0.9)
    out = hidden.run(duration=HOPF_DUR, **HOPF_RUN)
    if name == "fc":
        obj = fc_fit_loss(np.corrcoef(out["x"][:, 100:]), "x", transient=100)
    else:
        tt = np.arange(5.0, 295.0, 0.7)
        obj = dipole_rmse_loss(tt, np.interp(tt, out["t"], out["x"][[0, 1]].sum(0)), "x", 1.0, nodes=[0, 1],
                               smooth_window=5.0)
    loss, g = gradient(m, obj, ["K_gl", "a"], HOPF_DUR, per_node=["a"], **HOPF_RUN)
    assert loss == pytest.approx(obj(m.run(duration=HOPF_DUR, **HOPF_RUN))[0], rel=1e-12)
    for param, node, value in [("K_gl", None, g["K_gl"]), ("a", 0, g["a"][0]), ("a", 2, g["a"][2])]:
        fd = _fd(m, obj, HOPF_RUN, HOPF_DUR, param, node)
        assert abs(value - fd) < 1e-6 * abs(fd), (name, param, node, value, fd)
