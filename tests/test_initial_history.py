"""``run(initial_history=...)``: the delayed past before t = 0 (engine.history_values).

A linear delayed network written here (a module-level rhs, so the engine can cache its kernel)
is integrated by the engine and by a plain numpy loop that reads the history by hand; the
default (constant) past equals a history holding the initial state's coupled quantities.
"""

import numpy as np
import pytest
from numba import njit
from test_yaml_models import tvbo_db  # noqa: F401 - the session fixture (tvbo's files, not copied here)

from brainsweep.models import HopfModel, Model, Param, State

TAU, K = 20.0, 0.3


@njit(cache=True)
def _linear_rhs(x, cpl, inp, p, const, dx):
    dx[0] = -x[0] / p[0] + p[1] * cpl[0] + inp[0]


class LinearDelayed(Model):
    """dx_i/dt = -x_i / tau + K sum_j C_ij x_j(t - D_ij): the effect of a past is a sum."""

    name = "linear_delayed_test"
    state_vars = (State("x", "1", "activity", (0.0, 0.0)),)
    parameters = (Param("tau", TAU, "ms", "decay time", (0.0, None), strict_low=True),
                  Param("K", K, "1", "coupling strength", (0.0, None)),
                  Param("sigma_white", 0.0, "1", "white noise", (0.0, None)))
    rhs = staticmethod(_linear_rhs)
    coupled_vars = ("x",)
    input_channels = ("x",)
    integrator = "euler"


def _network(n=3):
    C = np.array([[0.0, 1.0, 0.5], [0.8, 0.0, 0.0], [0.2, 0.7, 0.0]])[:n, :n]
    delays = np.array([[0.0, 1.5, 0.7], [0.4, 0.0, 0.0], [1.0, 0.2, 0.0]])[:n, :n]  # ms
    return C, delays


def _numpy_loop(C, delay_steps, x0, past, n_steps, dt):
    """Euler by hand: x[g+1] = x[g] + dt (-x[g]/tau + K sum_j C_ij x_j[g - d_ij]), with
    x_j[-k] = past[j, -k] (past: oldest first, last = t = -dt)."""
    D = past.shape[1]
    n = C.shape[0]
    hist = np.concatenate([past, x0[:, None], np.empty((n, n_steps))], axis=1)  # column D is t = 0
    for g in range(n_steps):
        col = D + g
        cpl = np.array([sum(C[i, j] * hist[j, col - delay_steps[i, j]] for j in range(n)) for i in range(n)])
        x = hist[:, col]
        hist[:, col + 1] = x + dt * (-x / TAU + K * cpl)
    return hist[:, D + 1:]


def test_array_history_matches_a_numpy_loop():
    C, delays = _network()
    dt = 0.1
    steps = np.rint(delays / dt).astype(int)
    D = steps.max()  # 15 steps
    rng = np.random.default_rng(1)
    past = rng.normal(0.0, 1.0, (3, 1, D))
    x0 = np.array([0.3, -0.2, 0.5])
    m = LinearDelayed(C, delays=delays)
    out = m.run(5.0, dt=dt, initial_state=x0[:, None], initial_history=past, seed=0)
    want = _numpy_loop(C, steps, x0, past[:, 0, :], 50, dt)
    np.testing.assert_allclose(out["x"], want, rtol=1e-12, atol=1e-14)
    # the history mattered: the default constant past gives different numbers
    default = m.run(5.0, dt=dt, initial_state=x0[:, None], seed=0)["x"]
    assert np.abs(default - want).max() > 1e-2


def test_callable_history_is_evaluated_at_the_past_steps():
    C, delays = _network()
    dt = 0.1
    steps = np.rint(delays / dt).astype(int)
    D = steps.max()
    seen = []

    def f(t):
        seen.append(t)
        return np.array([[np.sin(0.3 * t)], [np.cos(0.2 * t)], [0.01 * t]])

    x0 = np.array([0.1, 0.0, -0.1])
    m = LinearDelayed(C, delays=delays)
    out = m.run(3.0, dt=dt, initial_state=x0[:, None], initial_history=f, seed=0)
    t_past = -(D - np.arange(D)) * dt
    np.testing.assert_allclose(seen, t_past)  # oldest first, last at -dt, never t = 0
    past = np.stack([np.sin(0.3 * t_past), np.cos(0.2 * t_past), 0.01 * t_past])
    np.testing.assert_allclose(out["x"], _numpy_loop(C, steps, x0, past, 30, dt), rtol=1e-12, atol=1e-14)


def test_longer_history_uses_its_last_entries_and_batches_share_it():
    C, delays = _network()
    dt = 0.1
    D = int(np.rint(delays.max() / dt))
    past = np.random.default_rng(2).normal(size=(3, 1, D + 7))
    x0 = np.zeros((3, 1))
    m = LinearDelayed(C, delays=delays)
    a = m.run(2.0, dt=dt, initial_state=x0, initial_history=past, seed=0)["x"]
    b = m.run(2.0, dt=dt, initial_state=x0, initial_history=past[:, :, -D:], seed=0)["x"]
    assert np.array_equal(a, b)
    batch = m.run_batch([{"K": K}, {"K": 0.1}], seeds=[0, 1], duration=2.0, dt=dt, initial_state=x0,
                        initial_history=past)
    assert np.array_equal(batch[0]["x"], a)
    m2 = LinearDelayed(C, delays=delays, params={"K": 0.1})
    assert np.array_equal(batch[1]["x"], m2.run(2.0, dt=dt, initial_state=x0, initial_history=past, seed=1)["x"])


