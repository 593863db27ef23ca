"""Every result type the project writes survives a store/reload exactly, through
brainsweep's ``load`` and through plain pypet."""

import numpy as np
import pandas as pd
import pytest
import tables
from pypet import Trajectory

from brainsweep.explorer import GridSearch, ParameterSpace, Study, load
from brainsweep.explorer._leaves import append_rows
from brainsweep.explorer.storage import RunRecord, StudyFile, StudyFileError

VALUES = {
    "f": 1.25,
    "i": 7,
    "b": True,
    "s": "héllo wörld",
    "np_f32": np.float32(2.5),
    "np_i16": np.int16(-3),
    "a_f32": (np.arange(12, dtype=np.float32).reshape(3, 4) / 7).astype(np.float32),
    "a_f64": np.linspace(0, 1, 5),
    "a_i": np.arange(6, dtype=np.int64).reshape(2, 3),
    "a_u8": np.array([0, 255], dtype=np.uint8),
    "a_bool": np.array([True, False, True]),
    "a_str": np.array(["ab", "c", "déf"]),
    "a_empty": np.zeros((0, 3)),
    "lst_str": ["alpha", "beta", "gamma"],
    "lst_num": [1.0, 2.0, 3.5],
    "df": pd.DataFrame({"a": [1.0, 2.5], "n": [1, 2], "s": ["u", "vw"], "flag": [True, False]}),
    "df_idx": pd.DataFrame({"v": [3.0, 4.0]}, index=["r1", "r2"]),
    "d": {"k": np.zeros(2), "inner": {"z": 2.5, "label": "x", "names": np.array(["p", "q"])}},
}


def everything(params):
    out = dict(VALUES)
    out["score"] = params["x"] * 2.0
    return out


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    path = tmp_path_factory.mktemp("rt") / "types.h5"
    Study(everything, ParameterSpace({"x": [1.0, 2.0, 3.0]}), path=path).run(progress=False)
    return path


def _assert_same(got, want, name):
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), name
        for k in want:
            _assert_same(got[k], want[k], f"{name}.{k}")
    elif isinstance(want, pd.DataFrame):
        pd.testing.assert_frame_equal(pd.DataFrame(got), want, check_dtype=False, obj=name)
        for c in want.columns:
            assert got[c].dtype.kind == want[c].dtype.kind or want[c].dtype == object, (name, c)
    elif isinstance(want, list):
        want = np.asarray(want)
        assert isinstance(got, np.ndarray) and got.dtype.kind == want.dtype.kind, name
        np.testing.assert_array_equal(got, want)
    elif isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray), name
        assert got.dtype == want.dtype and got.shape == want.shape, (name, got.dtype, got.shape)
        np.testing.assert_array_equal(got, want)
    else:
        assert type(got) is type(want), (name, type(got), type(want))
        assert got == want, name


def test_values_roundtrip_through_load(stored):
    res = load(stored)
    run = res.run(1)
    for name, want in VALUES.items():
        if name in ("f", "i", "b", "np_f32", "np_i16"):
            continue  # scalars live in the runs table (checked below)
        _assert_same(run[name], want, name)
    assert run["score"] == 4.0
    # scalars: one table row per run, each with its kind
    df = res.df
    assert df.loc[1, "f"] == 1.25 and df.loc[1, "i"] == 7 and df.loc[1, "b"] == True  # noqa: E712
    assert str(df["i"].dtype) == "Int64" and str(df["b"].dtype) == "boolean"
    assert df.loc[1, "np_f32"] == 2.5 and df.loc[1, "np_i16"] == -3
    assert run["i"] == 7 and isinstance(run["i"], int)
    assert run["b"] is True
    assert isinstance(run["s"], str) and run["s"] == "héllo wörld"


def test_plain_pypet_reads_parameters_and_results(stored):
    """The recipe in the README: the file is a pypet trajectory."""
    traj = Trajectory(filename=str(stored))
    traj.f_load(index=-1, load_parameters=2, load_results=2)
    assert traj.f_get_run_names() == ["run_00000000", "run_00000001", "run_00000002"]
    assert traj.f_get("x").f_get_range() == [1.0, 2.0, 3.0]
    traj.v_idx = 2
    assert traj.x == 3.0
    table = traj.results.table  # one row per run: parameters, scores, status
    assert list(table["score"]) == [2.0, 4.0, 6.0]
    assert list(table["status"]) == ["ok"] * 3
    run = traj.results.runs.run_00000002
    # small same-shaped arrays: one rows array per name, its idx item gives each row's run
    rows = traj.results.arrays.a_f32
    assert list(rows.idx) == [0, 1, 2]
    np.testing.assert_array_equal(rows.a_f32[list(rows.idx).index(2)], VALUES["a_f32"])
    assert rows.a_f32.dtype == np.float32 and rows.a_f32.shape == (3, 3, 4)
    assert list(run.a_str) == ["ab", "c", "déf"]
    assert run.s == "héllo wörld"
    np.testing.assert_array_equal(run.d.k, np.zeros(2))
    assert run.d.inner.z == 2.5
    assert list(run.df["s"]) == ["u", "vw"]
    info = traj.f_get_run_information("run_00000001")
    assert info["completed"] == 1 and info["idx"] == 1


