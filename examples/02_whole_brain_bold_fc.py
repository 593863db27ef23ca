"""Whole-brain Hopf network on the dk_average connectome fitted to its EMPIRICAL BOLD FC.

    python examples/02_whole_brain_bold_fc.py [fc_emp.csv]     # BRAINSWEEP_FAST=1: tiny

dk_average (``brainsweep.data.load_dataset("dk_average")``, CC-BY-4.0, doi:10.1038/s41467-023-38626-y):
84 Desikan-Killiany regions, structural weights, tract lengths (mm) and the group-average
resting-state BOLD FC. Hopf (Stuart-Landau) oscillators are coupled by the weights with delays
from the lengths; a grid over global coupling K_gl and bifurcation parameter a is run, and each
run's simulated BOLD FC is compared with the empirical FC: fc_fit is the Pearson r of the upper
triangles (3486 region pairs). With an argument, that 84 x 84 matrix (CSV/TXT/NPY) is the target
instead. Writes bold_fc.h5, 02_bold.png (BOLD of the best run), 02_fc_sweep.png (fc_fit over the
grid), 02_fc_best.png (simulated vs empirical FC) and prints the best fit, the BOLD length, the
number of runs and the wall time.
"""

import os
import sys
import time

import numpy as np

from brainsweep import evaluation as ev
from brainsweep.data import load_dataset, read_matrix
from brainsweep.explorer import GridSearch, ParameterSpace, Study
from brainsweep.explorer.plots_models import plot_fc_matrices, plot_timeseries
from brainsweep.models import HopfModel
from brainsweep.mpi import is_root

FAST = os.environ.get("BRAINSWEEP_FAST") == "1"
TRANSIENT_MS = 10_000.0
RUN = dict(duration=30_000.0 if FAST else 250_000.0, sampling_dt=10.0, bold=True, tr=500.0)
BOLD_S = (RUN["duration"] - TRANSIENT_MS) / 1000.0
GRID = {"K_gl": [0.0, 0.5, 1.0], "a": [0.0]} if FAST else \
    {"K_gl": [0.0, 0.2, 0.5, 1.0, 1.5, 2.0], "a": [-0.1, -0.05, 0.0, 0.02]}  # K_gl >= 3: Euler at dt 0.1 diverges

ds = load_dataset("dk_average", normalize="max")
model = HopfModel(Cmat=ds.Cmat, Dmat=ds.Dmat)
model.params.update(w=0.05, sigma_ou=0.05, signalV=100.0)  # ~8 Hz noisy oscillators, 100 mm/ms (10 m/s)
fc_emp, target = (read_matrix(sys.argv[1]), sys.argv[1]) if len(sys.argv) > 1 else (ds.FC, "empirical FC, dk_average")

t0 = time.perf_counter()
study = Study(model, ParameterSpace(GRID), GridSearch(), path="bold_fc.h5", seed=1, overwrite=True,
              objective=ev.fit_fc(fc_emp, transient_ms=TRANSIENT_MS, keep=True), run_kwargs=RUN)
res = study.run(progress=not FAST)
wall = time.perf_counter() - t0
if is_root():
    best = res.best(1, key="fc_fit", minimize=False)
    idx, r = int(best.index[0]), float(best["fc_fit"].iloc[0])
    k_best, a_best = float(best["K_gl"].iloc[0]), float(best["a"].iloc[0])
    fc_best = res.run(idx)["fc"]
    off = ~np.eye(ds.n_regions, dtype=bool)
    fig = res.plot_grid("K_gl", "a", "fc_fit") if len(GRID["a"]) > 1 else res.plot_sweep("K_gl", "fc_fit")
    fig.savefig("02_fc_sweep.png", dpi=80)
    plot_fc_matrices(fc_best, fc_emp, titles=(f"simulated: K_gl={k_best}, a={a_best}, {BOLD_S:g} s of BOLD",
                                              f"target: {target}")).savefig("02_fc_best.png", dpi=70)
    out = model.run_batch([{"K_gl": k_best, "a": a_best}], seeds=[7], **RUN)[0]  # one more run, for the picture
    plot_timeseries(out["BOLD_t"], out["BOLD"], ylabel="BOLD", tmin=TRANSIENT_MS,
                    title=f"BOLD at the best point (a new run), 12 of {ds.n_regions} regions") \
        .savefig("02_bold.png", dpi=80)
    print(res.df[["K_gl", "a", "fc_fit"]].to_string())
    print(f"best K_gl = {k_best}, a = {a_best}: fc_fit r = {r:.3f} against the {target} "
          f"(Pearson r of {off.sum() // 2} region pairs; structural weights alone: r = "
          f"{ev.matrix_correlation(ds.Cmat, fc_emp):.3f}); mean FC simulated {fc_best[off].mean():.2f}, "
          f"target {fc_emp[off].mean():.2f}")
    print(f"{len(res.df)} runs of {BOLD_S:g} s of BOLD each (TR {RUN['tr']:g} ms, after a {TRANSIENT_MS / 1000:g} s "
          f"transient) in {wall:.0f} s wall time")
    print(f"data: {ds.attribution}")
