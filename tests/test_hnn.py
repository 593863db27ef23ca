"""hnn-core's network as a brainsweep evaluator (brainsweep.explorer.hnn_eval).

Independent sources: plain ``hnn_core.simulate_dipole`` in a fresh Python process (the
dipoles must be equal bit for bit), and the RMSE recomputed here with numpy/scipy from
hnn-core's documented slice. A reduced network (``mesh_shape=(3, 3)``) and 40 ms keep each
simulation near one CPU-second.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.signal

pytest.importorskip("hnn_core", reason="hnn-core not installed (pip install brainsweep[hnn])")
pytest.importorskip("neuron", reason="NEURON not installed (pip install brainsweep[hnn])")

from brainsweep.explorer import GridSearch, ParameterSpace, Study, load  # noqa: E402
from brainsweep.explorer import _plain  # noqa: E402
from brainsweep.explorer.reproduce import reproduce  # noqa: E402
from brainsweep.explorer.storage import StudyFileError  # noqa: E402
from brainsweep.explorer.hnn_eval import HNNEvaluator, drive_event_seed  # noqa: E402

TSTOP = 40.0
MESH = {"mesh_shape": (3, 3)}
MEASURED = Path(__file__).resolve().parents[2] / "shared" / "data" / "yes_trial_S1_ERP_all_avg.txt"
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")

# set_params lives in a module of its own so that plain hnn-core scripts, mpiexec ranks and
# this process all import the same function (and the study can record it by name)
CASE = textwrap.dedent("""
    INTERRUPT_AT = None  # a test sets a mu here to stop the study with Ctrl-C at that run

    WEIGHTS_P = {"L2_basket": 0.08831, "L2_pyramidal": 0.01525, "L5_basket": 0.19934, "L5_pyramidal": 0.00865}
    DELAYS_P = {"L2_basket": 0.1, "L2_pyramidal": 0.1, "L5_basket": 1.0, "L5_pyramidal": 1.0}

    def set_params(net, params):
        if INTERRUPT_AT is not None and params["mu"] == INTERRUPT_AT:
            raise KeyboardInterrupt
        net.add_evoked_drive("evprox1", mu=params["mu"], sigma=params.get("sigma", 2.47), numspikes=1,
                             location="proximal", weights_ampa=WEIGHTS_P, synaptic_delays=DELAYS_P,
                             n_drive_cells=1, cell_specific=False)
        net.add_evoked_drive("evdist1", mu=params["mu"] + 8.0, sigma=3.85, numspikes=1, location="distal",
                             weights_ampa={"L2_basket": 0.006562, "L2_pyramidal": 0.000007, "L5_pyramidal": 0.1423},
                             weights_nmda={"L2_basket": 0.019482, "L2_pyramidal": 0.004317, "L5_pyramidal": 0.080074},
                             synaptic_delays={"L2_basket": 0.1, "L2_pyramidal": 0.1, "L5_pyramidal": 0.1},
                             n_drive_cells=1, cell_specific=False)

    def set_params_sleepy(net, params):
        if params["mu"] == 24.0:
            import time
            time.sleep(120)
        set_params(net, params)

    def set_params_raising(net, params):
        raise ValueError("weights must be positive, got %r" % params["mu"])

    def set_params_missing_drive(net, params):
        set_params(net, params)
        net.external_drives["evprox2"]["dynamics"]["mu"] = params["mu"]
""")

# plain hnn-core, no brainsweep: build, set_params, (seeds), simulate, scale, smooth, average, _rmse
PLAIN = textwrap.dedent("""
    import json, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from hnn_core import jones_2009_model, simulate_dipole
    from hnn_core.dipole import Dipole, average_dipoles, _rmse
    import bs_hnn_case as case
    spec = json.load(open(sys.argv[2]))
    target = Dipole(np.array(spec["target_t"]), np.array(spec["target"]))
    out = {}
    for name, params, seeds in spec["cases"]:
        net = jones_2009_model(mesh_shape=(3, 3))
        case.set_params(net, params)
        for drive, seed in seeds.items():
            net.external_drives[drive]["event_seed"] = seed
        dpls = simulate_dipole(net, tstop=spec["tstop"], n_trials=spec["n_trials"], verbose=False)
        for dpl in dpls:
            dpl.scale(spec["scale"])
            dpl.smooth(spec["smooth"])
        avg = average_dipoles(dpls)
        out[name] = avg.data["agg"]
        out[name + "_t"] = avg.times
        out[name + "_L5"] = avg.data["L5"]
        out[name + "_rmse"] = _rmse(avg, target, tstop=spec["tstop"])
    np.savez(sys.argv[3], **out)
