"""Train sbi's NPE, store the trained estimator as plain data, rebuild it without retraining.

The stored document (inside the SBI strategy's state, so in the study file as JSON, see
``brainsweep.explorer._plain``) holds the exact build configuration given to sbi's
``posterior_nn`` and every tensor of the estimator's ``state_dict()`` as a numpy array (the
network weights, the MADE masks and permutations, and the z-scoring means/stds of theta and x).
Rebuilding calls ``posterior_nn(**build)`` on placeholder data of the stored shapes, then
``load_state_dict(strict=True)``: no pickle, no ``torch.load``. An estimator whose base
distribution was refitted (:mod:`._recalibrate`) has ``"base": "student_t"``; its base's
fitted values are tensors of the state like the rest.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np

__all__ = ["Posterior", "train_npe", "estimator_to_plain", "estimator_from_plain", "torch_threads",
           "DENSITY_ESTIMATORS", "TRAINING_KEYS"]

DENSITY_ESTIMATORS = ("zuko_maf", "zuko_nsf", "maf", "nsf")
BUILD_DEFAULTS = {"hidden_features": 50, "num_transforms": 5, "num_bins": 10,
                  "z_score_theta": "independent", "z_score_x": "independent"}
#: arguments of sbi's ``NPE.train`` a study may set
TRAINING_KEYS = ("training_batch_size", "learning_rate", "validation_fraction", "stop_after_epochs",
                 "max_num_epochs", "clip_max_norm")


@contextmanager
def torch_threads(n: int):
    """Limit torch's intra-op threads to ``n`` (numba's workers share the same cores)."""
    import torch
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _f32(a):
    import torch
    return torch.as_tensor(np.asarray(a, dtype=np.float32))


def _build(build: dict, theta, x):
    from sbi.neural_nets import posterior_nn
    kwargs = {k: v for k, v in build.items() if k != "model"}
    return posterior_nn(model=build["model"], **kwargs)(theta, x)


class _NoTracker:
    """sbi's tracker protocol, logging nothing: its default writes TensorBoard files into
    ``./sbi-logs`` of whatever folder the study runs in; the training summary is stored in
    the study file instead."""

    log_dir = None

    def log_metric(self, name, value, step=None):
        pass

    def log_metrics(self, metrics, step=None):
        pass

    def log_params(self, params):
        pass

    def add_figure(self, name, figure, step=None):
        pass

    def flush(self):
        pass


def train_npe(theta: np.ndarray, x: np.ndarray, prior, build: dict, training: dict, seed: int,
              threads: int = 1):
    """Train NPE on ``theta`` (n, d) coordinates and ``x`` (n, k) features; returns
    ``(estimator, info)`` with info ``epochs``, ``best_validation_loss``, ``seconds``. Training is
    seeded (torch's generator forked, so the caller's stream is untouched)."""
    import torch
    from sbi.inference import NPE
    t0 = time.perf_counter()
    with torch_threads(threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        npe = NPE(prior=prior.torch_prior(), density_estimator=lambda th, xx: _build(build, th, xx),
                  tracker=_NoTracker(), show_progress_bars=False)
        npe.append_simulations(_f32(theta), _f32(x))
        estimator = npe.train(show_train_summary=False, **training)
    summary = getattr(npe, "_summary", {}) or {}
    epochs = summary.get("epochs_trained") or [None]
    best = summary.get("best_validation_loss") or [None]
    info = {"epochs": None if epochs[-1] is None else int(epochs[-1]),
            "best_validation_loss": None if best[-1] is None else float(best[-1]),
            "seconds": time.perf_counter() - t0, "n_train": int(len(theta))}
    estimator.eval()
    return estimator, info


def estimator_to_plain(estimator, build: dict, theta_dim: int, x_dim: int) -> dict:
    """The estimator (or a list of them: an ensemble) as plain data (see the module docstring):
    one estimator's tensors under ``state``, an ensemble's under ``ensemble`` (one dict each)."""
    import sbi
    import torch
    from ._recalibrate import base_family
    members = estimator if isinstance(estimator, list) else [estimator]
    states = [{k: v.detach().cpu().numpy().copy() for k, v in m.state_dict().items()} for m in members]
    doc = {"format": 1, "method": "NPE", "build": dict(build), "theta_dim": int(theta_dim),
           "x_dim": int(x_dim), "versions": {"sbi": sbi.__version__, "torch": torch.__version__}}
    families = {base_family(m) for m in members}
    if families != {"normal"}:
        if len(families) > 1:
            raise ValueError(f"estimator_to_plain: the members' bases differ ({sorted(families)})")
        doc["base"] = families.pop()
    if isinstance(estimator, list):
        doc["ensemble"] = states
    else:
        doc["state"] = states[0]
    return doc


def estimator_from_plain(doc: dict):
    """Rebuild the estimator :func:`estimator_to_plain` stored (same weights, no training): one
    estimator, or a list for an ensemble."""
    if not isinstance(doc, dict) or doc.get("format") != 1 or doc.get("method") != "NPE":
        raise ValueError("stored estimator: not a document written by brainsweep.inference (format 1, NPE)")
    build = doc["build"]
    if build.get("model") not in DENSITY_ESTIMATORS:
        raise ValueError(f"stored estimator: density estimator {build.get('model')!r} is not one of "
                         f"{DENSITY_ESTIMATORS}")
    if "ensemble" in doc:
        if not isinstance(doc["ensemble"], list) or not doc["ensemble"]:
            raise ValueError("stored estimator: 'ensemble' must be a non-empty list of weight dicts")
        return [_rebuilt(doc, state) for state in doc["ensemble"]]
    return _rebuilt(doc, doc["state"])


def _rebuilt(doc: dict, stored: dict):
    """One network of ``doc``'s build with the ``stored`` tensors (placeholders, then strict load)."""
    import torch
    d, k = int(doc["theta_dim"]), int(doc["x_dim"])
    placeholder = lambda n: torch.stack([torch.zeros(n), torch.ones(n)])  # noqa: E731
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the build draws random permutations; the stored ones replace them
        estimator = _build(doc["build"], placeholder(d), placeholder(k))
    base = doc.get("base", "normal")  # older files: no key
    if base == "student_t":
        from ._recalibrate import set_student_t_base
        set_student_t_base(estimator, 1.0, np.zeros(d), np.ones(d))  # placeholders, replaced by the stored values
    elif base != "normal":
        raise ValueError(f"stored estimator: base distribution {base!r} is not 'normal' or 'student_t'")
    if not isinstance(stored, dict):
        raise ValueError("stored estimator: its weights must be a dict of arrays")
    state = {key: torch.as_tensor(np.asarray(v)) for key, v in stored.items()}
    expected = set(estimator.state_dict())
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise ValueError(f"stored estimator does not match the network sbi builds here from its "
                         f"configuration (missing {missing[:5]}, unexpected {extra[:5]}); it was written "
                         f"with {doc.get('versions')}")
    estimator.load_state_dict(state, strict=True)
    estimator.eval()
    return estimator


