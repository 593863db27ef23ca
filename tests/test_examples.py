"""Every example runs in fast mode (BRAINSWEEP_FAST=1) in a fresh directory and produces what it
claims; 07 runs under mpiexec with 2 ranks."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from brainsweep.explorer import load

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BIN = Path(sys.executable).parent


def _run(name, cwd, mpi=0, args=(), stderr=False):
    """stdout of the example in fast mode (and its stderr with ``stderr=True``)."""
    cmd = [sys.executable, str(EXAMPLES / name), *args]
    if mpi:
        cmd = [str(BIN / "mpiexec"), "-n", str(mpi)] + cmd
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "BRAINSWEEP_FAST": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return (proc.stdout, proc.stderr) if stderr else proc.stdout


def _pngs(cwd, *names):
    for name in names:
        assert (cwd / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_01_single_node(tmp_path):
    out, err = _run("01_single_node.py", tmp_path, stderr=True)
    # runs whose inputs leave the ALN tables are explained in one line, not one warning per run
    assert "transfer-table look-ups" not in err, err[-2000:]
    assert len(re.findall(r"outside the ALN transfer-function tables", out)) <= 1
    _pngs(tmp_path, "01_timeseries.png", "01_bifurcation_2d.png", "01_bifurcation_1d.png")
    df = load(tmp_path / "single_node.h5").df
    assert len(df) == 36 and (df["status"] == "ok").all()
    np.testing.assert_allclose(df["amplitude"], df["rate_max"] - df["rate_min"], rtol=1e-12, atol=0)
    # a bifurcation diagram: some input combinations sit at a fixed point, others oscillate
    assert (df["amplitude"] < 1e-6).any() and (df["amplitude"] > 1.0).any()
    assert re.search(r"36 runs, \d+ oscillate", out)


def test_02_whole_brain_bold_fc(tmp_path):
    """Hopf on dk_average fitted to its empirical FC: each stored fc_fit is the r of the stored
    simulated FC with the FC read here from the data set's TSV; coupling beats no coupling."""
    out = _run("02_whole_brain_bold_fc.py", tmp_path)
    _pngs(tmp_path, "02_bold.png", "02_fc_sweep.png", "02_fc_best.png")
    res = load(tmp_path / "bold_fc.h5")
    df = res.df
    assert list(df["K_gl"]) == [0.0, 0.5, 1.0] and (df["status"] == "ok").all()
    emp = np.loadtxt(EXAMPLES.parent / "brainsweep" / "data" / "dk_average" /
                     "atlas-DesikanKilliany_meas-BoldCorrelation_relmat.dense.tsv", delimiter="\t")
    iu = np.triu_indices(84, 1)
    for idx in df.index:
        fc = res.run(idx)["fc"]
        assert fc.shape == (84, 84) and np.allclose(np.diag(fc), 1.0) and np.allclose(fc, fc.T)
        assert df.loc[idx, "fc_fit"] == pytest.approx(np.corrcoef(fc[iu], emp[iu])[0, 1], abs=1e-9)
    best = df["fc_fit"].idxmax()
    k, a, r = df.loc[best, ["K_gl", "a", "fc_fit"]]
    assert f"best K_gl = {k}, a = {a}: fc_fit r = {r:.3f}" in out
    assert "3 runs of 20 s of BOLD each" in out
    # uncoupled oscillators leave the regions independent: no FC pattern, a clearly worse fit
    assert df.loc[df["K_gl"] == 0.0, "fc_fit"].item() < 0.2 < df.loc[df["K_gl"] == 1.0, "fc_fit"].item() - 0.1


def test_03_grid_fc_heatmap(tmp_path):
    _run("03_grid_fc_heatmap.py", tmp_path)
    _pngs(tmp_path, "03_fc_heatmap.png")
    df = load(tmp_path / "hopf_grid.h5").df
    assert len(df) == 6 and (df["status"] == "ok").all() and df["fc_fit"].between(-1, 1).all()


def test_04_evolution(tmp_path):
    out = _run("04_evolution.py", tmp_path)
    _pngs(tmp_path, "04_circle_population.png", "04_circle_fitness.png", "04_fc_fitness.png")
    df = load(tmp_path / "evo_circle.h5").df
    np.testing.assert_allclose(df["fitness"], np.abs(df["x"] ** 2 + df["y"] ** 2 - 1), rtol=1e-12)
    assert sorted(df["generation"].unique()) == list(range(6))
    # the population moves onto the circle (the adaptive algorithm keeps no elite, so a single
    # generation's best may be worse than an earlier one; the median falls clearly in every seed tried)
    median = df.groupby("generation")["fitness"].median()
    assert median.iloc[-1] < median.iloc[0] / 2 and df["fitness"].min() < 0.1
    fc = load(tmp_path / "evo_fc.h5").df
    assert (fc["status"] == "ok").all() and fc["K_gl"].between(0, 2).all() and fc["a"].between(-0.5, 0.2).all()
    assert "hidden {'K_gl': 0.6, 'a': -0.05}; best K_gl=" in out


