"""Reload a study: ``load(path)`` gives a :class:`Results` with a DataFrame of all runs,
lazy access to each run's arrays, the best runs, and plots."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ._leaves import read_rows, read_value, rows_leaf, rows_lengths
from .storage import RESERVED, StudyFile, StudyFileError, UntrustedStateError, read_attachments, run_group

__all__ = ["load", "Results"]


def load(path) -> "Results":
    """Open a study file written by :class:`Study` (read-only)."""
    return Results(str(path))


class Results:
    """A stored study.

    Attributes
    ----------
    df : pandas.DataFrame
        One row per stored run, indexed by run index: parameters, scores, ``status``
        (ok / failed / diverged / timeout), ``seed``, ``runtime`` (s), strategy tags
        (``generation``, ``iteration`` or ``batch``), ``message`` (error text).
    params : list of explored parameter names
    scores : list of scalar score names
    provenance : dict (versions, host, command, git commit, creation time)
    attachments : dict file name -> bytes (files the study was made from, e.g. its YAML)
    study_id : str or None
        Random id written when the study file was created (None for format-1 files).
    strategy_state_note : str
        Why ``strategy_state`` is None although batches were told ("" otherwise).

    Reading never runs code from the file: the strategy state of a format-1 file (a
    pickle) is not read (see ``strategy_state_note``).
    """

    def __init__(self, path: str):
        self.path = path
        with StudyFile.open(path, "r") as f:
            self.trajectory = f.traj
            self.study_id = f.study_id
            self.format_version = f.version
            self.seed = f.seed
            self.fingerprint = f.fingerprint
            self.params = list(f.param_names)
            self._kinds = f.kinds()
            self.scores = list(f.score_kinds())
            self.tags = [k for k, v in self._kinds.items() if v == "tag"]
            self.provenance = f.provenance
            self.n_registered = f.n_registered
            self.df = self._frame(f)
            try:
                self._state, self.strategy_state_note = f.last_state()[1], ""
            except UntrustedStateError as err:
                self._state, self.strategy_state_note = None, str(err)
            self.attachments = read_attachments(f.h5)

    def __repr__(self) -> str:
        counts = self.df["status"].value_counts().to_dict() if len(self.df) else {}
        return (f"<Results {self.path}: {len(self.df)} of {self.n_registered} runs stored {counts}; "
                f"parameters {self.params}; scores {self.scores}>")

    @property
    def strategy(self) -> dict:
        return self.fingerprint["strategy"]

    @property
    def strategy_state(self):
        """The strategy's state after its last completed batch (population, optimizer...)."""
        return self._state

    def _frame(self, f: StudyFile) -> pd.DataFrame:
        t = f._table
        if t is None:
            return pd.DataFrame(columns=["status"] + self.params).rename_axis("idx")
        rec = t.read()
        names = json.loads(t.attrs.BRAINSWEEP_PARAMS)
        cols = {}
        for name in rec.dtype.names:
            kind = self._kinds[name]
            col = rec[name]
            if kind in ("status", "worker", "message", "param:str"):
                col = pd.array(np.char.decode(col, "utf-8", "replace"), dtype=object)
            elif kind == "int" and name not in RESERVED:
                col = pd.array(np.where(np.isnan(col), None, col), dtype="Int64")
            elif kind == "bool" and name not in RESERVED:
                col = pd.array(np.where(np.isnan(col), None, col.astype(object) != 0.0), dtype="boolean")
            elif kind == "param:bool":
                col = col.astype(bool)
            cols[names.get(name, name)] = col
        df = pd.DataFrame(cols)
        df = df.set_index("idx").sort_index()
        order = self.params + [c for c in df.columns if c not in self.params]
        return df[order]

    # -- per-run data -------------------------------------------------------------
    def run(self, idx: int) -> dict:
        """All stored values of run ``idx`` (arrays read now, from disk), with its scalar
        scores and parameters."""
        idx = int(idx)
        if idx not in self.df.index:
            raise KeyError(f"run {idx} is not stored in {self.path} "
                           f"(stored: {len(self.df)} runs, indices {self.df.index.min()}..{self.df.index.max()})")
        row = self.df.loc[idx]
        out = {k: _py(row[k]) for k in self.params + self.scores if not _isna(row[k])}
        with StudyFile.open(self.path, "r") as f:
            group = run_group(f.h5, self.trajectory, idx)
            if group is not None:
                for child in group._f_iter_nodes():
                    out[child._v_name] = read_value(child)
            for name in rows_lengths(f.h5, f.rows_path):
                rows = read_rows(rows_leaf(f.h5, f.rows_path, name), [idx])
                if idx in rows:
                    out[name] = rows[idx]
        return out

    def arrays(self, key: str, idxs=None) -> dict:
        """``{idx: value}`` of one stored result over many runs (default: all ok runs)."""
        idxs = self.df.index[self.df["status"] == "ok"] if idxs is None else idxs
        idxs = [int(i) for i in idxs]
        out = {}
        with StudyFile.open(self.path, "r") as f:
            leaf = rows_leaf(f.h5, f.rows_path, key)
            from_rows = {} if leaf is None else read_rows(leaf, idxs)
            for i in idxs:
                if i in from_rows:
                    out[i] = from_rows[i]
                    continue
                group = run_group(f.h5, self.trajectory, i)
                if group is not None and key in group:
                    out[i] = read_value(group._f_get_child(key))
        return out

    def to_xarray(self, key: str, idxs=None):
        """An ``xarray.DataArray`` of stored array result ``key`` over runs ``idxs`` (default:
        all ok runs that stored it): dimensions ``run`` (the run index) and ``<key>_dim_0``...,
        the run's parameters as coordinates along ``run``. The arrays must share one shape.
        Needs xarray (``pip install xarray``; not a brainsweep requirement)."""
        values = self.arrays(key, idxs)
        if not values:
            raise KeyError(f"to_xarray: no run stored an array {key!r} in {self.path}")
        shapes = {np.shape(v) for v in values.values()}
        if len(shapes) != 1:
            raise ValueError(f"to_xarray: the runs' {key!r} arrays have {len(shapes)} shapes "
                             f"({sorted(shapes)[:3]}...); use arrays({key!r}) for ragged results")
        runs = sorted(values)
        data = np.stack([np.asarray(values[i]) for i in runs])
        try:
            import xarray as xr
        except ImportError:
            raise ImportError("Results.to_xarray needs xarray, which is not installed: pip install xarray") from None
        dims = ["run"] + [f"{key}_dim_{d}" for d in range(data.ndim - 1)]
        coords = {"run": runs}
        coords.update({p: ("run", self.df.loc[runs, p].to_numpy()) for p in self.params})
        return xr.DataArray(data, dims=dims, coords=coords, name=key)

    # -- selection ----------------------------------------------------------------
    def best(self, n: int = 1, key: str | None = None, minimize: bool | None = None) -> pd.DataFrame:
        """The ``n`` best ok runs by ``key`` (default: the strategy's first objective,
        or the only score). ``minimize`` defaults to the strategy's weight sign, else True."""
        ok = self.df[self.df["status"] == "ok"]
        if key is None:
            objectives = self.strategy.get("objectives") or []
            key = objectives[0] if objectives else self.strategy.get("loss")  # GradientDescent minimises its loss
            if key is None and len(self.scores) == 1:
                key = self.scores[0]
            if key is None:
                raise ValueError(f"best: name the score with key= (scores: {self.scores})")
        if key not in self.df:
            raise KeyError(f"best: no score {key!r} (scores: {self.scores})")
        if minimize is None:
            weights = self.strategy.get("weights") or [-1.0]
            objectives = self.strategy.get("objectives") or [key]
            w = weights[objectives.index(key)] if key in objectives else -1.0
            minimize = w < 0
        return ok.sort_values(key, ascending=minimize).head(n)

    # -- plots --------------------------------------------------------------------
    def plot_grid(self, x: str, y: str, z: str, fixed: dict | None = None, agg: str = "mean", ax=None):
        """Heatmap of score ``z`` over parameters ``x`` and ``y`` (see :func:`plots.grid_heatmap`)."""
        from .plots import grid_heatmap
        return grid_heatmap(self.df, x, y, z, fixed=fixed, agg=agg, ax=ax, params=self.params, units=self._units())

    def plot_sweep(self, x: str, z: str, fixed: dict | None = None, ax=None):
        """A score over one parameter (line plot, others fixed or averaged)."""
        from .plots import sweep_line
        return sweep_line(self.df, x, z, fixed=fixed, ax=ax, params=self.params, units=self._units())

    def plot_fitness(self, objective: str | None = None, ax=None):
        """Best, mean and spread of an objective per generation (evolution)."""
        from .plots_optim import plot_fitness
        objective, weight = self._objective(objective)
        return plot_fitness(self.df, objective, (weight,), ax=ax)

    def plot_population(self, x: str, y: str, generation: int = -1):
        from .plots_optim import plot_population
        return plot_population(self.df, x, y, generation=generation, units=self._units())

    def plot_convergence(self, objective: str | None = None):
        """Best objective so far over evaluations (Bayesian optimisation, any strategy)."""
        from .plots_optim import plot_convergence
        objective, weight = self._objective(objective)
        return plot_convergence(self.df, objective, minimize=weight < 0)

    def plot_partial_dependence(self, objective: str | None = None):
        """skopt's partial dependence of the objective on each parameter (BayesOpt's last
        surrogate, or a Gaussian process fitted to the stored runs)."""
        from .plots_optim import plot_partial_dependence
        objective, weight = self._objective(objective)
        state = self.strategy_state
        source = state if isinstance(state, dict) and "optimizer" in state else self.df
        return plot_partial_dependence(source, self.space, objective=objective, minimize=weight < 0)

    def plot_loss(self, loss: str | None = None, ax=None):
        """Loss per iterate of a GradientDescent study, one line per start (:func:`plots_optim.plot_loss`)."""
        from .plots_optim import plot_loss
        return plot_loss(self, loss, ax=ax)

    def plot_landscape(self, x: str, y: str, loss: str | None = None, ax=None):
        """Start -> end arrows of a GradientDescent study over parameters ``x``, ``y``
        (:func:`plots_optim.plot_landscape`)."""
        from .plots_optim import plot_landscape
        return plot_landscape(self, x, y, loss, ax=ax, units=self._units())

    def plot_pareto(self):
        """The ok runs in objective space with the non-dominated front highlighted."""
        from .plots_optim import plot_pareto
        return plot_pareto(self.df, list(self.strategy.get("objectives") or []),
                           list(self.strategy.get("weights") or []))

    def generation_stats(self, objective: str | None = None) -> pd.DataFrame:
        """Per generation: best, mean, spread of the objective (evolution)."""
        from .plots_optim import generation_stats
        objective, weight = self._objective(objective)
        return generation_stats(self.df, objective, weight)

    # -- plots of model outputs ------------------------------------------------------
    def evaluator(self, trust: bool = False):
        """The study's evaluator (a FunctionEvaluator, or a ModelEvaluation with its model and
        objective), rebuilt from the plain reference the file records. A study that recorded
        only a pickle needs ``trust=True`` (unpickling can run code: only for a file you trust)."""
        from ._evaluator_ref import load_evaluator
        return load_evaluator(self.path, trust=trust)

    def _objective_attr(self, name: str):
        """A setting of the study's objective (or of a combined objective's first part that
        has it), read from the plain objective spec in the file: nothing is unpickled."""
        from ._evaluator_ref import objective_setting, objective_spec_of
        if "_objective_spec" not in self.__dict__:  # read once: it holds the target arrays
            with StudyFile.open(self.path, "r") as f:
                self._objective_spec = objective_spec_of(f.h5)
        return objective_setting(self._objective_spec, name)

    def plot_timeseries(self, idx: int, key: str = "BOLD", **kw):
        """Stored output ``key`` of run ``idx`` over time (keep ``key`` and ``key + '_t'``
        or ``'t'`` in the study to have the time axis)."""
        from .plots_models import plot_timeseries
        run = self.run(idx)
        if key not in run:
            raise KeyError(f"run {idx} stored no {key!r} (stored: {sorted(run)}); add it to keep=[...]")
        t = run.get(f"{key}_t", run.get("t"))
        if t is None or len(t) != np.shape(run[key])[-1]:
            raise KeyError(f"run {idx} stored no time axis for {key!r}; keep {key + '_t'!r} (BOLD) or 't'")
        return plot_timeseries(t, run[key], ylabel=key, **kw)

    def plot_fc(self, idx: int | None = None, fc_emp=None, key: str = "fc"):
        """Simulated FC of run ``idx`` (default: the best run) next to the empirical FC
        (default: the study objective's target). Needs ``ev.fit_fc(..., keep=True)``."""
        from .plots_models import plot_fc_matrices
        idx = int(self.best(1).index[0]) if idx is None else int(idx)
        run = self.run(idx)
        if key not in run:
            raise KeyError(f"run {idx} stored no {key!r}; use ev.fit_fc(fc_emp, keep=True) or keep the FC")
        if fc_emp is None:
            stack = self._objective_attr("fc_emp")
            fc_emp = None if stack is None else np.asarray(stack)[0]
        return plot_fc_matrices(run[key], fc_emp, suptitle=f"run {idx}")

    def plot_bifurcation(self, x: str, low: str, high: str, fixed: dict | None = None):
        """Min and max of a signal (scores ``low``, ``high``) over a 1-D sweep of ``x``."""
        from .plots import _slice
        from .plots_models import plot_bifurcation
        lows, _ = _slice(self.df, [x], low, fixed, self.params, "mean")
        highs, _ = _slice(self.df, [x], high, fixed, self.params, "mean")
        from .plots import axis_label
        return plot_bifurcation(lows.index.to_numpy(), lows.to_numpy(float), highs.to_numpy(float),
                                xlabel=axis_label(x, self._units()))

    def plot_dipole(self, idx: int | None = None, initial_idx: int | None = None, key: str = "dipole"):
        """Target dipole vs the best run (or ``idx``) vs an initial run (default: run 0).
        Needs the dipole stored per run (``ev.fit_dipole(..., keep=True)``)."""
        from .plots_models import plot_dipoles
        idx = int(self.best(1).index[0]) if idx is None else int(idx)
        initial_idx = int(self.df.index[0]) if initial_idx is None else int(initial_idx)
        best, initial = self.run(idx), self.run(initial_idx)
        if key not in best:
            raise KeyError(f"run {idx} stored no {key!r}; use ev.fit_dipole(..., keep=True)")
        t_target, target = self._objective_attr("target_t"), self._objective_attr("target")
        if target is None:
            raise ValueError("the study file records no target dipole: its objective is not ev.fit_dipole, or "
                             "it was not recorded as plain data (a user objective, an older brainsweep)")
        t_target = np.asarray(t_target, dtype=float)
        t_sim = t_target
        if len(best[key]) != len(t_target):  # the fit's window [tstart, tstop] of the target's axis
            tstart, tstop = self._objective_attr("tstart") or 0.0, self._objective_attr("tstop")
            t_sim = t_target[(t_target >= tstart) & (t_target <= (np.inf if tstop is None else tstop))]
        return plot_dipoles(t_target, target, best=best[key], initial=initial.get(key),
                            t_sim=t_sim, title=f"best run {idx}")

    @property
    def space(self):
        """The study's :class:`ParameterSpace`, rebuilt from the file."""
        from .space import ParameterSpace
        return ParameterSpace.from_json(self.fingerprint["space"])

    def pareto_front(self) -> pd.DataFrame:
        """Non-dominated ok runs over the strategy's objectives (NSGA-II)."""
        from .plots_optim import pareto_front
        objectives = list(self.strategy.get("objectives") or [])
        weights = list(self.strategy.get("weights") or [])
        if not objectives:
            raise ValueError("pareto_front: this study has no objectives (a grid search?)")
        return pareto_front(self.df, objectives, weights)

    # -- methods served by layers above the explorer, for studies of their strategy ------------
    #: strategy name -> {method name: function(results, ...)}; see :meth:`register_reader`
    _readers: dict = {}

    @classmethod
    def register_reader(cls, strategy: str, methods: dict) -> None:
        """Serve ``methods`` (name -> ``function(results, *args, **kwargs)``) for studies of
        ``strategy``: how ``brainsweep.inference`` gives ``posterior()`` & co. to SBI studies
        without the explorer importing it (importing ``brainsweep.inference`` registers them)."""
        cls._readers[str(strategy)] = dict(methods)

    def _served(self, method: str):
        name = self.strategy.get("name")
        fn = self._readers.get(name, {}).get(method)
        if fn is None:
            if name == "sbi":
                raise RuntimeError(f"Results.{method}: import brainsweep.inference first (it serves SBI studies; "
                                   f"pip install brainsweep[sbi])")
            raise ValueError(f"Results.{method}: {self.path} is a study of the {name!r} strategy; {method} is for "
                             f"studies of {sorted(self._readers) or ['sbi']} (brainsweep.inference.SBI)")
        return fn

    def posterior(self, threads: int = 1):
        """The trained posterior stored in an SBI study, rebuilt without retraining
        (``brainsweep.inference.Posterior``: ``.sample(n, x)``, ``.log_prob``)."""
        return self._served("posterior")(self, threads=threads)

    def plot_posterior(self, samples, truth=None, bins: int = 40):
        """Pair plot of posterior ``samples`` (n, d) with marginals; ``truth`` marked (SBI studies)."""
        return self._served("plot_posterior")(self, samples, truth=truth, bins=bins)

    def check_calibration(self, n: int | None = 200, **kwargs) -> dict:
        """Simulation-based calibration ranks and expected coverage of an SBI study's posterior
        on ``n`` held-out simulations (the stored ones, or fresh; see
        ``brainsweep.inference._results.check_calibration``); plot with :meth:`plot_calibration`."""
        return self._served("check_calibration")(self, n=n, **kwargs)

    def plot_calibration(self, result: dict | None = None):
        """Rank histograms and the expected-coverage curve (the stored calibration, or ``result``)."""
        return self._served("plot_calibration")(self, result)

    def predictive_check(self, samples, x_obs, **kwargs) -> dict:
        """Re-simulate posterior ``samples`` with the study's evaluation and compare their
        features with ``x_obs`` (SBI studies; see ``brainsweep.inference.predictive_check``)."""
        return self._served("predictive_check")(self, samples, x_obs, **kwargs)

    def _units(self) -> dict:
        """Units of the explored model parameters (for axis labels); {} for a function study."""
        from .plots import parameter_units
        return parameter_units(self.fingerprint.get("evaluate"))

    def _objective(self, objective):
        """(objective, weight > 0 if higher is better): see :func:`plots_optim.score_weight`."""
        from .plots_optim import score_weight
        return score_weight(self.strategy, self.scores, objective)


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


__all__ += ["StudyFileError"]
