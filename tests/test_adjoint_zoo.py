"""Exact gradients for the models the adjoint first refused: Kuramoto (its equation reads n_nodes),
Wong-Wang (algebraic rate states) and ALN (numba right-hand side with transfer-table look-ups,
adaptation, delayed coupling with squared weights). Forward values equal ``model.run``'s bit for
bit; gradients equal central finite differences of the engine's own runs (relative error < 1e-6)
on 5-node delayed networks, deterministic and with a fixed seed's noise held fixed."""

import numpy as np
import pytest

from brainsweep.evaluation.differentiable import sum_of_squares
from brainsweep.models import ALNModel, KuramotoModel, WongWangModel
from brainsweep.models.adjoint import forward, gradient
from brainsweep.models.adjoint._aln import aln_cell, aln_slope
from brainsweep.models.aln.model import _lookup

N = 5
RUN = dict(dt=0.1, sampling_dt=0.5, seed=3)
DURATION = 40.0


def _network(seed=0):
    """Random weights (one missing connection: a sparse row) and fibre lengths (mm) between
    random points of a 40 mm square."""
    rng = np.random.default_rng(seed)
    C = rng.random((N, N)) * (1.0 - np.eye(N))
    C[0, 3] = 0.0
    xy = rng.random((N, 2)) * 40.0
    return C, np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))


def _kuramoto():
    C, D = _network()
    m = KuramotoModel(Cmat=C, Dmat=D)
    m.params.update(signalV=10.0, k=1.5, omega=np.linspace(0.05, 0.09, N))  # delays up to 8 ms
    return m


def _wong_wang():
    C, D = _network(1)
    m = WongWangModel(Cmat=C, Dmat=D)
    m.params.update(signalV=10.0, K_gl=2.0)
    return m


def _aln(**values):
    C, D = _network(2)
    m = ALNModel(Cmat=C, Dmat=D)
    m.params.update(signalV=10.0, c_gl=0.4, a=15.0, b=40.0, **values)  # adaptation on
    return m


def _fd(model, objective, param, node, run, rel=1e-5):
    """Central difference of the objective on model.run's outputs (the engine, not the adjoint)."""
    base = np.array(model.params[param], dtype=float)
    h = rel * max(abs(float(np.mean(base))), 1e-3)
    vals = []
    for sign in (1.0, -1.0):
        if node is None:
            value = base + sign * h
        else:
            value = np.broadcast_to(base, (N,)).copy()
            value[node] += sign * h
        model.params.update({param: value})
        vals.append(objective(model.run(**run))[0])
    model.params.update({param: base})
    return (vals[0] - vals[1]) / (2 * h)


def _check(model, key, wrt, per_node, run, fd_rel=1e-5, tol=1e-6):
    """Forward outputs equal the engine's; every gradient entry equals central differences."""
    ref = model.run(**run)
    adj_run = {k: v for k, v in run.items() if k != "duration"}
    out = forward(model, run["duration"], **adj_run)
    for name in out:
        np.testing.assert_array_equal(out[name], ref[name])
    y = out[key]
    target = 0.9 * y + 0.01 * np.sin(np.arange(y.shape[1]))[None, :]
    obj = sum_of_squares(target, key)
    loss, grads = gradient(model, obj, wrt, run["duration"], per_node=per_node, **adj_run)
    assert loss == pytest.approx(obj(ref)[0], rel=1e-14)
    worst = 0.0
    for p in wrt:
        for node in (range(N) if p in per_node else [None]):
            fd = _fd(model, obj, p, node, run, fd_rel)
            ad = grads[p] if node is None else grads[p][node]
            err = abs(ad - fd) / abs(fd)
            worst = max(worst, err)
            assert err < tol, (p, node, ad, fd, err)
    assert worst > 0.0  # the two ways differ by rounding: a real comparison
    return grads


@pytest.mark.parametrize("integrator, wrt, per_node", [
    ("euler", ["omega", "k"], ["omega"]),
    ("heun", ["omega", "k", "theta_ext"], ["k"]),
])
def test_kuramoto_gradient(integrator, wrt, per_node):
    _check(_kuramoto(), "theta", wrt, per_node, dict(duration=DURATION, integrator=integrator, **RUN))


