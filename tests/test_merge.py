"""merge(paths, out): studies of one space and one evaluator run as separate jobs become
one study file with every run, renumbered, and its parameters, scores and arrays."""

import numpy as np
import pytest
import tables

from brainsweep.explorer import GridSearch, ParameterSpace, Study, load
from brainsweep.explorer.merge import merge
from brainsweep.explorer.storage import StudyFileError, bookkeeping

SPACE = {"x": [0.0, 1.0, 2.0], "k": [1, 2]}


def _job(params):
    x, k = params["x"], params["k"]
    if x == 2.0 and k == 2:
        raise RuntimeError("boom at the corner")
    return {"v": x * k, "n": int(k), "small": np.full(4, x + k, np.float32),
            "big": np.full(10_000, x * 10 + k), "label": f"x{x}k{k}"}


def _other(params):
    return {"v": params["x"]}


def _study(path, fn=_job, space=SPACE, seed=1):
    return Study(fn, ParameterSpace(space), GridSearch(batch_size=4), path=path, seed=seed)


def test_merge_keeps_every_run_renumbered_with_its_values(tmp_path):
    a = _study(tmp_path / "a.h5", seed=1).run(progress=False)
    b = _study(tmp_path / "b.h5", seed=2).run(progress=False)
    merge([tmp_path / "a.h5", tmp_path / "b.h5"], tmp_path / "all.h5")
    m = load(tmp_path / "all.h5")
    assert m.df.index.tolist() == list(range(12))
    for offset, src in ((0, a), (6, b)):
        for i in src.df.index:
            got, want = m.df.loc[offset + i], src.df.loc[i]
            for col in ("x", "k", "status", "seed", "v", "n", "message", "runtime"):
                if col in ("v", "n") and want.isna()[col]:
                    assert got.isna()[col], col  # a failed run has no scores
                else:
                    assert got[col] == want[col], col
            if want["status"] != "ok":
                continue
            run, ref = m.run(offset + i), src.run(i)
            assert set(run) == set(ref)
            for key in ("small", "big"):
                np.testing.assert_array_equal(run[key], ref[key])
                assert run[key].dtype == ref[key].dtype
            assert run["label"] == ref["label"] == f"x{want['x']}k{want['k']}"
    assert str(m.df["n"].dtype) == "Int64"
    assert m.df.loc[11, "status"] == "failed" and "boom at the corner" in m.df.loc[11, "message"]
    assert m.fingerprint["evaluate"] == a.fingerprint["evaluate"]
    assert [s["study_id"] for s in m.provenance["merged_from"]] == [a.study_id, b.study_id]
    assert sorted(m.arrays("small")) == [i for i in range(12) if i not in (5, 11)]
    with tables.open_file(tmp_path / "a.h5") as src, tables.open_file(tmp_path / "all.h5") as dst:
        bk_a, bk_m = bookkeeping(src), bookkeeping(dst)
        assert "evaluator_ref" in bk_a and bk_m.evaluator_ref.read().tobytes() == bk_a.evaluator_ref.read().tobytes()
        assert "evaluator" not in bk_m  # a copied pickle would count as created by this process


def test_merge_refuses_other_spaces_evaluators_and_existing_outputs(tmp_path):
    _study(tmp_path / "a.h5").run(progress=False)
    _study(tmp_path / "s.h5", space={"x": [0.0, 1.0], "k": [1, 2]}).run(progress=False)
    _study(tmp_path / "e.h5", fn=_other).run(progress=False)
    with pytest.raises(StudyFileError, match="parameter spaces differ"):
        merge([tmp_path / "a.h5", tmp_path / "s.h5"], tmp_path / "m1.h5")
    with pytest.raises(StudyFileError, match="evaluators differ"):
        merge([tmp_path / "a.h5", tmp_path / "e.h5"], tmp_path / "m2.h5")
    with pytest.raises(StudyFileError, match="at least two"):
        merge([tmp_path / "a.h5"], tmp_path / "m3.h5")
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(StudyFileError, match="exists"):
        merge([tmp_path / "a.h5", tmp_path / "a.h5"], tmp_path / "notes.txt")
    with pytest.raises(StudyFileError):
        merge([tmp_path / "a.h5", tmp_path / "a.h5"], tmp_path / "notes.txt", overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert not (tmp_path / "m1.h5").exists() and not (tmp_path / "m2.h5").exists()
