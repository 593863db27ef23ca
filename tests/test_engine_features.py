"""Engine options used by ALN and the zoo models, on a small linear test model defined here:
noise_channels, white_noise_param, coupling_squared, local_delays with local_only_vars, algebraic vars."""

from collections import namedtuple

import numpy as np
from numba import njit

from brainsweep.models.base import Model
from brainsweep.models.params import Param, State

PARAMETERS = (
    Param("tau", 1.0, "ms", "decay time", (0.0, None), strict_low=True),
    Param("d_loc", 0.5, "ms", "intra-node delay of u", (0.0, None)),
    Param("sigma_ou", 0.0, "1", "OU noise", (0.0, None)),
    Param("tau_ou", 5.0, "ms", "OU time constant", (0.0, None), strict_low=True),
    Param("d_phi", 0.0, "1", "white noise (named like the thalamic model)", (0.0, None)),
)
P = namedtuple("P", [p.name for p in PARAMETERS])(*range(len(PARAMETERS)))


@njit(cache=True)
def probe_rhs(x, cpl, inp, p, const, dx):
    # x: a (noisy channel), b (quiet channel), s1 (records sum C v), s2 (sum C^2 v), loc (u delayed), u (clock)
    dx[0] = -x[0] / p[P.tau] + inp[0]
    dx[1] = -x[1] / p[P.tau] + inp[1]
    dx[2] = cpl[0]  # algebraic: new value
    dx[3] = cpl[1]  # algebraic
    dx[4] = cpl[2]  # algebraic: own u, d_loc ago
    dx[5] = 1.0  # u(t) = t


class ProbeModel(Model):
    name = "engine_probe"
    state_vars = tuple(State(n) for n in ("a", "b", "s1", "s2", "loc", "u"))
    parameters = PARAMETERS
    rhs = staticmethod(probe_rhs)
    coupled_vars = ("u", "a")  # "a" is local-only: buffered but never summed over the network
    local_only_vars = ("a",)
    coupling_squared = True
    local_delays = (("u", "d_loc"),)
    algebraic_vars = ("s1", "s2", "loc")
    input_channels = ("a", "b")
    noise_channels = ("a",)
    ou_mean_params = (None, None)
    white_noise_param = "d_phi"


def test_noise_only_on_noise_channels_and_named_white_noise():
    m = ProbeModel()
    m.params.update(sigma_ou=0.3, d_phi=0.2)
    out = m.run(duration=50, initial_state=np.zeros(6)[None], seed=1)
    assert np.std(out["a"]) > 0.01
    assert np.all(out["b"] == 0.0)  # quiet channel untouched by OU and white noise
    m.params.update(sigma_ou=0.0, d_phi=0.0)
    assert np.all(m.run(duration=50, initial_state=np.zeros(6)[None], seed=1)["a"] == 0.0)
    m.params["d_phi"] = 0.2  # white noise alone (through the renamed parameter)
    assert np.std(m.run(duration=50, initial_state=np.zeros(6)[None], seed=1)["a"]) > 0.01


def test_squared_sums_local_delays_and_local_only_vars():
    C = np.array([[0.0, 0.5, 2.0], [1.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    delays = np.array([[0.0, 0.3, 0.6], [0.2, 0.0, 0.0], [0.0, 0.4, 0.0]])  # ms
    m = ProbeModel(Cmat=C, delays=delays)
    dt = 0.1
    out = m.run(duration=5.0, dt=dt, initial_state=np.zeros((3, 6)))
    t = out["t"]  # s1 at t holds sum_j C_ij u_j(t - dt - D_ij), u_j(t) = t, history 0
    for i in range(3):
        lag = np.maximum(t[None, :] - dt - delays[i][:, None], 0.0)
        assert np.allclose(out["s1"][i], (C[i][:, None] * lag).sum(axis=0), atol=1e-9)
        assert np.allclose(out["s2"][i], (C[i][:, None] ** 2 * lag).sum(axis=0), atol=1e-9)
    assert np.allclose(out["loc"], np.maximum(t - dt - 0.5, 0.0)[None, :], atol=1e-9)


def test_squared_sums_and_local_delays_in_a_batch():
    """The same analytic sums for every run of a batch (batched gather, squared weights, local
    delays); 5 runs with different tau share their delays, so they form one padded group when
    serial and two when parallel."""
    from brainsweep.models import set_parallel

    C = np.array([[0.0, 0.5, 2.0], [1.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    delays = np.array([[0.0, 0.3, 0.6], [0.2, 0.0, 0.0], [0.0, 0.4, 0.0]])  # ms
    m = ProbeModel(Cmat=C, delays=delays)
    dt = 0.1
    for parallel in (True, False):
        try:
            set_parallel(parallel)
            outs = m.run_batch([{"tau": 1.0 + r} for r in range(5)], duration=5.0,
                               dt=dt, initial_state=np.zeros((3, 6)))  # fmt: skip
        finally:
            set_parallel(True)
        for out in outs:
            t = out["t"]
            for i in range(3):
                lag = np.maximum(t[None, :] - dt - delays[i][:, None], 0.0)
                assert np.allclose(out["s1"][i], (C[i][:, None] * lag).sum(axis=0), atol=1e-9)
                assert np.allclose(out["s2"][i], (C[i][:, None] ** 2 * lag).sum(axis=0), atol=1e-9)
            assert np.allclose(out["loc"], np.maximum(t - dt - 0.5, 0.0)[None, :], atol=1e-9)
