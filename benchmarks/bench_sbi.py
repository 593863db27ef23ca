"""SBI on a single-node Jansen-Rit model: recover (a, b) from the spectrum of v_pyr.

    nice python benchmarks/bench_sbi.py [--simulations 6000] [--recalibration 1500] [--calibration 200]
                                        [--noise 0.05] [--ensemble 1] [--threads 1] [--images docs/images]
    mpiexec -n 3 python benchmarks/bench_sbi.py --simulations 1000 --calibration 0 --epochs 5

The column is driven by Ornstein-Uhlenbeck noise on its input p (``--noise``: sigma_ou, the
noise's standard deviation in 1/ms, tau 5 ms; brainsweep's JansenRitModel is deterministic by
default, which makes the likelihood a point mass that no density estimator represents).
Features (48 per run): the log10 Welch PSD of v_pyr at every 1 Hz bin from 1 to 45 Hz (1 s
segments of the 9.5 s after a 500 ms transient), the mean and log10 std of v_pyr, and the
peak frequency ("--features bands": the older 7-feature summary, peak frequency and six log
band powers). Reports simulations per second feeding the training (wall time of the study minus
training and calibration: simulation, features and storage; under ``mpiexec -n N`` the runs
spread over N - 1 worker ranks), NPE training time, posterior sampling time (10 000 samples),
calibration (SBC KS p-values, expected coverage at 50/90 %) and, for five hidden (a, b) not used
by the example, whether the 90 % central credible interval of each parameter contains the truth
and its width as a fraction of the prior range. The posterior is one NPE whose flow's base
distribution is refitted on ``--recalibration`` held-out runs (``SBI(recalibration=...)``), or
the mixture of ``--ensemble`` NPEs trained with different seeds on the same simulations.
How it was chosen (held-out sets of 200: the stored one and fresh 1-7, bench_sbi_members.py;
three training seeds on 6000 simulations): one NPE is overconfident (coverage 0.36-0.44 /
0.75-0.85 at 50 / 90 % from seed to seed; with 3000 simulations and the first seed 0.39-0.41 /
0.81, so not worse with more simulations as one seed each had suggested);
mixtures of 3-5 were about 0.05 too wide at 50 %; one NPE with its base refitted on 600 runs
(fresh 1-3) gave 0.487-0.516 / 0.897-0.903 pooled over 1000 others (KS p >= 0.02), a product of
Gaussians instead of Student-t distributions 0.53-0.54 / 0.89-0.91, two refitted members
0.594 / 0.949 (too wide). The base fitted on 600 runs varied by about +-0.03 in coverage at
50 % from one set of 600 to another (its degrees of freedom 9-35), hence 1500 by default.
Writes bench_sbi.h5 in the working directory and, with ``--images``,
sbi_jr_posteriors.png (samples and 90 % intervals of the hidden points) and
sbi_jr_calibration.png (rank histograms, expected coverage) into that folder.
"""

import argparse
import json
import time

import numpy as np

from brainsweep.explorer import ParameterSpace
from brainsweep.inference import SBI, calibration, features, posterior
from brainsweep.models import JansenRitModel
from brainsweep.mpi import is_root, world

