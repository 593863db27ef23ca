"""Discrete adjoint (brainsweep.models.adjoint): forward values equal the engine's, gradients equal
central finite differences of the engine's own runs, on 4-node networks with delays."""

import numpy as np
import pytest

from brainsweep.evaluation.differentiable import sum_of_squares
from brainsweep.models import ALNModel, FitzHughNagumoModel, HopfModel, JansenRitModel, WilsonCowanModel, WongWangModel
from brainsweep.models.adjoint import forward, gradient

RUN = dict(dt=0.1, sampling_dt=0.5, seed=3)
DURATION = 50.0


def _network(seed=0):
    rng = np.random.default_rng(seed)
    C = rng.random((4, 4))
    np.fill_diagonal(C, 0.0)
    C[0, 3] = 0.0  # a sparse row too
    D = rng.random((4, 4)) * 40.0
    return C, D + D.T


def _hopf():
    C, D = _network()
    m = HopfModel(Cmat=C, Dmat=D)
    m.params.update(K_gl=0.3, signalV=10.0)  # delays up to 8 ms = 80 steps
    return m


def _jr():
    C, D = _network(1)
    m = JansenRitModel(Cmat=C, Dmat=D)
    m.params.update(signalV=5.0)
    return m


def _wc():
    C, D = _network()
    m = WilsonCowanModel(Cmat=C, Dmat=D)
    m.params.update(K_gl=0.5, signalV=10.0, exc_ext=0.8)
    return m


def _fhn():
    C, D = _network()
    m = FitzHughNagumoModel(Cmat=C, Dmat=D)
    m.params.update(K_gl=0.4, signalV=10.0)
    return m


def _fd(model, objective, key, param, node, integrator, rel=1e-5):
    """Central difference of the objective on model.run's outputs (the engine, not the adjoint's forward)."""
    base = np.array(model.params[param], dtype=float)
    h = rel * max(abs(float(np.mean(base))), 1e-3)
    vals = []
    for sign in (1.0, -1.0):
        value = base + sign * h if node is None else np.broadcast_to(base, (4,)).copy()
        if node is not None:
            value[node] += sign * h
        model.params.update({param: value})
        vals.append(objective(model.run(duration=DURATION, integrator=integrator, **RUN))[0])
    model.params.update({param: base})
    return (vals[0] - vals[1]) / (2 * h)


@pytest.mark.parametrize("make, key, integrator", [(_hopf, "x", "euler"), (_hopf, "y", "heun"),
                                                   (_jr, "v_pyr", "heun"), (_jr, "y0", "euler")])
def test_forward_equals_engine_bitwise(make, key, integrator):
    m = make()
    ref = m.run(duration=DURATION, integrator=integrator, **RUN)
    out = forward(m, DURATION, integrator=integrator, **RUN)
    assert out[key].shape == ref[key].shape
    np.testing.assert_array_equal(out[key], ref[key])


@pytest.mark.parametrize("make, key, integrator, wrt, per_node, fd_rel", [
    (_hopf, "x", "euler", ["K_gl", "a", "w"], ["a"], 1e-5),
    (_hopf, "x", "heun", ["K_gl", "a", "x_ext"], ["x_ext"], 1e-5),
    (_jr, "v_pyr", "heun", ["a", "b", "mu", "coupling_a"], ["b"], 1e-5),
    (_jr, "v_pyr", "euler", ["a", "A", "coupling_cmax"], ["a"], 1e-5),
    # from definitions/wilson_cowan.yaml; mu_exc = 3 sits on the sigmoid's bend: a smaller step
    # (the differences converge onto the adjoint as h^2: 2.5e-6 at 1e-5, 2.5e-8 at 1e-6)
    (_wc, "exc", "euler", ["K_gl", "c_excexc", "mu_exc"], ["mu_exc"], 1e-6),
    (_fhn, "x", "heun", ["K_gl", "alpha", "epsilon"], ["alpha"], 1e-5),   # definitions/fitzhugh_nagumo.yaml
])
def test_gradient_equals_central_differences(make, key, integrator, wrt, per_node, fd_rel):
    m = make()
    y = forward(m, DURATION, integrator=integrator, **RUN)[key]
    target = 0.9 * y + 0.01 * np.sin(np.arange(y.shape[1]))[None, :]
    obj = sum_of_squares(target, key)
    loss, grads = gradient(m, obj, wrt, DURATION, integrator=integrator, per_node=per_node, **RUN)
    assert loss == pytest.approx(obj(m.run(duration=DURATION, integrator=integrator, **RUN))[0], rel=1e-14)
    worst = 0.0
    for p in wrt:
        for node in (range(4) if p in per_node else [None]):
            fd = _fd(m, obj, key, p, node, integrator, rel=fd_rel)
            ad = grads[p] if node is None else grads[p][node]
            err = abs(ad - fd) / abs(fd)
            worst = max(worst, err)
            assert err < 1e-6, (p, node, ad, fd, err)
    assert worst > 0.0  # the two ways differ by rounding, so this is a real comparison