def test_kuramoto_gradient_reads_n_nodes_of_the_run():
    """k enters as k / n_nodes: read from the run's network, not fixed when the kernel was made
    (the same kernel, first used on 5 nodes, then on 10)."""
    m = _kuramoto()
    y = forward(m, DURATION, **RUN)["theta"]
    gradient(m, sum_of_squares(0.9 * y, "theta"), ["k"], DURATION, **RUN)
    C, D = _network()
    big = KuramotoModel(Cmat=np.kron(np.eye(2), C), Dmat=np.kron(np.ones((2, 2)), D))
    big.params.update(signalV=10.0, k=1.5, omega=np.tile(np.linspace(0.05, 0.09, N), 2))
    run = dict(duration=DURATION, integrator="euler", **RUN)
    yb = forward(big, DURATION, **RUN)["theta"]
    np.testing.assert_array_equal(yb, big.run(**run)["theta"])
    obj = sum_of_squares(0.9 * yb + 0.01, "theta")
    _, gb = gradient(big, obj, ["k"], DURATION, **RUN)
    fd = _fd(big, obj, "k", None, run)
    assert abs(gb["k"] - fd) < 1e-6 * abs(fd)


@pytest.mark.parametrize("key, integrator, wrt, per_node", [
    ("se", "euler", ["J_NMDA", "K_gl", "w_ee", "exc_current"], ["exc_current"]),
    ("r_exc", "heun", ["J_NMDA", "K_gl", "w_ee", "exc_current"], ["w_ee"]),
    ("r_exc", "euler", ["J_I", "a_exc", "tau_inh"], ["J_I"]),
])
def test_wong_wang_gradient(key, integrator, wrt, per_node):
    _check(_wong_wang(), key, wrt, per_node, dict(duration=DURATION, integrator=integrator, **RUN))


def _noise_moves_the_run(make, noise, key, run):
    quiet, noisy = make(), make()
    noisy.params.update(noise)
    assert np.abs(noisy.run(**run)[key] - quiet.run(**run)[key]).max() > 1e-4
    return noisy


def test_wong_wang_gradient_with_fixed_noise():
    run = dict(duration=DURATION, integrator="euler", **RUN)
    m = _noise_moves_the_run(_wong_wang, dict(sigma_ou=0.002, sigma_white=0.0005), "r_exc", run)
    _check(m, "r_exc", ["J_NMDA", "K_gl"], [], run)


def test_kuramoto_gradient_with_fixed_noise():
    run = dict(duration=DURATION, integrator="heun", **RUN)
    m = _noise_moves_the_run(_kuramoto, dict(sigma_ou=0.01), "theta", run)
    _check(m, "theta", ["omega", "k"], [], run)


ALN_WRT = ["c_gl", "Ke_gl", "Jee_max", "Jei_max", "cee", "a", "b", "tauA", "ext_exc_current", "tau_se", "Ke"]


def test_aln_gradient():
    m = _aln()
    run = dict(duration=DURATION, integrator="euler", **RUN)
    assert m.run(**run)["rates_exc"].max() > 5.0  # the network is active, not at rest
    _check(m, "rates_exc", ALN_WRT, ["a", "ext_exc_current"], run)


def test_aln_gradient_with_fixed_noise_on_the_adaptation_current():
    run = dict(duration=DURATION, integrator="euler", **RUN)
    m = _noise_moves_the_run(_aln, dict(sigma_ou=0.05), "IA", run)
    _check(m, "IA", ALN_WRT, ["b"], run)


def test_aln_gradient_with_filtered_sigma():
    """filter_sigma = 1 selects the other branch of aln_rhs (low-pass filtered sigma), whose
    states start at sigmae_ext / sigmai_ext (that dependence is part of the gradient). Not the
    default 1.5: a grid line of the tables' sigma axis, where the look-up has a kink (the
    differences average the slopes of the two cells)."""
    m = _aln(filter_sigma=1.0, sigmae_ext=1.53, sigmai_ext=1.46)
    _check(m, "rates_inh", ["c_gl", "b", "sigmae_ext"], [], dict(duration=DURATION, integrator="euler", **RUN))