def test_unstorable_results_fail_the_run_with_a_clear_message(tmp_path):
    class Thing:
        pass

    def bad(p):
        if p["k"] == 0:
            return {"obj": Thing()}
        if p["k"] == 1:
            return {"ragged": [[1, 2], [3]]}
        if p["k"] == 2:
            return {"bad key": 1.0}
        if p["k"] == 3:
            return "not a dict"
        if p["k"] == 4:
            return {"status": 1.0}
        return {"fine": 1.0}

    res = Study(bad, ParameterSpace({"k": list(range(6))}), path=tmp_path / "bad.h5").run(progress=False)
    df = res.df
    assert df["status"].tolist() == ["failed"] * 5 + ["ok"]
    assert "values of type Thing cannot be stored" in df.loc[0, "message"]
    assert "ragged" in df.loc[1, "message"]
    assert "'bad key'" in df.loc[2, "message"]
    assert "returned str; expected a dict" in df.loc[3, "message"]
    assert "reserved" in df.loc[4, "message"]
    assert df.loc[5, "fine"] == 1.0


def test_attachments_and_provenance_are_stored(tmp_path):
    text = "model: HopfModel\nspace:\n  K_gl: [0.1, 0.2]\n"
    res = Study(everything, ParameterSpace({"x": [1.0]}), path=tmp_path / "a.h5",
                attachments={"study.yaml": text}).run(progress=False)
    assert res.attachments == {"study.yaml": text.encode()}
    prov = res.provenance
    import json, platform, sys  # noqa: E401
    assert prov["python"] == sys.version.split()[0]
    assert prov["hostname"] == platform.node()
    assert json.loads(prov["packages"])["pypet"].startswith("0.7")
    assert prov["created"][:4].isdigit()


def test_string_values_longer_than_the_first_batchs_keep_every_character(tmp_path):
    """A categorical parameter whose long values first appear in a later batch (as an
    optimiser may ask them) is stored whole, in the runs table and in pypet's range."""
    from brainsweep.explorer.storage import RunRecord, StudyFile

    space = ParameterSpace(bounds={"conn": ["tvb68", "my_own_connectome_folder"]})
    path = str(tmp_path / "cat.h5")
    with StudyFile.create(path, space, {"test": 1}, 1, {"python": "3"}) as f:
        for label in ("tvb68", "my_own_connectome_folder"):
            first = f.register_batch([{"conn": label}])
            f.write_runs([RunRecord(first, "ok", 0, scalars={"v": float(first)})], {"batch": first})
    df = load(path).df
    assert df["conn"].tolist() == ["tvb68", "my_own_connectome_folder"]
    traj = Trajectory(filename=path)
    traj.f_load(index=-1, load_parameters=2, load_results=0)
    assert traj.f_get("conn").f_get_range() == ["tvb68", "my_own_connectome_folder"]


# -- small same-shaped per-run arrays: rows of one array per name ----------------------------

def _rows_study(path, n=6, seed=11):
    def f(p):
        x = p["x"]
        ragged = np.arange(int(x) + 1, dtype=np.float64)  # shape differs from run 1 on: run groups
        return {"v": x, "small": np.full((2, 3), x, np.float32), "ragged": ragged,
                "big": np.full(20_000, x)}  # 160 kB: a run group
    return Study(f, ParameterSpace({"x": [float(i) for i in range(n)]}), GridSearch(batch_size=2), path=path,
                 seed=seed)


def test_small_same_shaped_arrays_are_rows_read_transparently(tmp_path):
    path = tmp_path / "rows.h5"
    res = _rows_study(path).run(progress=False)
    for i in range(6):
        run = res.run(i)
        np.testing.assert_array_equal(run["small"], np.full((2, 3), float(i), np.float32))
        assert run["small"].dtype == np.float32
        np.testing.assert_array_equal(run["ragged"], np.arange(i + 1, dtype=np.float64))
        np.testing.assert_array_equal(run["big"], np.full(20_000, float(i)))
    assert sorted(res.arrays("small")) == list(range(6))
    assert [float(a[0, 0]) for a in res.arrays("small", [5, 2]).values()] == [5.0, 2.0]
    with tables.open_file(path) as h5:
        traj = res.trajectory
        assert h5.get_node(f"/{traj}/results/arrays/small/small").shape == (6, 2, 3)
        assert h5.get_node(f"/{traj}/results/arrays/ragged/idx").read().tolist() == [0]
        groups = h5.get_node(f"/{traj}/results/runs/run_set_00000")
        assert sorted(g._v_name for g in groups) == [f"run_{i:08d}" for i in range(6)]
        assert "small" not in groups.run_00000003 and "ragged" in groups.run_00000003


