"""hnn-core's biophysical network (NEURON) as a brainsweep evaluator.

```python
from brainsweep.explorer.hnn_eval import HNNEvaluator   # pip install brainsweep[hnn]  (hnn-core + NEURON)
ev = HNNEvaluator(network="jones_2009_model", set_params=set_params, tstop=170.0, n_trials=1,
                  smooth_window_len=30, scale_factor=3000, target="yes_trial_S1_ERP_all_avg.txt")
Study(ev, ParameterSpace(bounds=constraints), BayesOpt(n_calls=50), path="hnn_fit.h5").run()
```

Each run builds the network (``hnn_core.<network>(**network_kwargs)``, built once per process
and copied per run as hnn-core's ``Optimizer`` does), calls ``set_params(net, params)`` (the
function an hnn-core ``Optimizer`` takes, unchanged), and simulates it with hnn-core's own
single-process backend (``simulate_dipole``) inside the worker: under ``mpiexec`` each rank
runs whole simulations, so a parameter study scales with the number of ranks.

Post-processing and scores follow hnn-core 0.6's ``Optimizer`` exactly (its
``objective_functions._rmse_evoked``): every trial's dipole is scaled (``Dipole.scale``), then
smoothed (``Dipole.smooth``, a Hamming window of ``smooth_window_len`` ms), then the trials
are averaged (``average_dipoles``). ``dipole_rmse`` is hnn-core's ``_rmse(avg, target,
tstop=tstop)``: the aggregate dipole on samples ``[index(0 ms), index(tstop))``, so **the
sample at tstop is dropped** (hnn-core's slice), the longer series FFT-resampled
(``scipy.signal.resample``) to the shorter one's length. ``dipole_corr`` is hnn-core's
``_anticorr`` (``1 - Pearson correlation``, same samples). ``maximize_psd`` is hnn-core's band
objective: ``-sum_i(w_i * P(band_i)) / P(total)`` from a Hamming-windowed periodogram of the
aggregate dipole (computed on the trial average, which for ``n_trials=1`` is hnn-core's
single trial). All three are minimised. hnn-core's own functions compute them, so the numbers
are hnn-core's.

Seeds: with ``seed_from_run=True`` (default) every drive's ``event_seed`` is replaced after
``set_params`` by :func:`drive_event_seed` ``(run seed, drive name)``, so a run's spike inputs
are a function of the study seed and the run index only: the same serially, in a pool and
on any MPI rank, and ``brainsweep reproduce`` re-simulates a run bit for bit. Connection
seeds (``conn_seed``, used only for drive connections with ``probability < 1``) are drawn by
hnn-core when ``set_params`` adds the drive: a ``set_params(net, params, seed)`` that accepts
``seed`` receives the run seed to pass there. ``seed_from_run=False`` keeps the seeds
``set_params`` gives (hnn-core's defaults: ``event_seed=2``, ``conn_seed=3``), i.e. the same
noise realisation for every parameter set, as hnn-core's ``Optimizer`` does.

Stored per run: ``dipole`` (aggregate, nAm after ``scale_factor``) and ``dipole_t`` (ms);
with ``record_layers`` each layer (``dipole_L2``, ``dipole_L5``); with ``record_spikes``
``spike_times`` (ms), ``spike_gids``, ``spike_trials`` and ``spike_types`` (a numpy string
array), all trials concatenated.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from . import _plain
from ._hnn_args import (INSTALL_HINT, _as_call_kwargs, _f_bands, _import_hnn, _network_function, _number,
                        _objective_names, _plain_kwargs, _set_params_name, _target_arrays, _wants_seed)
from .runner import run_forked, run_record
from .storage import RunRecord

__all__ = ["HNNEvaluator", "drive_event_seed", "INSTALL_HINT"]

def drive_event_seed(run_seed: int, drive_name: str) -> int:
    """The ``event_seed`` hnn-core gets for drive ``drive_name`` in the run with seed
    ``run_seed`` (``seed_from_run=True``): 30 bits from ``numpy.random.SeedSequence``
    of the run seed and the drive name, leaving room for the gid and trial offsets hnn-core
    adds to it (``RandomState`` takes seeds below 2**32)."""
    name_key = int.from_bytes(hashlib.sha256(str(drive_name).encode()).digest()[:8], "little")
    word = np.random.SeedSequence([int(run_seed), name_key]).generate_state(1, np.uint32)[0]
    return int(word >> 2)


class _Drives(dict):
    """``net.external_drives`` during ``set_params``: a missing drive is named with the
    drives the network has."""

    def __missing__(self, key):
        have = ", ".join(map(repr, self)) or "none (set_params adds them with net.add_*_drive)"
        raise KeyError(f"the network has no drive {key!r}; its drives: {have}")



class HNNEvaluator:
    """Evaluate parameter sets on an hnn-core network (see the module docstring).

    Parameters
    ----------
    network : str
        An hnn-core network model (``"jones_2009_model"``, ``"law_2021_model"``,
        ``"calcium_model"``, ``"neymotin_2020_model"``) or ``"module:function"``.
    network_kwargs : dict
        Keyword arguments of the network function (e.g. ``{"mesh_shape": (3, 3)}``); lists
        are passed as tuples.
    set_params : callable ``set_params(net, params)`` or ``set_params(net, params, seed)``
        Adds/changes the drives and parameters of the network for one run (hnn-core's
        ``Optimizer`` convention). None: the network as built.
    tstop, dt : float
        Simulated duration and NEURON's fixed time step (ms).
    n_trials : int
        Trials simulated and averaged per run.
    smooth_window_len : float or None
        Hamming window (ms) of ``Dipole.smooth``; None or 0: no smoothing.
    scale_factor : float or None
        ``Dipole.scale`` factor; None: no scaling.
    target : hnn_core Dipole, DipoleData, (t_ms, dipole) or path, optional
        Measured dipole for ``dipole_rmse``/``dipole_corr``.
    objective : str or sequence of str
        Scores to return: ``"rmse"`` (``dipole_rmse``), ``"corr"`` (``dipole_corr``),
        ``"psd_band"`` (``maximize_psd``, needs ``f_bands`` and ``relative_bandpower``).
    record_layers, record_spikes : bool
        Also store layer dipoles / spike times.
    seed_from_run : bool
        Derive each drive's ``event_seed`` from the run seed (see the module docstring).
    fixed : dict
        Parameters passed to ``set_params`` in every run (a Study hands the evaluator only
        the explored values).
    timeout : float, optional
        Wall-clock limit of one run (s). With a limit each chunk of runs is simulated in a
        forked child process (NEURON computes in C, where no signal reaches Python): a run
        over the limit is stopped (SIGALRM while it is in Python; inside NEURON's solver the
        child is killed after a grace of ``1 s + 10 %``) and stored as a ``timeout`` run. Each
        run has a fresh child, so an interrupted simulation never leaves NEURON state to
        another run; the fork costs no measurable time next to a simulation (~1 s and more).
    """

    def __init__(self, network: str = "jones_2009_model", network_kwargs: dict | None = None, set_params=None,
                 tstop: float = 170.0, n_trials: int = 1, dt: float = 0.025, smooth_window_len: float | None = 30,
                 scale_factor: float | None = 3000, target=None, objective="rmse", f_bands=None,
                 relative_bandpower=None, record_layers: bool = False, record_spikes: bool = False,
                 seed_from_run: bool = True, fixed: dict | None = None, timeout: float | None = None):
        self._network_fn = _network_function(network)
        self.network = network
        self.network_kwargs = _plain_kwargs(network_kwargs)
        if set_params is not None and not callable(set_params):
            raise TypeError(f"set_params: expected a function set_params(net, params), got {type(set_params).__name__}")
        self.set_params = set_params
        self.tstop = _number("tstop", tstop)
        self.dt = _number("dt", dt)
        if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
            raise ValueError(f"n_trials: expected an integer >= 1, got {n_trials!r}")
        self.n_trials = int(n_trials)
        window = _number("smooth_window_len", smooth_window_len, positive=False, allow_none=True)
        if window is not None and (window < 0 or 0 < window < 1):
            raise ValueError(f"smooth_window_len: expected 0/None (no smoothing) or a window >= 1 ms "
                             f"(hnn-core's limit), got {smooth_window_len!r}")
        self.smooth_window_len = window or None
        self.scale_factor = _number("scale_factor", scale_factor, positive=False, allow_none=True)
        self.scores = _objective_names(objective)
        self.objective = objective if isinstance(objective, str) else list(objective)
        self.target = _target_arrays(target)
        if self.target is None and {"dipole_rmse", "dipole_corr"} & set(self.scores):
            raise ValueError(f"target: the objective {self.objective!r} compares with a measured dipole; "
                             f"give target= (an hnn_core Dipole, (t_ms, dipole) or a dipole file)")
        self.f_bands, self.relative_bandpower = (_f_bands(f_bands, relative_bandpower)
                                                 if "maximize_psd" in self.scores else (None, None))
        self.record_layers = bool(record_layers)
        self.record_spikes = bool(record_spikes)
        self.seed_from_run = bool(seed_from_run)
        self.fixed = dict(fixed or {})
        self.timeout = _number("timeout", timeout, allow_none=True)
        self._set_params_seed = set_params is not None and _wants_seed(set_params)
        self._base_net = None

    # -- pickling: the built network stays in the process that built it --------------------------------
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_base_net"] = None
        state["_network_fn"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._network_fn = _network_function(self.network)

    # -- identity and reference --------------------------------------------------------------------------
    def _settings(self) -> dict:
        """Everything that determines a run's result, as plain data."""
        target = None
        if self.target is not None:
            t, agg = self.target
            target = hashlib.sha256(np.ascontiguousarray(t).tobytes() + np.ascontiguousarray(agg).tobytes()).hexdigest()
        return {"network": self.network, "network_kwargs": self.network_kwargs, "tstop": self.tstop, "dt": self.dt,
                "n_trials": self.n_trials, "smooth_window_len": self.smooth_window_len,
                "scale_factor": self.scale_factor, "objective": list(self.scores), "f_bands": self.f_bands,
                "relative_bandpower": self.relative_bandpower, "record_layers": self.record_layers,
                "record_spikes": self.record_spikes, "seed_from_run": self.seed_from_run, "target": target}

    @property
    def identity(self) -> str:
        """``hnn:<network>[<set_params module:qualname>]#<hash>``: the hash covers the network and
        its kwargs, tstop, dt, n_trials, smoothing, scale, objective, target data, seeding, fixed
        values and the code of ``set_params``; resuming refuses a study whose evaluation changed."""
        from ._evaluator_ref import code_hash
        name = "none" if self.set_params is None else _set_params_name(self.set_params)
        code = None if self.set_params is None else code_hash(self.set_params)
        h = hashlib.sha256(_plain.encode({"settings": self._settings(), "set_params": name, "code": code}))
        try:
            h.update(_plain.encode(self.fixed))
        except TypeError:
            h.update(repr(sorted((k, repr(v)) for k, v in self.fixed.items())).encode())
        return f"hnn:{self.network}[{name}]#{h.hexdigest()[:16]}"

    def reference(self) -> dict | None:
        """Plain data from which :meth:`from_reference` rebuilds this evaluator without unpickling
        (``set_params`` by ``module:qualname`` with its code hash, the target's samples); None
        when ``set_params`` cannot be imported by name (``__main__``, a lambda, a closure) or a
        fixed value is not plain data."""
        from ._evaluator_ref import code_hash, importable_name
        target = None
        if self.set_params is not None:
            target = importable_name(self.set_params)
            if target is None:
                return None
        if ":" in self.network and importable_name(self._network_fn) is None:
            return None
        settings = self._settings()
        settings["target"] = None if self.target is None else {"t": self.target[0], "agg": self.target[1]}
        doc = {"kind": "hnn", **settings, "set_params": target,
               "code": None if self.set_params is None else code_hash(self.set_params), "fixed": self.fixed,
               "timeout": self.timeout}
        return _plain.or_none(doc)

    @classmethod
    def from_reference(cls, doc: dict) -> "HNNEvaluator":
        """The evaluator :meth:`reference` described. ``set_params`` is imported only through
        brainsweep's checks (no standard-library or private names, a plain function) and must
        still hash to the recorded code."""
        from ._evaluator_ref import _checked_function, code_hash
        from .storage import StudyFileError
        if not isinstance(doc, dict) or doc.get("kind") != "hnn":
            raise StudyFileError(f"hnn evaluator reference: expected kind 'hnn', got {doc!r:.80}")
        set_params = None
        if doc.get("set_params") is not None:
            set_params = _checked_function(doc["set_params"])
            now = code_hash(set_params)
            if now != doc.get("code"):
                raise StudyFileError(f"set_params {doc['set_params']} has changed since the study was run (its code "
                                     f"hashes to {str(now)[:12]}, the file recorded {str(doc.get('code'))[:12]})")
        target = doc.get("target")
        if target is not None:
            target = (np.asarray(target["t"], dtype=float), np.asarray(target["agg"], dtype=float))
        keys = ("network", "network_kwargs", "tstop", "dt", "n_trials", "smooth_window_len", "scale_factor",
                "objective", "f_bands", "relative_bandpower", "record_layers", "record_spikes", "seed_from_run",
                "fixed", "timeout")
        return cls(set_params=set_params, target=target, **{k: doc[k] for k in keys if k in doc})

    @classmethod
    def from_spec(cls, spec: dict, base_dir=".", fixed: dict | None = None) -> "HNNEvaluator":
        """The evaluator of a YAML study's ``model: {hnn: {...}}`` mapping (plain data).

        ``set_params`` is ``"module:function"`` (imported, as a YAML ``function:``), a
        ``target`` string is a dipole file relative to ``base_dir``; the other keys are the
        constructor's. ``fixed``: the study space's fixed values. Unknown keys and bad values
        raise ``ValueError``/``TypeError`` naming ``model.hnn.<key>``.
        """
        allowed = ("network", "network_kwargs", "set_params", "tstop", "n_trials", "dt", "smooth_window_len",
                   "scale_factor", "target", "objective", "f_bands", "relative_bandpower", "record_layers",
                   "record_spikes", "seed_from_run", "timeout")
        if not isinstance(spec, dict):
            raise TypeError(f"model.hnn: expected a mapping of settings ({', '.join(allowed)}), got {spec!r:.60}")
        unknown = sorted(set(spec) - set(allowed))
        if unknown:
            raise ValueError(f"model.hnn: unknown setting(s) {unknown} (allowed: {', '.join(allowed)})")
        kw = dict(spec)
        name = kw.get("set_params")
        if name is not None:
            if not isinstance(name, str) or name.count(":") != 1:
                raise ValueError(f"model.hnn.set_params: expected 'module:function', got {name!r}")
            from ._evaluator_ref import _import_target
            try:
                kw["set_params"] = _import_target(name)
            except Exception as err:  # noqa: BLE001 - name what could not be imported
                raise ValueError(f"model.hnn.set_params: cannot import {name!r} ({type(err).__name__}: {err})") from err
        if isinstance(kw.get("target"), str):
            kw["target"] = os.path.join(os.fspath(base_dir), kw["target"])
        try:
            return cls(fixed=fixed, **kw)
        except (ValueError, TypeError) as err:
            raise type(err)(f"model.hnn.{err}") from err

    # -- one run -----------------------------------------------------------------------------------------
    def _built_network(self):
        """The network as ``network(**network_kwargs)`` builds it, built once per process."""
        if self._base_net is None:
            self._base_net = self._network_fn(**_as_call_kwargs(self.network_kwargs))
        return self._base_net

    def _network(self, params: dict, seed: int):
        """A fresh copy of the built network with ``set_params`` applied and drive seeds set."""
        net = self._built_network().copy()
        net.external_drives = _Drives(net.external_drives)
        if self.set_params is not None:
            if self._set_params_seed:
                self.set_params(net, params, seed=seed)
            else:
                self.set_params(net, params)
        net.external_drives = dict(net.external_drives)
        if self.seed_from_run:
            for name, drive in net.external_drives.items():
                drive["event_seed"] = drive_event_seed(seed, name)
        return net

    def simulate(self, params: dict, seed: int = 0):
        """The run's trial dipoles (hnn-core ``Dipole`` objects after scale and smooth), their
        average and the simulated network (with ``cell_response``)."""
        hnn_core = _import_hnn()
        from hnn_core.dipole import average_dipoles
        from hnn_core.parallel_backends import JoblibBackend
        net = self._network(params, seed)
        with JoblibBackend(n_jobs=1):  # hnn-core's single-process backend, even if the caller set another
            dpls = hnn_core.simulate_dipole(net, tstop=self.tstop, dt=self.dt, n_trials=self.n_trials, verbose=False)
        for dpl in dpls:  # hnn-core's Optimizer order: scale, smooth, then average
            if self.scale_factor is not None:
                dpl.scale(self.scale_factor)
            if self.smooth_window_len is not None:
                dpl.smooth(self.smooth_window_len)
        return dpls, average_dipoles(dpls), net

    def _scores(self, avg) -> dict:
        from hnn_core.dipole import Dipole, _anticorr, _rmse
        out = {}
        if self.target is not None:
            target = Dipole(self.target[0], self.target[1])
            if "dipole_rmse" in self.scores:
                out["dipole_rmse"] = float(_rmse(avg, target, tstop=self.tstop))
            if "dipole_corr" in self.scores:
                out["dipole_corr"] = float(_anticorr(avg, target, tstop=self.tstop))
        if "maximize_psd" in self.scores:
            from hnn_core.optimization.objective_functions import _get_relative_power
            out["maximize_psd"] = float(_get_relative_power(
                avg, {"f_bands": self.f_bands, "relative_bandpower": self.relative_bandpower}))
        return out

    def evaluate_one(self, idx: int, params: dict, seed: int) -> RunRecord:
        def compute(p):
            _, avg, net = self.simulate(p, seed)
            result = self._scores(avg)
            result["dipole_t"] = np.asarray(avg.times, dtype=float)
            result["dipole"] = np.asarray(avg.data["agg"], dtype=float)
            if self.record_layers:
                for layer, values in avg.data.items():
                    if layer != "agg":
                        result[f"dipole_{layer}"] = np.asarray(values, dtype=float)
            if self.record_spikes:
                result.update(_spikes(net.cell_response))
            return result
        return run_record(compute, idx, params, seed, self.fixed, self.timeout)  # a failure keeps its traceback

    def evaluate_chunk(self, tasks: list) -> list[RunRecord]:
        if self.timeout is not None and hasattr(os, "fork"):
            self._built_network()  # built here once, inherited by every forked child
            # one child per run: a simulation interrupted inside NEURON never precedes another run
            return [record for task in tasks for record in run_forked(self.evaluate_one, [task], self.timeout)]
        return [self.evaluate_one(*task) for task in tasks]

    def __call__(self, params: dict, seed: int = 0) -> dict:
        """One run as a dict (scores and arrays), raising instead of recording a failure."""
        record = self.evaluate_chunk([(0, params, seed)])[0]  # under a time limit: in a child process
        if record.status != "ok":
            raise RuntimeError(f"hnn run {record.status}: {record.message}\n{record.traceback}")
        return {**record.scalars, **record.values}


def _spikes(cell_response) -> dict:
    times, gids, trials, kinds = [], [], [], []
    for trial, (t, g, k) in enumerate(zip(cell_response.spike_times, cell_response.spike_gids,
                                          cell_response.spike_types)):
        times.extend(t)
        gids.extend(g)
        kinds.extend(k)
        trials.extend([trial] * len(t))
    return {"spike_times": np.asarray(times, dtype=float), "spike_gids": np.asarray(gids, dtype=np.int64),
            "spike_trials": np.asarray(trials, dtype=np.int64), "spike_types": np.asarray(kinds, dtype=np.str_)}