def test_aln_table_slopes_equal_differences_of_the_lookup():
    """The table derivative the adjoint uses is the slope of _lookup's interpolation in its cell
    (checked against differences of _lookup itself), and 0 along an axis clipped to the edge."""
    const = _aln().constants(dt=0.1)
    rng = np.random.default_rng(5)
    ax = const[1]
    for mu, sigma in zip(rng.uniform(-0.9, 6.9, 20), rng.uniform(0.6, 4.9, 20)):
        for axis in (0, 1):
            h = 1e-7
            step = np.array([h, 0.0]) if axis == 0 else np.array([0.0, h])
            # stay inside the cell: step back if a grid line lies within h
            cell = np.floor(((mu - ax[0]) * ax[1], (sigma - ax[3]) * ax[4]))
            hi = np.floor(((mu + step[0] - ax[0]) * ax[1], (sigma + step[1] - ax[3]) * ax[4]))
            sign = 1.0 if np.array_equal(cell, hi) else -1.0
            a = np.array(_lookup(const, mu + sign * step[0], sigma + sign * step[1])[1:])
            b = np.array(_lookup(const, mu, sigma)[1:])
            for q in range(4):
                fd = (a[q] - b[q]) / (sign * h)
                assert aln_slope(const, q, axis, mu, sigma) == pytest.approx(fd, rel=1e-5, abs=1e-9 * max(abs(b[q]), 1))
    assert aln_slope(const, 0, 0, ax[0] - 1.0, 2.0) == 0.0  # mu below the table: clipped
    assert aln_slope(const, 0, 1, ax[0] - 1.0, 2.0) != 0.0  # sigma still inside


def test_aln_cell_values_equal_the_engines_lookup_exactly():
    """The adjoint's own table read (aln_cell, rewritten for speed) gives bit for bit the values
    the engine's _lookup interpolates, inside the table and clipped at every edge."""
    const = _aln().constants(dt=0.1)
    ax = const[1]
    rng = np.random.default_rng(11)
    mus = np.concatenate([rng.uniform(ax[0] - 2.0, ax[0] + (ax[2] + 1) / ax[1], 3000), [ax[0], ax[0] - 5.0]])
    sigmas = np.concatenate([rng.uniform(ax[3] - 1.0, ax[3] + (ax[5] + 1) / ax[4], 3000), [ax[3], 1e3]])
    clipped = 0
    for mu, sigma in zip(mus, sigmas):
        ref = _lookup(const, mu, sigma)
        clipped += ref[0] == 1.0
        assert tuple(aln_cell(const, mu, sigma)[:4]) == tuple(ref[1:]), (mu, sigma)
    assert 100 < clipped < len(mus) - 100  # both inside and clipped points were checked


def test_aln_refusals():
    obj = sum_of_squares(np.zeros((N, 80)), "rates_exc")
    for name in ("C", "gL", "VT"):
        with pytest.raises(ValueError, match=f"parameter '{name}' of ALNModel sets ALN's transfer tables"):
            gradient(_aln(), obj, ["c_gl", name], DURATION, **RUN)
    with pytest.raises(ValueError, match="'filter_sigma' of ALNModel is a switch"):
        gradient(_aln(), obj, ["filter_sigma"], DURATION, **RUN)
    with pytest.raises(ValueError, match="'mue_ext_mean' of ALNModel sets the noise"):
        gradient(_aln(), obj, ["mue_ext_mean"], DURATION, **RUN)
    m = _aln()
    m.params.update(filter_sigma=np.array([0.0, 1.0, 0.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="filter_sigma must be the same on every node"):
        gradient(m, obj, ["c_gl"], DURATION, **RUN)


def test_aln_checkpointed_segments_give_the_same_gradient():
    """Segments integrated again from checkpoints restart the local delays (de, di), the squared-
    weight sums and the OU noise at the right step: the gradient does not change."""
    m = _aln(sigma_ou=0.05)
    y = forward(m, DURATION, **RUN)["rates_exc"]
    obj = sum_of_squares(0.9 * y, "rates_exc")
    ref = gradient(m, obj, ALN_WRT, DURATION, per_node=["a", "ext_exc_current"], checkpoint_every=10**9, **RUN)
    for every in (37, 101):
        got = gradient(m, obj, ALN_WRT, DURATION, per_node=["a", "ext_exc_current"], checkpoint_every=every, **RUN)
        assert got[0] == ref[0]
        for p in ALN_WRT:
            np.testing.assert_array_equal(got[1][p], ref[1][p])