BANDS = ((1, 4), (4, 8), (8, 13), (13, 20), (20, 30), (30, 40))
FEATURES = {
    "spectrum": features.concat(
        features.log_psd(key="v_pyr", band=(1.0, 45.0), resolution=1.0, transient_ms=500.0),
        features.moments(key="v_pyr", transient_ms=500.0),
        features.peak_frequencies(key="v_pyr", band=(1.0, 40.0), transient_ms=500.0, average=True)),
    "bands": features.concat(
        features.peak_frequencies(key="v_pyr", band=(1.0, 40.0), transient_ms=500.0, average=True),
        features.psd_bands(key="v_pyr", bands=BANDS, transient_ms=500.0)),
}
PRIOR = {"a": (0.03, 0.12), "b": (0.03, 0.12)}
HIDDEN = [{"a": 0.07, "b": 0.05}, {"a": 0.1, "b": 0.08}, {"a": 0.05, "b": 0.1}, {"a": 0.09, "b": 0.06},
          {"a": 0.04, "b": 0.04}]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simulations", type=int, default=6000)
    ap.add_argument("--calibration", type=int, default=200)
    ap.add_argument("--duration", type=float, default=10_000.0, help="ms per run")
    ap.add_argument("--noise", type=float, default=0.05, help="sigma_ou of the input p, 1/ms")
    ap.add_argument("--features", choices=sorted(FEATURES), default="spectrum")
    ap.add_argument("--epochs", type=int, default=300, help="most training epochs")
    ap.add_argument("--recalibration", type=int, default=1500,
                    help="held-out runs the estimators' base distributions are refitted on (SBI(recalibration=...))")
    ap.add_argument("--ensemble", type=int, default=1, help="NPEs in the posterior's ensemble")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--images", help="folder for sbi_jr_posteriors.png and sbi_jr_calibration.png")
    ap.add_argument("--path", default="bench_sbi.h5")
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args(argv)
    if args.simulations < 20 or args.calibration < 0 or min(args.threads, args.epochs, args.ensemble) < 1:
        ap.error("--simulations >= 20, --calibration >= 0, --epochs, --ensemble and --threads >= 1 expected")

    run = dict(duration=args.duration, sampling_dt=1.0)
    feats = FEATURES[args.features]
    model = JansenRitModel()
    model.params.update(sigma_ou=args.noise)
    space = ParameterSpace(bounds=PRIOR)
    sbi = SBI(simulations=args.simulations, batch=500, features=feats, calibration=args.calibration,
              calibration_samples=500, threads=args.threads, ensemble=args.ensemble, recalibration=args.recalibration,
              density_estimator={"model": "zuko_maf", "hidden_features": 50, "num_transforms": 5},
              training={"max_num_epochs": args.epochs, "learning_rate": 5e-4, "training_batch_size": 200})
    model.run_batch([HIDDEN[0]], seeds=[0], **run)  # compile outside the timing
    t0 = time.perf_counter()
    res = sbi.study(model, space, args.path, seed=2, overwrite=True, run_kwargs=run).run(progress=False)
    total = time.perf_counter() - t0
    if not is_root():
        return
    info = sbi.training_info
    n_runs = len(res.df)
    calib_s = sbi.calibration_result["seconds"] if args.calibration else 0.0
    sim_wall = total - info["seconds"] - calib_s
    ranks = world().Get_size()
    out = {"ranks": ranks, "noise": args.noise, "ensemble": args.ensemble, "recalibration": args.recalibration, "runs": n_runs, "features": args.features, "n_features": int(res.df["n_features"].iloc[0]),
           "duration_ms": args.duration, "sim_wall_s": sim_wall, "runs_per_s": n_runs / sim_wall,
           "training_s": info["seconds"], "epochs": info["epochs"], "excluded": info["excluded"],
           "calibration_s": calib_s, "total_s": total, "hidden": []}
    print(f"simulations: {n_runs} runs of {args.duration:.0f} ms ({args.simulations} training + {args.recalibration} "
          f"recalibration + {args.calibration} held out; {out['n_features']} features) in {sim_wall:.1f} s wall on {ranks} rank(s) = "
          f"{n_runs / sim_wall:.1f} runs/s (simulation, features and storage); training {info['seconds']:.1f} s "
          f"({info['epochs']} epochs, excluded {info['excluded']}); calibration {calib_s:.1f} s; "
          f"study wall time {total:.1f} s")

    post = posterior(args.path, threads=args.threads)
    obs = model.run_batch(HIDDEN, seeds=[101 + i for i in range(len(HIDDEN))], **run)
    width = np.array([hi - lo for lo, hi in PRIOR.values()])
    drawn = []
    for truth, o in zip(HIDDEN, obs):
        t1 = time.perf_counter()
        s = post.sample(10_000, feats(o), seed=0)
        dt = time.perf_counter() - t1
        drawn.append(s)
        lo, hi = np.percentile(s, [5, 95], axis=0)
        tv = np.array([truth[n] for n in post.names])
        inside = (lo <= tv) & (tv <= hi)
        rel = (hi - lo) / width
        out["hidden"].append({"truth": truth, "lo": lo.tolist(), "hi": hi.tolist(), "inside": inside.tolist(),
                              "width": rel.tolist(), "sample_s": dt})
        print(f"truth {truth}: 90 % CI a [{lo[0]:.4f}, {hi[0]:.4f}] b [{lo[1]:.4f}, {hi[1]:.4f}]; contains truth "
              f"{inside.tolist()}; width / prior range {np.round(rel, 3).tolist()}; 10 000 samples in {dt:.2f} s")
    if args.calibration:
        c = calibration(res)
        out.update(ks_pvals=c["ks_pvals"].tolist(), coverage50=float(c["coverage"][9]),
                   coverage90=float(c["coverage"][17]))
        print(f"calibration on {c['n']} held-out runs: SBC KS p {np.round(c['ks_pvals'], 3).tolist()}, "
              f"expected coverage 50 % -> {c['coverage'][9]:.3f}, 90 % -> {c['coverage'][17]:.3f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    if args.images:
        _images(res, drawn, args.images, args.calibration > 0)


def _images(res, samples, folder, calibrated):
    """Posterior samples with their 90 % boxes for the hidden points, and the calibration plot."""
    import os

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for i, (truth, s) in enumerate(zip(HIDDEN, samples)):
        s = s[:2000]
        ax.plot(s[:, 0], s[:, 1], ".", color=f"C{i}", ms=1, alpha=0.3)
        lo, hi = np.percentile(s, [5, 95], axis=0)
        ax.add_patch(plt.Rectangle((lo[0], lo[1]), hi[0] - lo[0], hi[1] - lo[1], fill=False, ec=f"C{i}", lw=0.8))
        ax.plot(truth["a"], truth["b"], "x", color="k", ms=6)
    ax.set_xlim(*PRIOR["a"])
    ax.set_ylim(*PRIOR["b"])
    ax.set_xlabel("a (1/ms)")
    ax.set_ylabel("b (1/ms)")
    ax.set_title(f"JR: posterior samples and 90 % intervals for 5 hidden (a, b) (x)\n"
                 f"{len(res.df)} simulations, whole prior box shown", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(folder, "sbi_jr_posteriors.png"), dpi=80)
    if calibrated:
        res.plot_calibration().savefig(os.path.join(folder, "sbi_jr_calibration.png"), dpi=70)


if __name__ == "__main__":
    main()
