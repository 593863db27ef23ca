"""Calibration of an ensemble posterior by its number of members, on stored and fresh held-out runs.

    nice python benchmarks/bench_sbi_members.py bench_sbi.h5 [--members 1 3 5] [--fresh 1 2 3] [--unrefitted]

For a finished SBI study trained with ``SBI(ensemble=k)`` (e.g. by bench_sbi.py): the mixture of
its first m members (m = 1: the single NPE, trained with the seed a study without an ensemble
uses) is calibrated on the study's own held-out runs and on 200 fresh held-out simulations per
``--fresh`` seed (the draws and run seeds ``check_calibration(n=200, seed=...)`` makes: the
study's evaluation rebuilt from the file, runs numbered after the stored ones). A study of one
estimator takes ``--members 1``. For a study with ``SBI(recalibration=n)``, ``--unrefitted``
also reports the same estimators with their flows' standard normal base back in place of the
refitted one (what the study would have given without recalibration). Prints, for each
set and pooled over all sets, the SBC KS p-value per parameter and the expected coverage at 50 %
and 90 % (sbc.calibrate with ``--samples`` posterior samples per run). Nothing is written to the file.
"""

import argparse
import json

import numpy as np
from scipy import stats

import brainsweep.inference  # noqa: F401  (Results' SBI methods)
from brainsweep.explorer import load
from brainsweep.inference import posterior, training_data
from brainsweep.inference._posterior_io import Posterior
from brainsweep.inference._results import _study_evaluation
from brainsweep.inference.predictive import simulate_features
from brainsweep.inference.sbc import calibrate


def held_out_sets(res, post, fresh_seeds, n=200, features=None, stored=True):
    """``{name: (theta, x)}``: the stored held-out runs (unless ``stored`` is False), then ``n``
    fresh ones per seed (features by the stored spec, or ``features`` for a study of a user's
    feature callable)."""
    sets = {}
    if stored:
        data = training_data(res)
        keep = data["holdout"] & (data["status"] == "ok")
        sets["stored"] = (data["theta"][keep], data["x"][keep])
    evaluation = _study_evaluation(res, features, False) if fresh_seeds else None
    for seed in fresh_seeds:
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xCA2]))
        theta = post.prior.sample(rng, n)
        x, _ = simulate_features(evaluation, res.space, None, post.prior.to_params(theta), seed=res.seed,
                                 first_idx=res.n_registered)
        ok = np.all(np.isfinite(x), axis=1)
        sets[f"fresh {seed}"] = (theta[ok], x[ok])
    return sets


def calibrate_mixtures(estimators, prior, members, sets, samples=500, label=""):
    """Rows of calibration numbers of the mixture of the first m ``estimators`` (m in ``members``;
    m = 1: the first estimator alone) on every held-out set of ``sets`` and pooled over them
    (the same statistics as sbc.calibrate on all sets together), printed as they come."""
    out = []
    for m in members:
        mixture = Posterior(estimators[0] if m == 1 else list(estimators[:m]), prior)
        ranks, density_ranks = [], []
        for name, (theta, x) in sets.items():
            c = calibrate(mixture, theta, x, samples, seed=0)
            ranks.append(c["ranks"] / samples)
            density_ranks.append(c["coverage_ranks"] / samples)
            row = {"members": m, "set": name, "n": c["n"], "label": label, "ks_pvals": c["ks_pvals"].tolist(),
                   "coverage50": float(c["coverage"][9]), "coverage90": float(c["coverage"][17])}
            out.append(row)
            print(f"{label}{m} member(s), {name:8s} (n {c['n']}): KS p {np.round(c['ks_pvals'], 3).tolist()}, "
                  f"coverage 50 % {row['coverage50']:.3f}, 90 % {row['coverage90']:.3f}", flush=True)
        if len(sets) < 2:
            continue
        r, cr = np.vstack(ranks), np.concatenate(density_ranks)
        ks = [float(stats.kstest(r[:, j], "uniform").pvalue) for j in range(r.shape[1])]
        row = {"members": m, "set": "pooled", "n": len(r), "label": label, "ks_pvals": ks, "coverage50": float(np.mean(cr >= 0.5)),
               "coverage90": float(np.mean(cr >= 0.1)), "mean_rank": r.mean(axis=0).tolist()}
        out.append(row)
        print(f"{label}{m} member(s), pooled   (n {len(r)}): KS p {np.round(ks, 4).tolist()}, coverage 50 % "
              f"{row['coverage50']:.3f}, 90 % {row['coverage90']:.3f}, mean rank fraction "
              f"{np.round(row['mean_rank'], 3).tolist()}", flush=True)
    return out


def user_features(spec):
    """The feature function ``module:NAME`` (a study's own callable, recorded by name only), or None."""
    import importlib
    if not spec:
        return None
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def _standard_normal_base(estimator):
    """A copy of a zuko ``estimator`` with the base sbi builds it with (zuko's DiagNormal(0, 1))."""
    import copy

    import torch
    import zuko
    d = int(estimator.input_shape[-1])
    out = copy.deepcopy(estimator)
    out.net.base = zuko.lazy.UnconditionalDistribution(zuko.distributions.DiagNormal, torch.zeros(d),
                                                        torch.ones(d), buffer=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path")
    ap.add_argument("--members", type=int, nargs="+", default=[1, 3, 5])
    ap.add_argument("--fresh", type=int, nargs="*", default=[1, 2, 3], help="seeds of fresh held-out sets")
    ap.add_argument("--no-stored", action="store_true", help="leave out the study's own held-out runs")
    ap.add_argument("--samples", type=int, default=500, help="posterior samples per held-out run")
    ap.add_argument("--features", help="module:NAME of the study's feature function if it is a user's callable "
                                       "(bench_sbi_hopf:FEATURES, run from benchmarks/)")
    ap.add_argument("--unrefitted", action="store_true",
                    help="also the estimators with their flows' standard normal base (no recalibration)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    res = load(args.path)
    post = posterior(res)
    estimators = post.estimator if isinstance(post.estimator, list) else [post.estimator]
    if max(args.members) > len(estimators) or min(args.members) < 1:
        ap.error(f"--members: {args.path} holds {len(estimators)} estimator(s); expected numbers from 1 to that")
    sets = held_out_sets(res, post, args.fresh, features=user_features(args.features), stored=not args.no_stored)
    out = calibrate_mixtures(estimators, post.prior, args.members, sets, args.samples)
    if args.unrefitted:
        raw = [_standard_normal_base(e) for e in estimators]
        out += calibrate_mixtures(raw, post.prior, args.members, sets, args.samples, label="unrefitted: ")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