""")

TARGET_T = np.arange(0.0, 41.0, 1.6649601)  # the measured file's sampling step, 25 samples
TARGET = 5.0 * np.sin(TARGET_T / 6.0)
P1, P2 = {"mu": 18.0}, {"mu": 24.0, "sigma": 4.0}
RUN_SEED = 123456


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hnn_case")
    (folder / "bs_hnn_case.py").write_text(CASE)
    sys.path.insert(0, str(folder))
    import bs_hnn_case
    yield folder, bs_hnn_case
    sys.path.remove(str(folder))
    sys.modules.pop("bs_hnn_case", None)


def _plain_hnn(folder, cases, n_trials=2):
    spec = {"tstop": TSTOP, "n_trials": n_trials, "scale": 3000.0, "smooth": 20.0, "cases": cases,
            "target_t": TARGET_T.tolist(), "target": TARGET.tolist()}
    spec_path, script = folder / f"spec_{cases[0][0]}.json", folder / "plain_hnn.py"
    spec_path.write_text(json.dumps(spec))
    script.write_text(PLAIN)
    out = folder / f"plain_{cases[0][0]}.npz"
    proc = subprocess.run([sys.executable, str(script), str(folder), str(spec_path), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(np.load(out))


@pytest.fixture(scope="module")
def standalone(case):
    """Each parameter set simulated alone in a fresh process by plain hnn-core."""
    folder, mod = case
    seeded = {d: drive_event_seed(RUN_SEED, d) for d in ("evprox1", "evdist1")}
    first = _plain_hnn(folder, [["p1", P1, {}], ["p1_seeded", P1, seeded]])
    second = _plain_hnn(folder, [["p2", P2, {}]])
    return {**first, **second}


def _evaluator(mod, **kw):
    args = dict(network_kwargs=MESH, set_params=mod.set_params, tstop=TSTOP, n_trials=2, smooth_window_len=20,
                scale_factor=3000, target=(TARGET_T, TARGET), seed_from_run=False, record_layers=True)
    args.update(kw)
    return HNNEvaluator(**args)


def _hnn_rmse(t, x, target_t, target, tstop):
    """hnn-core's ``_rmse`` convention written out: samples from the one nearest 0 ms up to,
    but not including, the one nearest tstop; the longer series FFT-resampled to the other's
    length."""
    tstop = min(tstop, t[-1], target_t[-1])
    s_end, e_end = np.abs(t - tstop).argmin(), np.abs(target_t - tstop).argmin()
    a, b = x[np.abs(t - 0.0).argmin():s_end], target[np.abs(target_t - 0.0).argmin():e_end]
    if a.size > b.size:
        a = scipy.signal.resample(a, b.size)
    elif b.size > a.size:
        b = scipy.signal.resample(b, a.size)
    return float(np.sqrt(np.mean((a - b) ** 2)))


# -- equality with plain hnn-core, and no state leaking between runs -----------------------------------
def test_runs_equal_plain_hnn_core_bit_for_bit_and_no_state_leaks(case, standalone):
    folder, mod = case
    ev = _evaluator(mod)
    # alternate the two parameter sets in this one process: each must equal its own fresh-process result
    for params, name in ((P1, "p1"), (P2, "p2"), (P1, "p1"), (P2, "p2")):
        out = ev(params, seed=RUN_SEED)
        np.testing.assert_array_equal(out["dipole"], standalone[name])
        np.testing.assert_array_equal(out["dipole_t"], standalone[name + "_t"])
        np.testing.assert_array_equal(out["dipole_L5"], standalone[name + "_L5"])
        assert out["dipole_rmse"] == standalone[name + "_rmse"]
        # the documented slice (sample at tstop dropped) recomputed here
        assert out["dipole_rmse"] == pytest.approx(
            _hnn_rmse(out["dipole_t"], out["dipole"], TARGET_T, TARGET, TSTOP), rel=1e-12)
    assert not np.array_equal(standalone["p1"], standalone["p2"])
    # seed_from_run: each drive's event_seed is drive_event_seed(run seed, drive name)
    seeded = _evaluator(mod, seed_from_run=True)
    a = seeded(P1, seed=RUN_SEED)
    np.testing.assert_array_equal(a["dipole"], standalone["p1_seeded"])
    assert not np.array_equal(a["dipole"], standalone["p1"])  # other seeds, other event times
    b = seeded(P1, seed=RUN_SEED + 1)
    assert not np.array_equal(a["dipole"], b["dipole"])


def test_rmse_drops_the_sample_at_tstop(case):
    """A target equal to the simulated dipole except at tstop: hnn-core's slice ignores it."""
    _, mod = case
    out = _evaluator(mod, n_trials=1, record_layers=False)(P1, seed=1)
    t, x = out["dipole_t"], out["dipole"]
    assert t[-1] == pytest.approx(TSTOP)
    moved = x.copy()
    moved[-1] += 1e3
    exact = _evaluator(mod, n_trials=1, target=(t, moved), objective=("rmse", "corr"))(P1, seed=1)
    assert exact["dipole_rmse"] == 0.0 and exact["dipole_corr"] == pytest.approx(0.0, abs=1e-12)
    moved[-2] += 1.0  # the sample before tstop does count
    off = _evaluator(mod, n_trials=1, target=(t, moved))(P1, seed=1)["dipole_rmse"]
    assert off == pytest.approx(np.sqrt(1.0 / (t.size - 1)), rel=1e-9)