class Posterior:
    """An amortised posterior: condition on any feature vector ``x``.

    ``estimator`` is one trained network or a list of them (an ensemble: the equal-weight
    mixture of their posteriors, sbi's ``EnsemblePosterior``). Samples are in parameter units
    (log-scaled parameters exponentiated, integers rounded), one column per parameter in
    :attr:`names` order. ``sbi_posterior`` is sbi's ``DirectPosterior`` (or
    ``EnsemblePosterior``) on the prior's coordinates (see :mod:`brainsweep.inference._prior`).
    """

    def __init__(self, estimator, prior, threads: int = 1):
        from sbi.inference.posteriors import DirectPosterior, EnsemblePosterior
        self.prior, self.names, self.threads = prior, list(prior.names), threads
        self.estimator = estimator
        members = estimator if isinstance(estimator, list) else [estimator]
        direct = [DirectPosterior(posterior_estimator=m, prior=prior.torch_prior()) for m in members]
        self.sbi_posterior = EnsemblePosterior(direct) if isinstance(estimator, list) else direct[0]
        self.x_dim = int(members[0].condition_shape[-1])

    def __repr__(self) -> str:
        from ._recalibrate import base_family
        members = self.estimator if isinstance(self.estimator, list) else [self.estimator]
        kind = f"an ensemble of {len(members)} estimators" if isinstance(self.estimator, list) else "NPE"
        refit = ", base refitted on held-out runs" if base_family(members[0]) != "normal" else ""
        return f"<Posterior over {self.names} given {self.x_dim} features ({kind}{refit})>"

    def _x(self, x):
        arr = np.asarray(x, dtype=float).ravel()
        if arr.size != self.x_dim:
            raise ValueError(f"x: the posterior was trained on {self.x_dim} features, got {arr.size}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"x: features at positions {np.flatnonzero(~np.isfinite(arr))[:10].tolist()} "
                             f"are not finite")
        return _f32(arr)

    def sample_theta(self, n: int, x, seed: int | None = None) -> np.ndarray:
        """``(n, dim)`` samples on the prior's coordinates (log for log-scaled parameters)."""
        import torch
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n: expected a positive number of samples, got {n!r}")
        xt = self._x(x)
        with torch_threads(self.threads), torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(int(seed))
            with torch.no_grad():
                s = self.sbi_posterior.sample((int(n),), x=xt, show_progress_bars=False)
        return s.numpy().astype(float)

    def sample(self, n: int, x, seed: int | None = None) -> np.ndarray:
        """``(n, dim)`` posterior samples in parameter units given features ``x``; ``seed`` fixes
        torch's generator for this call only."""
        return self.prior.to_params(self.sample_theta(n, x, seed))

    def log_prob(self, params, x) -> np.ndarray:
        """Log density of parameter values ``(n, dim)`` given ``x``, on the prior's coordinates
        (per unit of log(parameter) for log-scaled ones), unnormalised for the box's truncation."""
        import torch
        theta = _f32(self.prior.to_theta(params))
        with torch_threads(self.threads), torch.no_grad():
            lp = self.sbi_posterior.log_prob(theta, x=self._x(x), norm_posterior=False)
        return lp.numpy().astype(float)