def test_per_node_gradients_sum_to_the_global_one():
    m = _jr()
    obj = sum_of_squares(np.zeros((4, int(DURATION / 0.5))), "v_pyr")
    _, g_node = gradient(m, obj, ["a"], DURATION, integrator="heun", per_node=["a"], **RUN)
    _, g_glob = gradient(m, obj, ["a"], DURATION, integrator="heun", **RUN)
    assert g_node["a"].shape == (4,)
    assert g_glob["a"] == pytest.approx(g_node["a"].sum(), rel=1e-12)
    loss, g_method = m.gradient(obj, ["a"], DURATION, integrator="heun", per_node=["a"], **RUN)  # the model's API
    np.testing.assert_array_equal(g_method["a"], g_node["a"])
    with pytest.raises(ValueError, match="unknown parameter 'K_gl' of ALNModel"):  # ALN's is c_gl
        ALNModel().gradient(obj, ["K_gl"], DURATION, **RUN)


def test_refusals():
    m = _hopf()
    obj = sum_of_squares(np.zeros((4, 100)), "x")
    with pytest.raises(ValueError, match="choice"):
        gradient(m, obj, ["coupling"], DURATION, **RUN)
    with pytest.raises(ValueError, match="signalV"):
        gradient(m, obj, ["signalV"], DURATION, **RUN)
    with pytest.raises(ValueError, match="unknown parameter 'K'"):
        gradient(m, obj, ["K"], DURATION, **RUN)
    m.params.update(sigma_ou=0.01)
    for name in ("sigma_ou", "tau_ou", "x_ou_mean", "sigma_white"):
        with pytest.raises(ValueError, match=f"gradient: parameter '{name}' of HopfModel sets the noise"):
            gradient(m, obj, ["K_gl", name], DURATION, **RUN)
    with pytest.raises(ValueError, match="integrates with \\['euler'\\], got 'heun'"):
        gradient(ALNModel(), obj, ["c_gl"], DURATION, integrator="heun", **RUN)
    with pytest.raises(ValueError, match="WongWangModel has no parameter 'sigma'|unknown parameter 'sigma'"):
        gradient(WongWangModel(), obj, ["sigma"], DURATION, **RUN)
    with pytest.raises(ValueError, match="seed="):
        gradient(_hopf(), obj, ["K_gl"], DURATION, dt=0.1)


# -- objectives with a signal gradient ---------------------------------------------------------------

from brainsweep.evaluation.differentiable import spectral_correlation_loss, welch_with_vjp  # noqa: E402
from brainsweep.evaluation.spectra import spectral_loss, welch_psd  # noqa: E402


@pytest.mark.parametrize("nperseg", [64, 63])
def test_welch_matches_scipy_and_its_vjp_matches_differences(nperseg):
    import scipy.signal
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 300))
    f, S, vjp = welch_with_vjp(x, 1000.0, nperseg)
    f_ref, S_ref = scipy.signal.welch(x, fs=1000.0, nperseg=nperseg)
    np.testing.assert_array_equal(f, f_ref)
    np.testing.assert_allclose(S, S_ref, rtol=1e-12, atol=0)
    G = rng.standard_normal(S.shape)
    gx = vjp(G)
    h = 1e-3  # S is quadratic in x: central differences are exact up to rounding
    for idx in [(0, 0), (0, 5), (1, 150), (2, 287)]:
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        fd = ((welch_with_vjp(xp, 1000.0, nperseg)[1] - welch_with_vjp(xm, 1000.0, nperseg)[1]) * G).sum() / (2 * h)
        assert abs(gx[idx] - fd) <= 1e-7 * abs(fd), (idx, gx[idx], fd)
    assert np.all(gx[:, 288:] == 0.0)  # samples after the last whole segment are not used