def test_psd_band_objective_and_spikes(case):
    _, mod = case
    ev = _evaluator(mod, n_trials=1, target=None, objective="psd_band", f_bands=[(20.0, 80.0)],
                    relative_bandpower=1.0, record_spikes=True)
    out = ev(P1, seed=3)
    f, p = scipy.signal.periodogram(out["dipole"], 1000.0 / (out["dipole_t"][1] - out["dipole_t"][0]),
                                    window="hamming")
    band = (f >= 20.0) & (f <= 80.0)
    assert out["maximize_psd"] == pytest.approx(-p[band].sum() / p.sum(), rel=1e-12)
    assert set(out) >= {"spike_times", "spike_gids", "spike_trials", "spike_types"}
    assert out["spike_types"].dtype.kind == "U" and out["spike_times"].size == out["spike_gids"].size > 0
    assert {"evprox1", "evdist1"} <= set(out["spike_types"].tolist())
    assert np.all((out["spike_times"] >= 0) & (out["spike_times"] <= TSTOP))


# -- studies: stored, resumed, same on a pool and under mpiexec ------------------------------------------
def _study(ev, path, **kw):
    return Study(ev, ParameterSpace({"mu": [16.0, 20.0, 24.0]}), GridSearch(), path=path, seed=7, **kw)


def test_study_stores_dipoles_resumes_and_matches_a_pool(case, tmp_path):
    _, mod = case
    ev = _evaluator(mod, n_trials=1, seed_from_run=True)
    mod.INTERRUPT_AT = 24.0
    try:
        with pytest.raises(KeyboardInterrupt):
            _study(ev, tmp_path / "s.h5").run(progress=False)
    finally:
        mod.INTERRUPT_AT = None
    assert len(load(tmp_path / "s.h5").df) < 3
    res = _study(_evaluator(mod, n_trials=1, seed_from_run=True), tmp_path / "s.h5").run(progress=False)
    assert len(res.df) == 3 and (res.df["status"] == "ok").all()
    pool = _study(_evaluator(mod, n_trials=1, seed_from_run=True), tmp_path / "pool.h5").run(n_jobs=2, progress=False)
    for i in range(3):
        run = res.run(i)
        direct = ev({"mu": run["mu"]}, seed=int(res.df.loc[i, "seed"]))
        np.testing.assert_array_equal(run["dipole"], direct["dipole"])
        np.testing.assert_array_equal(run["dipole_L2"], direct["dipole_L2"])
        assert run["dipole_rmse"] == direct["dipole_rmse"]
        np.testing.assert_array_equal(pool.run(i)["dipole"], run["dipole"])
    assert res.df["seed"].nunique() == 3


