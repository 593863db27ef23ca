"""Exact gradients of models defined by TVB-O files (brainsweep.models.from_yaml): the adjoint's
equations come from the parsed definition; forward values equal model.run's bit for bit and
gradients equal central finite differences of model.run (relative error < 1e-6), on 4-node
delayed networks, deterministic and with the noise of a fixed seed held fixed."""

import numpy as np
import pytest
from test_yaml_models import tvbo_db  # noqa: F401  (session fixture: the tvbo database)

from brainsweep.evaluation.differentiable import sum_of_squares
from brainsweep.models import HopfModel, JansenRitModel
from brainsweep.models.adjoint import forward, gradient
from brainsweep.models.adjoint._specs import spec_for
from brainsweep.models.adjoint._symbolic import spec_from_definition
from brainsweep.models.symbolic import from_yaml

N = 4


def _network(seed=0):
    rng = np.random.default_rng(seed)
    C = rng.random((N, N))
    np.fill_diagonal(C, 0.0)
    C[0, 3] = 0.0  # a sparse row too
    D = rng.random((N, N)) * 40.0
    return C, D + D.T


# name, coupling, parameter values, integrator, duration (ms), output, wrt, per-node (each checked at 2 nodes)
CASES = {
    "Generic2dOscillator": ("Generic2dOscillator", None, dict(coupling_a=0.1, I=0.3, tau=1.5), "heun", 60.0, "V",
                            ["a", "tau", "coupling_a"], ["I"]),
    "WilsonCowan": ("WilsonCowan", None, dict(coupling_a=0.5, P=0.8, Q=0.2), "heun", 60.0, "E",
                    ["c_ee", "tau_e", "coupling_a"], ["P"]),
    "ReducedWongWangExcInh": ("ReducedWongWangExcInh", None, dict(coupling_a=0.3, I_o=0.32), "euler", 60.0, "S_e",
                              ["G", "J_N", "coupling_a"], ["w_p"]),
    "SupHopf-Difference": ("SupHopf", "Difference", dict(a=0.2, omega=0.3, coupling_a=0.3), "euler", 60.0, "x",
                           ["a", "omega", "coupling_a"], ["a"]),
    "JansenRit-SigmoidalJansenRit": ("JansenRit", "SigmoidalJansenRit", dict(coupling_a=1.0), "heun", 60.0, "y1",
                                     ["a", "b", "coupling_a", "coupling_r"], ["b"]),
    "Kuramoto-KuramotoCoupling": ("Kuramoto", "KuramotoCoupling", dict(omega=0.1, coupling_a=0.2), "heun", 60.0,
                                  "theta", ["omega", "coupling_a"], ["omega"]),
    "MontbrioPazoRoxin": ("MontbrioPazoRoxin", None, dict(coupling_a=0.5, eta=-4.6, I=0.2), "heun", 40.0, "r",
                          ["eta", "J", "Delta", "coupling_a"], ["eta"]),
    "LarterBreakspear-HyperbolicTangent": ("LarterBreakspear", "HyperbolicTangent", dict(coupling_a=0.5, C=0.2, I_ext=0.25),
                                           "heun", 40.0, "V", ["C", "phi", "coupling_a", "coupling_b"], ["I_ext"]),
}
RUN = dict(dt=0.1, sampling_dt=0.5, seed=3)


def _model(case, **extra):
    name, coupling, values, *_ = CASES[case]
    C, D = _network()
    m = from_yaml(name, coupling=coupling, Cmat=C, Dmat=D, **values, **extra)
    m.params.update(signalV=5.0)  # delays up to 16 ms = 160 steps
    return m


def _objective(m, key, run):
    y = m.run(**run)[key]
    target = 0.9 * y + 0.01 * np.sin(np.arange(y.shape[1]))[None, :]
    return sum_of_squares(target, key)


def _central(m, obj, run, param, node, rel=2e-6):
    """Central difference of the loss of model.run (the engine, not the adjoint's forward)."""
    base = np.array(m.params[param], dtype=float)
    h = rel * max(abs(float(np.mean(base))), 1e-2)
    vals = []
    for sign in (1.0, -1.0):
        value = base + sign * h if node is None else np.broadcast_to(base, (N,)).copy()
        if node is not None:
            value[node] += sign * h
        m.params.update({param: value})
        vals.append(obj(m.run(**run))[0])
    m.params.update({param: base})
    return (vals[0] - vals[1]) / (2 * h)


def _check(m, obj, run, wrt, per_node):
    """Worst relative error of the adjoint gradient against central differences."""
    wrt = list(wrt) + [p for p in per_node if p not in wrt]
    loss, grads = gradient(m, obj, wrt, per_node=per_node, **run)
    assert loss == pytest.approx(obj(m.run(**run))[0], rel=1e-14)
    worst = 0.0
    for p in wrt:
        for node in ([1, 2] if p in per_node else [None]):
            fd = _central(m, obj, run, p, node)
            ad = grads[p] if node is None else grads[p][node]
            assert fd != 0.0, (p, node)
            err = abs(ad - fd) / abs(fd)
            worst = max(worst, err)
            assert err < 1e-6, (p, node, ad, fd, err)
    return worst