@pytest.mark.parametrize("log", [False, True])
def test_spectral_correlation_loss_value_and_signal_gradient(log):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 300))
    target = welch_psd(rng.standard_normal(300), 1000.0, nperseg=64)[1]
    loss_fn = spectral_correlation_loss(target, 1000.0, 64, "v", log=log)
    loss, grad = loss_fn({"v": x})
    S = welch_psd(x, 1000.0, nperseg=64)[1]
    ref = spectral_loss(S, target) if log else 1.0 - np.corrcoef(S.mean(axis=0), target)[0, 1]
    assert loss == pytest.approx(ref, rel=1e-12)
    for idx in [(0, 5), (1, 100), (2, 200)]:
        h = 1e-5
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        fd = (loss_fn({"v": xp})[0] - loss_fn({"v": xm})[0]) / (2 * h)
        assert abs(grad["v"][idx] - fd) < 1e-6 * abs(fd), (idx, grad["v"][idx], fd)
    with pytest.raises(ValueError, match="target_psd has 5 values"):
        spectral_correlation_loss(np.ones(5), 1000.0, 64, "v")


def test_jansen_rit_spectral_loss_gradient_equals_central_differences():
    """The notebook's loss (1 - correlation of the mean Welch spectrum with a target) through a
    delayed Jansen-Rit network, Heun, gradient w.r.t. global a and b."""
    m = _jr()
    run = dict(dt=0.1, sampling_dt=1.0, seed=4, integrator="heun")
    dur = 400.0
    hidden = m.copy()
    hidden.params.update(a=0.05, b=0.045)
    target = welch_psd(hidden.run(duration=dur, **run)["v_pyr"], 1000.0, nperseg=128)[1].mean(axis=0)
    obj = spectral_correlation_loss(target, 1000.0, 128, "v_pyr")
    loss, grads = gradient(m, obj, ["a", "b"], dur, **run)
    assert 0.0 < loss < 2.0
    for p in ("a", "b"):
        base = float(m.params[p])
        h = 1e-5 * base
        vals = []
        for sign in (1.0, -1.0):
            m.params.update({p: base + sign * h})
            vals.append(obj(m.run(duration=dur, **run))[0])
        m.params.update({p: base})
        fd = (vals[0] - vals[1]) / (2 * h)
        assert abs(grads[p] - fd) < 1e-6 * abs(fd), (p, grads[p], fd)


# -- in a study: GradientDescent on exact gradients ------------------------------------------------

def test_recovers_jansen_rit_a_b_from_a_target_spectrum(tmp_path):
    """The notebook's problem on a 4-node delayed network: the mean Welch spectrum of a run with
    hidden a, b is the target; L-BFGS-B from a 2 x 2 grid of starts recovers a, b within 2 %."""
    from brainsweep.explorer import GradientDescent, ParameterSpace, Study, gradient_history
    from brainsweep.explorer.adjoint_eval import AdjointEvaluation

    m = _jr()
    run = dict(duration=2500.0, dt=0.1, sampling_dt=1.0, integrator="heun", initial_state=np.zeros((4, 6)))
    hidden = m.copy()
    hidden.params.update(a=0.05, b=0.045)
    target = welch_psd(hidden.run(seed=7, **run)["v_pyr"][:, 500:], 1000.0, nperseg=256)[1].mean(axis=0)
    obj = spectral_correlation_loss(target, 1000.0, 256, "v_pyr", transient=500)
    space = ParameterSpace(bounds={"a": (0.03, 0.07), "b": (0.03, 0.07)})
    study = Study(m, space, GradientDescent("lbfgsb", steps=25, starts=4, start="grid"), objective=obj,
                  run_kwargs=run, path=str(tmp_path / "jr.h5"), seed=1)  # the form
    assert isinstance(study.evaluator, AdjointEvaluation)
    res = study.run(progress=False)
    h = gradient_history(res)
    assert (h.status == "ok").all() and set(h.start) == {0, 1, 2, 3}
    best = h.loc[h.loss.idxmin()]
    assert abs(best.a / 0.05 - 1) < 0.02 and abs(best.b / 0.045 - 1) < 0.02, best
    final = h.sort_values("step").groupby("start").tail(1)
    near = ((final.a / 0.05 - 1).abs() < 0.02) & ((final.b / 0.045 - 1).abs() < 0.02)
    assert near.sum() >= 2, final[["a", "b", "loss"]]