MPI_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    from brainsweep.explorer import GridSearch, ParameterSpace, Study
    from brainsweep.explorer.hnn_eval import HNNEvaluator
    import bs_hnn_case as case
    t = np.arange(0.0, 41.0, 1.6649601)
    ev = HNNEvaluator(network_kwargs={"mesh_shape": (3, 3)}, set_params=case.set_params, tstop=40.0, n_trials=1,
                      smooth_window_len=20, scale_factor=3000, target=(t, 5.0 * np.sin(t / 6.0)),
                      record_layers=True)
    Study(ev, ParameterSpace({"mu": [16.0, 20.0, 24.0]}), GridSearch(), path=sys.argv[2], seed=7).run(progress=False)
""")


@pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found (pip install mpich)")
def test_mpiexec_gives_the_serial_results(case, tmp_path):
    folder, mod = case
    script = tmp_path / "mpi_hnn.py"
    script.write_text(MPI_SCRIPT)
    proc = subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(script), str(folder), str(tmp_path / "mpi.h5")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    mpi = load(tmp_path / "mpi.h5")
    serial = _study(_evaluator(mod, n_trials=1, seed_from_run=True), tmp_path / "serial.h5").run(progress=False)
    assert (mpi.df["status"] == "ok").all() and len(mpi.df) == 3
    for i in range(3):
        np.testing.assert_array_equal(mpi.run(i)["dipole"], serial.run(i)["dipole"])
        assert mpi.df.loc[i, "dipole_rmse"] == serial.df.loc[i, "dipole_rmse"]
    # a file other processes made: its evaluator is rebuilt from the plain reference, without trust
    rep = reproduce(tmp_path / "mpi.h5", 1)
    assert rep["match"] and "dipole" in rep["compared"], rep["differences"]


# -- time limit ---------------------------------------------------------------------------------------------
def test_runs_over_the_time_limit_are_stored_as_timeouts(case, standalone, tmp_path):
    """A run stuck past the limit is a stored ``timeout`` run, the study goes on, and the next
    run (in a fresh child process) still equals plain hnn-core's standalone result."""
    _, mod = case
    limit = 15.0
    ev = _evaluator(mod, set_params=mod.set_params_sleepy, timeout=limit)
    space = ParameterSpace({"mu": [24.0, 18.0]})
    res = Study(ev, space, GridSearch(), path=tmp_path / "t.h5", seed=7).run(progress=False)
    stored = load(tmp_path / "t.h5").df.set_index("mu")
    assert stored.loc[24.0, "status"] == "timeout" and stored.loc[18.0, "status"] == "ok"
    assert f"time limit of {limit} s" in stored.loc[24.0, "message"]
    assert limit <= stored.loc[24.0, "runtime"] < limit + 1.0 + 0.1 * limit + 5.0
    ok = res.run(int(res.df.index[res.df["mu"] == 18.0][0]))
    np.testing.assert_array_equal(ok["dipole"], standalone["p1"])
    assert ok["dipole_rmse"] == standalone["p1_rmse"]


