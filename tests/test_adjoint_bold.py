"""Gradients through BOLD (Balloon-Windkessel as the engine integrates it): the adjoint's BOLD
equals model.run(bold=True)'s bit for bit and its gradient equals central differences of it."""

import numpy as np
import pytest
from test_adjoint import _hopf as _hopf_network
from test_adjoint import _jr

from brainsweep.evaluation.differentiable import sum_of_squares
from brainsweep.models.adjoint import forward, gradient


def _hopf():
    m = _hopf_network()  # 4 delayed nodes, K_gl 0.3
    m.params.update(a=0.1, w=0.05)
    return m


# the last entry: relative step of the central differences, long enough to keep rounding out of the
# difference, Richardson-extrapolated against truncation (Jansen-Rit's BOLD moves little with one
# node's b, and its a is strongly nonlinear: simple differences in a with steps 1e-4, 1e-5, 1e-6
# were 1e-3, 4e-9, 8e-10 off the adjoint)
CASES = [
    ("hopf-euler", _hopf, dict(integrator="euler", tr=100.0), ["K_gl", "a", "w"], ["a"], 1e-4),
    ("hopf-heun-bold_dt", _hopf, dict(integrator="heun", tr=60.0, bold_dt=0.5), ["K_gl", "w"], [], 1e-4),
    ("jr-heun-noise", _jr, dict(integrator="heun", tr=100.0), ["a", "b", "A"], ["a"], 2e-5),
]


def _central(m, obj, run, param, node, rel):
    """Central differences with steps h and h/2 combined by Richardson extrapolation (the h**2
    error cancels), of the loss of model.run(bold=True)."""
    base = np.array(m.params[param], dtype=float)
    h0 = rel * max(abs(float(np.mean(base))), 1e-2)
    diffs = []
    for h in (h0, h0 / 2):
        vals = []
        for sign in (1.0, -1.0):
            value = base + sign * h if node is None else np.broadcast_to(base, (4,)).copy()
            if node is not None:
                value[node] += sign * h
            m.params.update({param: value})
            vals.append(obj(m.run(bold=True, **run))[0])
        diffs.append((vals[0] - vals[1]) / (2 * h))
    m.params.update({param: base})
    return (4 * diffs[1] - diffs[0]) / 3


@pytest.mark.parametrize("label, make, extra, wrt, per_node, fd_step", CASES, ids=[c[0] for c in CASES])
def test_bold_forward_and_gradient(label, make, extra, wrt, per_node, fd_step):
    m = make()
    if label.endswith("noise"):
        m.params.update(sigma_ou=0.05)
    run = dict(duration=600.0, dt=0.1, sampling_dt=1.0, seed=5, **extra)
    ref = m.run(bold=True, **run)
    out = forward(m, bold=True, **run)
    assert out["BOLD"].shape == ref["BOLD"].shape and out["BOLD"].shape[1] >= 6
    np.testing.assert_array_equal(out["BOLD"], ref["BOLD"])
    np.testing.assert_array_equal(out["BOLD_t"], ref["BOLD_t"])
    assert np.ptp(ref["BOLD"]) > 0
    obj = sum_of_squares(0.5 * ref["BOLD"], "BOLD")
    loss, grads = gradient(m, obj, wrt + [p for p in per_node if p not in wrt], per_node=per_node, bold=True, **run)
    assert loss == pytest.approx(obj(ref)[0], rel=1e-14)
    worst = 0.0
    for p in wrt + [p for p in per_node if p not in wrt]:
        for node in ([0, 2] if p in per_node else [None]):
            fd = _central(m, obj, run, p, node, rel=fd_step)
            ad = grads[p] if node is None else grads[p][node]
            assert fd != 0.0
            err = abs(ad - fd) / abs(fd)
            worst = max(worst, err)
            assert err < 1e-6, (p, node, ad, fd, err)
    print(f"\n{label}: worst relative error {worst:.1e}")


def test_bold_and_signal_losses_add():
    """A loss on BOLD plus one on the sampled signal: the gradient is the sum of both gradients."""
    m = _hopf()
    run = dict(duration=300.0, dt=0.1, sampling_dt=1.0, seed=5, integrator="euler", tr=50.0)
    ref = m.run(bold=True, **run)
    ob = sum_of_squares(0.5 * ref["BOLD"], "BOLD")
    ox = sum_of_squares(0.9 * ref["x"], "x")

    def both(outputs):
        lb, gb = ob(outputs)
        lx, gx = ox(outputs)
        return lb + lx, {**gb, **gx}

    _, g = gradient(m, both, ["K_gl", "a"], bold=True, **run)
    _, gb = gradient(m, ob, ["K_gl", "a"], bold=True, **run)
    _, gx = gradient(m, ox, ["K_gl", "a"], **run)
    for p in ("K_gl", "a"):
        assert g[p] == pytest.approx(gb[p] + gx[p], rel=1e-10)
    with pytest.raises(ValueError, match="TR = 55"):
        gradient(m, ob, ["a"], bold=True, **dict(run, tr=55.05))


def test_adjoint_evaluation_passes_bold_on():
    from brainsweep.explorer import ParameterSpace
    from brainsweep.explorer.adjoint_eval import AdjointEvaluation

    m = _hopf()
    run = dict(duration=300.0, dt=0.1, sampling_dt=1.0, integrator="euler", tr=50.0)
    ref = m.run(bold=True, seed=5, **run)
    ob = sum_of_squares(0.5 * ref["BOLD"], "BOLD")
    ev = AdjointEvaluation(m, ob, ParameterSpace(bounds={"K_gl": (0.0, 1.0), "a__2": (0.0, 0.5)}),
                           dict(run, bold=True))
    out = ev._evaluate({"K_gl": 0.3, "a__2": 0.1}, seed=5)
    loss, g = gradient(m, ob, ["K_gl", "a"], per_node=["a"], bold=True, seed=5, **run)
    assert out["loss"] == loss and out["grad__K_gl"] == g["K_gl"] and out["grad__a__2"] == g["a"][2]
