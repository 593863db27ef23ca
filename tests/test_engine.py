"""Engine behaviour: parameters, bad input, delays, noise/seeds, chunking, batches, divergence, caching."""

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from brainsweep.models import (
    DivergenceError, FitzHughNagumoModel, HopfModel, OUStimulus, PulseTrain, Sinusoid, StepStimulus,
)  # fmt: skip
from brainsweep.models.engine import get_kernel


def small_net(n=4, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.uniform(0, 1, (n, n))
    np.fill_diagonal(c, 0)
    d = rng.uniform(10, 60, (n, n))
    return c, (d + d.T) / 2


# ---------------------------------------------------------------- parameters


def test_misspelled_parameter_is_rejected_with_suggestion():
    m = HopfModel()
    with pytest.raises(ValueError, match=r"unknown parameter 'sigma_uo'.*did you mean 'sigma_ou'"):
        m.params["sigma_uo"] = 0.1
    with pytest.raises(ValueError, match="K_gl"):
        m.params.update(K_g=0.3)
    with pytest.raises(KeyError, match="did you mean 'signalV'"):
        m.params["signalv"]
    assert "sigma_uo" not in m.params and len(m.params) == len(m.param_names)
    with pytest.raises(ValueError, match="did you mean 'K_gl'"):
        m.run_batch([{"Kgl": 0.2}], duration=10)


@pytest.mark.parametrize("name,value,msg", [
    ("sigma_ou", float("nan"), "finite"), ("tau_ou", 0.0, "> 0"), ("sigma_ou", -1.0, ">= 0"),
    ("a", "big", "number"), ("coupling", "diffusve", "one of"), ("K_gl", np.ones(3), "expected 1 per-node"),
    ("signalV", np.ones(1), "scalar"),
])  # fmt: skip
def test_bad_parameter_values(name, value, msg):
    with pytest.raises(ValueError, match=msg):
        HopfModel().params[name] = value


def test_update_is_atomic_and_per_node_values_work():
    c, d = small_net()
    m = HopfModel(Cmat=c, Dmat=d)
    with pytest.raises(ValueError):
        m.params.update(a=0.5, tau_ou=-1)
    assert m.params["a"] == 0.25  # nothing changed
    m.params["a"] = np.array([0.1, 0.2, 0.3, 0.4])
    out = m.run(duration=50, initial_state={"x": 0.1, "y": 0.0})
    assert out["x"].shape == (4, 500)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs,msg", [
    (dict(Cmat=np.ones((2, 3))), "square"),
    (dict(Cmat=-np.ones((2, 2))), "non-negative"),
    (dict(Cmat=np.array([[0, np.nan], [1, 0]])), "NaN"),
    (dict(Cmat=np.ones((2, 2)), Dmat=np.ones((3, 3))), r"Dmat has shape \(3, 3\)"),
    (dict(Cmat=np.ones((2, 2)), Dmat=-np.ones((2, 2))), "Dmat must be non-negative"),
    (dict(Dmat=np.ones((2, 2))), "without Cmat"),
])  # fmt: skip
def test_bad_network(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        HopfModel(**kwargs)


@pytest.mark.parametrize("kwargs,msg", [
    (dict(duration=0), "duration"), (dict(duration=-5), "duration"), (dict(duration=10, dt=0), "dt"),
    (dict(duration=10.05), "multiple of dt"), (dict(duration=10, sampling_dt=0.15), "sampling_dt"),
    (dict(duration=10, integrator="rk4"), "integrator"), (dict(duration=10, outputs=["z"]), "unknown output"),
    (dict(duration=10, stimulus={"q": np.zeros(100)}), "unknown input channel"),
    (dict(duration=10, stimulus={"x": np.zeros(50)}), "stimulus array"),
    (dict(duration=10, initial_state={"xx": 1.0}), "unknown state variable"),
])  # fmt: skip
def test_bad_run_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        HopfModel().run(**kwargs)


def test_delays_longer_than_run_are_rejected():
    m = HopfModel(Cmat=np.array([[0, 1.0], [1.0, 0]]), Dmat=np.array([[0, 100.0], [100.0, 0]]))
    m.params["signalV"] = 10.0  # 10 ms delay
    with pytest.raises(ValueError, match="delays longer than the run"):
        m.run(duration=5.0)


# ---------------------------------------------------------------- delays


@pytest.mark.parametrize("length_mm,signalV,dt", [(30.0, 20.0, 0.1), (47.0, 10.0, 0.1), (12.0, 3.0, 0.05)])
def test_pulse_reaches_node_2_exactly_delay_steps_later(length_mm, signalV, dt):
    m = HopfModel(Cmat=np.array([[0.0, 0.0], [1.0, 0.0]]), Dmat=np.array([[0.0, 0.0], [length_mm, 0.0]]))
    m.params.update(a=-1.0, K_gl=1.0, coupling="additive", signalV=signalV)
    pulse = PulseTrain(amplitude=np.array([10.0, 0.0]), period=1e9, width=dt / 2, onset=1.0)
    out = m.run(duration=10.0, dt=dt, initial_state={"x": 0.0, "y": 0.0}, stimulus={"x": pulse})
    first = [int(np.flatnonzero(out["x"][k])[0]) for k in (0, 1)]
    delay_steps = round(length_mm / signalV / dt)
    # node 1's derivative sees node 0's change exactly delay_steps later; its state moves one step after
    assert first[1] - first[0] == delay_steps + 1
    assert out["t"][first[0]] == pytest.approx(1.0 + dt)  # state after the pulse step


def test_delays_in_ms_equal_dmat_over_signalV():
    c, d = small_net()
    a = HopfModel(Cmat=c, Dmat=d)
    a.params["signalV"] = 5.0
    b = HopfModel(Cmat=c, delays=d / 5.0)
    init = {"x": [0.1, 0.2, -0.1, 0.3], "y": 0.0}
    assert np.array_equal(a.run(duration=100, initial_state=init)["x"], b.run(duration=100, initial_state=init)["x"])


# ---------------------------------------------------------------- noise, seeds, chunks


def test_same_seed_identical_other_seed_differs_and_no_global_rng():
    c, d = small_net()
    m = HopfModel(Cmat=c, Dmat=d)
    m.params["sigma_ou"] = 0.1
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    o1 = m.run(duration=200, seed=11)
    o2 = m.run(duration=200, seed=11)
    o3 = m.run(duration=200, seed=12)
    assert np.array_equal(o1["x"], o2["x"])
    assert not np.allclose(o1["x"], o3["x"])
    assert np.array_equal(np.random.get_state()[1], state)  # global numpy RNG untouched


def test_seed_none_draws_and_records_a_seed():
    m = HopfModel()
    m.params["sigma_ou"] = 0.1
    o = m.run(duration=100)
    seed = m.last_seed
    assert isinstance(seed, int)
    o2 = m.run(duration=100)
    assert m.last_seed != seed
    assert np.array_equal(m.run(duration=100, seed=seed)["x"], o["x"])
    assert not np.array_equal(o["x"], o2["x"])


def test_chunks_continue_the_random_stream():
    c, d = small_net()
    m = HopfModel(Cmat=c, Dmat=d)
    m.params.update(sigma_ou=0.1, sigma_white=0.02)
    stim = {"y": Sinusoid(amplitude=0.1, frequency=40.0)}
    whole = m.run(duration=300, seed=4, stimulus=stim, chunk_ms=1e9)
    chunked = m.run(duration=300, seed=4, stimulus=stim, chunk_ms=7.0)
    assert np.array_equal(whole["x"], chunked["x"])
    x = chunked["x"][0]
    # no repeated noise between chunks: increments of consecutive 7 ms blocks differ
    assert not np.allclose(np.diff(x[:70]), np.diff(x[70:140]))


def test_ou_noise_statistics():
    # with a = -5 the oscillator is a linear low-pass of its OU input (the cubic term is ~1e-3 of a):
    # y' = a y + ou, var(ou) = sigma^2 tau / 2  ->  var(y) = var(ou) / (|a| (|a| + 1 / tau))
    n = 50
    m = HopfModel(Cmat=np.zeros((n, n)), delays=np.zeros((n, n)))
    m.params.update(a=-5.0, w=0.0, sigma_ou=0.2, tau_ou=5.0)
    out = m.run(duration=1000, dt=0.005, sampling_dt=1.0, seed=3, initial_state={"x": 0, "y": 0})
    y = out["y"][:, 100:]
    var_ou = 0.2**2 * 5.0 / 2
    expected = var_ou / (5.0 * (5.0 + 1 / 5.0))
    assert abs(y.var() / expected - 1) < 0.1
    assert abs(y.mean()) < 0.1 * np.sqrt(expected)
    # different nodes get independent noise
    assert abs(np.corrcoef(out["y"][0], out["y"][1])[0, 1]) < 0.2


# ---------------------------------------------------------------- stimuli are evaluated per chunk


def test_stimulus_is_evaluated_chunk_by_chunk():
    shapes = []

    def stim(t):
        shapes.append(t.shape)
        return np.where(t >= 50.0, 0.5, 0.0)

    m = HopfModel()
    out = m.run(duration=1000, stimulus={"x": stim}, chunk_ms=100.0, initial_state={"x": 0.0, "y": 0.0})
    assert max(s[0] for s in shapes) == 1000 and len(shapes) == 10  # never the full 10000 steps
    ref = HopfModel().run(duration=1000, stimulus={"x": StepStimulus(0.5, onset=50.0)}, initial_state={"x": 0.0, "y": 0.0})
    assert np.array_equal(out["x"], ref["x"])
    assert out["x"][0, 499] == 0.0 and out["x"][0, 500] > 0.0  # input from t = 50 ms on


def test_ou_stimulus_restarts_each_run():
    m = HopfModel()
    s = OUStimulus(n_nodes=1, mean=0.1, sigma=0.05, tau=20.0, seed=1)
    a = m.run(duration=200, stimulus={"x": s}, initial_state={"x": 0.0, "y": 0.0})["x"]
    b = m.run(duration=200, stimulus={"x": s}, initial_state={"x": 0.0, "y": 0.0}, chunk_ms=30)["x"]
    assert np.array_equal(a, b)


def test_downsampling_picks_samples_and_memory_scales_with_sampling_dt():
    c, d = small_net()
    m = HopfModel(Cmat=c, Dmat=d)
    init = {"x": [0.1, 0.2, -0.1, 0.3], "y": 0.0}
    fine = m.run(duration=200, initial_state=init)
    coarse = m.run(duration=200, sampling_dt=2.0, initial_state=init)
    assert coarse["x"].shape == (4, 100)
    assert np.array_equal(coarse["x"], fine["x"][:, 19::20])
    assert np.allclose(coarse["t"], np.arange(1, 101) * 2.0)
    only_bold = m.run(duration=4000, outputs=[], bold=True, initial_state=init)
    assert set(only_bold) == {"t", "BOLD", "BOLD_t"} and only_bold["BOLD"].shape == (4, 2)


# ---------------------------------------------------------------- batches


def test_run_batch_identical_to_single_runs():
    c, d = small_net()
    m = HopfModel(Cmat=c, Dmat=d)
    m.params["sigma_ou"] = 0.05
    sets = [{"K_gl": 0.2, "signalV": 5.0}, {"K_gl": 0.9, "signalV": 20.0}, {"K_gl": 0.5, "a": -0.1}]
    outs = m.run_batch(sets, seeds=[1, 2, 3], duration=500, bold=True, tr=100, sampling_dt=0.5)
    for pset, seed, out in zip(sets, [1, 2, 3], outs):
        single = m.copy()
        single.params.update(pset)
        ref = single.run(duration=500, bold=True, tr=100, sampling_dt=0.5, seed=seed)
        for key in ("t", "x", "y", "BOLD", "BOLD_t"):
            assert np.array_equal(out[key], ref[key]), key
    assert m.params["K_gl"] == 0.6  # batch overrides do not leak into the model


@pytest.mark.parametrize("parallel", [True, False])
def test_batched_gather_identical_to_single_runs(parallel):
    """Runs with the same delays share a group and go through the batched (4-run block) gather;
    6 runs -> groups padded to a multiple of 4, 8 nodes so that run and node indices differ."""
    from brainsweep.models import set_parallel

    c, d = small_net(n=8, seed=3)
    m = HopfModel(Cmat=c, Dmat=d)
    m.params["sigma_ou"] = 0.05
    sets = [{"K_gl": k, "w": 0.5 + k} for k in (0.1, 0.3, 0.5, 0.7, 0.9, 1.1)]
    try:
        set_parallel(parallel)
        outs = m.run_batch(sets, seeds=[4, 5, 6, 7, 8, 9], duration=300, sampling_dt=0.5)
    finally:
        set_parallel(True)
    for pset, seed, out in zip(sets, [4, 5, 6, 7, 8, 9], outs):
        single = m.copy()
        single.params.update(pset)
        ref = single.run(duration=300, sampling_dt=0.5, seed=seed)
        assert np.array_equal(out["x"], ref["x"]) and np.array_equal(out["y"], ref["y"])


def test_run_batch_integer_seed_and_recorded_seeds():
    m = HopfModel()
    m.params["sigma_ou"] = 0.1
    outs = m.run_batch([{}, {}], seeds=5, duration=50)
    assert m.last_seeds == [5, 6]
    assert not np.array_equal(outs[0]["x"], outs[1]["x"])
    m.run_batch([{}, {}], duration=50)
    assert len(set(m.last_seeds)) == 2


# ---------------------------------------------------------------- divergence


def test_divergence_stops_and_names_node_and_time():
    c = np.zeros((3, 3))
    m = FitzHughNagumoModel(Cmat=c, delays=c)
    m.params["alpha"] = np.array([3.0, -3.0, 3.0])  # node 1: x' = +3 x^3 ... blows up
    with pytest.raises(DivergenceError, match=r"node 1 at t = [0-9.]+ ms") as err:
        m.run(duration=10_000, initial_state={"x": [0.1, 2.0, 0.1], "y": 0.0})
    e = err.value
    assert isinstance(e, FloatingPointError) and e.node == 1 and 0 < e.t < 10 and e.variable == "x"
    assert pickle.loads(pickle.dumps(e)).node == 1


def test_batch_divergence_can_be_returned():
    m = FitzHughNagumoModel()
    outs = m.run_batch([{}, {"alpha": -3.0}], duration=100, on_diverge="return", initial_state={"x": 2.0, "y": 0})
    assert isinstance(outs[0], dict) and isinstance(outs[1], DivergenceError)
    with pytest.raises(DivergenceError):
        m.run_batch([{}, {"alpha": -3.0}], duration=100, initial_state={"x": 2.0, "y": 0})


# ---------------------------------------------------------------- pickling and kernel caching


def test_model_pickles_with_parameters():
    c, d = small_net()
    m = HopfModel(Cmat=c, Dmat=d)
    m.params["K_gl"] = 0.33
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.params["K_gl"] == 0.33 and np.array_equal(m2.network.Cmat, c)
    init = {"x": 0.1, "y": 0.2}
    assert np.array_equal(m.run(duration=50, initial_state=init)["x"], m2.run(duration=50, initial_state=init)["x"])


def test_kernel_compiled_once_and_loaded_from_cache_in_new_process():
    m = HopfModel()
    m.run(duration=10)
    kern = get_kernel(HopfModel)
    n_sigs = len(kern._run_group_euler.signatures)
    m.run(duration=20, dt=0.05, bold=True, tr=10, sampling_dt=1.0)
    m.run(duration=20, stimulus={"x": StepStimulus(0.1)})
    assert len(kern._run_group_euler.signatures) == n_sigs == 1  # no recompilation for other settings
    m.run(duration=20, integrator="heun")  # the other scheme has its own function, compiled on first use
    assert len(kern._run_group_heun.signatures) == 1 and len(kern._run_group_euler.signatures) == 1
    code = textwrap.dedent("""
        from brainsweep.models import HopfModel
        from brainsweep.models.engine import get_kernel
        HopfModel().run(duration=10)
        HopfModel().run_batch([{}, {}, {}], duration=10)
        HopfModel().run(duration=10, integrator="heun")
        k = get_kernel(HopfModel)
        for f in (k._run_group_euler, k.simulate_euler, k._run_group_heun):
            print(sum(f.stats.cache_hits.values()), sum(f.stats.cache_misses.values()))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    counts = [tuple(map(int, line.split())) for line in res.stdout.strip().splitlines()[-3:]]
    assert counts == [(1, 0), (1, 0), (1, 0)], res.stdout + res.stderr


def test_serial_switch_gives_identical_batches():
    from brainsweep.models import set_parallel

    c, d = small_net()
    m = HopfModel(Cmat=c, Dmat=d)
    m.params["sigma_ou"] = 0.05
    sets = [{"K_gl": k} for k in (0.1, 0.3, 0.5, 0.7, 0.9)]
    par = m.run_batch(sets, seeds=3, duration=200)
    try:
        set_parallel(False)
        ser = m.run_batch(sets, seeds=3, duration=200)
    finally:
        set_parallel(True)
    assert all(np.array_equal(a["x"], b["x"]) for a, b in zip(par, ser))
    assert len(m.last_states) == 5 and m.last_states[0].shape == (4, 2)


def test_float32_outputs_are_the_rounded_float64_outputs():
    c, d = small_net()
    m = HopfModel(Cmat=c, Dmat=d)
    m.params["sigma_ou"] = 0.05
    o64 = m.run(duration=100, seed=1)
    o32 = m.run(duration=100, seed=1, output_dtype=np.float32)
    assert o32["x"].dtype == np.float32 and np.array_equal(o32["x"], o64["x"].astype(np.float32))
    with pytest.raises(ValueError, match="output_dtype"):
        m.run(duration=10, output_dtype=np.int64)


def test_integrator_outside_the_models_schemes_is_refused():
    class EulerOnlyHopf(HopfModel):
        integrators = ("euler",)

    with pytest.raises(ValueError, match="integrator must be one of 'euler' for EulerOnlyHopf, got 'heun'"):
        EulerOnlyHopf().run(duration=10.0, integrator="heun")
