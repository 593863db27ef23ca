"""The study file's integrity: plain (JSON) strategy states, format-1 files read without
unpickling, bookkeeping out of pypet's way, the runs table in run order, study ids."""

import json
import pickle

import numpy as np
import pytest
import tables
from pypet import Trajectory

from brainsweep.explorer import GridSearch, ParameterSpace, Study, StudyFileError, load
from brainsweep.explorer import storage
from brainsweep.explorer.storage import FORMAT_VERSION, RunRecord, StudyFile, bookkeeping


def _square(params):
    return {"v": params["x"] ** 2, "arr": np.full(3, params["x"])}


def _grid_study(path, xs=(1.0, 2.0, 3.0, 4.0), batch_size=2, **kw):
    return Study(_square, ParameterSpace({"x": list(xs)}), GridSearch(batch_size=batch_size), path=path, **kw)


class _Boom:
    """Unpickling this creates a marker file: proof that a reader ran code from the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_states_are_json_and_reading_never_unpickles(tmp_path, monkeypatch):
    path = tmp_path / "s.h5"
    _grid_study(path).run(progress=False)
    with tables.open_file(path) as h5:
        bk = bookkeeping(h5)
        assert bk._v_pathname == "/s/overview/brainsweep"
        assert int(bk._v_attrs.format_version) == FORMAT_VERSION == 2
        states = [json.loads(row.tobytes()) for row in bk.states]
    assert states == [{"next": 2}, {"next": 4}]  # GridSearch's state after each batch, as JSON

    def no_pickle(*a, **k):
        raise AssertionError("a reader unpickled something")

    monkeypatch.setattr(pickle, "loads", no_pickle)
    res = load(path)
    assert res.strategy_state == {"next": 4} and res.strategy_state_note == ""
    assert res.df["v"].tolist() == [1.0, 4.0, 9.0, 16.0]


def _to_format_1(path, state_blob, legacy_identity=None):
    """Rewrite a format-2 file in format 1's layout: top-level /brainsweep, pickled states,
    flat run groups, and (given ``legacy_identity``) the evaluator identity without its code
    hash (what brainsweep wrote before format 2)."""
    with tables.open_file(path, "a") as h5:
        bk = bookkeeping(h5)
        if legacy_identity is not None:
            doc = json.loads(bk.fingerprint.read().tobytes().decode())
            doc["evaluate"] = legacy_identity
            h5.remove_node(bk, "fingerprint")
            h5.create_array(bk, "fingerprint", np.frombuffer(json.dumps(doc, sort_keys=True).encode(), np.uint8))
        traj = str(bk._v_attrs.trajectory)
        h5.move_node(bk._v_pathname, "/", "brainsweep")
        bk = h5.root.brainsweep
        bk._v_attrs.format_version = 1
        del bk._v_attrs.study_id
        h5.remove_node(bk, "states")
        vl = h5.create_vlarray(bk, "states", tables.UInt8Atom())
        if state_blob is not None:
            vl.append(np.frombuffer(state_blob, dtype=np.uint8))
        runs = h5.get_node(f"/{traj}/results/runs")
        for bucket in list(runs._f_iter_nodes("Group")):
            for grp in list(bucket._f_iter_nodes("Group")):
                h5.move_node(grp, runs)
            bucket._f_remove()


def test_a_format_1_file_is_read_without_unpickling_and_resumed_only_with_trust(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "old.h5"
    _grid_study(path, batch_size=4).run(progress=False)
    _to_format_1(path, pickle.dumps(_Boom(marker)))
    # reading: everything but the pickled state, which is not touched
    res = load(path)
    assert res.df["v"].tolist() == [1.0, 4.0, 9.0, 16.0]
    np.testing.assert_array_equal(res.run(2)["arr"], np.full(3, 3.0))
    assert res.arrays("arr")[3].tolist() == [4.0] * 3
    assert res.strategy_state is None and "pickle" in res.strategy_state_note
    assert res.study_id is None and res.format_version == 1
    # plain pypet still reads it (no run sets, /brainsweep at the top)
    traj = Trajectory(filename=str(path))
    traj.f_load(name="old", load_parameters=2, load_results=2)
    assert list(traj.results.table["v"]) == [1.0, 4.0, 9.0, 16.0]
    assert not marker.exists()
    # resuming needs trust
    with pytest.raises(StudyFileError, match="pickle.*trust=True"):
        _grid_study(path, batch_size=4).run(progress=False)
    assert not marker.exists()


def test_a_format_1_study_resumes_with_trust_and_stores_later_states_as_json(tmp_path):
    path = tmp_path / "old2.h5"
    full = _grid_study(tmp_path / "ref.h5", xs=(1.0, 2.0, 3.0, 4.0, 5.0, 6.0)).run(progress=False)
    study = _grid_study(path, xs=(1.0, 2.0, 3.0, 4.0, 5.0, 6.0))
    file = StudyFile.create(str(path), study.space, study.fingerprint(), full.seed, {"p": "1"})
    study.strategy.start(study.space, full.seed)
    batch = study.strategy.ask()
    first = file.register_batch(batch.points)
    file.write_runs(study.evaluator.evaluate_chunk([(first + i, p, int(full.df.loc[first + i, "seed"]))
                                                    for i, p in enumerate(batch.points)]), batch.tags)
    file.close()
    _to_format_1(path, pickle.dumps({"next": 2}), legacy_identity=study.evaluator.legacy_identity)
    assert study.evaluator.identity != study.evaluator.legacy_identity
    with pytest.warns(UserWarning, match="marked the told batches"):  # state stored, flag not set
        res = _grid_study(path, xs=(1.0, 2.0, 3.0, 4.0, 5.0, 6.0), trust=True).run(progress=False)
    assert res.df["v"].tolist() == full.df["v"].tolist()
    assert res.df["seed"].tolist() == full.df["seed"].tolist()
    assert res.strategy_state == {"next": 6}  # the last state, from the JSON states beside the pickles
    with tables.open_file(path) as h5:
        assert h5.root.brainsweep.states.nrows == 1 and h5.root.brainsweep.states_plain.nrows == 2


@pytest.mark.parametrize("name", ["a.h5", "bo.h5", "zz.h5", "aln_grid.h5"])
def test_plain_pypet_reads_the_file_whatever_its_name(tmp_path, name):
    path = tmp_path / name
    _grid_study(path, xs=(3.0, 1.0, 2.0)).run(progress=False)
    traj = Trajectory(filename=str(path))
    traj.f_load(index=-1, load_parameters=2, load_results=2)  # the README's recipe
    assert traj.f_get("x").f_get_range() == [3.0, 1.0, 2.0]
    table = traj.results.table
    assert list(table["idx"]) == [0, 1, 2]
    assert list(table["v"]) == [9.0, 1.0, 4.0]
    rows = traj.results.arrays.arr  # small same-shaped arrays: one row per run, idx names the run
    np.testing.assert_array_equal(rows.arr[list(rows.idx).index(2)], np.full(3, 2.0))
    assert not hasattr(traj, "brainsweep")


def test_the_runs_table_is_sorted_by_run_index_once_a_batch_is_complete(tmp_path):
    space = ParameterSpace({"x": [0.0, 1.0, 2.0, 3.0, 4.0]})
    path = str(tmp_path / "order.h5")
    with StudyFile.create(path, space, {"t": 1}, 1, {"p": "1"}) as f:
        first = f.register_batch([{"x": float(i)} for i in range(5)])
        for i in (3, 0, 4):  # as runs of a pool finish
            f.write_runs([RunRecord(first + i, "ok", i, scalars={"v": float(i)})], {"batch": 0})
        f.write_runs([RunRecord(2, "ok", 2, scalars={"v": 2.0}), RunRecord(1, "ok", 1, scalars={"v": 1.0})],
                     {"batch": 0})
        assert f._table.col("idx").tolist() == [3, 0, 4, 1, 2]  # completion order while the batch runs
        f.save_state(0, {"next": 5})
        assert f._table.col("idx").tolist() == [0, 1, 2, 3, 4]
        assert f._table.col("v").tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
        assert f._table.col("x").tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert load(path).df["v"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


class _RefEvaluator:
    """An evaluator offering a plain reference (as brainsweep's evaluators do)."""

    identity = "tests:_RefEvaluator"

    def reference(self):
        return {"kind": "function", "target": "tests:_square", "array": np.arange(3)}

    def evaluate_chunk(self, tasks):
        from brainsweep.explorer.runner import FunctionEvaluator
        return FunctionEvaluator(_square).evaluate_chunk(tasks)


def test_study_id_and_evaluator_reference_are_recorded(tmp_path):
    from brainsweep.explorer import _plain

    path = tmp_path / "ref.h5"
    res = Study(_RefEvaluator(), ParameterSpace({"x": [1.0, 2.0]}), path=path).run(progress=False)
    assert isinstance(res.study_id, str) and len(res.study_id) == 32
    assert res.study_id in storage.CREATED_HERE
    with tables.open_file(path) as h5:
        bk = bookkeeping(h5)
        doc = _plain.decode(bk.evaluator_ref.read())
        assert bk._v_attrs.study_id == res.study_id
    assert doc["target"] == "tests:_square" and doc["array"].tolist() == [0, 1, 2]
    other = Study(_RefEvaluator(), ParameterSpace({"x": [1.0, 2.0]}), path=tmp_path / "ref2.h5").run(progress=False)
    assert other.study_id != res.study_id


# -- creation and the writer lock ---------------------------------------------------------

def test_an_interrupted_creation_leaves_no_file_under_the_name(tmp_path, monkeypatch):
    from brainsweep.explorer import _create

    def cut(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(_create, "_write_bookkeeping", cut)
    path = tmp_path / "new.h5"
    with pytest.raises(KeyboardInterrupt):
        _grid_study(path).run(progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no study, no temp file, no lock
    monkeypatch.undo()
    assert _grid_study(path).run(progress=False).df["v"].tolist() == [1.0, 4.0, 9.0, 16.0]


def test_a_half_made_file_of_an_older_version_is_restarted_with_a_message(tmp_path):
    path = tmp_path / "half.h5"
    traj = Trajectory("half", add_time=False, filename=str(path), comment="brainsweep study")
    traj.f_add_parameter("x", 1.0)
    traj.f_explore({"x": [1.0]})
    traj.f_store()  # what a kill during format 1's creation left: pypet's skeleton only
    del traj
    with pytest.warns(UserWarning, match="creation was interrupted.*starting it again"):
        res = _grid_study(path).run(progress=False)
    assert res.df["v"].tolist() == [1.0, 4.0, 9.0, 16.0]
    assert res.df["x"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_a_format_1_file_killed_before_creations_last_flush_is_restarted_unshifted(tmp_path):
    """Format 1 wrote its bookkeeping after pypet's skeleton; a kill before the last flush
    left pypet's placeholder value in the explored range, and the resumed study registered
    its runs after it: every run carried the previous run's parameters."""
    path = tmp_path / "shift.h5"
    study = _grid_study(path)
    StudyFile.create(str(path), study.space, study.fingerprint(), 3, {"p": "1"}).close()
    _to_format_1(path, None)
    with tables.open_file(path, "a") as h5:
        h5.root.shift.parameters.x.explored_data.append([(1.0,)])  # the placeholder run
    with pytest.warns(UserWarning, match="creation was interrupted"):
        res = _grid_study(path).run(progress=False)
    assert res.df["x"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert res.df["v"].tolist() == [1.0, 4.0, 9.0, 16.0]
    assert res.format_version == 2


def test_overwrite_replaces_only_a_study_file(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    with pytest.raises(StudyFileError, match="not an HDF5 file"):
        _grid_study(notes, overwrite=True).run(progress=False)
    assert notes.read_text() == "my notes"
    foreign = tmp_path / "foreign.h5"
    with tables.open_file(foreign, "w") as h5:
        h5.create_array("/", "data", np.arange(3))
    with pytest.raises(StudyFileError, match="not a brainsweep study.*data"):
        _grid_study(foreign, overwrite=True).run(progress=False)
    with tables.open_file(foreign) as h5:
        assert h5.root.data.read().tolist() == [0, 1, 2]
    folder = tmp_path / "adir.h5"
    folder.mkdir()
    with pytest.raises(StudyFileError, match="is a directory"):
        _grid_study(folder, overwrite=True).run(progress=False)


def test_the_writer_lock_follows_symlinks_and_names_the_holder(tmp_path):
    import os
    import socket

    real = tmp_path / "real.h5"
    _grid_study(real).run(progress=False)
    link = tmp_path / "link.h5"
    link.symlink_to(real)
    writer = StudyFile.open(str(real), "a")
    try:
        with pytest.raises(StudyFileError, match=f"being written by another process \\(pid {os.getpid()} "
                                                 f"on host {socket.gethostname()}\\)"):
            _grid_study(link).run(progress=False)
        with pytest.raises(StudyFileError, match="being written"):
            _grid_study(link, xs=(7.0,), overwrite=True).run(progress=False)
    finally:
        writer.close()
    assert load(real).df["v"].tolist() == [1.0, 4.0, 9.0, 16.0]


# -- interrupted writes --------------------------------------------------------------------

def _run_groups(path):
    """Names of the runs with stored arrays: run groups, and rows of small arrays."""
    with tables.open_file(path) as h5:
        traj = str(bookkeeping(h5)._v_attrs.trajectory)
        names = []
        if f"/{traj}/results/runs" in h5:
            runs = h5.get_node(f"/{traj}/results/runs")
            names += [g._v_name for s in runs._f_iter_nodes("Group") for g in s._f_iter_nodes("Group")]
        if f"/{traj}/results/arrays/arr" in h5:
            names += [f"run_{i:08d}" for i in h5.get_node(f"/{traj}/results/arrays/arr/idx").read()]
        return sorted(names)


def test_an_interrupt_during_a_write_leaves_no_orphan_groups(tmp_path, monkeypatch):
    path = tmp_path / "int.h5"
    real = StudyFile._append_rows
    calls = {"n": 0}

    def interrupted(self, records, tags):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # Ctrl-C between a write's groups and its rows
        return real(self, records, tags)

    monkeypatch.setattr(StudyFile, "_append_rows", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _grid_study(path, batch_size=None).run(progress=False)
    stored = load(path).df.index.tolist()
    assert stored == [0] and _run_groups(path) == ["run_00000000"]
    monkeypatch.undo()
    res = _grid_study(path, batch_size=None).run(progress=False)
    assert res.df["v"].tolist() == [1.0, 4.0, 9.0, 16.0]
    assert _run_groups(path) == [f"run_{i:08d}" for i in range(4)]


def test_orphans_and_half_registered_batches_are_repaired_on_resume(tmp_path):
    ref = _grid_study(tmp_path / "ref.h5", xs=(1.0, 2.0, 3.0, 4.0, 5.0, 6.0)).run(progress=False)
    path = tmp_path / "rep.h5"
    study = _grid_study(path, xs=(1.0, 2.0, 3.0, 4.0, 5.0, 6.0), seed=ref.seed)
    study.strategy.start(study.space, ref.seed)
    with StudyFile.create(str(path), study.space, study.fingerprint(), ref.seed, {"p": "1"}) as f:
        batch = study.strategy.ask()
        first = f.register_batch(batch.points)
        recs = study.evaluator.evaluate_chunk([(first + i, p, int(ref.df.loc[first + i, "seed"]))
                                               for i, p in enumerate(batch.points)])
        f.write_runs(recs[:1], batch.tags)
        # run 1's group flushed, its row never written (a kill between the two)
        f.h5.create_group(f.run_group_path(1).rsplit("/", 1)[0], "run_00000001", createparents=True)
        # the next batch's parameters registered, its batch row never written
        for name in f.param_names:
            f._append_explored(name, [99.0, 98.0])
    with pytest.warns(UserWarning) as caught:
        res = _grid_study(path, xs=(1.0, 2.0, 3.0, 4.0, 5.0, 6.0)).run(progress=False)
    notes = " | ".join(str(w.message) for w in caught)
    assert "removed 1 run group(s) whose table row was never written" in notes
    assert "dropped parameter values registered beyond the 2 committed runs" in notes
    for col in ("x", "v", "seed", "status"):
        assert res.df[col].tolist() == ref.df[col].tolist(), col
    assert _run_groups(path) == [f"run_{i:08d}" for i in range(6)]


def test_a_file_that_cannot_be_repaired_is_refused_with_a_message(tmp_path):
    path = tmp_path / "bad.h5"
    _grid_study(path).run(progress=False)
    with tables.open_file(path, "a") as h5:  # a stored run whose parameters are gone
        for t in (h5.root.bad.parameters.x.explored_data, h5.root.bad.overview.runs):
            t.remove_rows(3, 4)
    with pytest.raises(StudyFileError, match="inconsistent study file.*batch 1 has stored runs"):
        _grid_study(path).run(progress=False)
    assert load(path).df["v"].tolist() == [1.0, 4.0, 9.0, 16.0]  # still readable


# -- scores and names ----------------------------------------------------------------------

def _typed(params):
    k = params["k"]
    return {"a": [1, 0.5, 2][k], "b": [True, 0.5, False][k], "c": [3, True, 4][k], "d": [True, False, True][k]}


def test_score_types_widen_and_never_show_a_float_as_bool(tmp_path):
    res = Study(_typed, ParameterSpace({"k": [0, 1, 2]}), GridSearch(batch_size=1),
                path=tmp_path / "types.h5").run(progress=False)
    df = res.df
    assert df["a"].tolist() == [1.0, 0.5, 2.0] and df["a"].dtype == np.float64
    assert df["b"].tolist() == [1.0, 0.5, 0.0] and df["b"].dtype == np.float64
    assert df["c"].tolist() == [3, 1, 4] and str(df["c"].dtype) == "Int64"
    assert df["d"].tolist() == [True, False, True] and str(df["d"].dtype) == "boolean"
    again = load(tmp_path / "types.h5")  # and the finished file reads back
    assert again.df["b"].tolist() == [1.0, 0.5, 0.0]


def _odd(params):
    k = params["k"]
    if k == 0:
        return {"v": 1.0, "z": 1 + 2j}
    if k == 1:
        return {"v": 1.0, "k": 5.0}   # a score named as a parameter
    if k == 2:
        return {"v": 1.0, "batch": 3}  # a strategy tag
    return {"v": 2.0, "w": np.array([1 + 1j, 2 - 1j])}


def test_complex_scores_and_clashing_names_fail_only_their_run(tmp_path):
    res = Study(_odd, ParameterSpace({"k": [0, 1, 2, 3]}), path=tmp_path / "odd.h5").run(progress=False)
    df = res.df
    assert df["status"].tolist() == ["failed", "failed", "failed", "ok"]
    assert "'z' is a complex number" in df.loc[0, "message"]
    assert "'k' have the name of a parameter" in df.loc[1, "message"]
    assert "'batch' is reserved" in df.loc[2, "message"]
    np.testing.assert_array_equal(res.run(3)["w"], np.array([1 + 1j, 2 - 1j]))


@pytest.mark.parametrize("name", ["seed", "status", "idx", "runtime", "finished", "worker", "message",
                                  "batch", "generation", "iteration"])
def test_reserved_parameter_names_are_refused_before_anything_runs(tmp_path, name):
    with pytest.raises(ValueError, match=f"parameter '{name}': the name is reserved"):
        Study(_square, ParameterSpace({name: [1.0]}), path=tmp_path / "r.h5")
    with pytest.raises(ValueError, match=f"parameter '{name}': the name is reserved"):
        Study(_square, ParameterSpace({"x": [1.0]}, fixed={name: 1}), path=tmp_path / "r.h5")
    assert not (tmp_path / "r.h5").exists()


def test_an_interrupted_sort_of_the_runs_table_is_finished_on_resume(tmp_path):
    ref = _grid_study(tmp_path / "ref.h5", batch_size=None).run(progress=False)
    path = tmp_path / "sort.h5"
    study = _grid_study(path, batch_size=None, seed=ref.seed)
    study.strategy.start(study.space, ref.seed)
    batch = study.strategy.ask()
    with StudyFile.create(str(path), study.space, study.fingerprint(), ref.seed, {"p": "1"}) as f:
        first = f.register_batch(batch.points)
        recs = study.evaluator.evaluate_chunk([(first + i, p, int(ref.df.loc[first + i, "seed"]))
                                               for i, p in enumerate(batch.points)])
        for r in reversed(recs):
            f.write_runs([r], batch.tags)
        # what _sort_table leaves when killed between writing the sorted tail and copying it
        rows = f._table.read()
        tail = f.h5.create_table(f"{f._root}/results/table", "table_tail", obj=rows[np.argsort(rows["idx"])])
        tail.attrs.start = 0
    with pytest.warns(UserWarning, match="finished an interrupted sorting of the runs table"):
        res = _grid_study(path, batch_size=None).run(progress=False)
    with tables.open_file(path) as h5:
        assert h5.root.sort.results.table.table.col("idx").tolist() == [0, 1, 2, 3]
        assert "table_tail" not in h5.root.sort.results.table
    for col in ("x", "v", "seed"):
        assert res.df[col].tolist() == ref.df[col].tolist()


def test_a_study_in_a_missing_folder_is_refused_with_a_message(tmp_path):
    with pytest.raises(StudyFileError, match="the folder .*nodir does not exist"):
        _grid_study(tmp_path / "nodir" / "s.h5").run(progress=False)


# -- torn chunks (a kill while HDF5 rewrote a compressed chunk) ------------------------------

def _tear_chunk(path, node_path, row=0):
    """Overwrite the stored bytes of the chunk holding ``row`` of ``node_path`` with garbage,
    as a kill leaves a compressed chunk whose space HDF5 had already reused."""
    with tables.open_file(path) as h5:
        node = h5.get_node(node_path)
        info = node.chunk_info((row // node.chunkshape[0],))
    with open(path, "r+b") as fh:
        fh.seek(info.offset)
        fh.write(b"\x5a" * info.size)


def _half_done_study(path, ref, n=400, batch_size=100, stored=150):
    """A grid study of ``n`` points with ``stored`` runs written, as a kill leaves it."""
    study = _grid_study(path, xs=np.arange(1.0, n + 1), batch_size=batch_size, seed=ref.seed)
    study.strategy.start(study.space, ref.seed)
    with StudyFile.create(str(path), study.space, study.fingerprint(), ref.seed, {"p": "1"}) as f:
        while f.n_registered < stored:
            batch = study.strategy.ask()
            first = f.register_batch(batch.points)
            recs = study.evaluator.evaluate_chunk([(first + i, p, int(ref.df.loc[first + i, "seed"]))
                                                   for i, p in enumerate(batch.points)])
            keep = min(len(recs), stored - first)
            f.write_runs(recs[:keep], batch.tags)
            if keep == len(recs):  # a grid's state needs no outcomes
                f.save_state(int(f.batches()["batch"][-1]), study.strategy.get_state())
    return study


def test_a_torn_chunk_of_pypets_run_table_is_rebuilt_on_resume(tmp_path):
    xs = np.arange(1.0, 401)
    ref = _grid_study(tmp_path / "ref.h5", xs=xs, batch_size=100).run(progress=False)
    path = tmp_path / "torn.h5"
    _half_done_study(path, ref)
    _tear_chunk(path, "/torn/overview/runs", row=120)
    assert len(load(path).df) == 150  # brainsweep reads the file without pypet's run information
    with pytest.warns(UserWarning, match="rebuilt pypet's run information"):
        res = _grid_study(path, xs=xs, batch_size=100).run(progress=False)
    for col in ("x", "v", "seed", "status"):
        assert res.df[col].tolist() == ref.df[col].tolist(), col
    with tables.open_file(path) as h5, tables.open_file(tmp_path / "ref.h5") as h5_ref:
        rebuilt, expected = h5.root.torn.overview.runs.read(), h5_ref.root.ref.overview.runs.read()
    for col in ("idx", "name", "completed", "parameter_summary", "short_environment_hexsha"):
        np.testing.assert_array_equal(rebuilt[col], expected[col], err_msg=col)
    traj = Trajectory(filename=str(path))
    traj.f_load(index=-1, load_parameters=2, load_results=1)
    assert len(traj) == 400 and traj.f_get_run_information(399)["completed"] == 1


@pytest.mark.parametrize("leaf, message", [
    ("results/table/table", "results/table/table is unreadable"),
    # uncompressed (as the array rows): a kill leaves old or new values, never foreign bytes; if
    # foreign bytes were there HDF5 would read them, and here the strategy's replay catches them
    ("parameters/x/explored_data", "the strategy asked for other points than the file holds")])
def test_a_torn_chunk_of_a_leaf_held_nowhere_else_is_refused(tmp_path, leaf, message):
    xs = np.arange(1.0, 401)
    ref = _grid_study(tmp_path / "ref.h5", xs=xs, batch_size=100).run(progress=False)
    path = tmp_path / "torn.h5"
    _half_done_study(path, ref)
    _tear_chunk(path, f"/torn/{leaf}", row=0)
    with pytest.raises(StudyFileError, match=message):
        _grid_study(path, xs=xs, batch_size=100).run(progress=False)
