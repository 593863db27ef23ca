"""The evaluation of an SBI study: the study's own evaluation, plus its summary features as scores.

A strategy only learns a run's scalar scores (``Outcome.scores``), so each run's feature vector
travels as scores ``x_000, x_001, ...`` and ``n_features`` (its length), and is stored in the
runs table like any score: one float64 column per feature (``load(path).df``). A run whose
features are not all finite is ``diverged`` (the study's usual rule for non-finite scores) and
left out of the training; a feature function that raises makes a ``failed`` run.

For a brainsweep model the features are computed from the model's outputs inside the worker (the
outputs are not stored unless ``keep`` asks for them); for a plain function, from what it returns.
"""

from __future__ import annotations

import hashlib

from ..explorer import _plain
from ..explorer.model_eval import ModelEvaluation
from ..explorer.runner import FunctionEvaluator, qualified_name
from ..explorer.pernode import PerNodeEvaluation
from .features import FeatureFunction, as_vector

__all__ = ["FeatureEvaluator", "feature_key", "feature_identity", "N_FEATURES"]

N_FEATURES = "n_features"


def feature_key(i: int, n: int) -> str:
    """Score name of feature ``i`` of ``n`` (zero-padded so that names sort in order)."""
    return f"x_{i:0{max(3, len(str(n - 1)))}d}"


def feature_scores(features, out) -> dict:
    """``{"n_features": n, "x_000": ..., ...}`` of ``features(out)``."""
    vec = as_vector(features(out), f"features ({qualified_name(features)})")
    scores = {feature_key(i, vec.size): float(v) for i, v in enumerate(vec)}
    scores[N_FEATURES] = int(vec.size)
    return scores


def feature_identity(features) -> str:
    """Settings of brainsweep's feature functions, or the code hash of a user's callable."""
    from ..explorer._evaluator_ref import code_hash
    if isinstance(features, FeatureFunction):
        return hashlib.sha256(_plain.encode(features.spec())).hexdigest()[:16]
    return f"{qualified_name(features)}#{(code_hash(features) or 'nocode')[:16]}"


class _ObjectiveWithFeatures:
    """A model objective returning the features as scores besides the study's own objective."""

    def __init__(self, features, objective=None):
        self.features, self.objective = features, objective

    def __call__(self, out) -> dict:
        result = {} if self.objective is None else dict(self.objective(out))
        result.update(feature_scores(self.features, out))
        return result


class _FunctionWithFeatures:
    """A plain evaluation function whose result gains the features as scores."""

    def __init__(self, fn, features, wants_seed: bool):
        self.fn, self.features, self.wants_seed = fn, features, wants_seed

    def __call__(self, params, seed=None):
        out = self.fn(params, seed=seed) if self.wants_seed else self.fn(params)
        result = dict(out) if isinstance(out, dict) else {}
        result.update(feature_scores(self.features, out))
        return result


class FeatureEvaluator:
    """Wrap a study's evaluator (``ModelEvaluation``, its per-node form or ``FunctionEvaluator``) so that every run
    also returns ``features(out)`` as scores (see the module docstring)."""

    def __init__(self, evaluator, features):
        if not callable(features):
            raise TypeError(f"features: expected a callable out -> 1-D array, got {type(features).__name__}")
        self.base, self.features = evaluator, features
        if isinstance(evaluator, PerNodeEvaluation):
            inner = evaluator.with_evaluation(FeatureEvaluator(evaluator.evaluation, features).inner)
        elif isinstance(evaluator, ModelEvaluation):
            inner = ModelEvaluation.__new__(ModelEvaluation)
            inner.__dict__.update(evaluator.__dict__)
            inner.objective = _ObjectiveWithFeatures(features, evaluator.objective)
        elif isinstance(evaluator, FunctionEvaluator):
            inner = FunctionEvaluator(_FunctionWithFeatures(evaluator.fn, features, evaluator.wants_seed),
                                      fixed=evaluator.fixed, timeout=evaluator.timeout)
        else:
            raise TypeError(f"SBI: cannot add features to a {type(evaluator).__name__}; expected a "
                            f"brainsweep model or a plain function as the study's evaluation")
        self.inner = inner

    @property
    def identity(self) -> str:
        return f"{self.base.identity}+features[{feature_identity(self.features)}]"

    @property
    def threads(self) -> int:
        return getattr(self.inner, "threads", 1)

    def reference(self):
        """The study's own evaluation's plain reference (see ``explorer._evaluator_ref``), so a
        reader rebuilds it without unpickling; the features are recorded in the strategy's
        configuration instead (``features.from_spec`` rebuilds brainsweep's own)."""
        ref = getattr(self.base, "reference", None)
        return ref() if ref is not None else None

    def evaluate_chunk(self, tasks: list):
        return self.inner.evaluate_chunk(tasks)

