"""Exact gradients of a scalar objective through the engine's scheme (discrete adjoint).

>>> from brainsweep.models.adjoint import gradient
>>> from brainsweep.evaluation.differentiable import sum_of_squares
>>> loss, grads = gradient(model, sum_of_squares(target, key="x"), wrt=["K_gl", "a"],
...                        duration=200.0, dt=0.1, sampling_dt=1.0, seed=3, per_node=["a"])

What is covered: every model of the zoo. Every model defined by a YAML file — TVB-O's
(:func:`brainsweep.models.from_yaml`) and brainsweep's own definitions of the built-ins (Hopf,
FitzHugh-Nagumo, Wilson-Cowan, Jansen-Rit, thalamic, Kuramoto with its ``n_nodes`` read from the
run's constants, Wong-Wang with its algebraic rate states) — with its equations taken from that
definition (:mod:`._symbolic`); ALN with its equations traced from the numba right-hand side the
engine runs, transfer-table slopes, adaptation and squared-weight coupling included
(:mod:`._aln`; Euler, as ALN allows); runs without stimulus,
deterministic or stochastic (OU / white noise of the run's seed, held fixed: the gradient is that
of the run with that noise realisation, :mod:`._noise`), Euler and Heun exactly as the engine
integrates them (coupling and delays rounded to steps, history = initial state, coupling and
noise held fixed in both Heun stages), outputs sampled every ``sampling_dt`` and BOLD
(Balloon-Windkessel, :mod:`._bold`). The forward pass calls the model's own numba functions in
the engine's order of operations, so its outputs equal ``model.run``'s; the backward sweep is the
discrete adjoint of that scheme (sympy vector-Jacobian products generated into numba), so the
gradient is exact to rounding, for any number of parameters at a cost of 1.8-2.3 forward runs
for 1 s simulated on tvb68 and 2.1-3.1 for 10 s, where checkpointed segments but the last are
integrated twice (ALN: 2.9 at 1 s, 3.7 at 10 s, its VJP's step-invariant parts computed once per
node, shared reciprocals, the table cells' slopes in straight-line code; ``benchmarks/
bench_gradients.py --zoo --seconds 1 10``, ``--model ALNModel`` for one model).
Memory is bounded by checkpointing (see :func:`gradient`).
"""

from __future__ import annotations

import inspect
import threading

import numpy as np

from ..engine import DEFAULT_OUTPUT_BUDGET
from ..noise import seed_state
from ._bold import balloon_backward, balloon_forward, rest
from ._codegen import load_kernels
from ._noise import NoiseSource, noise_params
from ._specs import SymbolicSpec, check_supported, fixed_params, initial_value_params, spec_for, variant_of

__all__ = ["gradient", "forward", "no_derivative", "SymbolicSpec"]


