"""Simulation-based inference as a study strategy: simulate from the prior, train NPE, calibrate.

::

    from brainsweep.inference import SBI, features
    sbi = SBI(simulations=2000, features=features.psd_bands(key="v_pyr"), calibration=200)
    res = sbi.study(model, space, "sbi.h5", run_kwargs=dict(duration=4000)).run()
    post = posterior(res)                      # rebuilt from the file, no retraining
    samples = post.sample(10_000, x=x_obs)

The study loop is the usual ask -> evaluate -> store -> tell: ``ask`` draws batches of points
from the prior the space's bounds define (:class:`~._prior.BoxPrior`) with the strategy's own
numpy generator; every run returns its feature vector as scores ``x_000..`` (see
:mod:`._evaluator`); after the tell of the last training batch sbi's NPE is trained (seeded,
``threads`` torch threads) and the trained estimator is kept in the strategy state as plain data
(:mod:`._posterior_io`); with ``ensemble=k`` k estimators are trained with different seeds and
the posterior is their mixture. ``recalibration`` further prior simulations, never trained on,
then refit the flow's base distribution to the estimator's errors on them (:mod:`._recalibrate`);
``calibration`` further ones, used for nothing else, give simulation-based calibration ranks and
expected coverage (sbi's ``run_sbc``), also in the state.

Resuming: stored simulations are kept; a study killed during training trains again from the same
simulations with the same seed (the same estimator on the same machine and thread count).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..explorer.space import ParameterSpace
from ..explorer.strategy import Batch, Outcome, Strategy
from ._evaluator import N_FEATURES, FeatureEvaluator, feature_identity, feature_key
from ..explorer.pernode import model_evaluation, per_node_groups
from ._posterior_io import (BUILD_DEFAULTS, DENSITY_ESTIMATORS, TRAINING_KEYS, Posterior,
                            estimator_from_plain, estimator_to_plain, train_npe)
from ._prior import BoxPrior
from ._recalibrate import RECALIBRATED_MODELS
from .features import FeatureFunction

__all__ = ["SBI", "MIN_SIMULATIONS", "MIN_RECALIBRATION", "MAX_FEATURES"]

#: fewest finite simulations NPE is trained on
MIN_SIMULATIONS = 20
#: fewest finite held-out simulations a base distribution is refitted on
MIN_RECALIBRATION = 20
#: most features per run: one runs-table column each (1000 columns tested; ~1100 exceed HDF5's
#: 64 KB limit on a compound type's header message)
MAX_FEATURES = 1000
_METHODS = ("NPE",)


class SBI(Strategy):
    """Neural posterior estimation (sbi's NPE) over a bounded ``ParameterSpace``.

    Parameters
    ----------
    method : "NPE"
    simulations : int
        Simulations per round the estimator is trained on (runs whose features are not all finite
        are excluded and counted in :attr:`excluded`).
    rounds : int
        1: amortised NPE, simulations from the prior. More: truncated sequential NPE (TSNPE,
        Deistler et al. 2022) for one observation ``x_obs``: each later round simulates
        ``simulations`` points drawn from the prior truncated to the current posterior's
        highest-density region (all but ``truncation`` of its mass) and NPE is trained again on
        all rounds. The result is a posterior for ``x_obs`` only (not amortised).
    x_obs : 1-D array, required with rounds > 1
        The observed features the rounds focus on.
    truncation : float
        Posterior mass left outside the truncated prior (sbi's ``get_density_thresholder`` quantile).
    features : callable ``out -> 1-D array``
        Summary features of a run's outputs (see :mod:`brainsweep.inference.features`).
    batch : int, optional
        Points per ask (default ``min(simulations, 1000)``).
    density_estimator : "zuko_maf" (default), "zuko_nsf", "maf" or "nsf", or a dict
        ``{"model": "zuko_maf", "hidden_features": 50, "num_transforms": 5, "num_bins": 10,
        "z_score_theta": ..., "z_score_x": ...}`` passed to sbi's ``posterior_nn``. sbi's nflows
        ``"maf"`` conditions the first parameter of each MADE on nothing, so a parameter that
        comes first in every transform's random order (likely with few transforms and
        parameters) is never conditioned on x; zuko's MAF conditions every parameter.
    training : dict
        Arguments of sbi's ``NPE.train`` (``max_num_epochs``, ``training_batch_size``,
        ``learning_rate``, ``validation_fraction``, ``stop_after_epochs``, ``clip_max_norm``).
    ensemble : int
        Number of estimators trained on the same simulations with different seeds (so different
        initial weights, validation splits and batches); the posterior is their equal-weight
        mixture (sbi's ``EnsemblePosterior``). A single NPE is often overconfident (Hermans et
        al. 2022); an ensemble is wider where the members disagree, and more members are not
        always better calibrated: choose the number on held-out runs (``check_calibration``; in the
        Jansen-Rit benchmark one NPE was overconfident, 3-5 members about 0.05 too wide at 50 %;
        ``recalibration`` did better there). Costs ``ensemble`` times the training. Amortised
        studies only (rounds=1).
    recalibration : int
        Held-out prior simulations, after the training ones, on which the trained estimator's
        base distribution is refitted (a Student-t per dimension fitted by maximum likelihood to
        the latent codes of their true parameters, see :mod:`._recalibrate`): a single NPE's
        overconfidence is corrected by the size of its errors on simulations it was not trained
        on, at the cost of these simulations and no retraining (0: none). In the Jansen-Rit
        benchmark one NPE refitted on 1500 runs was calibrated at 50 % and 90 % (0.495 / 0.889 on
        1800 held-out runs) where it had been overconfident (0.37 / 0.77). A refit corrects what
        the latent codes show (width, tails, a shift), not the shape of the estimator's density:
        check the calibration. With an ensemble each member is refitted and the mixture is wider
        than each (too wide for Jansen-Rit, calibrated for the Hopf benchmark's five small
        flows). zuko flows only; amortised studies only (rounds=1).
    calibration : int
        Held-out prior simulations for simulation-based calibration (0: none).
    calibration_samples : int
        Posterior samples per held-out simulation for the SBC ranks.
    threads : int
        torch threads while training and sampling (numba uses the same cores).
    """

    name = "sbi"

    def __init__(self, method: str = "NPE", simulations: int = 1000, rounds: int = 1, features=None,
                 batch: int | None = None, density_estimator="zuko_maf", training: dict | None = None,
                 calibration: int = 0, calibration_samples: int = 500, threads: int = 1, x_obs=None,
                 truncation: float = 1e-4, ensemble: int = 1, recalibration: int = 0):
        if method not in _METHODS:
            raise ValueError(f"method: {method!r} is not supported; expected one of {_METHODS}")
        if not _positive_int(simulations) or simulations < MIN_SIMULATIONS:
            raise ValueError(f"simulations: expected an integer >= {MIN_SIMULATIONS} (NPE needs enough "
                             f"simulations to train and validate), got {simulations!r}")
        if not _positive_int(rounds):
            raise ValueError(f"rounds: expected a positive integer, got {rounds!r}")
        if rounds > 1 and x_obs is None:
            raise ValueError("x_obs: sequential rounds (rounds > 1) focus on one observation; give its features")
        if rounds > 1 and calibration:
            raise ValueError("calibration: simulation-based calibration needs an amortised posterior "
                             "(rounds=1); a sequential posterior is valid only near x_obs")
        if not _positive_int(ensemble):
            raise ValueError(f"ensemble: expected a positive number of estimators, got {ensemble!r}")
        if rounds > 1 and ensemble > 1:
            raise ValueError("ensemble: an ensemble of estimators is supported for amortised studies "
                             "(rounds=1) only")
        if not (isinstance(recalibration, (int, np.integer)) and not isinstance(recalibration, bool)
                and (recalibration == 0 or recalibration >= MIN_RECALIBRATION)):
            raise ValueError(f"recalibration: expected 0 or a number >= {MIN_RECALIBRATION} of held-out "
                             f"simulations to refit the estimator's base distribution on, got {recalibration!r}")
        if recalibration and rounds > 1:
            raise ValueError("recalibration: needs an amortised posterior (rounds=1); the held-out "
                             "simulations come from the prior, a sequential posterior is valid only near x_obs")
        if not 0.0 < float(truncation) < 0.5:
            raise ValueError(f"truncation: expected a posterior mass in (0, 0.5), got {truncation!r}")
        if features is None or not callable(features):
            raise TypeError(f"features: expected a callable out -> 1-D array (see "
                            f"brainsweep.inference.features), got {features!r}")
        if batch is not None and not _positive_int(batch):
            raise ValueError(f"batch: expected a positive integer, got {batch!r}")
        if not (isinstance(calibration, (int, np.integer)) and calibration >= 0):
            raise ValueError(f"calibration: expected a number of held-out simulations >= 0, got {calibration!r}")
        if not _positive_int(calibration_samples) or not _positive_int(threads):
            raise ValueError(f"calibration_samples and threads: expected positive integers, got "
                             f"{calibration_samples!r}, {threads!r}")
        self.method, self.simulations, self.rounds = method, int(simulations), int(rounds)
        self.features = features
        self.batch = int(batch) if batch is not None else min(self.simulations, 1000)
        self.build = _build_config(density_estimator)
        if recalibration and self.build["model"] not in RECALIBRATED_MODELS:
            raise ValueError(f"recalibration: refits the base distribution of zuko's flows "
                             f"{RECALIBRATED_MODELS}; density_estimator {self.build['model']!r} has none to refit")
        self.training = _training_config(training)
        self.calibration, self.calibration_samples = int(calibration), int(calibration_samples)
        self.threads = int(threads)
        self.x_obs = None if x_obs is None else np.asarray(x_obs, dtype=float).ravel()
        self.truncation = float(truncation)
        self.ensemble = int(ensemble)
        self.recalibration = int(recalibration)
        self._reset()

    def _reset(self) -> None:
        self._prior: BoxPrior | None = None
        self._rng: np.random.Generator | None = None
        self._seed = 0
        self._theta = np.zeros((0, 0))
        self._x = np.zeros((0, 0))             # (n_told, k), NaN rows for excluded runs
        self._n_batches = 0
        self._trained_rounds = 0
        self._idx = np.zeros(0, dtype=np.int64)
        self._status: list[str] = []
        self._pending: np.ndarray | None = None
        self._estimator_doc: dict | None = None
        self._estimator = None
        self.training_info: dict | None = None
        self.calibration_result: dict | None = None
        self.recalibration_result: list | None = None

    # -- Strategy contract ---------------------------------------------------------------------
    def config(self) -> dict:
        spec = self.features.spec() if isinstance(self.features, FeatureFunction) else None
        return {"name": self.name, "method": self.method, "simulations": self.simulations,
                "rounds": self.rounds, "batch": self.batch, "density_estimator": self.build,
                "training": self.training, "calibration": self.calibration,
                "calibration_samples": self.calibration_samples,
                "features": spec if spec is not None else feature_identity(self.features),
                **({"x_obs": self.x_obs.tolist(), "truncation": self.truncation} if self.rounds > 1 else {}),
                **({"ensemble": self.ensemble} if self.ensemble > 1 else {}),  # older files: no key
                **({"recalibration": self.recalibration} if self.recalibration else {})}

    def check(self, space: ParameterSpace) -> None:
        BoxPrior(space)

    def expected_total(self) -> int | None:
        return self.n_training + self.recalibration + self.calibration

    @property
    def n_training(self) -> int:
        """Simulations the estimator is trained on: ``simulations`` per round."""
        return self.simulations * self.rounds

    def check_scores(self, scores: dict) -> None:
        """The first run's scores (checked before the study file is created) must carry the features,
        at most :data:`MAX_FEATURES` of them."""
        if N_FEATURES not in scores:
            raise ValueError("SBI: the study's runs return no features (scores 'n_features', 'x_000', ...): "
                             "build the study with SBI.study(evaluate, space, path, ...), or wrap its "
                             "evaluator with SBI.wrap_evaluator")
        if scores[N_FEATURES] > MAX_FEATURES:
            raise ValueError(f"SBI: the features have {scores[N_FEATURES]} values; each is a column of the runs "
                             f"table, and HDF5 holds at most about {MAX_FEATURES} (a compound type must fit in "
                             f"64 KB). Summarise further, e.g. features.fc_fcd(k=...) instead of fc_upper on "
                             f"many regions")

    def start(self, space: ParameterSpace, seed: int) -> None:
        self._reset()
        self._prior = BoxPrior(space)
        self._seed = int(seed)
        self._rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5B1]))
        self._theta = np.zeros((0, self._prior.dim))

    def ask(self) -> Batch | None:
        n_told = len(self._theta)
        if n_told < self.n_training:
            boundary = (n_told // self.simulations + 1) * self.simulations  # end of this round
        elif n_told < self.n_training + self.recalibration:
            boundary = self.n_training + self.recalibration
        else:
            boundary = self.expected_total()
        n = min(self.batch, boundary - n_told)
        if n <= 0:
            return None
        if n_told < self.simulations or n_told >= self.n_training:
            self._pending = self._prior.sample(self._rng, n)
        else:
            self._pending = self._truncated_draws(n)
        return Batch(self._prior.to_points(self._pending),
                     {"batch": self._n_batches, "holdout": int(n_told >= self.n_training)})

    def _truncated_draws(self, n: int) -> np.ndarray:
        """``n`` draws from the prior truncated to the current posterior's region at ``x_obs``
        (sbi's ``RestrictedPrior`` with ``get_density_thresholder``), seeded from the strategy's
        generator so a resumed study draws the same points."""
        import torch
        from sbi.utils import RestrictedPrior, get_density_thresholder
        from ._posterior_io import torch_threads
        post = self.posterior()
        seed = int(self._rng.integers(2**32))
        with torch_threads(self.threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            sbi_post = post.sbi_posterior.set_default_x(post._x(self.x_obs))
            accept = get_density_thresholder(sbi_post, quantile=self.truncation,
                                             num_samples_to_estimate_support=20_000)
            proposal = RestrictedPrior(self._prior.torch_prior(), accept, posterior=sbi_post,
                                       sample_with="rejection")
            with torch.no_grad():
                draws = proposal.sample((n,), show_progress_bars=False)
        return draws.numpy().astype(float)

    def tell(self, batch: Batch, outcomes: list[Outcome]) -> None:
        if self._pending is None or len(self._pending) != len(outcomes):
            raise RuntimeError("SBI.tell: outcomes do not match the batch the strategy asked for")
        vecs = [self._features_of(o) if o.ok else None for o in outcomes]
        k = next((len(v) for v in vecs if v is not None), 0) if self._x.shape[1] == 0 else self._x.shape[1]
        bad = [(o.index, len(v)) for o, v in zip(outcomes, vecs) if v is not None and len(v) != k]
        if bad:
            raise ValueError(f"SBI: features of inconsistent length: runs (index, length) {bad[:5]} differ from "
                             f"the {k} features of the other runs; the feature function must return the "
                             f"same number of values for every run")
        if k and self._x.shape[1] == 0:  # the first finite-length vector: earlier rows were all excluded
            self._x = np.full((len(self._x), k), np.nan)
        rows = np.full((len(vecs), k), np.nan)
        for i, v in enumerate(vecs):
            if v is not None:
                rows[i] = v
        self._theta = np.vstack([self._theta, self._pending])
        self._x = np.vstack([self._x, rows])
        self._idx = np.concatenate([self._idx, [o.index for o in outcomes]]).astype(np.int64)
        self._status += ["diverged" if o.ok and not np.all(np.isfinite(r)) else o.status
                         for o, r in zip(outcomes, rows)]
        self._n_batches += 1
        self._pending = None
        n_told = len(self._theta)
        if n_told <= self.n_training and n_told % self.simulations == 0 and \
                self._trained_rounds < n_told // self.simulations:
            self._train(n_told)
            self._trained_rounds = n_told // self.simulations
        if self.recalibration and n_told == self.n_training + self.recalibration and self.recalibration_result is None:
            self._recalibrate()
        if n_told == self.expected_total() and self.calibration and self.calibration_result is None:
            self._calibrate()

    def get_state(self) -> Any:
        return {"kind": "sbi", "version": 1, "seed": self._seed,
                "rng": _bitgen_to_plain(self._rng), "theta": self._theta,
                "x": self._x, "idx": self._idx, "n_batches": self._n_batches,
                "trained_rounds": self._trained_rounds,
                "status": np.array(self._status, dtype=str) if self._status else np.zeros(0, dtype="<U8"),
                "names": list(self._prior.names), "low": self._prior.low, "high": self._prior.high,
                "scales": list(self._prior.scales), "estimator": self._estimator_doc,
                "training_info": self.training_info, "calibration": self.calibration_result,
                "recalibration": self.recalibration_result}

    def set_state(self, space: ParameterSpace, state: Any) -> None:
        if not isinstance(state, dict) or state.get("kind") != "sbi" or state.get("version") != 1:
            raise ValueError("SBI.set_state: not a state saved by SBI.get_state")
        self.start(space, int(state["seed"]))
        if list(state["names"]) != self._prior.names:
            raise ValueError(f"SBI.set_state: the state is over {state['names']}, the space over {self._prior.names}")
        self._rng.bit_generator.state = _bitgen_from_plain(state["rng"])
        self._theta = np.asarray(state["theta"], dtype=float).reshape(-1, self._prior.dim)
        x = np.asarray(state["x"], dtype=float)
        self._x = x.reshape(len(self._theta), -1) if len(self._theta) else np.zeros((0, 0))
        self._n_batches = int(state["n_batches"])
        self._trained_rounds = int(state["trained_rounds"])
        self._idx = np.asarray(state["idx"], dtype=np.int64)
        self._status = [str(s) for s in state["status"]]
        self._estimator_doc = state["estimator"]
        self.training_info, self.calibration_result = state["training_info"], state["calibration"]
        self.recalibration_result = state.get("recalibration")  # older files: no key

    # -- features --------------------------------------------------------------------------------
    def _features_of(self, o: Outcome) -> np.ndarray:
        """The feature vector of an ``ok`` run."""
        n = _n_features(o)
        if n is None:
            self.check_scores(o.scores)
        return np.array([o.scores.get(feature_key(i, n), np.nan) for i in range(n)], dtype=float)

    # -- training and calibration ---------------------------------------------------------------
    @property
    def excluded(self) -> dict:
        """Runs left out of training/calibration, by status (``diverged`` includes non-finite features)."""
        out: dict = {}
        for s in self._status:
            if s != "ok":
                out[s] = out.get(s, 0) + 1
        return out

    def _usable(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        ok = np.array([s == "ok" for s in self._status[lo:hi]], dtype=bool)
        return self._theta[lo:hi][ok], self._x[lo:hi][ok]

    def _train(self, n: int) -> None:
        """Train on the usable runs among the first ``n`` (all rounds so far)."""
        theta, x = self._usable(0, n)
        if len(theta) < MIN_SIMULATIONS:
            raise ValueError(f"SBI: only {len(theta)} of {n} simulations gave finite features "
                             f"(excluded: {self.excluded}); NPE needs at least {MIN_SIMULATIONS}. "
                             f"Check the features and the prior bounds")
        members, infos = [], []
        for k in range(self.ensemble):  # member 0 has the seed of a single estimator
            entropy = [self._seed, 0x7A1] + ([k] if k else [])
            seed = int(np.random.SeedSequence(entropy).generate_state(1, np.uint32)[0])
            estimator, info = train_npe(theta, x, self._prior, self.build, self.training, seed, self.threads)
            members.append(estimator)
            infos.append(info)
        if self.ensemble > 1:
            estimator = members
            info = {"epochs": [i["epochs"] for i in infos],
                    "best_validation_loss": [i["best_validation_loss"] for i in infos],
                    "seconds": float(sum(i["seconds"] for i in infos)), "n_train": infos[0]["n_train"],
                    "ensemble": self.ensemble}
        info["excluded"] = self.excluded
        info["round"] = n // self.simulations
        self._estimator, self.training_info = estimator, info
        self._estimator_doc = estimator_to_plain(estimator, self.build, self._prior.dim, x.shape[1])

    def _recalibrate(self) -> None:
        """Refit the base of every estimator to the recalibration simulations (deterministic)."""
        from ._recalibrate import recalibrate
        theta, x = self._usable(self.n_training, self.n_training + self.recalibration)
        if len(theta) < MIN_RECALIBRATION:
            raise ValueError(f"SBI: only {len(theta)} of {self.recalibration} recalibration simulations gave "
                             f"finite features (excluded: {self.excluded}); at least {MIN_RECALIBRATION} are needed")
        estimator = self._trained_estimator()
        members = estimator if isinstance(estimator, list) else [estimator]
        self.recalibration_result = [recalibrate(m, theta, x) for m in members]
        self._estimator_doc = estimator_to_plain(estimator, self.build, self._prior.dim, x.shape[1])

    def _calibrate(self) -> None:
        from .sbc import calibrate
        theta, x = self._usable(self.n_training + self.recalibration, self.expected_total())
        seed = int(np.random.SeedSequence([self._seed, 0xCA1]).generate_state(1, np.uint32)[0])
        self.calibration_result = calibrate(self.posterior(), theta, x, self.calibration_samples, seed)

    def posterior(self) -> Posterior:
        """The trained posterior (after the study ran, or from a restored state)."""
        if self._estimator_doc is None:
            raise RuntimeError("SBI.posterior: the estimator is not trained yet (run the study first)")
        return Posterior(self._trained_estimator(), self._prior, self.threads)

    def _trained_estimator(self):
        """The trained estimator (or list of them), rebuilt from the stored document once after a resume."""
        if self._estimator is None:
            self._estimator = estimator_from_plain(self._estimator_doc)
        return self._estimator

    # -- building the study ---------------------------------------------------------------------
    def wrap_evaluator(self, evaluator):
        """The study's evaluator with this strategy's features added to every run's scores."""
        return evaluator if isinstance(evaluator, FeatureEvaluator) else FeatureEvaluator(evaluator, self.features)

    def make_evaluator(self, evaluate, space: ParameterSpace, **settings):
        """The evaluation :class:`~brainsweep.explorer.Study` uses for a model whose space holds
        per-node dimensions ``<param>__<node>`` (one array per parameter a run); None otherwise
        (the Study's usual evaluation)."""
        if hasattr(evaluate, "run_batch") and hasattr(evaluate, "params") and per_node_groups(evaluate, space.names):
            return model_evaluation(evaluate, space, **settings)
        return None

    def study(self, evaluate, space: ParameterSpace, path: str, **kwargs):
        """``Study(evaluate, space, self, path, **kwargs)``: a Study wraps its evaluator with
        :meth:`wrap_evaluator`, so its runs also return the features. For a model, the space may
        hold per-node dimensions ``<param>__<node>`` (see :func:`~brainsweep.explorer.pernode.per_node_bounds`)."""
        from ..explorer import Study
        return Study(evaluate, space, self, path, **kwargs)


def _n_features(o: Outcome) -> int | None:
    n = o.scores.get(N_FEATURES)
    return None if n is None or (isinstance(n, float) and not np.isfinite(n)) else int(n)


def _positive_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1


def _build_config(spec) -> dict:
    doc = {"model": spec} if isinstance(spec, str) else dict(spec or {})
    if doc.get("model") not in DENSITY_ESTIMATORS:
        raise ValueError(f"density_estimator: expected one of {DENSITY_ESTIMATORS} (or a dict with "
                         f"'model'), got {spec!r}")
    unknown = sorted(set(doc) - {"model"} - set(BUILD_DEFAULTS))
    if unknown:
        raise ValueError(f"density_estimator: unknown setting(s) {unknown}; expected some of "
                         f"{['model', *BUILD_DEFAULTS]}")
    return {"model": doc["model"], **{k: doc.get(k, v) for k, v in BUILD_DEFAULTS.items()}}


def _training_config(training) -> dict:
    training = dict(training or {})
    unknown = sorted(set(training) - set(TRAINING_KEYS))
    if unknown:
        raise ValueError(f"training: unknown argument(s) {unknown} of sbi's NPE.train; expected some of "
                         f"{list(TRAINING_KEYS)}")
    return training


def _bitgen_to_plain(rng: np.random.Generator) -> dict:
    st = rng.bit_generator.state
    return {"bit_generator": st["bit_generator"], "state": str(st["state"]["state"]),
            "inc": str(st["state"]["inc"]), "has_uint32": int(st["has_uint32"]), "uinteger": int(st["uinteger"])}


def _bitgen_from_plain(doc: dict) -> dict:
    return {"bit_generator": doc["bit_generator"],
            "state": {"state": int(doc["state"]), "inc": int(doc["inc"])},
            "has_uint32": int(doc["has_uint32"]), "uinteger": int(doc["uinteger"])}
