"""Studies of brainsweep models: a run stored by a study is the model's own output for
that parameter set and seed; divergence and bad names are handled; runs reproduce."""

import numpy as np
import pytest

from brainsweep.explorer import GridSearch, ParameterSpace, Study, load, run_seed
from brainsweep.explorer.reproduce import reproduce
from brainsweep.models import HopfModel

RUN = dict(duration=500.0, sampling_dt=1.0)


class Variance:
    """A picklable objective: the variance of x, averaged over nodes."""

    def __call__(self, out):
        return {"var_x": float(np.var(out["x"], axis=1).mean()), "x_last": out["x"][:, -1].copy()}


def _model():
    rng = np.random.default_rng(0)
    C = rng.uniform(0, 1, (4, 4))
    np.fill_diagonal(C, 0)
    D = rng.uniform(10, 50, (4, 4))
    m = HopfModel(Cmat=C, Dmat=D)
    m.params["sigma_ou"] = 0.02
    return m


@pytest.fixture(scope="module")
def hopf_study(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "hopf.h5"
    space = ParameterSpace({"K_gl": [0.0, 0.4, 0.8], "a": [-0.1, 0.2]})
    Study(_model(), space, GridSearch(), path=path, seed=9, objective=Variance(),
          run_kwargs=RUN, keep=["x"]).run(progress=False)
    return path


def test_stored_runs_are_the_models_outputs(hopf_study):
    res = load(hopf_study)
    assert len(res.df) == 6 and (res.df["status"] == "ok").all()
    for idx in (0, 5):
        row = res.df.loc[idx]
        m = _model()
        m.params.update(K_gl=row["K_gl"], a=row["a"])
        out = m.run(seed=run_seed(9, idx), **RUN)
        stored = res.run(idx)
        np.testing.assert_array_equal(stored["x"], out["x"])
        np.testing.assert_array_equal(stored["x_last"], out["x"][:, -1])
        assert stored["var_x"] == float(np.var(out["x"], axis=1).mean())
    # uncoupled supercritical nodes oscillate on the limit cycle of radius sqrt(a): var(x) = a / 2
    df = res.df
    uncoupled = df[df["K_gl"] == 0.0].set_index("a")["var_x"]
    assert abs(uncoupled[0.2] - 0.1) < 0.02
    assert uncoupled[-0.1] < 0.2 * uncoupled[0.2]


def test_a_stored_model_run_reproduces_bit_for_bit(hopf_study):
    report = reproduce(hopf_study, 4)
    assert report["match"], report["differences"]
    assert set(report["compared"]) == {"var_x", "x_last", "x"}


def test_unknown_model_parameters_are_refused_before_any_run(tmp_path):
    with pytest.raises(ValueError, match="unknown parameter 'K_gll'.*did you mean 'K_gl'"):
        Study(_model(), ParameterSpace({"K_gll": [0.1]}), path=tmp_path / "x.h5", objective=Variance())
    with pytest.raises(ValueError, match="unknown parameter 'sigma'"):
        Study(_model(), ParameterSpace({"K_gl": [0.1]}, fixed={"sigma": 1.0}), path=tmp_path / "x.h5")
    with pytest.raises(ValueError, match="run_kwargs: unknown argument"):
        Study(_model(), ParameterSpace({"K_gl": [0.1]}), path=tmp_path / "x.h5", run_kwargs={"durration": 5})
    assert not (tmp_path / "x.h5").exists()


def test_diverging_and_invalid_runs_are_recorded_not_raised(tmp_path):
    space = ParameterSpace({"a": [0.1, 1e6, -5.0], "w": [1.0]})
    res = Study(_model(), space, path=tmp_path / "div.h5", objective=Variance(), run_kwargs=RUN).run(progress=False)
    df = res.df
    assert df.loc[0, "status"] == "ok"
    assert df.loc[1, "status"] == "diverged"
    assert "node" in df.loc[1, "message"] and "DivergenceError" in df.loc[1, "message"]
    assert df.loc[2, "status"] == "ok"


def test_keep_names_a_missing_output(tmp_path):
    res = Study(_model(), ParameterSpace({"K_gl": [0.1]}), path=tmp_path / "k.h5",
                run_kwargs=RUN, keep=["BOLD"]).run(progress=False)
    assert res.df.loc[0, "status"] == "failed"
    assert "no output 'BOLD'" in res.df.loc[0, "message"] and "bold=True" in res.df.loc[0, "message"]


class Envelope:
    def __call__(self, out):
        x = out["x"][:, 200:]
        return {"x_min": float(x.min()), "x_max": float(x.max())}


def test_results_plot_fc_timeseries_and_bifurcation(tmp_path):
    from brainsweep import evaluation as ev

    m = _model()
    target = np.corrcoef(m.run(seed=1, **RUN)["x"])
    objective = ev.combine(ev.fit_fc(target, key="x", transient_ms=0.0, keep=True), Envelope())
    res = Study(m, ParameterSpace({"a": [-0.2, 0.1, 0.3]}), path=tmp_path / "p.h5", objective=objective, seed=5,
                run_kwargs=RUN, keep=["x", "t"]).run(progress=False)
    fig = res.plot_fc(idx=1)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 2  # simulated next to the target
    np.testing.assert_allclose(images[1].images[0].get_array(), target)
    np.testing.assert_allclose(images[0].images[0].get_array(), np.corrcoef(res.run(1)["x"]))
    fig = res.plot_timeseries(2, key="x")
    assert len(fig.axes[0].lines) == 4
    fig = res.plot_bifurcation("a", "x_min", "x_max")
    ys = np.concatenate([ln.get_ydata() for ln in fig.axes[0].lines])
    assert np.isclose(ys.max(), res.df["x_max"].max())
    # the amplitude grows past the Hopf bifurcation at a = 0, to the limit cycle's radius sqrt(a)
    assert res.df.loc[2, "x_max"] - res.df.loc[2, "x_min"] > 3 * (res.df.loc[0, "x_max"] - res.df.loc[0, "x_min"])
    assert abs((res.df.loc[2, "x_max"] - res.df.loc[2, "x_min"]) / 2 - np.sqrt(0.3)) < 0.1 * np.sqrt(0.3)


def test_pool_after_a_parallel_run_in_the_parent_gives_the_serial_results(hopf_study, tmp_path):
    """The parent has run numba's parallel kernel (OpenMP) before forking its workers;
    the workers integrate with the serial kernel and store the same values."""
    _model().run_batch([{"K_gl": 0.1}, {"K_gl": 0.2}], duration=50.0, seeds=[1, 2])
    path = tmp_path / "pool.h5"
    space = ParameterSpace({"K_gl": [0.0, 0.4, 0.8], "a": [-0.1, 0.2]})
    res = Study(_model(), space, GridSearch(), path=path, seed=9, objective=Variance(),
                run_kwargs=RUN, keep=["x"]).run(n_jobs=2, progress=False)
    ref = load(hopf_study)
    assert res.df["worker"].nunique() == 2
    np.testing.assert_array_equal(res.df["var_x"], ref.df["var_x"])
    for i in range(6):
        np.testing.assert_array_equal(res.run(i)["x"], ref.run(i)["x"])


def test_a_model_study_resumes_in_a_new_process(tmp_path):
    """The study's identity (model, parameters incl. string choices, network) is the same
    in every process, so running the same script again resumes instead of refusing."""
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "resume_model.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        import numpy as np
        from brainsweep.explorer import ParameterSpace, Study
        from brainsweep.models import HopfModel
        m = HopfModel(Cmat=np.ones((3, 3)) - np.eye(3), Dmat=np.full((3, 3), 30.0))
        m.params["coupling"] = "additive"
        values = [0.1, 0.2] if sys.argv[1] == "first" else [0.1, 0.2, 0.3]
        res = Study(m, ParameterSpace({{"K_gl": values}}), path={str(tmp_path / 'm.h5')!r},
                    run_kwargs=dict(duration=50.0), seed=4).run(progress=False)
        print(len(res.df))
    """))
    for arg, expected in (("first", "2"), ("first", "2")):
        out = subprocess.run([sys.executable, str(script), arg], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip() == expected
    out = subprocess.run([sys.executable, str(script), "second"], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "holds a different study (its space differ)" in out.stderr
