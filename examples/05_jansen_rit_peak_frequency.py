"""Jansen-Rit on the 76-region connectome: peak frequency over (a, b), then fitting (a, b) to a
target spectrum (as the Jansen-Rit example of TVB-O).

    python examples/05_jansen_rit_peak_frequency.py      # BRAINSWEEP_FAST=1: tiny

a and b are the reciprocal excitatory and inhibitory synaptic time constants (1/ms). Part 1 maps
the peak frequency of the pyramidal potential v_pyr = y1 - y2 over a grid of (a, b); part 2
recovers hidden (a, b) by Bayesian optimisation of the distance (dB) between the spectra.
Writes jr_grid.h5, jr_fit.h5, 05_peak_frequency.png, 05_spectrum_fit.png, 05_convergence.png.
"""

import os

import numpy as np

from brainsweep import evaluation as ev
from brainsweep.data import load_connectome
from brainsweep.explorer import BayesOpt, GridSearch, ParameterSpace, Study
from brainsweep.explorer.plots import figure
from brainsweep.models import JansenRitModel
from brainsweep.mpi import is_root

FAST = os.environ.get("BRAINSWEEP_FAST") == "1"
RUN = dict(duration=1500.0 if FAST else 4000.0, sampling_dt=1.0)  # 1 kHz sampling
TRANSIENT_MS, BAND = 500.0, (1.0, 40.0)

sc = load_connectome("tvb76", normalize="max")
model = JansenRitModel(Cmat=sc.Cmat, Dmat=sc.Dmat)

values = [0.04, 0.07, 0.1] if FAST else np.round(np.linspace(0.02, 0.12, 6), 3).tolist()
grid = Study(model, ParameterSpace({"a": values, "b": values}), GridSearch(), path="jr_grid.h5", seed=1,
             overwrite=True, run_kwargs=RUN,
             objective=ev.target_peak_frequency(10.0, BAND, key="v_pyr", transient_ms=TRANSIENT_MS))
res = grid.run(progress=not FAST)
if is_root():
    res.plot_grid("a", "b", "peak_frequency").savefig("05_peak_frequency.png", dpi=80)
    print(res.df.pivot(index="b", columns="a", values="peak_frequency").round(1).to_string())

# -- fit (a, b) to the spectrum of a run with hidden values ------------------------------------
HIDDEN = {"a": 0.07, "b": 0.05}
out = model.run_batch([HIDDEN], seeds=[999], **RUN)[0]
x = out["v_pyr"][:, out["t"] >= TRANSIENT_MS]
f_target, S_target = ev.welch_psd(x, fs=1000.0)
S_target = S_target.mean(axis=0)
space = ParameterSpace(bounds={"a": (0.03, 0.12), "b": (0.03, 0.12)})
fit = Study(model, space, BayesOpt(n_calls=10 if FAST else 40, n_initial=6 if FAST else 12, batch=2,
                                   objective="log_spectral_rmse"),
            path="jr_fit.h5", seed=1, overwrite=True, run_kwargs=RUN,
            objective=ev.fit_spectrum(S_target, f_target, key="v_pyr", band=BAND, transient_ms=TRANSIENT_MS,
                                      keep=True))
res = fit.run(progress=not FAST)
if is_root():
    best = res.best(1, key="log_spectral_rmse")
    idx = int(best.index[0])
    run = res.run(idx)
    fig, ax = figure(figsize=(5.5, 3.5))
    keep = (f_target >= BAND[0]) & (f_target <= BAND[1])
    ax.semilogy(f_target[keep], S_target[keep], "k", lw=2, label=f"target a={HIDDEN['a']}, b={HIDDEN['b']}")
    fb = run["psd_f"]
    ax.semilogy(fb[(fb >= BAND[0]) & (fb <= BAND[1])], run["psd"][(fb >= BAND[0]) & (fb <= BAND[1])], "C3",
                label=f"best a={run['a']:.3f}, b={run['b']:.3f}")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("power (mV²/Hz)")
    ax.legend(frameon=False)
    fig.savefig("05_spectrum_fit.png", dpi=80)
    res.plot_convergence("log_spectral_rmse").savefig("05_convergence.png", dpi=80)
    print(f"hidden {HIDDEN}; best a={run['a']:.4f}, b={run['b']:.4f}, "
          f"log_spectral_rmse={run['log_spectral_rmse']:.4g} dB")
