"""Posterior of Jansen-Rit (a, b) from a spectrum, by simulation-based inference (sbi's NPE).

    python examples/09_sbi_posterior.py      # BRAINSWEEP_FAST=1: tiny (needs pip install sbi)

a and b are the reciprocal excitatory and inhibitory synaptic time constants (1/ms) of a single
Jansen-Rit column. The study simulates (a, b) drawn from the prior, summarises each run by the
peak frequency and six log band powers of v_pyr, trains a neural posterior estimator, and
checks its calibration on held-out simulations. The posterior is then read back from the file
(no retraining) for an observation with hidden (a, b).
Writes sbi_jr.h5, 09_posterior.png, 09_calibration.png, 09_predictive.png.
"""

import os

import numpy as np

from brainsweep.explorer import ParameterSpace
from brainsweep.inference import (SBI, calibration, features, plot_calibration, plot_posterior, plot_predictive,
                                  posterior, predictive_check)
from brainsweep.models import JansenRitModel

FAST = os.environ.get("BRAINSWEEP_FAST") == "1"
RUN = dict(duration=3000.0, sampling_dt=1.0)  # ms; 1 kHz sampling
BANDS = ((1, 4), (4, 8), (8, 13), (13, 20), (20, 30), (30, 40))  # Hz
FEATURES = features.concat(
    features.peak_frequencies(key="v_pyr", band=(1.0, 40.0), transient_ms=500.0, average=True),
    features.psd_bands(key="v_pyr", bands=BANDS, transient_ms=500.0))

model = JansenRitModel()
space = ParameterSpace(bounds={"a": (0.03, 0.12), "b": (0.03, 0.12)})
sbi = SBI(simulations=200 if FAST else 1000, calibration=100 if FAST else 200, batch=250,
          features=FEATURES, density_estimator={"model": "zuko_maf", "hidden_features": 32, "num_transforms": 3},
          training={"max_num_epochs": 30 if FAST else 150, "learning_rate": 1e-3, "training_batch_size": 100})
res = sbi.study(model, space, "sbi_jr.h5", seed=2, overwrite=True, run_kwargs=RUN).run(progress=not FAST)
print(res)
print("training:", sbi.training_info)

# -- an observation with hidden parameters, and its posterior read back from the file ----------
HIDDEN = {"a": 0.1, "b": 0.08}
x_obs = FEATURES(model.run_batch([HIDDEN], seeds=[101], **RUN)[0])
post = posterior("sbi_jr.h5")
samples = post.sample(10_000, x_obs, seed=0)
lo, hi = np.percentile(samples, [5, 95], axis=0)
for name, l, h in zip(post.names, lo, hi):
    print(f"{name}: 90 % credible interval [{l:.4f}, {h:.4f}] (hidden {HIDDEN[name]})")
plot_posterior(samples, post.names, truth=[HIDDEN[n] for n in post.names]).savefig("09_posterior.png", dpi=80)

c = calibration(res)
print(f"SBC on {c['n']} held-out runs: KS p {np.round(c['ks_pvals'], 3).tolist()}; "
      f"expected coverage 50 % -> {c['coverage'][9]:.2f}, 90 % -> {c['coverage'][17]:.2f}")
plot_calibration(res).savefig("09_calibration.png", dpi=80)

check = predictive_check(model, space, FEATURES, samples[:20 if FAST else 100], x_obs, seed=7, run_kwargs=RUN)
print("predictive check, quantile of x_obs per feature:", np.round(check["quantile"], 2).tolist())
labels = ["peak Hz"] + [f"log P {lo_}-{hi_} Hz" for lo_, hi_ in BANDS]
plot_predictive(check, labels).savefig("09_predictive.png", dpi=80)
