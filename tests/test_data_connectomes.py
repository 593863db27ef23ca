"""Connectome loaders: TVB zips (checked against the raw zip text), user folders, .npz/.mat."""

import bz2
import importlib.resources
import io
import zipfile

import numpy as np
import pytest
import scipy.io

from brainsweep import evaluation as ev
from brainsweep.data import TVB_CONNECTOMES, load_connectome, load_dataset


def _raw_zip_matrix(n, base):
    """Independent read of a matrix from the installed tvb-data zip with plain zipfile."""
    path = importlib.resources.files("tvb_data") / "connectivity" / f"connectivity_{n}.zip"
    with zipfile.ZipFile(str(path)) as zf:
        for member in zf.namelist():
            if member.endswith(base):
                return np.loadtxt(io.BytesIO(zf.read(member)))
            if member.endswith(base + ".bz2"):
                return np.loadtxt(io.BytesIO(bz2.decompress(zf.read(member))))
    raise AssertionError(f"{base} not in connectivity_{n}.zip")


@pytest.mark.parametrize("name", list(TVB_CONNECTOMES))
def test_tvb_connectomes_match_raw_zip_contents(name):
    n = TVB_CONNECTOMES[name]
    sc = load_connectome(name)
    assert sc.Cmat.shape == sc.Dmat.shape == (n, n)
    assert len(sc.labels) == n and len(set(sc.labels)) == n and sc.centres.shape == (n, 3)
    np.testing.assert_array_equal(sc.Cmat, _raw_zip_matrix(n, "weights.txt"))
    np.testing.assert_array_equal(sc.Dmat, _raw_zip_matrix(n, "tract_lengths.txt"))
    np.testing.assert_allclose(sc.Dmat, sc.Dmat.T)  # tract lengths are symmetric in all five
    # plausible fibre lengths in mm for a human/macaque brain
    assert 1.0 < sc.Dmat[sc.Dmat > 0].min() and 100.0 < sc.Dmat.max() < 300.0
    assert (sc.Cmat >= 0).all()


def test_tvb_weight_scales_as_documented():
    assert np.allclose(load_connectome("tvb68").Cmat, load_connectome("tvb68").Cmat.T)  # human DTI: symmetric
    assert load_connectome("tvb68").Cmat.max() < 1.0
    assert set(np.unique(load_connectome("tvb96").Cmat)) == {0.0, 1.0, 2.0, 3.0}  # macaque ordinal
    for name in ("tvb76", "tvb192"):
        C = load_connectome(name).Cmat
        assert C.max() == 3.0 and int((C != np.round(C)).sum()) == 34
    sc = load_connectome("tvb68")
    assert sc.labels[0] == "r_lateralorbitofrontal" and sc.labels[-1] == "l_insula"


def test_normalisation_and_zero_diagonal():
    raw = load_connectome("tvb76").Cmat
    np.testing.assert_allclose(load_connectome("tvb76", normalize="max").Cmat, raw / 3.0)
    rs = load_connectome("tvb76", normalize="rowsum", zero_diagonal=True).Cmat
    assert np.all(np.diag(rs) == 0)
    sums = rs.sum(axis=1)
    np.testing.assert_allclose(sums[sums > 0], 1.0)
    with pytest.raises(ValueError, match="normalize"):
        load_connectome("tvb68", normalize="sum")


def test_unknown_name_suggests():
    with pytest.raises(ValueError, match=r"tvb96"):
        load_connectome("tvb86")


def _write_folder(folder, C, D, centres=True):
    folder.mkdir()
    np.savetxt(folder / "weights.txt", C)
    np.savetxt(folder / "tract_lengths.txt", D)
    if centres:
        (folder / "centres.txt").write_text("".join(f"R{i} {i}.0 1.0 2.0\n" for i in range(len(C))))
    return folder