def test_adjoint_evaluation_per_node_names_and_bad_names():
    from brainsweep.explorer import ParameterSpace
    from brainsweep.explorer.adjoint_eval import AdjointEvaluation

    m = _jr()
    obj = sum_of_squares(np.zeros((4, 100)), "v_pyr")
    space = ParameterSpace(bounds={"a__1": (0.03, 0.07), "b": (0.03, 0.07)})
    run = dict(dt=0.1, sampling_dt=0.5, integrator="heun")
    with pytest.raises(ValueError, match=r"\['seed'\] not accepted"):
        AdjointEvaluation(m, obj, space, dict(run, duration=DURATION, seed=3))
    ev = AdjointEvaluation(m, obj, space, dict(run, duration=DURATION))
    out = ev._evaluate({"a__1": 0.045, "b": 0.041}, seed=3)
    m2 = _jr()
    m2.params.update(a=np.array([0.04, 0.045, 0.04, 0.04]), b=0.041)
    loss, g = gradient(m2, obj, ["a", "b"], DURATION, seed=3, per_node=["a"], **run)
    assert out["loss"] == loss and out["grad__a__1"] == g["a"][1] and out["grad__b"] == g["b"]
    assert float(np.asarray(ev._model.params["a"]).ravel()[0]) == 0.04  # the model is left as it was
    with pytest.raises(ValueError, match="node 9 does not exist"):
        AdjointEvaluation(m, obj, ParameterSpace(bounds={"a__9": (0.0, 1.0)}), dict(duration=10.0))
    with pytest.raises(ValueError, match="'q' is neither"):
        AdjointEvaluation(m, obj, ParameterSpace(bounds={"q": (0.0, 1.0)}), dict(duration=10.0))


@pytest.mark.parametrize("make, key, integrator", [(_hopf, "x", "euler"), (_jr, "v_pyr", "heun")])
def test_checkpointed_gradient_equals_full_storage(make, key, integrator):
    m = make()
    obj = sum_of_squares(np.full((4, int(DURATION / 0.5)), 0.1), key)
    wrt = ["a", "K_gl"] if key == "x" else ["a", "b", "coupling_a"]
    ref = gradient(m, obj, wrt, DURATION, integrator=integrator, per_node=["a"], checkpoint_every=10**9, **RUN)
    delays = m.network.delay_steps(m.params["signalV"], 0.1)
    assert delays.max() > 37  # segments shorter than the longest delay too
    for every in (37, 100, 499, None):
        got = gradient(m, obj, wrt, DURATION, integrator=integrator, per_node=["a"], checkpoint_every=every, **RUN)
        assert got[0] == ref[0]
        for p in wrt:
            np.testing.assert_array_equal(got[1][p], ref[1][p])
    with pytest.raises(ValueError, match="checkpoint_every"):
        gradient(m, obj, wrt, DURATION, integrator=integrator, checkpoint_every=0, **RUN)


def test_thalamic_definition_gradient_equals_central_differences():
    """ThalamicMassModel (definitions/thalamic.yaml, 15 states, one node): forward bit for bit,
    gradients against central differences of model.run."""
    from brainsweep.models import ThalamicMassModel
    m = ThalamicMassModel()
    run = dict(dt=0.01, sampling_dt=0.1, seed=1)
    y = forward(m, 100.0, **run)["V_t"]
    np.testing.assert_array_equal(y, m.run(duration=100.0, **run)["V_t"])
    obj = sum_of_squares(0.9 * y, "V_t")
    _, g = gradient(m, obj, ["tau", "Q_max", "theta"], 100.0, **run)
    for name in ("tau", "Q_max", "theta"):
        base = float(m.params[name])
        h = 1e-6 * abs(base)
        vals = []
        for sign in (1.0, -1.0):
            m.params[name] = base + sign * h
            vals.append(obj(m.run(duration=100.0, **run))[0])
        m.params[name] = base
        fd = (vals[0] - vals[1]) / (2 * h)
        assert abs(g[name] - fd) / abs(fd) < 1e-6, (name, g[name], fd)
