"""ALNModel against neurolib 0.6.2 (fixtures in tests/data, see README_aln.md) and its contract.

The first test run computes the default transfer tables into the user cache (about a minute
on 2 free cores, see brainsweep/models/aln/transfer.py); later runs load them.
"""

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import find_peaks

from brainsweep.models.aln import ALNModel, transfer_tables

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def tables():
    return transfer_tables()  # default grid and neuron parameters, from the disk cache


def _initial_state(z):
    return dict(zip(z["ic_names"].tolist(), z["ic_values"]))


def _frequency(x, dt):
    """Hz, from the mean interval between maxima standing out by > 10% of the range (as the
    fixture script); 0 for a fixed point."""
    peaks, _ = find_peaks(x, prominence=max(0.1 * np.ptp(x), 1e-9))
    return 0.0 if peaks.size < 2 else 1000.0 / (np.diff(peaks).mean() * dt)


def _stats(rates, dt=0.1):
    """mean and max-min over the last 1000 ms, oscillation frequency (Hz) of the last 2000 ms."""
    rates = np.atleast_2d(rates)
    last = rates[:, -int(1000 / dt):]
    freq = np.array([_frequency(r[-int(2000 / dt):], dt) for r in rates])
    return last.mean(axis=-1).squeeze(), np.ptp(last, axis=-1).squeeze(), freq.squeeze()


SINGLE = np.load(DATA / "aln_neurolib_single_node.npz")


@pytest.mark.parametrize("k", range(len(SINGLE["points"])))
def test_single_node_states_match_neurolib(k, tables):
    mue, mui, a, b = SINGLE["points"][k]
    ref_mean, ref_ptp, ref_freq, ref_IA = SINGLE["stats"][k]
    m = ALNModel(tables=tables)
    m.params.update(mue_ext_mean=mue, mui_ext_mean=mui, a=a, b=b)
    out = m.run(duration=3000.0, initial_state=_initial_state(SINGLE), seed=0)
    mean, ptp, freq = _stats(out["rates_exc"][0])
    assert out["IA"][0, -10000:].mean() == pytest.approx(ref_IA, rel=0.02, abs=1e-9)
    if ref_ptp == 0:  # fixed point: down state (~1e-10 Hz) or up state (65 Hz)
        assert ptp < 1e-6
        assert mean == pytest.approx(ref_mean, rel=0.01, abs=1e-3)
    else:  # limit cycle: same amplitude, frequency and mean rate
        assert ptp == pytest.approx(ref_ptp, rel=0.03)
        assert freq == pytest.approx(ref_freq, rel=0.02)
        assert mean == pytest.approx(ref_mean, rel=0.05)  # mean over 1 s, not whole periods


def test_network_with_delays_matches_neurolib(tables):
    z = np.load(DATA / "aln_neurolib_network.npz")
    for label in ("up", "osc"):
        mue, mui = z[label + "_point"]
        m = ALNModel(Cmat=z["Cmat"], Dmat=z["Dmat"], tables=tables)
        m.params.update(mue_ext_mean=mue, mui_ext_mean=mui)
        out = m.run(duration=3000.0, initial_state=_initial_state(z), seed=0)
        mean, ptp, freq = _stats(out["rates_exc"])
        ref = z[label]
        if label == "up":
            np.testing.assert_allclose(mean, ref[:, 0], rtol=0.01)
            assert np.all(ptp < 1e-6)
        else:
            np.testing.assert_allclose(ptp, ref[:, 1], rtol=0.05)
            np.testing.assert_allclose(mean, ref[:, 0], rtol=0.08)
            np.testing.assert_allclose(freq, ref[:, 2], rtol=0.02)


