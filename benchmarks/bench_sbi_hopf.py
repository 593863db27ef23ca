"""SBI on the non-identifiable Hopf FC problem: tvb68, hidden K_gl, a, sigma_ou, BOLD FC/FCD features.

    nice python benchmarks/bench_sbi_hopf.py [--simulations 500] [--calibration 200] [--duration 50000]
                                             [--dt 0.2] [--ensemble 5]

The problem of issue 17 (a Hopf network on tvb68 whose FC fit cannot tell K_gl, a and sigma_ou
apart), at a cost this benchmark can afford: ``--duration`` ms per run (default 50 s: 40 s of
BOLD after a 10 s transient, TR 720 ms, 56 volumes; the issue used 120 s), Euler-Maruyama step
``--dt`` 0.2 ms (brainsweep's default 0.1 ms costs 2x more; the simulator of the inference is
this discretisation, observations included). The diffusive coupling damps each node at rate
K_gl * strength, up to 2 * 2.8 per ms (the largest node strength of the max-normalised tvb68
weights is 2.8), and explicit Euler is stable only for dt * rate < 2: at 0.5 ms runs with K_gl
above about 1 diverged within milliseconds (45 % of the prior, excluded and counted, so that
posterior was over the stable part of the prior only); at 0.2 ms (dt * rate <= 1.13) none do.
``--ensemble`` NPEs trained with different seeds form the posterior (their mixture), each a
small neural spline flow (20 hidden units, 2 transforms) stopped early on 30 % of the training
runs held for validation (30 epochs without improvement): with 500 training runs the default
flow (zuko_maf, 50 units, 5 transforms, 10 % validation) was overconfident with or without an
ensemble (coverage 0.76-0.78 at 90 %; see bench_sbi_retrain.py). More members of the small flows
did not help (coverage at 50 / 90 % pooled over the stored and one fresh held-out set: 5 members
0.450 / 0.882, 7 0.465 / 0.870, 10 0.460 / 0.882; on another fresh set 5 gave 0.465 / 0.900,
10 0.475 / 0.930). With 1500 simulations (`--simulations 1500` under `mpiexec -n 3`, 822 s) the
five members give 0.46 / 0.92 on the stored 200 (KS p 0.70, 0.13, 0.17), 0.445 / 0.905 and
0.465 / 0.890 on fresh sets 1 and 2. With ``--recalibration 300`` (each member's base refitted,
SBI(recalibration=...); 2000 runs, 1290 s under `mpiexec -n 3`) the five gave 0.523 / 0.920
pooled over the stored and fresh sets 1-2 (0.495-0.545 / 0.915-0.93 per set), the same five
without the refit 0.480 / 0.905, one refitted member alone 0.363 / 0.843 (its latent codes were
already close to N(0, 1): nothing for a refit to correct). Features: the 8 largest FC eigenvalues / 68 and 8
quantiles of the FCD (windows of 20 volumes, step 4) of the BOLD after the transient, plus the
mean FC off the diagonal. Prints the 90 % credible interval of each parameter for a hidden point
as a fraction of the prior range, the posterior correlations (the ridge), calibration on held-out
simulations, the time of each stage, and writes docs/images/sbi_hopf_pair.png (pair plot) and
docs/images/sbi_hopf_calibration.png (rank histograms, expected coverage).
"""

import argparse
import json
import time

import numpy as np

from brainsweep.data import load_connectome
from brainsweep.evaluation.connectivity import fc, upper_triangle
from brainsweep.explorer import ParameterSpace
from brainsweep.inference import SBI, features
from brainsweep.models import HopfModel
from brainsweep.mpi import is_root

TRANSIENT_MS = 10_000.0
PRIOR = {"K_gl": (0.0, 2.0), "a": (-0.1, 0.1), "sigma_ou": (1e-3, 0.1, "log")}
HIDDEN = {"K_gl": 0.6, "a": -0.02, "sigma_ou": 0.02}


def mean_fc(out):
    """Mean off-diagonal BOLD FC after the transient (one feature)."""
    keep = out["BOLD_t"] >= TRANSIENT_MS
    return [float(np.mean(upper_triangle(fc(out["BOLD"][:, keep]))))]