@pytest.mark.parametrize("case", sorted(CASES))
def test_yaml_model_gradient_equals_central_differences(tvbo_db, case):
    _, _, _, integrator, duration, key, wrt, per_node = CASES[case]
    m = _model(case)
    run = dict(RUN, duration=duration, integrator=integrator)
    ref = m.run(**run)
    out = forward(m, **run)
    for name in m.spec()["output_names"]:
        np.testing.assert_array_equal(out[name], ref[name], err_msg=name)
    worst = _check(m, _objective(m, key, run), run, wrt, per_node)
    print(f"\n{case}: worst relative error {worst:.1e}")


def test_clamped_states_stay_in_the_domain_and_the_clamp_has_derivative_zero(tvbo_db):
    """ReducedWongWangExcInh clamps S_e, S_i to [0, 1]: a node started above 1 is held at 1 by
    the limited derivative in its first step, so that step's value has derivative 0."""
    m = _model("ReducedWongWangExcInh")
    run = dict(RUN, duration=20.0, integrator="euler", sampling_dt=0.1,
               initial_state=np.array([[1.5, 0.2], [0.3, 0.1], [0.5, 0.3], [0.7, 0.4]]))
    y = m.run(**run)["S_e"]
    assert y[0, 0] == 1.0 and np.all(y <= 1.0)
    target = np.zeros_like(y)
    weights = np.zeros_like(y)
    weights[0, 0] = 1.0  # only the clamped sample
    obj = _Weighted(weights, "S_e")
    _, g = gradient(m, obj, ["J_N", "w_p"], **run)
    assert g["J_N"] == 0.0 and g["w_p"] == 0.0
    worst = _check(m, sum_of_squares(target + 0.5, "S_e"), run, ["J_N", "w_p"], [])
    assert worst < 1e-6


class _Weighted:
    """sum(weights * y) and its gradient."""

    def __init__(self, weights, key):
        self.weights, self.key = weights, key

    def __call__(self, outputs):
        return float((self.weights * outputs[self.key]).sum()), {self.key: self.weights}


def test_spec_comes_from_the_definition(tvbo_db):
    m = _model("JansenRit-SigmoidalJansenRit")
    spec = spec_for(m)
    assert spec is spec_from_definition(type(m))
    assert [s.name for s in spec.states] == ["y0", "y1", "y2", "y3", "y4", "y5"]
    assert len(spec.inputs) == 6 and len(spec.coupling) == 1
    k = from_yaml("Kuramoto", coupling="KuramotoCoupling")
    ks = spec_for(k)
    assert len(ks.coupling) == 4 and len(ks.coupled) == 4  # 2 network sums + 2 local factors at time t
    assert spec_for(JansenRitModel()).inputs[0].name == "inp_0"  # a built-in still written in Python


# -- noise held fixed ---------------------------------------------------------------------------------

NOISY = [
    ("hopf-ou", lambda: _hopf(sigma_ou=0.05, tau_ou=2.0), "x", "euler", ["K_gl", "a", "w"], ["a"]),
    ("hopf-white-ou-mean", lambda: _hopf(sigma_white=0.03, x_ou_mean=0.1), "y", "heun", ["K_gl", "w"], []),
    ("jr-yaml-white-ou", lambda: _model("JansenRit-SigmoidalJansenRit", sigma_white=0.5, sigma_ou=0.2),
     "y1", "heun", ["a", "b", "coupling_a"], ["a"]),
    ("rww-yaml-clamped-white", lambda: _model("ReducedWongWangExcInh", sigma_white=0.002), "S_e", "heun",
     ["G", "J_N"], []),
]


def _hopf(**values):
    C, D = _network(1)
    m = HopfModel(Cmat=C, Dmat=D)
    m.params.update(K_gl=0.3, signalV=10.0, **values)
    return m


@pytest.mark.parametrize("label, make, key, integrator, wrt, per_node", NOISY, ids=[c[0] for c in NOISY])
def test_gradient_with_the_noise_of_a_seed_held_fixed(tvbo_db, label, make, key, integrator, wrt, per_node):
    m = make()
    run = dict(RUN, duration=50.0, integrator=integrator)
    ref = m.run(**run)
    out = forward(m, **run)
    np.testing.assert_array_equal(out[key], ref[key])
    quiet = make()  # the same model without noise: the noise really moved the run
    quiet.params.update({n: 0.0 for n in ("sigma_ou", "sigma_white", "x_ou_mean") if n in quiet.params})
    assert np.abs(quiet.run(**run)[key] - ref[key]).max() > 1e-3
    other = forward(m, **dict(run, seed=4))  # and a different seed draws a different realisation
    assert np.abs(other[key] - ref[key]).max() > 1e-3
    worst = _check(m, _objective(m, key, run), run, wrt, per_node)
    print(f"\n{label}: worst relative error {worst:.1e}")
    for checkpoint_every in (37, 10**9):  # checkpointed segments restart the noise at the right draw
        got = gradient(m, _objective(m, key, run), wrt, per_node=per_node, checkpoint_every=checkpoint_every, **run)
        ref_g = gradient(m, _objective(m, key, run), wrt, per_node=per_node, **run)
        for p in wrt:
            np.testing.assert_array_equal(got[1][p], ref_g[1][p])