def test_user_folder_zip_and_npz(tmp_path):
    rng = np.random.default_rng(0)
    C, D = rng.random((5, 5)), 100 * rng.random((5, 5))
    sc = load_connectome(_write_folder(tmp_path / "sc", C, D), normalize="max")
    np.testing.assert_allclose(sc.Cmat, C / C.max())
    np.testing.assert_allclose(sc.Dmat, D)
    assert sc.labels == [f"R{i}" for i in range(5)] and sc.centres[3, 0] == 3.0
    with zipfile.ZipFile(tmp_path / "mine.zip", "w") as zf:
        for f in ("weights.txt", "tract_lengths.txt"):
            zf.write(tmp_path / "sc" / f, f"mine/{f}")
    np.testing.assert_allclose(load_connectome(tmp_path / "mine.zip").Cmat, C)
    np.savez(tmp_path / "sc.npz", Cmat=C, Dmat=D)
    np.testing.assert_allclose(load_connectome(tmp_path / "sc.npz").Dmat, D)


@pytest.mark.parametrize("C, D, match", [
    (np.ones((3, 4)), np.ones((3, 4)), "square"),
    (np.ones((3, 3)), np.ones((4, 4)), "differ in shape"),
    (-np.ones((3, 3)), np.ones((3, 3)), "negative"),
    (np.full((3, 3), np.nan), np.ones((3, 3)), "NaN"),
])
def test_bad_user_matrices_name_file_and_problem(tmp_path, C, D, match):
    folder = _write_folder(tmp_path / "bad", C, D, centres=False)
    with pytest.raises(ValueError, match=match) as info:
        load_connectome(folder)
    assert "bad" in str(info.value)


def test_missing_file_in_folder(tmp_path):
    (tmp_path / "x").mkdir()
    np.savetxt(tmp_path / "x" / "weights.txt", np.ones((3, 3)))
    with pytest.raises(ValueError, match="tract_lengths.txt"):
        load_connectome(tmp_path / "x")


def test_load_dataset_mat_with_bold_computes_fc(tmp_path):
    rng = np.random.default_rng(1)
    C, D = rng.random((4, 4)), rng.random((4, 4))
    bolds = rng.standard_normal((2, 4, 60))
    scipy.io.savemat(tmp_path / "d.mat", {"Cmat": C, "Dmat": D, "BOLDs": bolds})
    ds = load_dataset(tmp_path / "d.mat", normalize="max")
    np.testing.assert_allclose(ds.Cmat, C / C.max())
    assert len(ds.BOLDs) == 2 and len(ds.FCs) == 2
    np.testing.assert_allclose(ds.FCs[1], np.corrcoef(bolds[1]), atol=1e-13)
    np.savez(tmp_path / "bad.npz", Cmat=C)
    with pytest.raises(ValueError, match="missing \\['Dmat'\\]"):
        load_dataset(tmp_path / "bad.npz")
    np.savez(tmp_path / "badfc.npz", Cmat=C, Dmat=D, FCs=np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match="FC of subject 0"):
        load_dataset(tmp_path / "badfc.npz")


def test_load_dataset_neurolib_folder_layout(tmp_path):
    rng = np.random.default_rng(2)
    cms, lens, tcs = [], [], []
    for s in ("sub1", "sub2"):
        (tmp_path / "subjects" / s / "structural").mkdir(parents=True)
        (tmp_path / "subjects" / s / "functional").mkdir()
        cms.append(rng.random((6, 6)))
        lens.append(50 * rng.random((6, 6)))
        tcs.append(rng.standard_normal((6, 80)))
        scipy.io.savemat(tmp_path / "subjects" / s / "structural" / f"DTI_CM_{s}.mat", {"sc": cms[-1]})
        scipy.io.savemat(tmp_path / "subjects" / s / "structural" / f"DTI_LEN_{s}.mat", {"len": lens[-1]})
        scipy.io.savemat(tmp_path / "subjects" / s / "functional" / f"{s}_rsfMRI.mat", {"tc": tcs[-1]})
    ds = load_dataset(tmp_path, normalize="max", drop_regions=[2])
    keep = [0, 1, 3, 4, 5]
    expected_C = np.mean([c / c.max() for c in cms], axis=0)[np.ix_(keep, keep)]
    np.testing.assert_allclose(ds.Cmat, expected_C)
    np.testing.assert_allclose(ds.Dmat, np.mean(lens, axis=0)[np.ix_(keep, keep)])
    assert ds.subjects == ["sub1", "sub2"]
    np.testing.assert_allclose(ds.FCs[0], ev.fc(tcs[0][keep]), atol=1e-13)
