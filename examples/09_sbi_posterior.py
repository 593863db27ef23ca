"""Posterior of Jansen-Rit (a, b) from a spectrum, by simulation-based inference (sbi's NPE).

    python examples/09_sbi_posterior.py      # BRAINSWEEP_FAST=1: tiny (needs pip install sbi)

a and b are the reciprocal excitatory and inhibitory synaptic time constants (1/ms) of a single
Jansen-Rit column driven by noisy input (Ornstein-Uhlenbeck noise of std 0.05 1/ms on p). The
study simulates (a, b) drawn from the prior, summarises each run by the log power spectrum of
v_pyr (every 1 Hz bin from 1 to 45 Hz), its mean and log std and its peak frequency, trains a
neural posterior estimator on 6000 runs, refits its base distribution on 1500 further runs (one
NPE alone is overconfident; refitted it is calibrated, see benchmarks/bench_sbi.py), and checks
its calibration on 200 held-out simulations used for nothing else. The posterior is then read
back from the file (no retraining) for an observation with hidden (a, b).
Writes sbi_jr.h5, 09_posterior.png, 09_calibration.png, 09_predictive.png.
"""

import os

import numpy as np

from brainsweep.explorer import ParameterSpace
from brainsweep.inference import SBI, calibration, features, plot_predictive, posterior
from brainsweep.models import JansenRitModel

FAST = os.environ.get("BRAINSWEEP_FAST") == "1"
RUN = dict(duration=3000.0 if FAST else 10_000.0, sampling_dt=1.0)  # ms; 1 kHz sampling
FEATURES = features.concat(
    features.log_psd(key="v_pyr", band=(1.0, 45.0), resolution=1.0, transient_ms=500.0),  # 45 bins
    features.moments(key="v_pyr", transient_ms=500.0),
    features.peak_frequencies(key="v_pyr", band=(1.0, 40.0), transient_ms=500.0, average=True))

model = JansenRitModel()
model.params.update(sigma_ou=0.05)  # input noise (1/ms): without it a run is a deterministic function of (a, b)
space = ParameterSpace(bounds={"a": (0.03, 0.12), "b": (0.03, 0.12)})
sbi = SBI(simulations=200 if FAST else 6000, recalibration=50 if FAST else 1500, calibration=100 if FAST else 200,
          batch=500, features=FEATURES, density_estimator={"model": "zuko_maf", "hidden_features": 50, "num_transforms": 5},
          training={"max_num_epochs": 30 if FAST else 300, "learning_rate": 5e-4, "training_batch_size": 200})
res = sbi.study(model, space, "sbi_jr.h5", seed=2, overwrite=True, run_kwargs=RUN).run(progress=not FAST)
print(res)
print("training:", sbi.training_info)

# -- an observation with hidden parameters, and its posterior read back from the file ----------
HIDDEN = {"a": 0.06, "b": 0.09}  # benchmarks/bench_sbi.py tests other points
x_obs = FEATURES(model.run_batch([HIDDEN], seeds=[101], **RUN)[0])
post = posterior("sbi_jr.h5")       # the same as res.posterior() or load("sbi_jr.h5").posterior()
samples = post.sample(10_000, x_obs, seed=0)
lo, hi = np.percentile(samples, [5, 95], axis=0)
for name, l, h in zip(post.names, lo, hi):
    print(f"{name}: 90 % credible interval [{l:.4f}, {h:.4f}] (hidden {HIDDEN[name]})")
res.plot_posterior(samples, truth=HIDDEN).savefig("09_posterior.png", dpi=80)

c = calibration(res)
print(f"SBC on {c['n']} held-out runs: KS p {np.round(c['ks_pvals'], 3).tolist()}; "
      f"expected coverage 50 % -> {c['coverage'][9]:.2f}, 90 % -> {c['coverage'][17]:.2f}")
res.plot_calibration().savefig("09_calibration.png", dpi=80)

check = res.predictive_check(samples[:20 if FAST else 100], x_obs, seed=7)  # the study's model, rebuilt from the file
print("predictive check, quantile of x_obs per feature:", np.round(check["quantile"], 2).tolist())
labels = [f"log P {f} Hz" for f in range(1, 46)] + ["mean", "log std", "peak Hz"]
plot_predictive(check, labels).savefig("09_predictive.png", dpi=80)