def test_a_tiny_time_limit_stops_simulations_inside_neuron(case):
    _, mod = case
    # 10 trials of 40 ms take several seconds, well past the limit plus its grace (1.22 s), also on
    # an idle machine (one trial alone can finish inside the grace and is then stored as ok)
    ev = _evaluator(mod, n_trials=10, timeout=0.2)
    records = ev.evaluate_chunk([(0, P1, 1), (1, P2, 2)])
    assert [r.status for r in records] == ["timeout", "timeout"] and [r.idx for r in records] == [0, 1]
    for r in records:  # SIGALRM in Python, or the child killed after the grace of 1 s + 10 %
        assert "time limit of 0.2 s" in r.message and 0.2 <= r.runtime < 0.2 + 1.02 + 3.0
    with pytest.raises(RuntimeError, match="hnn run timeout"):
        ev(P1, seed=1)


# -- identity and reference -------------------------------------------------------------------------------
def test_reference_rebuilds_the_same_evaluator_and_refuses_changed_code(case):
    _, mod = case
    ev = _evaluator(mod, seed_from_run=True, fixed={"sigma": 3.0})
    doc = _plain.decode(_plain.encode(ev.reference()))
    assert doc["set_params"] == "bs_hnn_case:set_params" and doc["network_kwargs"] == {"mesh_shape": [3, 3]}
    again = HNNEvaluator.from_reference(doc)
    assert again.identity == ev.identity
    timed = _evaluator(mod, seed_from_run=True, fixed={"sigma": 3.0}, timeout=60)
    assert timed.identity == ev.identity and HNNEvaluator.from_reference(timed.reference()).timeout == 60.0
    assert _evaluator(mod, tstop=TSTOP + 1).identity != ev.identity
    assert _evaluator(mod, objective="dipole_rmse").identity == _evaluator(mod, objective="rmse").identity
    assert _evaluator(mod, target=(TARGET_T, TARGET + 1e-9)).identity != _evaluator(mod).identity
    doc["code"] = "0" * 64
    with pytest.raises(StudyFileError, match="set_params bs_hnn_case:set_params has changed"):
        HNNEvaluator.from_reference(doc)
    assert _evaluator(mod, set_params=lambda net, p: mod.set_params(net, p)).reference() is None


# -- bad input ----------------------------------------------------------------------------------------------
def test_missing_hnn_core_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "hnn_core", None)
    with pytest.raises(ImportError, match=r"pip install brainsweep\[hnn\]"):
        HNNEvaluator(target=(TARGET_T, TARGET))


def test_set_params_errors_become_failed_runs_with_tracebacks(case):
    _, mod = case
    rec = _evaluator(mod, set_params=mod.set_params_raising).evaluate_one(4, P1, 11)
    assert rec.status == "failed" and rec.idx == 4 and rec.seed == 11
    assert rec.message == "ValueError: weights must be positive, got 18.0"
    assert "set_params_raising" in rec.traceback
    rec = _evaluator(mod, set_params=mod.set_params_missing_drive).evaluate_one(0, P1, 11)
    assert rec.status == "failed"
    assert "the network has no drive 'evprox2'; its drives: 'evprox1', 'evdist1'" in rec.message
    rec = _evaluator(mod).evaluate_one(0, {"sigma": 2.0}, 11)
    assert rec.status == "failed" and "parameter 'mu' is not explored" in rec.message


@pytest.mark.parametrize("kw, match", [
    ({"network": "jones_2010_model"}, "no network model 'jones_2010_model'.*jones_2009_model"),
    ({"network": "nomodule_xyz:build"}, "cannot import 'nomodule_xyz:build'"),
    ({"target": None}, "target: the objective 'rmse' compares with a measured dipole"),
    ({"objective": "rms"}, r"objective: unknown \['rms'\]"),
    ({"objective": "psd_band"}, "f_bands: the 'psd_band' objective needs"),
    ({"smooth_window_len": 0.5}, "smooth_window_len: expected 0/None"),
    ({"n_trials": 0}, "n_trials: expected an integer >= 1"),
    ({"tstop": -1.0}, "tstop: expected a number > 0"),
    ({"timeout": 0}, "timeout: expected a number > 0"),
    ({"target": ([0.0, 1.0], [1.0])}, "target: expected 1-D times and dipole of the same length"),
    ({"network_kwargs": {"mesh_shape": object()}}, "network_kwargs: values must be plain data"),
    ({"set_params": "mymodule:set_params"}, "set_params: expected a function"),
])
def test_bad_arguments_are_named(case, kw, match):
    _, mod = case
    with pytest.raises((ValueError, TypeError), match=match):
        _evaluator(mod, **kw)


