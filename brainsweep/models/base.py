"""Model base class: declarative definition + run / run_batch / report.

brainsweep's own models are YAML files (``definitions/*.yaml``) compiled into subclasses by
``brainsweep.models.symbolic`` (see ``symbolic/_definition.py``); ALN is written by hand. A
hand-written model subclasses :class:`Model` and sets class attributes (``aln/model.py`` is an
example):

``name``, ``description``, ``equations`` (markdown), ``state_vars`` (tuple of
:class:`State`), ``parameters`` (tuple of :class:`Param`), ``rhs`` (module-level
``@njit(cache=True)`` function ``rhs(x, cpl, inp, p, const, dx)``, wrapped in
``staticmethod``), ``coupled_vars``, ``coupled_fn``, ``coupling_mode``,
``coupling_squared``, ``local_delays``, ``input_channels``, ``ou_mean_params``,
``ou_start_at_mean``, ``output_vars``, ``derived_vars``, ``derived_fn``,
``algebraic_vars``, ``bold_input``, ``bold_offset``, ``bold_scale``,
``integrator``, ``dt``. Override ``constants()`` to hand arrays to the rhs.
"""

from __future__ import annotations

import copy as _copy
from functools import cache

import numpy as np

from .bold import BoldResult
from .engine import simulate_runs
from .network import Network
from .params import Param, ParameterSet, State, format_bounds, format_value, unknown_name_error

__all__ = ["Model", "TR_PARAM"]

#: appended to every model's parameters: BOLD sampling interval
TR_PARAM = Param("TR", 2000.0, "ms", "BOLD repetition time (sampling interval of BOLD)", (0.0, None),
                 strict_low=True, per_node=False)  # fmt: skip


