"""Bayesian optimisation on scikit-optimize's ``Optimizer`` (ask/tell, constant liar batches).

>>> space = ParameterSpace(bounds={"x": (-5.0, 5.0), "y": (-5.0, 5.0), "tau": (1.0, 100.0, "log")})
>>> Study(circle, space, BayesOpt(n_calls=60, n_initial=10, batch=4), path="bo.h5").run()

Dimensions map onto skopt's: linear bounds -> ``Real``, log scale ->
``Real(prior="log-uniform")``, integer -> ``Integer``, a list -> ``Categorical``.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from typing import Any

import numpy as np

from .evolution import (_adopt_objectives, _check_optimisable, _check_told, _failure_value,
                        _np_random_from_plain, _np_random_to_plain, _score)
from .space import ParameterSpace
from .strategy import Batch, Outcome, Strategy

__all__ = ["BayesOpt", "skopt_dimensions", "optimizer_from_state"]

_ESTIMATORS = ("GP", "RF", "ET", "GBRT")
_ACQ_FUNCS = ("gp_hedge", "EI", "PI", "LCB")
_INITIAL = ("random", "lhs", "sobol", "halton", "hammersly", "grid")
_LIARS = ("cl_min", "cl_mean", "cl_max")
_ACQ_OPTIMIZERS = ("auto", "sampling", "lbfgs")


def skopt_dimensions(space: ParameterSpace) -> list:
    """skopt dimensions (named as the parameters) for a bounded ``ParameterSpace``."""
    from skopt.space import Categorical, Integer, Real
    dims = []
    for d in space.dimensions:
        if d.kind == "categorical":
            dims.append(Categorical(list(d.categories), name=d.name))
        elif d.scale == "int":
            dims.append(Integer(int(d.low), int(d.high), name=d.name))
        elif d.scale == "log":
            dims.append(Real(d.low, d.high, prior="log-uniform", name=d.name))
        else:
            dims.append(Real(d.low, d.high, name=d.name))
    return dims


def _gbrt_regressor(random_state: int):
    """skopt's gradient-boosted quantile regressor, tagged as a regressor for current
    scikit-learn (skopt 0.10.2's own class loses the tag, so ``base_estimator="GBRT"``
    fails with "has to be a regressor")."""
    from sklearn.ensemble import GradientBoostingRegressor
    return _TaggedGBRT(base_estimator=GradientBoostingRegressor(n_estimators=30, loss="quantile"),
                       random_state=random_state)


try:
    from skopt.learning import GradientBoostingQuantileRegressor

    class _TaggedGBRT(GradientBoostingQuantileRegressor):
        """skopt's GBRT surrogate, usable with scikit-learn >= 1.6 and numpy >= 2.4."""

        _estimator_type = "regressor"  # scikit-learn < 1.6

        def predict(self, X, return_std=False, return_quantiles=False):
            if return_std and not return_quantiles:  # skopt 0.10.2 calls np.in1d, gone in numpy 2.4
                q = list(self.quantiles)
                if not all(v in q for v in (0.16, 0.5, 0.84)):
                    raise ValueError("return_std needs the quantiles 0.16, 0.5 and 0.84")
                low, mid, high = (self.regressors_[q.index(v)].predict(X) for v in (0.16, 0.5, 0.84))
                return mid, (high - low) / 2.0
            return super().predict(X, return_std=return_std, return_quantiles=return_quantiles)

        def __sklearn_tags__(self):  # scikit-learn >= 1.6 reads the type from the tags
            from sklearn.utils import RegressorTags
            tags = super().__sklearn_tags__()
            tags.estimator_type = "regressor"
            tags.regressor_tags = tags.regressor_tags or RegressorTags()
            return tags
except ImportError:  # pragma: no cover - skopt is a dependency
    _TaggedGBRT = None


@contextmanager
def _quiet_single_thread():
    """skopt fits tiny models: BLAS threads only oversubscribe the cores (measured 2-7x
    slower on a loaded 2-core machine), and skopt warns about Sobol balance on every batch."""
    try:
        from threadpoolctl import threadpool_limits
        limit = threadpool_limits(limits=1)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        limit = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            yield
    finally:
        if limit is not None:
            limit.restore_original_limits()


