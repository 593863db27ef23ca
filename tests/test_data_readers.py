"""Readers for dipole files, matrices and time series."""

from pathlib import Path

import numpy as np
import pytest

from brainsweep.data import read_dipole, read_matrix, read_timeseries

MEASURED = Path(__file__).resolve().parents[2] / "shared" / "data" / "yes_trial_S1_ERP_all_avg.txt"


def test_read_dipole_two_and_four_columns(tmp_path):
    t = np.arange(0, 10, 0.5)
    agg, l2, l5 = np.sin(t), 0.3 * np.cos(t), np.sin(t) - 0.3 * np.cos(t)
    np.savetxt(tmp_path / "two.txt", np.c_[t, agg])
    d = read_dipole(tmp_path / "two.txt")
    np.testing.assert_allclose(d.t, t)
    np.testing.assert_allclose(d.agg, agg)
    assert d.L2 is None and d.dt == pytest.approx(0.5)
    # hnn-core's Dipole.write: tab separated time, agg, L2, L5
    np.savetxt(tmp_path / "four.txt", np.c_[t, agg, l2, l5], fmt=["%3.3f", "%5.4f", "%5.4f", "%5.4f"], delimiter="\t")
    d4 = read_dipole(tmp_path / "four.txt")
    np.testing.assert_allclose(d4.L5, l5, atol=5e-5)
    np.testing.assert_allclose(d4.L2, l2, atol=5e-5)
    (tmp_path / "h.csv").write_text("times,agg\n0,1\n1,2\n2,3\n")
    np.testing.assert_allclose(read_dipole(tmp_path / "h.csv").agg, [1, 2, 3])


@pytest.mark.parametrize("content, match", [
    ("0 1 2\n1 2 3\n", "2 columns"),
    ("0 1\n2 2\n1 3\n", "strictly increasing"),
    ("0 1\n1 nan\n", "NaN"),
    ("0 1\n1 abc\n", "not numeric"),
])
def test_read_dipole_bad_files(tmp_path, content, match):
    (tmp_path / "d.txt").write_text(content)
    with pytest.raises(ValueError, match=match) as info:
        read_dipole(tmp_path / "d.txt")
    assert "d.txt" in str(info.value)


def test_read_dipole_missing_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_dipole(tmp_path / "nope.txt")


@pytest.mark.skipif(not MEASURED.exists(), reason=f"measured dipole not present at {MEASURED}")
def test_read_measured_dipole():
    d = read_dipole(MEASURED)
    raw = np.loadtxt(MEASURED)
    assert d.t.shape == d.agg.shape == (103,)
    np.testing.assert_array_equal(d.agg, raw[:, 1])
    assert d.t[-1] == pytest.approx(169.8, abs=0.05) and d.dt == pytest.approx(1.665, abs=1e-3)


def test_read_matrix_formats(tmp_path):
    m = np.random.default_rng(0).random((4, 4))
    np.savetxt(tmp_path / "fc.csv", m, delimiter=",", header="a,b,c,d", comments="")
    np.savetxt(tmp_path / "fc.tsv", m, delimiter="\t")
    np.savetxt(tmp_path / "fc.txt", m)
    np.save(tmp_path / "fc.npy", m)
    for name in ("fc.csv", "fc.tsv", "fc.txt", "fc.npy"):
        np.testing.assert_allclose(read_matrix(tmp_path / name), m, rtol=1e-15, err_msg=name)
    np.save(tmp_path / "rect.npy", m[:3])
    with pytest.raises(ValueError, match="square"):
        read_matrix(tmp_path / "rect.npy")
    assert read_matrix(tmp_path / "rect.npy", square=False).shape == (3, 4)
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(ValueError, match="different numbers of columns"):
        read_matrix(tmp_path / "ragged.csv")
    (tmp_path / "fc.xlsx").write_bytes(b"PK")
    with pytest.raises(ValueError, match="unsupported file type"):
        read_matrix(tmp_path / "fc.xlsx")


def test_read_timeseries_axis_and_node_check(tmp_path):
    ts = np.random.default_rng(1).standard_normal((3, 50))
    np.savetxt(tmp_path / "rows_are_samples.csv", ts.T, delimiter=",")
    np.testing.assert_allclose(read_timeseries(tmp_path / "rows_are_samples.csv", time_axis=0, n_nodes=3), ts)
    with pytest.raises(ValueError, match="time_axis=0"):
        read_timeseries(tmp_path / "rows_are_samples.csv", n_nodes=3)
    bad = ts.copy()
    bad[1, 7] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(ValueError, match=r"first at index \(1, 7\)"):
        read_timeseries(tmp_path / "bad.npy")