class Model:
    """Base class of all brainsweep models (see module docstring for the definition API)."""

    # ---- definition (overridden by model modules) ----
    name: str = "model"
    description: str = ""
    equations: str = ""
    state_vars: tuple[State, ...] = ()
    parameters: tuple[Param, ...] = ()
    rhs = None
    coupled_vars: tuple[str, ...] = ()
    coupled_fn = None
    coupling_mode: str = "additive"  # used when the model has no "coupling" choice parameter
    coupling_squared: bool = False
    local_delays: tuple[tuple[str, str], ...] = ()
    local_only_vars: tuple[str, ...] = ()  # last entries of coupled_vars that are not summed over the network
    input_channels: tuple[str, ...] = ()
    noise_channels: tuple[str, ...] | None = None  # input channels that receive OU/white noise (None: all)
    white_noise_param: str = "sigma_white"  # parameter holding the white-noise intensity
    ou_mean_params: tuple[str | None, ...] = ()
    ou_start_at_mean: bool = False
    output_vars: tuple[str, ...] = ()
    derived_vars: tuple[str, ...] = ()
    derived_fn = None
    algebraic_vars: tuple[str, ...] = ()
    bold_input: str = ""
    bold_offset: float = 0.0
    bold_scale: float = 1.0
    integrator: str = "euler"
    integrators: tuple[str, ...] = ("euler", "heun")  # the schemes the model may be run with
    dt: float = 0.1

    # ---- construction ----
    def __init__(self, Cmat=None, Dmat=None, *, delays=None, params: dict | None = None):
        """Cmat: weights (n x n, from column j to row i); Dmat: fibre lengths (mm) used with
        ``signalV`` (m/s); or delays: ms (n x n). Without Cmat: one node."""
        self.network = Network.build(Cmat, Dmat, delays)
        self.params = ParameterSet(self.spec()["params"], self.network.n_nodes)
        if params:
            self.params.update(params)
        self.initial_state: dict | np.ndarray | None = None
        self.outputs: dict = {}
        self.state: np.ndarray | None = None
        self.last_seed: int | None = None
        self.last_seeds: list[int] = []
        self.last_states: list[np.ndarray] = []

    @classmethod
    @cache
    def spec(cls) -> dict:
        """Derived definition tables (names, indices); checked once per class."""
        params = {p.name: p for p in cls.parameters}
        if "TR" not in params:
            params["TR"] = TR_PARAM
        state_names = [s.name for s in cls.state_vars]
        outputs = list(cls.output_vars or state_names)
        if len(params) != len(cls.parameters) + (0 if "TR" in {p.name for p in cls.parameters} else 1):
            raise TypeError(f"{cls.__name__}: duplicate parameter names")
        for v in outputs + [cls.bold_input] if cls.bold_input else outputs:
            if v not in state_names and v not in cls.derived_vars:
                raise TypeError(f"{cls.__name__}: output {v!r} is neither a state nor a derived variable")
        if cls.coupled_fn is None:
            for v in cls.coupled_vars:
                if v not in state_names:
                    raise TypeError(f"{cls.__name__}: coupled variable {v!r} is not a state variable")
        for v, pname in cls.local_delays:
            if v not in cls.coupled_vars or pname not in params:
                raise TypeError(f"{cls.__name__}: local delay ({v!r}, {pname!r}) needs a coupled var and a parameter")
        nl = len(cls.local_only_vars)
        if nl and tuple(cls.coupled_vars[-nl:]) != tuple(cls.local_only_vars):
            raise TypeError(f"{cls.__name__}: local_only_vars must be the last entries of coupled_vars")
        for ch in cls.noise_channels or ():
            if ch not in cls.input_channels:
                raise TypeError(f"{cls.__name__}: noise channel {ch!r} is not an input channel")
        if cls.ou_mean_params and len(cls.ou_mean_params) != len(cls.input_channels):
            raise TypeError(f"{cls.__name__}: need one ou_mean_params entry per input channel")
        return {
            "params": params,
            "param_names": list(params),
            "param_index": {n: k for k, n in enumerate(params)},
            "state_names": state_names,
            "output_names": outputs,
        }

    @property
    def param_names(self) -> list[str]:
        return list(self.params)

    @property
    def n_nodes(self) -> int:
        return self.network.n_nodes

    def constants(self) -> tuple:
        """Tuple of float64 arrays handed to the rhs as ``const`` (same types every call).
        An override may accept a keyword ``dt`` (ms): the engine then passes the run's dt."""
        return (np.zeros(1),)

    def copy(self) -> "Model":
        return _copy.deepcopy(self)

    # ---- initial state ----
    def _initial_state_array(self, initial_state, rng: np.random.Generator) -> np.ndarray:
        """(N, n_state) initial state: explicit value, else ``self.initial_state``, else random."""
        init = self.initial_state if initial_state is None else initial_state
        names = self.spec()["state_names"]
        N = self.n_nodes
        out = np.empty((N, len(names)))
        # draw all random values first so that the stream does not depend on what is given
        for k, s in enumerate(self.state_vars):
            out[:, k] = rng.uniform(s.init[0], s.init[1], N)
        if init is None:
            return out
        if isinstance(init, dict):
            for key, val in init.items():
                if key not in names:
                    raise unknown_name_error("state variable", key, names)
                out[:, names.index(key)] = np.broadcast_to(np.asarray(val, dtype=float), (N,))
        else:
            arr = np.asarray(init, dtype=float)
            if arr.shape != out.shape:
                raise ValueError(f"initial_state array must have shape {out.shape} (nodes, state vars), got {arr.shape}")
            out[:] = arr
        if not np.all(np.isfinite(out)):
            raise ValueError("initial_state contains NaN/inf")
        return out

    # ---- running ----
    def _merged(self, overrides: dict | None) -> dict:
        if not overrides:
            return self.params.to_dict()
        ps = self.params.copy()
        ps.update(overrides)
        return ps.to_dict()

    def _run_kwargs(self, duration, dt, sampling_dt, bold, tr, bold_dt, integrator, stimulus,
                    initial_state, outputs, chunk_ms, on_diverge, output_dtype=np.float64,
                    initial_history=None):  # fmt: skip
        if on_diverge not in ("raise", "return"):
            raise ValueError(f"on_diverge must be 'raise' or 'return', got {on_diverge!r}")
        return dict(
            duration=duration, dt=self.dt if dt is None else dt, sampling_dt=sampling_dt, bold=bool(bold),
            tr=tr, bold_dt=bold_dt, integrator=integrator or self.integrator, stimulus=stimulus,
            initial_state=initial_state, outputs=outputs, chunk_ms=chunk_ms, on_diverge=on_diverge,
            output_dtype=output_dtype, initial_history=initial_history,
        )  # fmt: skip

    def run(self, duration: float = 2000.0, *, dt: float | None = None, sampling_dt: float | None = None,
            bold: bool = False, tr: float | None = None, bold_dt: float | None = None, seed: int | None = None,
            integrator: str | None = None, stimulus: dict | None = None, initial_state=None,
            outputs: list[str] | None = None, chunk_ms: float = 10_000.0, output_dtype=np.float64,
            initial_history=None) -> dict:  # fmt: skip
        """Simulate ``duration`` ms and return the outputs dict (also kept in ``self.outputs``).

        dt (ms, default per model), sampling_dt (ms; default dt, or 1 ms when recording every
        step would take more than 100 MB per run: see ``engine.default_sampling_dt``; a run
        needing more than half the RAM warns with ``engine.MemoryUseWarning``), bold (Balloon-Windkessel,
        sampled every ``tr`` ms, default ``params["TR"]``; integrated every ``bold_dt`` ms,
        default 1 ms), seed (None draws one -> ``self.last_seed``), integrator ("euler"/"heun"),
        stimulus ({input channel: array (nodes x steps) | callable t_ms -> (nodes x len(t))}),
        initial_state ({state var: value or per-node array} or (nodes, n_state) array),
        outputs (names to record, default all; [] for BOLD only), output_dtype (float64 or
        float32: halves the memory of recorded outputs; integration is always float64),
        initial_history (the delayed past before t = 0, default the constant coupled quantities
        of the initial state: an array (nodes, coupled quantities ``coupled_vars``, max-delay
        steps), oldest first, the last entry at t = -dt, or a callable t_ms -> (nodes, coupled
        quantities); see ``engine.history_values``; ``engine.history_of_states`` turns a TVB-style
        history of the state variables into it).
        """
        kw = self._run_kwargs(duration, dt, sampling_dt, bold, tr, bold_dt, integrator, stimulus,
                              initial_state, outputs, chunk_ms, "raise", output_dtype,
                              initial_history)  # fmt: skip
        self.outputs = {}
        results, seeds, X = simulate_runs(self, [self._merged(None)], [seed], **kw)
        self.last_seed = seeds[0]
        self.state = X[0]
        self.outputs = results[0]
        self._after_run(self.outputs, self.state)
        return self.outputs

    def gradient(self, objective, wrt, duration: float, **kwargs):
        """``(loss, {parameter: dloss/dparameter})`` of ``objective`` on a deterministic run of
        this model, exact (discrete adjoint of the integrated scheme); ``per_node=[...]`` gives one
        value per node. See :func:`brainsweep.models.adjoint.gradient` for the arguments."""
        from .adjoint import gradient
        return gradient(self, objective, wrt, duration, **kwargs)

    def run_batch(self, param_dicts: list[dict], *, seeds=None, on_diverge: str = "raise",
                  duration: float = 2000.0, dt: float | None = None, sampling_dt: float | None = None,
                  bold: bool = False, tr: float | None = None, bold_dt: float | None = None,
                  integrator: str | None = None, stimulus: dict | None = None, initial_state=None,
                  outputs: list[str] | None = None, chunk_ms: float = 10_000.0,
                  output_dtype=np.float64, initial_history=None) -> list:  # fmt: skip
        """Run many parameter sets (dicts of overrides of ``self.params``) in one parallel call.

        seeds: None (draw one per run, see ``self.last_seeds``), an int (run k gets seed + k)
        or a list with one seed per run. Results are identical to ``run`` with the same seed.
        Returns a list of output dicts; with on_diverge="return", a diverged run's entry is
        its DivergenceError. Other arguments as in ``run`` (the default ``sampling_dt`` is
        chosen per run, so a batch samples exactly as single runs do;
        one ``initial_history`` serves every run).
        """
        param_dicts = list(param_dicts)
        if not param_dicts:
            return []
        if seeds is None:
            seeds = [None] * len(param_dicts)
        elif isinstance(seeds, (int, np.integer)):
            seeds = [int(seeds) + k for k in range(len(param_dicts))]
        else:
            seeds = list(seeds)
            if len(seeds) != len(param_dicts):
                raise ValueError(f"seeds has {len(seeds)} entries for {len(param_dicts)} parameter sets")
        merged = [self._merged(d) for d in param_dicts]
        kw = self._run_kwargs(duration, dt, sampling_dt, bold, tr, bold_dt, integrator, stimulus,
                              initial_state, outputs, chunk_ms, on_diverge, output_dtype,
                              initial_history)  # fmt: skip
        results, used, X = simulate_runs(self, merged, seeds, **kw)
        self.last_seeds = used
        self.last_states = [x for x in X]
        for out, state in zip(results, self.last_states):
            if isinstance(out, dict):
                self._after_run(out, state)
        return results

    def _after_run(self, out: dict, final_state: np.ndarray) -> None:
        """Hook called after each successful run (run and run_batch) with its outputs and final
        state (nodes, n_state); models may override it (e.g. to warn about table clipping)."""

    # ---- outputs ----
    def __getitem__(self, key):
        if key not in self.outputs:
            raise KeyError(f"no output {key!r}; available: {list(self.outputs)} (did you run the model?)")
        return self.outputs[key]

    @property
    def t(self) -> np.ndarray:
        return self["t"]

    @property
    def BOLD(self) -> BoldResult:
        if "BOLD" not in self.outputs:
            raise AttributeError("no BOLD output: run the model with bold=True")
        return BoldResult(self.outputs["BOLD_t"], self.outputs["BOLD"])

    # ---- documentation ----
    def report(self) -> str:
        """Markdown description: equations and the parameter table."""
        lines = [f"## {type(self).__name__} ({self.name})", "", self.description, ""]
        if self.equations:
            lines += ["### Equations", "", self.equations.strip(), ""]
        lines += ["### State variables", "", "| name | unit | description |", "|---|---|---|"]
        lines += [f"| {s.name} | {s.unit} | {s.description} |" for s in self.state_vars]
        lines += ["", "### Parameters", "", "| name | value | default | unit | bounds | description |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for name, p in self.spec()["params"].items():
            lines.append(
                f"| {name} | {format_value(self.params[name])} | {format_value(p.default)} | {p.unit} | "
                f"{format_bounds(p)} | {p.description} |"
            )
        lines += ["", f"Coupled variable(s): {', '.join(self.coupled_vars) or '-'}; "
                      f"inputs: {', '.join(self.input_channels) or '-'}; outputs: "
                      f"{', '.join(self.spec()['output_names'])}; BOLD input: {self.bold_input or '-'}; "
                      f"nodes: {self.n_nodes}; default integrator: {self.integrator}, dt = {self.dt} ms."]  # fmt: skip
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_nodes={self.n_nodes})"