class BayesOpt(Strategy):
    """Bayesian optimisation of one score with scikit-optimize.

    Parameters
    ----------
    n_calls : int
        Total number of evaluations (failed ones included).
    n_initial : int
        Evaluations before the surrogate model is used, placed by
        ``initial_point_generator`` (``"random"``, ``"lhs"``, ``"sobol"``, ...).
    base_estimator : ``"GP"``, ``"RF"``, ``"ET"`` or ``"GBRT"``
        Surrogate: Gaussian process, random forest, extra trees, gradient-boosted trees.
    acq_func : ``"gp_hedge"``, ``"EI"``, ``"PI"`` or ``"LCB"``
    batch : int
        Points per ask (proposed with a constant liar, ``liar``), evaluated in parallel.
    objective : str, optional
        The score to optimise; default: the single score the evaluation returns.
    minimize : bool
        Minimise (default) or maximise the objective.
    liar : ``"cl_min"``, ``"cl_mean"`` or ``"cl_max"``
        The lie told for pending points while a batch is built (skopt's ``strategy``).
    acq_optimizer : ``"auto"``, ``"sampling"`` or ``"lbfgs"``
    acq_optimizer_kwargs, acq_func_kwargs : dict, optional
        Passed to ``skopt.Optimizer`` (e.g. ``{"n_points": 2000}``, ``{"xi": 0.01}``).

    Failed, diverged or timed-out runs and NaN/inf scores are imputed from the
    ok runs: they are told as the worst ok value plus the range of the ok values
    (plus ``max(|worst|, 1)`` while the ok values are all equal), re-set at every
    batch as ok runs arrive. The surrogate so learns that failures are clearly
    worse than any ok run, at the scale of the ok runs' differences. Telling them
    the worst ok value itself (as before) made a surrogate with a single ok run
    flat, and its acquisition sent every proposal to the corners of the space.
    While no run at all is ok after the initial design, further points are drawn
    at random (from the optimizer's own generator, so resuming stays exact).
    """

    name = "bayes"

    def __init__(self, n_calls: int = 60, n_initial: int = 10, base_estimator: str = "GP",
                 acq_func: str = "gp_hedge", initial_point_generator: str = "random", batch: int = 4,
                 objective: str | None = None, minimize: bool = True, liar: str = "cl_min",
                 acq_optimizer: str = "auto", acq_optimizer_kwargs: dict | None = None,
                 acq_func_kwargs: dict | None = None):
        for label, v, lo in (("n_calls", n_calls, 1), ("n_initial", n_initial, 1), ("batch", batch, 1)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"{label}: expected an integer >= {lo}, got {v!r}")
        if n_initial > n_calls:
            raise ValueError(f"n_initial ({n_initial}) is larger than n_calls ({n_calls})")
        est = base_estimator.upper() if isinstance(base_estimator, str) else base_estimator
        for label, v, allowed in (("base_estimator", est, _ESTIMATORS), ("acq_func", acq_func, _ACQ_FUNCS),
                                  ("initial_point_generator", initial_point_generator, _INITIAL),
                                  ("liar", liar, _LIARS), ("acq_optimizer", acq_optimizer, _ACQ_OPTIMIZERS)):
            if v not in allowed:
                raise ValueError(f"{label}: expected one of {allowed}, got {v!r}")
        if objective is not None and (not isinstance(objective, str) or not objective):
            raise ValueError(f"objective: expected a score name, got {objective!r}")
        if not isinstance(minimize, (bool, np.bool_)):
            raise ValueError(f"minimize: expected True or False, got {minimize!r}")
        for label, kw in (("acq_optimizer_kwargs", acq_optimizer_kwargs), ("acq_func_kwargs", acq_func_kwargs)):
            if kw is not None and not isinstance(kw, dict):
                raise ValueError(f"{label}: expected a dict, got {type(kw).__name__}")
        self.n_calls, self.n_initial, self.batch = int(n_calls), int(n_initial), int(batch)
        self.base_estimator, self.acq_func = est, acq_func
        self.initial_point_generator, self.liar, self.acq_optimizer = initial_point_generator, liar, acq_optimizer
        self.acq_optimizer_kwargs = dict(acq_optimizer_kwargs or {})
        self.acq_func_kwargs = dict(acq_func_kwargs or {})
        self.minimize = bool(minimize)
        self._objective_given = objective
        self.objectives = (objective,) if objective else ()
        self._opt = None

    # -- contract ------------------------------------------------------------------------------
    def config(self) -> dict:
        return {"name": self.name, "objectives": [self._objective_given] if self._objective_given else None,
                "weights": [-1.0 if self.minimize else 1.0], "n_calls": self.n_calls,
                "n_initial": self.n_initial, "base_estimator": self.base_estimator,
                "acq_func": self.acq_func, "initial_point_generator": self.initial_point_generator,
                "batch": self.batch, "liar": self.liar, "acq_optimizer": self.acq_optimizer,
                "acq_optimizer_kwargs": _jsonable(self.acq_optimizer_kwargs),
                "acq_func_kwargs": _jsonable(self.acq_func_kwargs)}

    def check(self, space: ParameterSpace) -> None:
        _check_optimisable(space, "BayesOpt")

    def expected_total(self) -> int | None:
        return self.n_calls

    def check_scores(self, scores: dict) -> None:
        """Adopt the single score as objective (objective=None) or check the named one."""
        self.objectives = _adopt_objectives(self.objectives, scores, "BayesOpt")

    def start(self, space: ParameterSpace, seed: int) -> None:
        self.check(space)
        self._space = space
        self._random_state = int(np.random.SeedSequence(int(seed)).generate_state(1, np.uint32)[0] >> 1)
        self._opt = _new_optimizer(space, self._settings())
        self._iteration = 0
        self._scores: list[float | None] = []   # objective per told point (None: failed)
        self._pending = None
        if not self._objective_given:
            self.objectives = ()

    def _settings(self) -> dict:
        """What builds the skopt Optimizer (stored with the state, so that a plot can rebuild it)."""
        return {"base_estimator": self.base_estimator, "n_initial": self.n_initial,
                "initial_point_generator": self.initial_point_generator, "acq_func": self.acq_func,
                "acq_optimizer": self.acq_optimizer, "acq_optimizer_kwargs": self.acq_optimizer_kwargs,
                "acq_func_kwargs": self.acq_func_kwargs, "random_state": self._random_state}

    def ask(self) -> Batch | None:
        if self._pending is None:
            remaining = self.n_calls - len(self._scores)
            if remaining <= 0:
                return None
            k = min(self.batch, remaining)
            with _quiet_single_thread():
                if len(self._scores) >= self.n_initial and all(v is None for v in self._scores):
                    # only failures so far: a surrogate of one imputed value is flat and its
                    # acquisition maximal in the corners; keep drawing at random instead
                    xs = self._opt.space.rvs(n_samples=k, random_state=self._opt.rng)
                elif k > 1:
                    xs = self._opt.ask(n_points=k, strategy=self.liar)
                else:
                    xs = [self._opt.ask()]
            self._pending = [list(x) for x in xs]
        return Batch([self._point(x) for x in self._pending], {"iteration": self._iteration})

    def tell(self, batch: Batch, outcomes: list[Outcome]) -> None:
        _check_told(self, self._pending, outcomes)
        sign = 1.0 if self.minimize else -1.0
        new = []
        for out in outcomes:
            v = _score(out, self.objectives[0]) if self.objectives else None
            new.append(None if v is None else sign * v)
        n_old = len(self._scores)
        self._scores.extend(new)
        failed = _failure_value([v for v in self._scores if v is not None])
        yi = self._opt.yi
        for i in range(n_old):  # earlier failures follow the ok runs seen so far
            if self._scores[i] is None:
                yi[i] = failed
        with _quiet_single_thread():
            self._opt.tell(self._pending, [failed if v is None else v for v in new])
        self._pending = None
        self._iteration += 1

    def get_state(self) -> dict:
        """Plain data: the told points and values, and what the optimizer keeps between tells
        (its random generator, gp_hedge gains, the next point it computed) under ``"optimizer"``."""
        sign = 1.0 if self.minimize else -1.0
        opt = self._opt
        return {"version": 2, "iteration": self._iteration, "objectives": list(self.objectives),
                "Xi": [[_plain(v) for v in x] for x in opt.Xi],
                "scores": [None if v is None else sign * v for v in self._scores],
                "yi": [float(v) for v in opt.yi],
                "optimizer": {
                    "settings": _jsonable(self._settings()),
                    "rng": _np_random_to_plain(opt.rng.get_state()),
                    "gains": np.array(opt.gains_, dtype=float) if hasattr(opt, "gains_") else None,
                    "next_x": [_plain(v) for v in opt._next_x] if hasattr(opt, "_next_x") else None,
                    "next_xs": np.asarray(opt.next_xs_) if hasattr(opt, "next_xs_") else None,
                    "fitted": bool(opt.models)}}

    def set_state(self, space: ParameterSpace, state: Any) -> None:
        if not isinstance(state, dict) or state.get("version") not in (1, 2):
            raise ValueError("BayesOpt.set_state: not a state saved by BayesOpt.get_state")
        self.check(space)
        self._space = space
        if state["version"] == 1:   # older files pickled the optimizer: never unpickled, rebuilt
            warnings.warn("BayesOpt: this study's state was written by an older brainsweep that "
                          "pickled the optimizer; it is rebuilt from the told points without its "
                          "random state, so the remaining proposals differ from an uninterrupted run",
                          stacklevel=2)
            self._random_state = len(state["Xi"])
            self._opt = _new_optimizer(space, self._settings())
            with _quiet_single_thread():
                if state["Xi"]:
                    self._opt.tell([list(x) for x in state["Xi"]], [float(v) for v in state["yi"]])
        else:
            self._random_state = int(state["optimizer"]["settings"]["random_state"])
            self._opt = _restore(space, self._settings(), state)
        self._iteration = int(state["iteration"])
        sign = 1.0 if self.minimize else -1.0
        self._scores = [None if v is None else sign * v for v in state["scores"]]
        self.objectives = tuple(state["objectives"])
        self._pending = None

    # -- results -------------------------------------------------------------------------------
    def best(self) -> tuple[dict, float] | None:
        """The best evaluated point and its objective value (None before any ok run)."""
        told = [(v, i) for i, v in enumerate(self._scores) if v is not None]
        if not told:
            return None
        v, i = min(told)
        return self._point(self._opt.Xi[i]), (v if self.minimize else -v)

    def _point(self, x) -> dict:
        return {d.name: d.clip(_plain(v)) if d.kind == "bounded" else _plain(v)
                for d, v in zip(self._space.dimensions, x)}


