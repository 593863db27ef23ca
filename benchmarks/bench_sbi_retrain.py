"""Retrain the posterior of a finished SBI study with other estimator settings; calibrate it.

    nice python benchmarks/bench_sbi_retrain.py bench_sbi_hopf.h5 --model zuko_nsf --hidden 20 --transforms 2 \\
        --validation 0.3 --patience 30 --ensemble 10 --members 5 10 --fresh 1 --features bench_sbi_hopf:FEATURES

The study's training simulations (its stored runs, nothing simulated again) train ``--ensemble``
NPEs with the given density estimator and training settings, seeded as ``SBI`` seeds its members
(so the first k are the members a study with ``SBI(ensemble=k)`` and these settings trains); the
mixture of the first m members, for each m of ``--members`` (default: all), is calibrated
(sbc.calibrate, 500 samples per run) on the study's stored held-out runs (unless ``--no-stored``)
and on 200 fresh held-out simulations per ``--fresh`` seed (see bench_sbi_members.py). A study
whose features include a user's callable needs them again: ``--features module:NAME`` (imported
from benchmarks/). The file is only read.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import brainsweep.inference  # noqa: F401  (Results' SBI methods)
from brainsweep.explorer import load
from brainsweep.inference import training_data
from brainsweep.inference._posterior_io import Posterior, train_npe
from brainsweep.inference._prior import BoxPrior

sys.path.insert(0, str(Path(__file__).parent))
from bench_sbi_members import calibrate_mixtures, held_out_sets, user_features  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path")
    ap.add_argument("--model", default="zuko_maf")
    ap.add_argument("--hidden", type=int, default=50)
    ap.add_argument("--transforms", type=int, default=5)
    ap.add_argument("--validation", type=float, default=0.1, help="validation fraction")
    ap.add_argument("--patience", type=int, default=20, help="epochs without improvement before stopping")
    ap.add_argument("--batch", type=int, default=50, help="training batch size")
    ap.add_argument("--ensemble", type=int, default=5)
    ap.add_argument("--members", type=int, nargs="*", help="mixtures of the first m members to calibrate")
    ap.add_argument("--no-stored", action="store_true", help="leave out the study's own held-out runs")
    ap.add_argument("--fresh", type=int, nargs="*", default=[], help="seeds of fresh held-out sets")
    ap.add_argument("--features", help="module:NAME of the study's feature function (a user's callable)")
    args = ap.parse_args(argv)
    members = args.members or [args.ensemble]
    if min(members) < 1 or max(members) > args.ensemble:
        ap.error(f"--members: expected numbers from 1 to --ensemble ({args.ensemble}), got {members}")
    res = load(args.path)
    prior = BoxPrior(res.space)
    data = training_data(res)
    train = ~data["holdout"] & ~data["recalibration"] & (data["status"] == "ok")
    build = {"model": args.model, "hidden_features": args.hidden, "num_transforms": args.transforms, "num_bins": 10,
             "z_score_theta": "independent", "z_score_x": "independent"}
    training = {"max_num_epochs": 400, "learning_rate": 5e-4, "training_batch_size": args.batch,
                "validation_fraction": args.validation, "stop_after_epochs": args.patience}
    estimators, t0 = [], time.perf_counter()
    for k in range(args.ensemble):  # the seeds SBI(ensemble=...) gives its members
        entropy = [res.seed, 0x7A1] + ([k] if k else [])
        seed = int(np.random.SeedSequence(entropy).generate_state(1, np.uint32)[0])
        estimator, info = train_npe(data["theta"][train], data["x"][train], prior, build, training, seed)
        estimators.append(estimator)
        print(f"member {k}: {info['epochs']} epochs, {info['seconds']:.0f} s", flush=True)
    print(f"{args.ensemble} member(s) on {int(train.sum())} runs in {time.perf_counter() - t0:.0f} s; {build}; {training}")
    feats = user_features(args.features)
    post = Posterior(estimators[0] if args.ensemble == 1 else estimators, prior)
    sets = held_out_sets(res, post, args.fresh, features=feats, stored=not args.no_stored)
    calibrate_mixtures(estimators, prior, members, sets)


if __name__ == "__main__":
    main()
