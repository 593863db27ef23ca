"""Per-node priors in SBI: a Hopf chain of 3 nodes, one bifurcation parameter a per node.

Node i's amplitude identifies a_i (a_i > 0: a limit cycle of radius sqrt(a_i); a_i < 0: noise around
the fixed point, std ~ sigma / sqrt(2 |a_i|)), so the posterior of each a_i given the per-node
mean and log std of x must be narrow around its truth. The stored runs are checked against the
model run by hand with the per-node array.
"""

import numpy as np
import pytest

pytest.importorskip("sbi")

from brainsweep.explorer import ParameterSpace, Study, load  # noqa: E402
from brainsweep.inference import SBI, features, per_node_bounds  # noqa: E402
from brainsweep.explorer.pernode import per_node_groups  # noqa: E402
from brainsweep.models import HopfModel  # noqa: E402

RUN = dict(duration=4000.0, dt=0.5, sampling_dt=2.0)
FEATURES = features.moments(key="x", transient_ms=500.0)
HIDDEN = np.array([-0.1, 0.1, 0.3])


def _model():
    chain = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    m = HopfModel(Cmat=chain, Dmat=np.zeros((3, 3)))
    m.params.update(K_gl=0.02, sigma_ou=0.02)
    return m


def test_per_node_names_are_checked():
    m = _model()
    assert per_node_bounds("a", -0.2, 0.4, 2) == {"a__0": (-0.2, 0.4), "a__1": (-0.2, 0.4)}
    assert per_node_groups(m, ["a__2", "a__0", "K_gl"]) == {"a": [("a__2", 2), ("a__0", 0)]}
    with pytest.raises(ValueError, match=r"node 3 does not exist.*3 nodes"):
        per_node_groups(m, ["a__3"])
    with pytest.raises(ValueError, match="one value for all nodes"):
        per_node_groups(m, ["signalV__0"])


def test_per_node_posterior(tmp_path):
    m = _model()
    space = ParameterSpace(bounds=per_node_bounds("a", -0.2, 0.4, 3), fixed={"w": 0.05})
    sbi = SBI(simulations=400, batch=200, features=FEATURES,
              density_estimator={"model": "zuko_maf", "hidden_features": 32, "num_transforms": 3},
              training={"max_num_epochs": 150, "training_batch_size": 50, "learning_rate": 1e-3})
    path = str(tmp_path / "pernode.h5")
    res = Study(m, space, sbi, path, seed=5, run_kwargs=RUN).run(progress=False)   # SBI.make_evaluator maps a__i
    assert list(res.params) == ["a__0", "a__1", "a__2"] and (res.df["status"] == "ok").all()
    # a stored run is the model run by hand with one array for a
    row = res.df.iloc[7]
    by_hand = m.run_batch([{"a": row[["a__0", "a__1", "a__2"]].to_numpy(float), "w": 0.05}],
                          seeds=[int(row["seed"])], **RUN)[0]
    np.testing.assert_allclose([row[f"x_00{i}"] for i in range(6)], FEATURES(by_hand), rtol=1e-12)

    obs = m.run_batch([{"a": HIDDEN, "w": 0.05}], seeds=[99], **RUN)[0]
    post = load(path).posterior()
    s = post.sample(4000, FEATURES(obs), seed=0)
    # 98 % intervals: each misses its truth 2 % of the time if calibrated (90 % ones: 27 % for any of 3)
    lo, hi = np.percentile(s, [1, 99], axis=0)
    assert np.all((lo <= HIDDEN) & (HIDDEN <= hi)), (lo, hi)
    lo90, hi90 = np.percentile(s, [5, 95], axis=0)
    assert np.all((hi90 - lo90) / 0.6 < 0.3), (hi90 - lo90) / 0.6   # prior range 0.6
    # the study's evaluation, rebuilt from the file, maps the nodes again
    check = res.predictive_check(s[:20], FEATURES(obs), seed=1)
    assert np.all(check["status"] == "ok") and np.all((check["quantile"] > 0.0) & (check["quantile"] < 1.0))