def test_rows_written_before_a_kill_are_dropped_on_resume_and_results_are_identical(tmp_path, monkeypatch):
    ref = _rows_study(tmp_path / "ref.h5").run(progress=False)
    path = tmp_path / "kill.h5"
    real = StudyFile._append_rows
    calls = {"n": 0}

    def killed(self, records, tags):
        calls["n"] += 1
        if calls["n"] == 2:  # the second batch's rows and groups are flushed, its table rows not
            raise KeyboardInterrupt
        return real(self, records, tags)

    monkeypatch.setattr(StudyFile, "_append_rows", killed)
    monkeypatch.setattr(StudyFile, "_drop_array_rows", lambda self, lengths: None)  # a SIGKILL cleans nothing
    monkeypatch.setattr(StudyFile, "_drop_groups", lambda self, paths: None)
    with pytest.raises(KeyboardInterrupt):
        _rows_study(path).run(progress=False)
    with tables.open_file(path) as h5:  # rows of runs without a table row are in the file
        idx = h5.get_node("/kill/results/arrays/small/idx").read().tolist()
    stored = load(path).df.index.tolist()
    orphans = [i for i in idx if i not in stored]
    assert stored and orphans and idx == sorted(stored + orphans)
    monkeypatch.undo()
    with pytest.warns(UserWarning, match=f"dropped {len(orphans)} row\\(s\\) of result 'small'"):
        res = _rows_study(path).run(progress=False)
    pd.testing.assert_frame_equal(res.df[["x", "v", "seed", "status"]], ref.df[["x", "v", "seed", "status"]])
    for i in range(6):
        a, b = res.run(i), ref.run(i)
        assert set(a) == set(b)
        for k in ("small", "ragged", "big"):
            np.testing.assert_array_equal(a[k], b[k])
    with tables.open_file(path) as h5:
        assert h5.get_node(f"/{res.trajectory}/results/arrays/small/idx").read().tolist() == list(range(6))


def test_a_run_stored_in_two_rows_is_read_from_its_last_row(tmp_path):
    path = str(tmp_path / "dup.h5")
    space = ParameterSpace({"x": [0.0, 1.0]})
    with StudyFile.create(path, space, {"t": 1}, 1, {"p": "1"}) as f:
        f.register_batch(space.grid_points())
        append_rows(f.h5, f.rows_path, "a", [1], [np.full(4, -1.0)])  # a stale row of run 1
        f.write_runs([RunRecord(0, "ok", 0, values={"a": np.full(4, 0.0)}),
                      RunRecord(1, "ok", 1, values={"a": np.full(4, 1.0)})], {"batch": 0})
    res = load(path)
    assert {i: a.tolist() for i, a in res.arrays("a").items()} == {0: [0.0] * 4, 1: [1.0] * 4}
    assert res.run(1)["a"].tolist() == [1.0] * 4


def test_to_xarray_needs_one_shape_and_names_a_missing_xarray(tmp_path):
    res = _rows_study(tmp_path / "xr.h5", n=3).run(progress=False)
    with pytest.raises(ValueError, match="3 shapes"):
        res.to_xarray("ragged")
    with pytest.raises(KeyError, match="no run stored an array 'nothing'"):
        res.to_xarray("nothing")
    try:
        import xarray  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install xarray"):
            res.to_xarray("small")
        return
    da = res.to_xarray("small")
    assert da.dims == ("run", "small_dim_0", "small_dim_1") and da["run"].values.tolist() == [0, 1, 2]
    assert da["x"].values.tolist() == [0.0, 1.0, 2.0]
    np.testing.assert_array_equal(da.sel(run=2).values, res.run(2)["small"])


def test_a_truncated_file_is_reported_as_truncated_not_as_in_use(tmp_path):
    """An interrupted copy used to be reported as "open for writing by another process" (HDF5's
    "unable to read superblock" contains "lock")."""
    path = tmp_path / "t.h5"
    Study(_square, ParameterSpace({"x": [1.0, 2.0, 3.0]}), GridSearch(), path=path, seed=1).run(progress=False)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(StudyFileError, match=rf"the file is truncated \({size // 2} of {size} bytes\)"):
        load(path)


def _square(p):
    return {"y": p["x"] ** 2}


def _squares(p):
    return {"loss": float(sum(v * v for v in p.values()))}


def test_many_explored_parameters_make_a_small_file_that_pypet_reads(tmp_path):
    """136 explored parameters (a per-node space): PyTables' default chunks allocated 64 kB for each
    parameter's two tables and HDF5 kept the replaced ones' space: 31 MB for 8 runs. Now a few MB,
    and pypet still reads every explored value."""
    import os
    from brainsweep.explorer import CMAES
    bounds = {f"a__{i}": (0.0, 1.0) for i in range(136)}
    path = tmp_path / "many.h5"
    res = Study(_squares, ParameterSpace(bounds=bounds), CMAES(max_evals=8, popsize=8), path=str(path),
                seed=0).run(progress=False)
    assert os.path.getsize(path) < 8e6
    assert not list(tmp_path.glob(".many.h5*"))  # no temporary file left beside it
    traj = Trajectory(filename=str(path))
    traj.f_load(index=-1, load_parameters=2, load_results=0)
    for name in ("a__0", "a__77", "a__135"):
        assert np.array_equal(np.array(traj.f_get(name).f_get_range()), res.df[name].to_numpy())
