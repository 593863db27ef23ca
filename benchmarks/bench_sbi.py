"""SBI on a single-node Jansen-Rit model: recover (a, b) from the spectrum of v_pyr.

    nice python benchmarks/bench_sbi.py [--simulations 1000] [--calibration 200] [--threads 1]

Reports simulations per second feeding the training (wall time of the study minus training and
calibration: simulation, features and storage; under ``mpiexec -n N`` the runs spread over ranks), NPE training time, posterior sampling time (10 000 samples),
calibration (SBC KS p-values, expected coverage at 50/90 %) and, for three hidden (a, b), whether
the 90 % central credible interval of each parameter contains the truth and its width as a
fraction of the prior range. Writes bench_sbi.h5 in the working directory.
"""

import argparse
import time

import numpy as np

from brainsweep.explorer import ParameterSpace
from brainsweep.inference import SBI, calibration, features, posterior
from brainsweep.models import JansenRitModel
from brainsweep.mpi import is_root

RUN = dict(duration=3000.0, sampling_dt=1.0)
FEATURES = features.concat(
    features.peak_frequencies(key="v_pyr", band=(1.0, 40.0), transient_ms=500.0, average=True),
    features.psd_bands(key="v_pyr", bands=((1, 4), (4, 8), (8, 13), (13, 20), (20, 30), (30, 40)),
                       transient_ms=500.0))
PRIOR = {"a": (0.03, 0.12), "b": (0.03, 0.12)}
HIDDEN = [{"a": 0.07, "b": 0.05}, {"a": 0.1, "b": 0.08}, {"a": 0.05, "b": 0.1}]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simulations", type=int, default=1000)
    ap.add_argument("--calibration", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--path", default="bench_sbi.h5")
    args = ap.parse_args(argv)
    if args.simulations < 20 or args.calibration < 0 or args.threads < 1:
        ap.error("--simulations >= 20, --calibration >= 0 and --threads >= 1 expected")

    model = JansenRitModel()
    space = ParameterSpace(bounds=PRIOR)
    sbi = SBI(simulations=args.simulations, batch=250, features=FEATURES, calibration=args.calibration,
              calibration_samples=500, threads=args.threads,
              density_estimator={"model": "zuko_maf", "hidden_features": 32, "num_transforms": 3},
              training={"max_num_epochs": 150, "learning_rate": 1e-3, "training_batch_size": 100})
    model.run_batch([HIDDEN[0]], seeds=[0], **RUN)  # compile outside the timing
    t0 = time.perf_counter()
    res = sbi.study(model, space, args.path, seed=2, overwrite=True, run_kwargs=RUN).run(progress=False)
    total = time.perf_counter() - t0
    if not is_root():
        return
    info = sbi.training_info
    n_runs = len(res.df)
    calib_s = sbi.calibration_result["seconds"] if args.calibration else 0.0
    sim_wall = total - info["seconds"] - calib_s
    print(f"simulations: {n_runs} runs ({args.simulations} training + {args.calibration} held out) in "
          f"{sim_wall:.1f} s wall = {n_runs / sim_wall:.1f} runs/s (simulation, features and storage); "
          f"training {info['seconds']:.1f} s ({info['epochs']} epochs, excluded {info['excluded']}); "
          f"calibration {calib_s:.1f} s; study wall time {total:.1f} s")

    post = posterior(args.path, threads=args.threads)
    obs = model.run_batch(HIDDEN, seeds=[101, 102, 103], **RUN)
    width = np.array([hi - lo for lo, hi in PRIOR.values()])
    for truth, out in zip(HIDDEN, obs):
        x = FEATURES(out)
        t1 = time.perf_counter()
        s = post.sample(10_000, x, seed=0)
        dt = time.perf_counter() - t1
        lo, hi = np.percentile(s, [5, 95], axis=0)
        tv = np.array([truth[n] for n in post.names])
        inside = (lo <= tv) & (tv <= hi)
        print(f"truth {truth}: 90 % CI a [{lo[0]:.4f}, {hi[0]:.4f}] b [{lo[1]:.4f}, {hi[1]:.4f}]; contains truth "
              f"{inside.tolist()}; width / prior range {np.round((hi - lo) / width, 3).tolist()}; "
              f"10 000 samples in {dt:.2f} s")
    if args.calibration:
        c = calibration(res)
        print(f"calibration on {c['n']} held-out runs: SBC KS p {np.round(c['ks_pvals'], 3).tolist()}, "
              f"expected coverage 50 % -> {c['coverage'][9]:.3f}, 90 % -> {c['coverage'][17]:.3f}")


if __name__ == "__main__":
    main()