def test_05_jansen_rit_peak_frequency(tmp_path):
    out = _run("05_jansen_rit_peak_frequency.py", tmp_path)
    _pngs(tmp_path, "05_peak_frequency.png", "05_spectrum_fit.png", "05_convergence.png")
    grid = load(tmp_path / "jr_grid.h5").df.set_index(["a", "b"])
    assert len(grid) == 9 and (grid["status"] == "ok").all()
    # faster synapses (larger rate constants a) oscillate faster: Jansen & Rit's frequency scaling
    assert grid.loc[(0.1, 0.07), "peak_frequency"] > grid.loc[(0.04, 0.07), "peak_frequency"]
    fit = load(tmp_path / "jr_fit.h5").df
    assert len(fit) == 10 and fit["a"].between(0.03, 0.12).all() and fit["b"].between(0.03, 0.12).all()
    assert "hidden {'a': 0.07, 'b': 0.05}; best a=" in out


def test_06_dipole_fit_recovers_the_synaptic_gains(tmp_path):
    out = _run("06_dipole_fit.py", tmp_path)
    _pngs(tmp_path, "06_dipole_fit.png", "06_convergence.png")
    initial = float(re.search(r"initial guess .*: rmse ([\d.]+)", out).group(1))
    A, B, rmse = map(float, re.search(r"best A=([\d.]+), B=([\d.]+): rmse ([\d.]+)", out).groups())
    assert abs(A - 3.25) < 0.3 and abs(B - 22.0) < 2.0
    assert rmse < initial / 10
    df = load(tmp_path / "dipole_fit.h5").df
    assert len(df) == 16 and df["dipole_rmse"].min() == pytest.approx(rmse, abs=1e-4)


def test_06_dipole_fit_reads_a_dipole_file(tmp_path):
    """A dipole in hnn's text format (time ms, aggregate nAm) is the target: the example fits it."""
    t = np.arange(0.0, 200.0, 1.0)
    agg = 3.0 * np.exp(-((t - 75.0) / 15.0) ** 2)
    np.savetxt(tmp_path / "dpl.txt", np.column_stack([t, agg]))
    out = _run("06_dipole_fit.py", tmp_path, args=["dpl.txt"])
    assert "target dpl.txt" in out
    assert load(tmp_path / "dipole_fit.h5").df["status"].eq("ok").all()


def test_07_mpi_runs_on_the_worker_rank(tmp_path):
    out = _run("07_mpi.py", tmp_path, mpi=2)
    _pngs(tmp_path, "07_fc_fit.png")
    df = load(tmp_path / "mpi_grid.h5").df
    assert len(df) == 8 and (df["status"] == "ok").all()
    root_pid = re.search(r"rank 0: pid (\d+)", out).group(1)
    workers = set(df["worker"])
    assert workers and all(not w.endswith(f":{root_pid}") for w in workers)  # evaluated on rank 1
    assert out.count("rank 0: pid") == 1  # only rank 0 prints


def test_10_gradient_fit_stores_every_iterate_of_both_fits(tmp_path):
    """Fast mode: the notebook's global (a, b) fit from a 2 x 2 grid of starts (Python) and the
    2 x 68 per-region fit from the example's YAML study (made tiny); every iterate stored."""
    from brainsweep.explorer import gradient_history
    out = _run("10_gradient_fit.py", tmp_path)
    _pngs(tmp_path, "10_loss.png", "10_landscape.png", "10_regions_loss.png", "10_regions_peaks.png")
    h = gradient_history(load(tmp_path / "10_notebook.h5"))
    assert len(h) == 12 and (h["status"] == "ok").all() and sorted(set(h["start"])) == [0, 1, 2, 3]
    first = h[h["step"] == 0].sort_values("start")   # grid cell centres of a (0.04, 0.1), b (0.04, 0.09)
    np.testing.assert_allclose(first[["a", "b"]].to_numpy(),
                               [[0.055, 0.0525], [0.055, 0.0775], [0.085, 0.0525], [0.085, 0.0775]])
    best = h.loc[h["loss"].idxmin()]
    assert f"best a={best['a']:.4f}, b={best['b']:.4f}" in out
    regions = load(tmp_path / "10_regions.h5")
    names = [f"{p}__{i}" for p in "ab" for i in range(68)]
    assert regions.space.names == names and len(regions.df) == 2
    assert (regions.df[["a__0", "b__0"]].iloc[0].to_numpy() == [0.07, 0.065]).all()
    assert "10_gradient_fit_fast.yaml" in regions.attachments
    assert re.search(r"part 2: 136 parameters, 2 iterates, loss [\d.]+ -> [\d.]+", out)