FEATURES = features.concat(features.fc_fcd(k=8, key="BOLD", transient_ms=TRANSIENT_MS, window=20, step=4), mean_fc)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simulations", type=int, default=500)
    ap.add_argument("--calibration", type=int, default=200)
    ap.add_argument("--duration", type=float, default=50_000.0, help="ms per run")
    ap.add_argument("--dt", type=float, default=0.2, help="integration step, ms")
    ap.add_argument("--recalibration", type=int, default=0,
                    help="held-out runs the estimators' base distributions are refitted on (SBI(recalibration=...))")
    ap.add_argument("--ensemble", type=int, default=5, help="NPEs in the posterior's ensemble")
    ap.add_argument("--model", default="zuko_nsf", help="density estimator")
    ap.add_argument("--hidden", type=int, default=20, help="hidden units of the flow")
    ap.add_argument("--transforms", type=int, default=2, help="transforms of the flow")
    ap.add_argument("--validation", type=float, default=0.3, help="fraction of the runs for early stopping")
    ap.add_argument("--patience", type=int, default=30, help="epochs without improvement before stopping")
    ap.add_argument("--path", default="bench_sbi_hopf.h5")
    ap.add_argument("--image", default="docs/images/sbi_hopf_pair.png")
    ap.add_argument("--calibration-image", default="docs/images/sbi_hopf_calibration.png")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    run = dict(duration=args.duration, dt=args.dt, sampling_dt=10.0, bold=True, tr=720.0)
    sc = load_connectome("tvb68", normalize="max")
    model = HopfModel(Cmat=sc.Cmat, Dmat=sc.Dmat)
    model.params.update(w=0.05, signalV=20.0)
    sbi = SBI(simulations=args.simulations, batch=100, features=FEATURES, calibration=args.calibration,
              calibration_samples=500, ensemble=args.ensemble, recalibration=args.recalibration,
              density_estimator={"model": args.model, "hidden_features": args.hidden,
                                 "num_transforms": args.transforms},
              training={"max_num_epochs": 400, "learning_rate": 5e-4, "training_batch_size": 50,
                        "validation_fraction": args.validation, "stop_after_epochs": args.patience})
    model.run_batch([HIDDEN], seeds=[0], **dict(run, duration=2000.0))  # compile outside the timing
    t0, c0 = time.perf_counter(), time.process_time()
    res = sbi.study(model, ParameterSpace(bounds=PRIOR), args.path, seed=3, overwrite=True,
                    run_kwargs=run).run(progress=False)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    if not is_root():
        return
    info = sbi.training_info
    calib_s = sbi.calibration_result["seconds"] if args.calibration else 0.0
    print(f"{len(res.df)} runs of {args.duration / 1000:g} s (BOLD {len((np.arange(0, args.duration, 720.0) >= TRANSIENT_MS).nonzero()[0])} "
          f"volumes after the transient): study {total:.0f} s wall, {cpu:.0f} s CPU of this process; training "
          f"{info['seconds']:.0f} s ({info['epochs']} epochs, excluded {info['excluded']}); calibration {calib_s:.0f} s")
    obs = model.run_batch([HIDDEN], seeds=[2024], **run)[0]
    post = res.posterior()
    t1 = time.perf_counter()
    s = post.sample(10_000, FEATURES(obs), seed=0)
    sample_s = time.perf_counter() - t1
    theta = post.prior.to_theta(s)                      # ln(sigma_ou): the prior's own coordinate
    lo, hi = np.percentile(theta, [5, 95], axis=0)
    rel = (hi - lo) / (post.prior.high - post.prior.low)
    truth = post.prior.to_theta(np.array([[HIDDEN[n] for n in post.names]]))[0]
    corr = np.corrcoef(theta.T)
    out = {"runs": len(res.df), "duration_ms": args.duration, "dt_ms": args.dt, "ensemble": args.ensemble,
           "excluded": info["excluded"], "wall_s": total, "cpu_s": cpu,
           "training_s": info["seconds"], "calibration_s": calib_s, "sample_s": sample_s, "names": post.names,
           "width": rel.tolist(), "inside": ((lo <= truth) & (truth <= hi)).tolist(), "corr": corr.tolist()}
    for j, name in enumerate(post.names):
        unit = "ln " if post.prior.scales[j] == "log" else ""
        print(f"{name}: 90 % CI of {unit}{name} [{lo[j]:.3g}, {hi[j]:.3g}] = {rel[j]:.2f} of the prior range; "
              f"truth {truth[j]:.3g} inside: {bool(lo[j] <= truth[j] <= hi[j])}")
    print("posterior correlations (prior coordinates):", np.round(corr[np.triu_indices(3, 1)], 2).tolist(),
          f"for pairs {[(a, b) for i, a in enumerate(post.names) for b in post.names[i + 1:]]}; "
          f"10 000 samples in {sample_s:.2f} s")
    if args.calibration:
        c = res.check_calibration(n=None)
        out.update(ks_pvals=c["ks_pvals"].tolist(), coverage50=float(c["coverage"][9]),
                   coverage90=float(c["coverage"][17]))
        print(f"calibration on {c['n']} held-out runs: SBC KS p {np.round(c['ks_pvals'], 3).tolist()}, "
              f"expected coverage 50 % -> {c['coverage'][9]:.2f}, 90 % -> {c['coverage'][17]:.2f}")
    import matplotlib
    matplotlib.use("Agg")
    if args.calibration:
        res.plot_calibration().savefig(args.calibration_image, dpi=80)
    fig = res.plot_posterior(s, truth=HIDDEN)
    fig.suptitle(f"Hopf on tvb68, {sbi.n_training} training simulations: posterior given "
                 f"{run['duration'] / 1000 - 10:g} s of BOLD", fontsize=9, y=0.995)
    fig.savefig(args.image, dpi=80)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
