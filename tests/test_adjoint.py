"""Discrete adjoint (brainsweep.models.adjoint): forward values equal the engine's, gradients equal
central finite differences of the engine's own runs, on 4-node networks with delays."""

import numpy as np
import pytest

from brainsweep.evaluation.differentiable import sum_of_squares
from brainsweep.models import HopfModel, JansenRitModel, WilsonCowanModel
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


@pytest.mark.parametrize("make, key, integrator, wrt, per_node", [
    (_hopf, "x", "euler", ["K_gl", "a", "w"], ["a"]),
    (_hopf, "x", "heun", ["K_gl", "a", "x_ext"], ["x_ext"]),
    (_jr, "v_pyr", "heun", ["a", "b", "mu", "coupling_a"], ["b"]),
    (_jr, "v_pyr", "euler", ["a", "A", "coupling_cmax"], ["a"]),
])
def test_gradient_equals_central_differences(make, key, integrator, wrt, per_node):
    m = make()
    y = forward(m, DURATION, integrator=integrator, **RUN)[key]
    target = 0.9 * y + 0.01 * np.sin(np.arange(y.shape[1]))[None, :]
    obj = sum_of_squares(target, key)
    loss, grads = gradient(m, obj, wrt, DURATION, integrator=integrator, per_node=per_node, **RUN)
    assert loss == pytest.approx(obj(m.run(duration=DURATION, integrator=integrator, **RUN))[0], rel=1e-14)
    worst = 0.0
    for p in wrt:
        for node in (range(4) if p in per_node else [None]):
            fd = _fd(m, obj, key, p, node, integrator)
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
    with pytest.raises(ValueError, match="sigma_ou"):
        gradient(m, obj, ["K_gl"], DURATION, **RUN)
    with pytest.raises(ValueError, match="no symbolic equations for model WilsonCowanModel"):
        gradient(WilsonCowanModel(), obj, ["K_gl"], DURATION, **RUN)
    with pytest.raises(ValueError, match="seed="):
        gradient(_hopf(), obj, ["K_gl"], DURATION, dt=0.1)
