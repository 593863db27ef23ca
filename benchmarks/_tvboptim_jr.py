"""tvboptim 0.4.0 side of bench_tvboptim.py: run in tvboptim's own venv (jax, CPU), never imported.

    /tmp/tvboptim-venv/bin/python benchmarks/_tvboptim_jr.py problem.npz > result.json

``problem.npz`` (written by bench_tvboptim.py) holds the network (weights, delays in ms), the
Jansen-Rit parameters, the initial state, the run (duration, dt, sampling step), the Welch
settings, the target spectrum, the start (a, b), the learning rate and the number of steps.
The fit is TVB-O's notebook's: ``OptaxOptimizer(loss, optax.adam(lr))`` on free ``a`` and ``b``
with loss = 1 - correlation of the node-averaged Welch PSD of ``y1 - y2`` with the target.
Prints one JSON document: losses and (a, b) per step, CPU and wall seconds per step (first step,
which compiles, reported apart), float precision.
"""

import json
import os
import sys
import time

import numpy as np


def welch_jax(x, fs, nperseg):
    """scipy.signal.welch(x, fs, nperseg=nperseg) of each row (Hann, 50 % overlap, constant
    detrend, density, one-sided), in jax."""
    import jax.numpy as jnp

    n = x.shape[-1]
    step = nperseg - nperseg // 2
    starts = np.arange(0, n - nperseg + 1, step)
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(nperseg) / nperseg)   # periodic Hann, as scipy
    idx = starts[:, None] + np.arange(nperseg)[None, :]
    segs = x[:, idx]                                                         # rows, segments, M
    segs = segs - segs.mean(axis=-1, keepdims=True)
    X = jnp.fft.rfft(segs * win, axis=-1)
    nf = nperseg // 2 + 1
    scale = np.full(nf, 1.0 / (fs * (win * win).sum()))
    scale[1:nf - 1 if nperseg % 2 == 0 else nf] *= 2.0
    return (scale * jnp.abs(X) ** 2).mean(axis=1)


def main(path):
    p = dict(np.load(path))
    if p.get("x64", np.array(False)).item():
        os.environ["JAX_ENABLE_X64"] = "1"
    import jax
    import jax.numpy as jnp
    import optax
    from tvboptim.experimental.network_dynamics import Network, prepare
    from tvboptim.experimental.network_dynamics.coupling.tvb import DelayedSigmoidalJansenRit
    from tvboptim.experimental.network_dynamics.dynamics.tvb.jansen_rit import JansenRit
    from tvboptim.experimental.network_dynamics.graph import DenseDelayGraph
    from tvboptim.experimental.network_dynamics.solvers.native import Heun
    from tvboptim.optim.optax import OptaxOptimizer
    from tvboptim.types.parameter import Parameter

    names = [str(n) for n in p["param_names"]]
    params = {n: float(v) for n, v in zip(names, p["param_values"])}
    dyn = JansenRit(VARIABLES_OF_INTEREST=("y1", "y2"),
                    **{k: params[k] for k in ("A", "B", "a", "b", "v0", "nu_max", "r", "J", "a_1", "a_2",
                                              "a_3", "a_4", "mu")})
    dyn.INITIAL_STATE = tuple(float(v) for v in p["initial_state"])
    coupling = DelayedSigmoidalJansenRit(incoming_states=("y1", "y2"), G=params["coupling_a"],
                                         cmin=params["coupling_cmin"], cmax=params["coupling_cmax"],
                                         midpoint=params["coupling_midpoint"], r=params["coupling_r"])
    graph = DenseDelayGraph(jnp.asarray(p["weights"]), jnp.asarray(p["delays"]))
    net = Network(dyn, {"delayed": coupling}, graph)
    dt, duration = float(p["dt"]), float(p["duration"])
    every = int(p["sample_every"])
    block = int(p["block_size"]) if int(p["block_size"]) > 0 else None
    solve, config = prepare(net, Heun(block_size=block), t1=duration, dt=dt)
    fs, nperseg, transient = float(p["fs"]), int(p["nperseg"]), int(p["transient"])
    keep = np.asarray(p["keep"], dtype=bool)
    target = jnp.asarray(p["target_psd"])

    def loss(state):
        sol = solve(state)
        v = (sol.ys[every - 1::every, 0, :] - sol.ys[every - 1::every, 1, :]).T   # nodes, samples
        S = welch_jax(v[:, transient:], fs, nperseg).mean(axis=0)[keep]
        a, b = S - S.mean(), target - target.mean()
        return 1.0 - (a @ b) / jnp.sqrt((a @ a) * (b @ b))

    config.dynamics.a = Parameter(float(p["start"][0]))
    config.dynamics.b = Parameter(float(p["start"][1]))
    stamps, trace, params = [], [], []

    def callback(step, diff_state, static_state, fitting_data, aux, loss_value, grads):
        stamps.append((time.perf_counter(), time.process_time()))
        trace.append(float(loss_value))
        params.append((float(diff_state.dynamics.a.value), float(diff_state.dynamics.b.value)))
        return False, diff_state, static_state

    t0 = (time.perf_counter(), time.process_time())
    opt = OptaxOptimizer(loss, optax.adam(float(p["lr"])), callback=callback)
    final, _ = opt.run(config, max_steps=int(p["steps"]))
    a_end, b_end = float(final.dynamics.a.value), float(final.dynamics.b.value)
    stamps = [t0] + stamps
    wall = np.diff([s[0] for s in stamps])
    cpu = np.diff([s[1] for s in stamps])
    json.dump({"losses": trace, "a": a_end, "b": b_end, "params_after_each_update": params, "first_step_wall_s": float(wall[0]),
               "first_step_cpu_s": float(cpu[0]),
               "wall_s_per_step": float(wall[1:].mean()) if len(wall) > 1 else None,
               "cpu_s_per_step": float(cpu[1:].mean()) if len(cpu) > 1 else None,
               "dtype": str(jnp.asarray(1.0).dtype), "jax": jax.__version__,
               "devices": [str(d) for d in jax.devices()]}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