@pytest.mark.skipif(not MEASURED.exists(), reason=f"measured dipole not found at {MEASURED} (../shared absent)")
def test_measured_dipole_file_as_target(case):
    from hnn_core import read_dipole
    _, mod = case
    by_path = _evaluator(mod, n_trials=1, target=str(MEASURED))
    by_dipole = _evaluator(mod, n_trials=1, target=read_dipole(str(MEASURED)))
    assert by_path.identity == by_dipole.identity  # same samples read both ways
    out = by_path(P1, seed=5)
    t = by_path.target[0]
    assert t.size == 103 and out["dipole_rmse"] == pytest.approx(
        _hnn_rmse(out["dipole_t"], out["dipole"], t, by_path.target[1], TSTOP), rel=1e-12)


@pytest.mark.skipif(not MEASURED.exists(), reason=f"measured dipole not found at {MEASURED} (../shared absent)")
def test_example_08_fast(tmp_path):
    example = Path(__file__).resolve().parents[1] / "examples" / "08_hnn_evoked_fit.py"
    proc = subprocess.run([sys.executable, str(example)], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "BRAINSWEEP_FAST": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    res = load(tmp_path / "hnn_evoked_fit_fast.h5")
    assert len(res.df) == 4 and (res.df["status"] == "ok").all()
    bounds = {"evprox2_ampa_L5_pyramidal": (0.01, 1.0), "evprox2_mu": (100.0, 150.0), "evprox2_sigma": (1.0, 20.0)}
    for name, (lo, hi) in bounds.items():
        assert res.df[name].between(lo, hi).all()
    best = res.df["dipole_rmse"].min()
    assert f"rmse {best:.4f} nAm" in proc.stdout
    run = res.run(int(res.df["dipole_rmse"].idxmin()))
    t = np.loadtxt(MEASURED)
    assert t[-1, 0] - 0.025 < run["dipole_t"][-1] <= t[-1, 0]  # simulated up to the measured dipole's end
    assert run["dipole_rmse"] == pytest.approx(_hnn_rmse(run["dipole_t"], run["dipole"], t[:, 0], t[:, 1],
                                                         t[-1, 0]), rel=1e-12)
    assert not list(tmp_path.glob("*.png"))  # plots only in full mode


def test_yaml_spec_builds_the_same_evaluator(case, tmp_path):
    folder, mod = case
    np.savetxt(tmp_path / "target.txt", np.c_[TARGET_T, TARGET])
    spec = {"network": "jones_2009_model", "network_kwargs": {"mesh_shape": [3, 3]}, "set_params": "bs_hnn_case:set_params",
            "tstop": TSTOP, "n_trials": 2, "smooth_window_len": 20, "scale_factor": 3000, "target": "target.txt",
            "seed_from_run": False, "record_layers": True}
    ev = HNNEvaluator.from_spec(spec, base_dir=tmp_path)
    direct = _evaluator(mod, target=(np.loadtxt(tmp_path / "target.txt")[:, 0], np.loadtxt(tmp_path / "target.txt")[:, 1]))
    assert ev.identity == direct.identity and ev.set_params is mod.set_params
    with pytest.raises(ValueError, match=r"model.hnn: unknown setting\(s\) \['tstp'\]"):
        HNNEvaluator.from_spec({**spec, "tstp": 1}, base_dir=tmp_path)
    with pytest.raises(ValueError, match="model.hnn.set_params: cannot import 'bs_hnn_case:nothing'"):
        HNNEvaluator.from_spec({**spec, "set_params": "bs_hnn_case:nothing"}, base_dir=tmp_path)
    with pytest.raises(ValueError, match="model.hnn.n_trials: expected an integer >= 1"):
        HNNEvaluator.from_spec({**spec, "n_trials": 0}, base_dir=tmp_path)
