"""The Jansen-Rit (a, b) problem of bench_sbi.py with Virtual Brain Inference (vbi 0.4), for comparison.

    python -m venv /tmp/vbi-venv && /tmp/vbi-venv/bin/pip install "vbi[inference]==0.4.4"   # CPU torch
    nice /tmp/vbi-venv/bin/python benchmarks/bench_sbi_vbi.py [--simulations 400] [--noise 0.01]

Runs in vbi's own environment (brainsweep is not imported): vbi's numba ``JR_sde`` (one node,
Heun, dt 0.1 ms, 10 s with a 500 ms cut, sampled at 1 kHz by decimation, white noise of
amplitude ``--noise`` on the excitatory interneurons, vbi's convention), the same prior a, b ~
U(0.03, 0.12) 1/ms, the same 48 features as bench_sbi.py computed with scipy (log10 Welch PSD at
every 1 Hz bin 1-45 Hz with 1 s segments, mean and log10 std, peak frequency 1-40 Hz), vbi's
``Inference.train`` (sbi's SNPE with a MAF, sbi's default training settings) and
``Inference.sample_posterior``. Reports simulations per second (one process), training and
sampling times, and the 90 % intervals for bench_sbi.py's hidden points. vbi's JR differs from
brainsweep's in its noise (white, on y4) and defaults (mu 0.24, vmax 0.005, v0 6), so the
posteriors are not expected to agree, only the costs are comparable.
"""

import argparse
import json
import time

import numpy as np
import scipy.signal

PRIOR = {"a": (0.03, 0.12), "b": (0.03, 0.12)}
HIDDEN = [{"a": 0.07, "b": 0.05}, {"a": 0.1, "b": 0.08}, {"a": 0.05, "b": 0.1}, {"a": 0.09, "b": 0.06},
          {"a": 0.04, "b": 0.04}]


def features(x):
    """48 features of v (mV, 1 kHz): bench_sbi.py's "spectrum" features."""
    f, p = scipy.signal.welch(x, fs=1000.0, nperseg=1000)
    sel = (f >= 1.0) & (f <= 45.0)
    peak_band = (f >= 1.0) & (f <= 40.0)
    peak = f[peak_band][np.argmax(p[peak_band])]
    return np.concatenate([np.log10(np.maximum(p[sel], np.finfo(float).tiny)),
                           [x.mean(), np.log10(max(x.std(), np.finfo(float).tiny)), peak]])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simulations", type=int, default=400)
    ap.add_argument("--noise", type=float, default=0.01, help="vbi's noise_amp")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    import torch
    from sbi.utils import BoxUniform
    from vbi.models.numba.jansen_rit import JR_sde
    from vbi.sbi_inference import Inference
    import vbi
    torch.set_num_threads(1)
    model = JR_sde({"weights": np.zeros((1, 1)), "G": 0.0, "dt": 0.1, "t_end": 10_000.0, "t_cut": 500.0,
                    "decimate": 10, "noise_amp": args.noise, "seed": 0})
    t0 = time.perf_counter()
    model.run()
    compile_s = time.perf_counter() - t0

    def simulate(a, b, seed):
        return features(model.run({"a": float(a), "b": float(b), "seed": int(seed)})["x"][:, 0])

    rng = np.random.default_rng(2)
    lo, hi = np.array([v[0] for v in PRIOR.values()]), np.array([v[1] for v in PRIOR.values()])
    theta = lo + (hi - lo) * rng.random((args.simulations, 2))
    t0, c0 = time.perf_counter(), time.process_time()
    x = np.array([simulate(a, b, i + 1) for i, (a, b) in enumerate(theta)])
    sim_s, sim_cpu = time.perf_counter() - t0, time.process_time() - c0
    ok = np.all(np.isfinite(x), axis=1)
    prior = BoxUniform(torch.tensor(lo, dtype=torch.float32), torch.tensor(hi, dtype=torch.float32))
    torch.manual_seed(0)
    t0 = time.perf_counter()
    post = Inference().train(torch.tensor(theta[ok], dtype=torch.float32), torch.tensor(x[ok], dtype=torch.float32),
                             prior, num_threads=1, method="SNPE", density_estimator="maf")
    train_s = time.perf_counter() - t0
    out = {"vbi": vbi.__version__, "simulations": args.simulations, "finite": int(ok.sum()), "compile_s": compile_s,
           "sim_wall_s": sim_s, "sim_cpu_s": sim_cpu, "runs_per_s": args.simulations / sim_s, "train_s": train_s,
           "hidden": []}
    print(f"vbi {vbi.__version__}: JR_sde numba compile {compile_s:.1f} s; {args.simulations} simulations of 10 s in "
          f"{sim_s:.1f} s wall ({sim_cpu:.1f} s CPU) = {args.simulations / sim_s:.2f} runs/s; {int(ok.sum())} finite; "
          f"training (Inference.train, SNPE maf) {train_s:.1f} s")
    width = hi - lo
    for i, truth in enumerate(HIDDEN):
        xo = torch.tensor(simulate(truth["a"], truth["b"], 101 + i), dtype=torch.float32)
        t1 = time.perf_counter()
        s = Inference.sample_posterior(xo, 10_000, post).numpy()
        dt = time.perf_counter() - t1
        q5, q95 = np.percentile(s, [5, 95], axis=0)
        tv = np.array([truth["a"], truth["b"]])
        inside = ((q5 <= tv) & (tv <= q95)).tolist()
        rel = ((q95 - q5) / width).tolist()
        out["hidden"].append({"truth": truth, "inside": inside, "width": rel, "sample_s": dt})
        print(f"truth {truth}: 90 % CI a [{q5[0]:.4f}, {q95[0]:.4f}] b [{q5[1]:.4f}, {q95[1]:.4f}]; contains truth "
              f"{inside}; width / prior range {np.round(rel, 3).tolist()}; 10 000 samples in {dt:.2f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