def _new_optimizer(space: ParameterSpace, settings: dict):
    """A fresh skopt ``Optimizer``; its construction draws the estimator's random state and
    the initial design from ``settings["random_state"]``, so it is the same every time."""
    from skopt import Optimizer
    est, rs = settings["base_estimator"], int(settings["random_state"])
    if est == "GBRT":
        est = _gbrt_regressor(rs)
    with _quiet_single_thread():
        return Optimizer(skopt_dimensions(space), base_estimator=est,
                         n_initial_points=int(settings["n_initial"]),
                         initial_point_generator=settings["initial_point_generator"],
                         acq_func=settings["acq_func"], acq_optimizer=settings["acq_optimizer"],
                         acq_optimizer_kwargs=dict(settings["acq_optimizer_kwargs"]) or None,
                         acq_func_kwargs=dict(settings["acq_func_kwargs"]) or None,
                         random_state=rs, model_queue_size=1)


def _restore(space: ParameterSpace, settings: dict, state: dict):
    """The optimizer of a plain :meth:`BayesOpt.get_state`, as it was after its last tell.

    Between tells skopt's ``Optimizer`` keeps the told points, its random generator, the
    gp_hedge gains, the candidates of each acquisition function (``next_xs_``) and the
    chosen next point (``_next_x``); the last surrogate is refitted to the told points
    (its fit is deterministic: the estimator's random state is fixed at construction).
    """
    from sklearn.base import clone
    opt = _new_optimizer(space, settings)
    doc = state["optimizer"]
    xs, ys = [list(x) for x in state["Xi"]], [float(v) for v in state["yi"]]
    if len(xs) != len(ys):
        raise ValueError(f"BayesOpt state: {len(xs)} told points but {len(ys)} values")
    opt.Xi, opt.yi = xs, ys
    opt._n_initial_points = opt.n_initial_points_ - len(xs)
    opt.rng.set_state(_np_random_from_plain(doc["rng"]))
    if doc.get("gains") is not None:
        opt.gains_ = np.array(doc["gains"], dtype=float)
    if doc.get("next_xs") is not None:
        opt.next_xs_ = list(np.asarray(doc["next_xs"]))
    if doc.get("next_x") is not None:
        opt._next_x = list(doc["next_x"])
    if doc.get("fitted"):
        est = clone(opt.base_estimator_)
        with _quiet_single_thread():
            est.fit(opt.space.transform(opt.Xi), opt.yi)
        opt.models = [est]
    return opt


def optimizer_from_state(space: ParameterSpace, state: dict):
    """The scikit-optimize ``Optimizer`` of a stored :class:`BayesOpt` state (plain data),
    with its last surrogate refitted to the told points (for plots)."""
    if not isinstance(state, dict) or state.get("version") != 2 or not isinstance(state.get("optimizer"), dict):
        raise ValueError("optimizer_from_state: not a plain state saved by BayesOpt.get_state")
    _check_optimisable(space, "BayesOpt")
    return _restore(space, state["optimizer"]["settings"], state)


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _jsonable(d: dict) -> dict:
    return {k: (_plain(v) if not isinstance(v, (list, tuple)) else [_plain(x) for x in v])
            for k, v in sorted(d.items())}
