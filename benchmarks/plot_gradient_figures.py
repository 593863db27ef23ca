"""The README's gradient figures (docs/images/gradient_*.png).

- gradient_loss.png, gradient_landscape.png: TVB-O's grid fit, small: global Jansen-Rit a, b
  (tvboptim's default parameters) on a 10-region part of tvb68, target = the node-averaged
  Welch spectrum of a run with hidden a = 0.1, b = 0.05; Adam (lr 0.005, 12 steps) from a 3 x 3 grid of
  starts; ``plot_loss`` and ``plot_landscape`` of the stored study.
- gradient_recovery.png: fitted vs target per-region peak frequencies of
  bench_gradient_recovery.py (its --json output).

    nice python benchmarks/plot_gradient_figures.py --recovery recovery.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

from brainsweep.data import load_connectome
from brainsweep.evaluation.differentiable import spectral_correlation_loss
from brainsweep.evaluation.spectra import welch_psd
from brainsweep.explorer import GradientDescent, ParameterSpace, Study, plot_landscape, plot_loss
from brainsweep.models import JansenRitModel

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "images")
PARAMS = dict(A=3.25, B=22.0, mu=0.22, a=0.1, b=0.05)


def grid_fit(path, steps=12, starts=9, seconds=1.5):
    sc = load_connectome("tvb68")
    keep = np.arange(0, 68, 7)[:10]
    m = JansenRitModel(Cmat=sc.Cmat[np.ix_(keep, keep)], Dmat=sc.Dmat[np.ix_(keep, keep)])
    m.params.update(PARAMS)
    run = dict(duration=1000.0 * seconds, dt=0.1, sampling_dt=1.0, integrator="heun",
               initial_state=np.tile([0.0, 5.0, 5.0, 0.0, 0.0, 0.0], (len(keep), 1)))
    f, S = welch_psd(m.run(seed=0, **run)["v_pyr"][:, 500:], 1000.0, nperseg=500)
    band = (f >= 1) & (f <= 40)
    obj = spectral_correlation_loss(S.mean(axis=0)[band], 1000.0, 500, "v_pyr", band=(1.0, 40.0), transient=500)
    space = ParameterSpace(bounds={"a": (0.065, 0.14), "b": (0.034, 0.07)})  # no start on the hidden point
    return Study(m, space, GradientDescent("adam", lr=0.005, steps=steps, starts=starts, start="grid"),
                 objective=obj, run_kwargs=run, path=path, seed=0).run(progress=False)


def recovery_figure(r):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    t, fit = np.array(r["target_hz"]), np.array(r["fitted_hz"])
    ax.plot([6.5, 11.5], [6.5, 11.5], "--", color="0.6", lw=1)
    ax.scatter(t, fit, s=14)
    ax.set_xlabel("target peak frequency (Hz)")
    ax.set_ylabel("fitted peak frequency (Hz)")
    ax.set_title(f"{r['parameters']} parameters, {r['steps']} steps: r = {r['corr']:.3f}", fontsize="medium")
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recovery", help="JSON written by bench_gradient_recovery.py --json")
    args = ap.parse_args(argv)
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        res = grid_fit(os.path.join(tmp, "grid.h5"))
        plot_loss(res).savefig(os.path.join(OUT, "gradient_loss.png"), dpi=110)
        plot_landscape(res, "a", "b", units={"a": "1/ms", "b": "1/ms"}).savefig(
            os.path.join(OUT, "gradient_landscape.png"), dpi=110)
        print(res.best(key="loss")[["a", "b", "loss"]])
    if args.recovery:
        with open(args.recovery) as fh:
            recovery_figure(json.load(fh)).savefig(os.path.join(OUT, "gradient_recovery.png"), dpi=110)


if __name__ == "__main__":
    sys.exit(main())