def test_outputs_bold_and_batch_reproducibility(tables):
    rng = np.random.default_rng(0)
    C = rng.uniform(0, 1, (3, 3))
    D = rng.uniform(10, 50, (3, 3))
    m = ALNModel(Cmat=C, Dmat=D, tables=tables)
    m.params.update(sigma_ou=0.05, mue_ext_mean=1.5)
    out = m.run(duration=4000.0, bold=True, sampling_dt=1.0, seed=3)
    assert set(out) == {"t", "rates_exc", "rates_inh", "IA", "BOLD", "BOLD_t"}
    assert out["rates_exc"].shape == (3, 4000) and out["IA"].shape == (3, 4000)
    np.testing.assert_allclose(out["t"][[0, -1]], [1.0, 4000.0])
    np.testing.assert_allclose(out["BOLD_t"], [2000.0, 4000.0])
    assert out["BOLD"].shape == (3, 2) and np.all(np.isfinite(out["BOLD"]))
    assert np.all(out["rates_exc"] >= 0) and np.all(np.isfinite(out["rates_exc"]))
    batch = m.run_batch([{"sigma_ou": 0.05}, {"sigma_ou": 0.1}], seeds=[3, 4], duration=4000.0,
                        bold=True, sampling_dt=1.0)
    np.testing.assert_array_equal(batch[0]["rates_exc"], out["rates_exc"])
    np.testing.assert_array_equal(batch[0]["BOLD"], out["BOLD"])
    assert not np.array_equal(batch[1]["rates_exc"], out["rates_exc"])
    clone = pickle.loads(pickle.dumps(m))  # workers receive pickled models
    np.testing.assert_array_equal(clone.run(duration=4000.0, bold=True, sampling_dt=1.0, seed=3)["BOLD"],
                                  out["BOLD"])


def test_out_of_range_input_is_clipped_with_one_warning(tables):
    m = ALNModel(tables=tables)
    m.params.update(mue_ext_mean=12.0)  # far above the table's 7 mV/ms
    with pytest.warns(RuntimeWarning, match="outside the table range") as rec:
        out = m.run(duration=500.0, seed=0)
    assert len([w for w in rec if "table range" in str(w.message)]) == 1
    assert np.all(np.isfinite(out["rates_exc"]))
    assert out["rates_exc"][0, -1] == pytest.approx(tables.r[-1].max() * 1e3, rel=0.01)
    with pytest.warns(RuntimeWarning, match="outside the table range") as rec:
        m.run_batch([{"mue_ext_mean": 12.0}, {"mue_ext_mean": 1.0}, {"mue_ext_mean": 11.0}],
                    duration=500.0, seeds=0, initial_state={"mufe": 1.0, "mufi": 1.0})
    assert len([w for w in rec if "table range" in str(w.message)]) == 2  # one per clipped run
    m.params.update(mue_ext_mean=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # in range: no warning, counter restarts each run
        m.run(duration=500.0, seed=0, initial_state={"mufe": 1.0, "mufi": 1.0})


def test_bad_input(tables):
    m = ALNModel(tables=tables)
    with pytest.raises(ValueError, match="did you mean 'mue_ext_mean'"):
        m.params["mue_ext_men"] = 1.0
    with pytest.raises(ValueError, match="tau_se"):
        m.params["tau_se"] = 0.0
    with pytest.raises(ValueError, match="Euler"):
        m.run(duration=10.0, integrator="heun")
    with pytest.raises(ValueError, match="cannot vary the neuron parameter 'C'"):
        m.run_batch([{"C": 250.0}], duration=10.0)
    with pytest.raises(ValueError, match="tables must be"):
        ALNModel(tables="quantities_cascade.h5")
    other = ALNModel(tables=tables)
    other.params["Tref"] = 2.0  # tables were computed for Tref = 1.5 ms
    with pytest.raises(ValueError, match="computed for neuron parameters"):
        other.run(duration=10.0)


def test_sigma_filter_keeps_the_fixed_point(tables):
    # filter_sigma=1 low-pass filters sigma with tau_sigma; at a fixed point sigma_f = sigma, so
    # the up state is the same (neurolib itself divides by tau_sigma = 0 here and fails)
    up = SINGLE["stats"][1]
    m = ALNModel(tables=tables)
    m.params.update(mue_ext_mean=SINGLE["points"][1][0], mui_ext_mean=SINGLE["points"][1][1],
                    filter_sigma=1.0)
    out = m.run(duration=3000.0, initial_state=_initial_state(SINGLE), seed=0)
    assert out["rates_exc"][0, -1] == pytest.approx(up[0], rel=0.01)
    assert np.ptp(out["rates_exc"][0, -10000:]) < 1e-6