def _bold_setup(model, bold, tr, bold_dt, dt, n_steps, N):
    """The engine's BOLD timing (see engine.simulate_runs) and the adjoint's BOLD arrays."""
    cls = type(model)
    if not bold:
        return dict(k=-1, every=1, off=0.0, scale=0.0, ZACC=np.zeros(1), Z=np.zeros((1, N)), LZ=np.zeros((1, N)))
    states = cls.spec()["state_names"]
    if cls.bold_input not in states:
        raise ValueError(f"gradient: {cls.__name__}'s BOLD input {cls.bold_input!r} is not a state variable; "
                         f"gradients through BOLD need one")
    TR = float(model.params["TR"] if tr is None else tr)
    tr_every = int(round(TR / dt))
    if tr_every < 1 or abs(tr_every * dt - TR) > 1e-9 * TR:
        raise ValueError(f"TR = {TR} ms must be a positive multiple of dt = {dt} ms")
    if bold_dt is None:
        every = max(1, int(round(1.0 / dt)))
        if tr_every % every or abs(every * dt - 1.0) > 1e-9:
            every = 1
    else:
        every = int(round(bold_dt / dt))
        if every < 1 or abs(every * dt - bold_dt) > 1e-9 * bold_dt or tr_every % every:
            raise ValueError(f"bold_dt = {bold_dt} ms must be a multiple of dt = {dt} ms dividing TR = {TR} ms")
    return dict(k=states.index(cls.bold_input), every=every, off=float(cls.bold_offset), scale=float(cls.bold_scale),
                ZACC=np.zeros(N), Z=np.zeros((n_steps // every, N)), LZ=np.zeros((1, N)), TR=TR,
                tr_per_step=tr_every // every, n_tr=n_steps // tr_every, dt_s=every * dt * 1e-3)


def _setup(model, duration, dt, sampling_dt, integrator, seed, initial_state, wrt=(), bold=False, tr=None,
           bold_dt=None):
    cls = type(model)
    check_supported(cls)  # a model without equations the adjoint reads: the clear error now
    mspec = cls.spec()
    pnames = list(mspec["param_names"])
    pd = model.params.to_dict()
    dt = float(model.dt if dt is None else dt)
    n_steps = int(round(duration / dt))
    if abs(n_steps * dt - duration) > 1e-9 * max(1.0, duration):
        raise ValueError(f"duration {duration} ms is not a whole number of steps of dt = {dt} ms")
    sampling_dt = dt if sampling_dt is None else float(sampling_dt)
    sample_every = int(round(sampling_dt / dt))
    if sample_every < 1 or abs(sample_every * dt - sampling_dt) > 1e-9 * sampling_dt:
        raise ValueError(f"sampling_dt {sampling_dt} ms is not a whole number of steps of dt = {dt} ms")
    integrator = cls.integrator if integrator is None else integrator
    allowed = [m for m in ("euler", "heun") if m in getattr(cls, "integrators", ("euler", "heun"))]
    if integrator not in allowed:
        raise ValueError(f"integrator: {cls.__name__} integrates with {allowed}, got {integrator!r}")
    net = model.network
    N = net.n_nodes
    specs = mspec["params"]
    P = np.empty((N, len(pnames)))
    for k, name in enumerate(pnames):
        P[:, k] = specs[name].as_float(pd[name])
    steps = net.delay_steps(pd.get("signalV"), dt)
    indptr, indices, w, w2 = net.csr()
    delays = np.ascontiguousarray(net.csr_delays(steps))
    lst = np.zeros((N, max(len(cls.local_delays), 1)), dtype=np.int64)
    for m, (_, pname) in enumerate(cls.local_delays):  # as the engine: rounded to steps per node
        lst[:, m] = np.rint(np.broadcast_to(pd[pname], (N,)) / dt).astype(np.int64)
    D = int(max(delays.max(initial=0), lst.max(initial=0)))
    if D > n_steps:
        raise ValueError("delays longer than the run")
    rowsum = np.ascontiguousarray(net.Cmat.sum(axis=1))
    diff = (1.0 if pd["coupling"] == "diffusive" else 0.0) if "coupling" in specs else \
        (1.0 if cls.coupling_mode == "diffusive" else 0.0)
    if seed is None:
        raise ValueError("gradient: give seed= (the initial state is drawn from it, as model.run does)")
    rng_state, init_rng = seed_state(int(seed))
    if hasattr(model, "_prepare"):  # ALN: its run's initial values (filtered sigmas, clip count)
        initial_state = model._prepare(integrator, initial_state)
    X0 = model._initial_state_array(initial_state, init_rng)
    out_names = list(mspec["output_names"])
    kern = load_kernels(cls, lambda: spec_for(model), pnames, out_names,
                        [n for n in wrt if n in pnames and mspec["params"][n].choices is None], variant_of(model))
    const = model.constants(dt=dt) if "dt" in inspect.signature(model.constants).parameters else model.constants()
    stride = max(len(cls.coupled_vars), 1) * N  # flat H: (step, quantity, node)
    off = np.ascontiguousarray(indices - delays * stride).astype(np.int64)
    loff = np.ascontiguousarray(np.arange(N)[:, None] - lst * stride).astype(np.int64)
    nc1 = max(len(cls.coupled_vars), 1)  # flat MU of the backward sweep: (step, node, quantity)
    boff = np.ascontiguousarray(indices * nc1 - delays * (N * nc1)).astype(np.int64)
    return dict(kern=kern, off=off, loff=loff, boff=boff, bold=_bold_setup(model, bold, tr, bold_dt, dt, n_steps, N), n_steps=n_steps, dt=dt, heun=integrator == "heun", P=P, X0=X0,
                const=tuple(const), indptr=indptr, indices=indices, w=w, w2=w2, delays=delays, lst=lst,
                diff=diff, rowsum=rowsum, sample_every=sample_every, out_names=out_names,
                pnames=pnames, N=N, NS=len(mspec["state_names"]), NC=len(cls.coupled_vars), D=D,
                NCT=(len(cls.coupled_vars) - len(cls.local_only_vars)) * (2 if cls.coupling_squared else 1)
                + len(cls.local_delays),
                noise=NoiseSource(cls, P, pnames, rng_state, dt))


#: the last workspace, kept for the next gradient of the same shapes (one per thread)
_KEPT = threading.local()


def _workspace(s, every):
    """Arrays for one segment of up to ``every`` steps, reused by every segment and, if at most
    twice :data:`WORKSPACE_BUDGET` bytes, kept for the next call with the same shapes (an
    optimizer's steps): fresh arrays cost a page fault per 4 kB on first touch (measured 15 % of
    the forward pass, 8 % of a whole gradient of Hopf on 68 nodes)."""
    N, NS, heun = s["N"], s["NS"], s["heun"]
    shapes = dict(X=(every + 1, N, NS), H=(every + s["D"] + 1, max(s["NC"], 1), N),
                  CS=(every, N, max(s["NCT"], 1)), XP=(every if heun else 1, N, NS),
                  INP=(every if s["noise"].active else 1, N, max(s["noise"].NI, 1)),
                  MU=(every + s["D"] + 2, N, max(s["NC"], 1)))
    ws = getattr(_KEPT, "ws", None)
    _KEPT.ws = None  # in use: a gradient called by an objective gets its own
    if ws is not None and any(ws[k].shape != shape for k, shape in shapes.items()):
        ws = None  # freed before the new one is allocated
    if ws is None:
        ws = {k: np.empty(shape) for k, shape in shapes.items()}
    s["ws"] = ws


def _keep_workspace(s):
    """Keep this call's workspace for the next call if it is at most twice the budget."""
    if sum(a.nbytes for a in s["ws"].values()) <= 2 * WORKSPACE_BUDGET:
        _KEPT.ws = s["ws"]


def _segment_forward(s, g0, g1, x0, hist, noise_state, Y, keep=True):
    """Integrate steps g0..g1 from state x0 with the coupled quantities ``hist`` of steps
    g0 - D..g0 (None for g0 = 0) and the noise from ``noise_state`` (advanced):
    (X of steps g0..g1 (unless ``keep`` only the state of step g in row (g - g0) % 2), H window,
    its base step, the inputs of steps g0..g1 - 1, the coupling vectors and Heun predictors of
    those steps (not written unless ``keep``)), all views of the workspace."""
    base = g0 - s["D"]
    n, ws = g1 - g0, s["ws"]
    X = ws["X"][:n + 1]
    X[0] = x0
    H = ws["H"][:g1 - base + 1]
    if hist is not None:
        H[:len(hist)] = hist
    INP = s["noise"].inputs(n, noise_state, ws["INP"][:n])
    CS = ws["CS"][:n]
    XP = ws["XP"][:n] if s["heun"] else ws["XP"]
    b = s["bold"]
    s["kern"].forward(g0, g1, s["dt"], s["heun"], X, H, base, s["P"], s["const"], s["indptr"],
                      s["off"], s["w"], s["w2"], s["loff"], s["diff"], s["rowsum"], s["sample_every"],
                      Y, INP, s["noise"].active, CS, XP, b["k"] if s["first_pass"] else -1, b["every"], b["off"],
                      b["scale"], b["ZACC"], b["Z"], keep)
    return X, H, base, INP, CS, XP


def _segments(n_steps, every):
    """(g0, g1) of each segment of at most ``every`` steps, the first one the shortest: the last
    segment is kept from the first pass and each other one is integrated again, so a full last
    segment integrates the fewest steps twice (ALN, 1 s on tvb68: 2341 instead of 7659)."""
    first = n_steps - (-(-n_steps // every) - 1) * every
    return [(0, first)] + [(g0, g0 + every) for g0 in range(first, n_steps, every)]


def _forward_pass(s, every):
    """Whole run: outputs Y and the checkpoints (state, coupled-quantity history) of each segment."""
    n, N = s["n_steps"], s["N"]
    Y = np.zeros((len(s["out_names"]), N, n // s["sample_every"]))
    x, hist, checkpoints, last = s["X0"], None, [], None
    _workspace(s, min(every, n))
    s["first_pass"] = True
    noise_state = s["noise"].state()
    for g0, g1 in _segments(n, every):
        checkpoints.append((x.copy(), None if hist is None else hist.copy(), s["noise"].state(noise_state)))
        # only the last segment's coupling vectors and predictors are read before it is integrated again
        keep = g1 == n
        X, H, base, INP, CS, XP = _segment_forward(s, g0, g1, x, hist, noise_state, Y, keep)
        nb = g1 - s["D"]
        x, hist, last = X[-1 if keep else (g1 - g0) % 2].copy(), H[nb - base:], (X, H, base, INP, CS, XP)
    s["first_pass"] = False  # segments integrated again do not add to the BOLD input
    return Y, checkpoints, last


def _outputs(s, Y):
    """{name: (nodes, samples)} and, with BOLD, "BOLD" (nodes, TRs) and "BOLD_t" (ms)."""
    out = {name: Y[k] for k, name in enumerate(s["out_names"])}
    b = s["bold"]
    if b["k"] >= 0:
        b["S"] = np.empty((b["Z"].shape[0] + 1, 4, s["N"]))
        b["S"][0] = rest(s["N"])
        out["BOLD"] = np.zeros((s["N"], b["n_tr"]))
        balloon_forward(b["Z"], b["dt_s"], b["tr_per_step"], b["S"], out["BOLD"])
        out["BOLD_t"] = (np.arange(b["n_tr"]) + 1) * b["TR"]
    return out


#: bytes of stored steps (states, Heun predictors, coupling vectors, coupled quantities and their
#: adjoints, noise inputs) that a gradient keeps at once by default: the engine's default output
#: budget of a forward run
WORKSPACE_BUDGET = DEFAULT_OUTPUT_BUDGET


def _checkpoint_steps(s, checkpoint_every):
    if checkpoint_every is None:
        # segments as long as the workspace budget allows (fewer segments integrated twice), and
        # at least about sqrt(steps x history) steps, which keeps memory ~ sqrt(steps) beyond it
        per_step = 8 * s["N"] * (s["NS"] * (2 if s["heun"] else 1) + max(s["NCT"], 1) + 2 * max(s["NC"], 1)
                                 + (s["noise"].NI if s["noise"].active else 0))
        return max(256, int(np.sqrt(s["n_steps"] * (s["D"] + 2))), int(WORKSPACE_BUDGET // per_step))
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, (int, np.integer)) \
            or checkpoint_every < 1:
        raise ValueError(f"checkpoint_every: expected a number of steps >= 1, got {checkpoint_every!r}")
    return int(checkpoint_every)


def forward(model, duration, *, dt=None, sampling_dt=None, integrator=None, seed=None, initial_state=None,
            bold=False, tr=None, bold_dt=None):
    """The outputs {name: (nodes, samples)} of the adjoint's forward pass (equal to ``model.run``'s)."""
    s = _setup(model, duration, dt, sampling_dt, integrator, seed, initial_state, (), bold, tr, bold_dt)
    Y, _, _ = _forward_pass(s, s["n_steps"])
    _keep_workspace(s)
    return _outputs(s, Y)


def no_derivative(model, name: str) -> str | None:
    """Why parameter ``name`` (a parameter of ``model``) has no derivative here, as the end of
    "parameter 'x' of Model ...": a choice, a delay rounded to whole steps, a parameter the
    model's adjoint holds fixed (ALN's table parameters), one that sets the noise (held fixed:
    the realisation of the seed); None if it has one."""
    cls = type(model)
    specs = cls.spec()["params"]
    if specs[name].choices is not None:
        return f"is a choice {list(specs[name].choices)} (explore it with a grid, not a gradient)"
    if name == "signalV" or name in {pn for _, pn in getattr(cls, "local_delays", ())}:
        return "sets delays rounded to whole steps"
    why = fixed_params(model).get(name)
    if why:
        return why
    if name in noise_params(cls, specs):
        return "sets the noise, which a gradient holds fixed (the realisation of the run's seed)"
    return None


def _check_differentiable(model, names):
    """A clear error, before anything runs, for a parameter that has no derivative here."""
    cls = type(model)
    specs = cls.spec()["params"]
    for name in names:
        if name not in specs:
            raise ValueError(f"gradient: unknown parameter {name!r} of {cls.__name__}")
        why = no_derivative(model, name)
        if why:
            raise ValueError(f"gradient: parameter {name!r} of {cls.__name__} {why}; it has no derivative")


def gradient(model, objective, wrt, duration, *, dt=None, sampling_dt=None, integrator=None,
             seed=None, initial_state=None, per_node=(), checkpoint_every=None, bold=False, tr=None, bold_dt=None):
    """(loss, {param: dloss/dparam}) of ``objective`` on a run of ``model`` (with a seed's noise held fixed).

    ``objective(outputs) -> (loss, {output name: dloss/doutput})`` with outputs as
    ``model.run`` returns them (nodes x samples; see :mod:`brainsweep.evaluation.differentiable`).
    ``wrt``: parameter names; the gradient of a parameter in ``per_node`` is an array (one value
    per node, the parameter's value at that node), else the derivative with respect to one value
    shared by all nodes (the sum over nodes). Units: loss units per parameter unit.
    ``bold=True`` (``tr``, ``bold_dt`` as ``model.run``) adds ``"BOLD"`` (nodes x TRs) to the
    outputs, integrated by the engine's Balloon-Windkessel scheme; the objective may return its
    gradient (the model's BOLD input must be a state variable).

    Memory: the run is cut into segments of ``checkpoint_every`` steps (default: as many as fit
    in :data:`WORKSPACE_BUDGET` bytes of stored steps, 100 MB, and at least about
    sqrt(steps x (max delay + 2))); only each segment's first state, noise state and the coupled
    quantities of the max delay before it are kept, and each segment but the last is integrated
    again during the backward sweep (cost: up to one more forward run, less the first pass's
    stores of those segments; with ``checkpoint_every >= steps`` every step is kept instead and
    nothing is integrated twice). The gradient is the same either way. The segment workspace
    (at most twice the budget) stays allocated for the next call of the same shapes.
    """
    wrt = list(wrt)
    _check_differentiable(model, wrt + list(per_node))
    s = _setup(model, duration, dt, sampling_dt, integrator, seed, initial_state, wrt, bold, tr, bold_dt)
    every = _checkpoint_steps(s, checkpoint_every)
    Y, checkpoints, last = _forward_pass(s, every)
    outputs = _outputs(s, Y)
    loss, dY = objective(outputs)
    LY = np.zeros_like(Y)
    b = s["bold"]
    bold_k = -1
    if "BOLD" in dY and b["k"] >= 0:  # BOLD's adjoint first: dL/d(BOLD input average) per BOLD step
        LZ = np.zeros_like(b["Z"])
        balloon_backward(b["Z"], b["dt_s"], b["tr_per_step"], b["S"], np.ascontiguousarray(dY["BOLD"], dtype=float), LZ)
        b["LZ"] = LZ * (b["scale"] / b["every"])
        bold_k = b["k"]
    for name, g in dY.items():
        if name == "BOLD" and bold_k >= 0:
            continue
        if name not in s["out_names"]:
            raise ValueError(f"the objective's gradient names output {name!r}; outputs are {s['out_names']}")
        LY[s["out_names"].index(name)] = g
    GP = np.zeros_like(s["P"])
    lam = np.zeros((s["N"], s["NS"]))
    D, MU = s["D"], s["ws"]["MU"]
    carry = np.zeros((D + 1,) + MU.shape[1:])  # dL/dh of the D + 1 steps before the later segment
    scratch = np.zeros_like(Y)
    segments = _segments(s["n_steps"], every)
    for k in range(len(segments) - 1, -1, -1):
        g0, g1 = segments[k]
        X, H, base, INP, CS, XP = last if k == len(segments) - 1 else _segment_forward(s, g0, g1, *checkpoints[k],
                                                                                      scratch)
        n = g1 - g0  # MU row r holds step base + r = g0 - D + r
        MU[:n] = 0.0
        MU[n:n + D + 1] = carry
        MU[n + D + 1:] = 0.0
        s["kern"].backward(g0, g1, s["n_steps"], s["dt"], s["heun"], X, H, base, s["P"], s["const"],
                           s["indptr"], s["indices"], s["w"], s["w2"], s["delays"], s["boff"], s["lst"], s["diff"],
                           s["rowsum"], s["sample_every"], LY, GP, lam, MU, INP, s["noise"].active, CS, XP, bold_k,
                           b["every"], b["LZ"])
        carry[:] = MU[:D + 1]
    _keep_workspace(s)
    states = type(model).spec()["state_names"]
    for state, pname in initial_value_params(model, initial_state).items():  # x(0) set by a parameter
        GP[:, s["pnames"].index(pname)] += lam[:, states.index(state)]
    out = {}
    for name in wrt:
        col = GP[:, s["pnames"].index(name)]
        out[name] = col.copy() if name in per_node else float(col.sum())
    return float(loss), out