@pytest.mark.parametrize("integrator", ["euler", "heun"])
def test_constant_history_of_the_initial_state_is_bit_identical_to_the_default(integrator):
    """Hopf (coupled quantities x and y are its state variables) with noise, delays from Dmat:
    a history equal to the initial state reproduces the default run bit for bit, in a batch too."""
    from test_engine import small_net

    C, D = small_net(5, seed=3)
    m = HopfModel(C, D, params={"sigma_ou": 0.02, "signalV": 5.0})
    init = np.random.default_rng(4).uniform(-0.5, 0.5, (5, 2))
    dt = 0.1
    max_delay = int(m.network.delay_steps(5.0, dt).max())
    coupled = list(HopfModel.coupled_vars)
    state = [s.name for s in HopfModel.state_vars]
    const = np.stack([init[:, state.index(c)] for c in coupled], axis=1)  # (nodes, coupled)
    hist = np.repeat(const[:, :, None], max_delay, axis=2)
    kw = dict(dt=dt, integrator=integrator, initial_state=init, seed=11)
    default = m.run(100.0, **kw)
    given = m.run(100.0, initial_history=hist, **kw)
    for key in default:
        assert np.array_equal(default[key], given[key]), key
    b_default = m.run_batch([{"K_gl": 0.2}, {"K_gl": 0.9}], seeds=[1, 2], duration=50.0, dt=dt,
                            integrator=integrator, initial_state=init)
    b_given = m.run_batch([{"K_gl": 0.2}, {"K_gl": 0.9}], seeds=[1, 2], duration=50.0, dt=dt,
                          integrator=integrator, initial_state=init, initial_history=lambda t: const)
    for r in range(2):
        assert np.array_equal(b_default[r]["x"], b_given[r]["x"])
    # and a different history changes the run
    other = m.run(100.0, initial_history=hist + 0.1, **kw)
    assert not np.array_equal(other["x"], default["x"])


def test_bad_histories_name_initial_history_and_the_expected_shape():
    C, delays = _network()
    m = LinearDelayed(C, delays=delays)
    with pytest.raises(ValueError, match=r"initial_history has shape \(3, 1, 4\); expected \(3, 1, 15\)"):
        m.run(2.0, dt=0.1, initial_history=np.zeros((3, 1, 4)))
    with pytest.raises(ValueError, match=r"initial_history has shape \(2, 1, 15\); expected \(3, 1, 15\) "
                                         r"\(nodes, coupled quantities \['x'\]"):
        m.run(2.0, dt=0.1, initial_history=np.zeros((2, 1, 15)))
    bad = np.zeros((3, 1, 15))
    bad[1, 0, 5] = np.nan
    with pytest.raises(ValueError, match=r"initial_history contains NaN/inf: node 1, 'x', t = -1 ms"):
        m.run(2.0, dt=0.1, initial_history=bad)
    with pytest.raises(ValueError, match=r"initial_history\(-1.5\) returned shape \(3,\); expected \(3, 1\)"):
        m.run(2.0, dt=0.1, initial_history=lambda t: np.zeros(3))
    with pytest.raises(ValueError, match="initial_history must be an array of shape"):
        m.run(2.0, dt=0.1, initial_history="ramp")


def test_a_tvb_style_history_of_states_becomes_the_coupled_quantities(tvbo_db, monkeypatch):  # noqa: F811
    """tvbo's SigmoidalJansenRit buffers cmin + (cmax - cmin) / (exp(r (midpoint - (y1 - y2))) + 1) of the
    past states (computed here with numpy); a constant state history equal to the initial state is the
    default run, bit for bit."""
    from test_engine import small_net

    from brainsweep.models import from_yaml
    from brainsweep.models.engine import history_of_states

    monkeypatch.setenv("BRAINSWEEP_TVBO_PATH", str(tvbo_db.parent))
    C, D = small_net(4, seed=5)
    m = from_yaml("JansenRit", "SigmoidalJansenRit", C, D, coupling_cmax=0.006, coupling_r=0.5)
    assert m.coupled_vars == ("q0",)
    names = [s.name for s in m.state_vars]
    steps = int(m.network.delay_steps(m.params["signalV"], 0.1).max())
    states = np.random.default_rng(6).normal(0.0, 3.0, (4, len(names), steps))
    H = history_of_states(m, states)
    y1, y2 = states[:, names.index("y1")], states[:, names.index("y2")]
    p = {k: m.params[f"coupling_{k}"] for k in ("cmin", "cmax", "r", "midpoint")}
    want = p["cmin"] + (p["cmax"] - p["cmin"]) / (np.exp(p["r"] * (p["midpoint"] - (y1 - y2))) + 1.0)
    np.testing.assert_allclose(H[:, 0, :], want, rtol=1e-13)
    init = np.random.default_rng(7).uniform(-1, 1, (4, len(names)))
    kw = dict(dt=0.1, sampling_dt=1.0, seed=2, initial_state=init)
    default = m.run(50.0, **kw)["y1"]
    constant = history_of_states(m, np.repeat(init[:, :, None], steps, axis=2))
    assert np.array_equal(m.run(50.0, initial_history=constant, **kw)["y1"], default)
    assert not np.array_equal(m.run(50.0, initial_history=H, **kw)["y1"], default)
    with pytest.raises(ValueError, match=r"states has shape \(4, 2, 3\); expected \(4, 6, steps\)"):
        history_of_states(m, np.zeros((4, 2, 3)))
