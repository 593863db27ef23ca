"""Speed of a TVB-O YAML model compiled by brainsweep.models.symbolic against the hand-written
model it describes: Jansen-Rit (tvbo JansenRit.yaml + SigmoidalJansenRit) vs JansenRitModel.

Both run in this one process, one after the other and alternating (``--repeat`` rounds), on
the same delayed network (tvb-data's 76 regions, weights normalised to row sum 1, lengths in
mm), same parameters (the YAML file's values), Heun, dt = 0.1 ms, outputs sampled every 1 ms,
single thread (numba.set_num_threads(1)). Compilation / cache loading is done by a first short
run and excluded. Prints node-steps per CPU-second (best of the rounds) and the ratio, and the
largest relative difference of the two runs' outputs.

Usage:  python benchmarks/bench_yaml_models.py [--duration 20000] [--repeat 3] [--batch 1]
Needs the tvbo files (pip install --no-deps tvbo==0.5.3, or $BRAINSWEEP_TVBO_PATH).
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

from brainsweep.data import load_connectome
from brainsweep.models import JansenRitModel
from brainsweep.models.symbolic import from_yaml


def _measure(model, duration, x0, batch):
    c0 = time.process_time()
    if batch == 1:
        out = model.run(duration, initial_state=x0, seed=1, sampling_dt=1.0)
    else:
        out = model.run_batch([{}] * batch, initial_state=x0, seeds=1, duration=duration, sampling_dt=1.0)[0]
    cpu = time.process_time() - c0
    return cpu, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=20_000.0, help="simulated ms per measurement")
    ap.add_argument("--repeat", type=int, default=3, help="rounds (best is reported)")
    ap.add_argument("--batch", type=int, default=1, help="runs per call (run_batch when > 1)")
    ap.add_argument("--all-inputs", action="store_true", help="YAML model with an input channel on every state")
    args = ap.parse_args(argv)
    if args.repeat < 1 or args.batch < 1 or args.duration <= 0:
        ap.error("--repeat and --batch must be >= 1 and --duration > 0")
    numba.set_num_threads(1)
    sc = load_connectome("tvb76", normalize="rowsum")
    # input channels as the hand-written model: one, on y4 (the afferent p); --all-inputs: one per state
    inputs = None if args.all_inputs else ("y4",)
    y = from_yaml("JansenRit", coupling="SigmoidalJansenRit", Cmat=sc.Cmat, Dmat=sc.Dmat, inputs=inputs)
    h = JansenRitModel(sc.Cmat, sc.Dmat)
    h.params.update({k: y.params[k] for k in h.params if k in y.params})
    x0 = np.random.default_rng(0).uniform(-1, 1, (sc.n_regions, 6)) * np.array([1, 5, 5, 1, 1, 1])
    for m in (y, h):  # compile / load from cache
        _measure(m, 100.0, x0, args.batch)
    node_steps = sc.n_regions * args.duration / h.dt * args.batch
    best = {"yaml": np.inf, "hand": np.inf}
    outs = {}
    for _ in range(args.repeat):
        for key, m in (("yaml", y), ("hand", h)):
            cpu, outs[key] = _measure(m, args.duration, x0, args.batch)
            best[key] = min(best[key], cpu)
    rate = {k: node_steps / v for k, v in best.items()}
    diff = max(np.max(np.abs(outs["yaml"][s] - outs["hand"][s])) / np.max(np.abs(outs["hand"][s]))
               for s in ("y0", "y1", "y2", "y3", "y4", "y5"))
    print(f"Jansen-Rit, {sc.n_regions} regions, {args.duration:g} ms, dt {h.dt} ms, Heun, batch {args.batch}, "
          f"1 thread, best of {args.repeat}; YAML input channels: {', '.join(y.input_channels) or '-'}")
    print(f"  JansenRitModel (hand-written): {rate['hand'] / 1e6:8.2f} M node-steps per CPU-second ({best['hand']:.2f} s)")
    print(f"  JansenRit.yaml (generated)   : {rate['yaml'] / 1e6:8.2f} M node-steps per CPU-second ({best['yaml']:.2f} s)")
    print(f"  ratio yaml / hand-written    : {rate['yaml'] / rate['hand']:.3f}")
    print(f"  largest relative difference of the outputs: {diff:.2e}")


if __name__ == "__main__":
    main()
