"""load_dataset("dk_average"): read from the installed tvbo package, checked against the files
read here independently (pandas / json), and the licence and attribution it exposes."""

import json

import numpy as np
import pandas as pd
import pytest

from brainsweep.data import NetworkDataset, load_dataset
from test_yaml_models import tvbo_db  # noqa: F401  (session fixture: installs the tvbo wheel if needed)

PREFIX = "atlas-DesikanKilliany"


@pytest.fixture(scope="module")
def folder(tvbo_db):  # noqa: F811
    return tvbo_db / "networks" / "bids" / "dk_average"


def _tsv(folder, measure):
    return pd.read_csv(folder / f"{PREFIX}_meas-{measure}_relmat.dense.tsv", sep="\t", header=None).to_numpy()


def test_dk_average_matrices_labels_and_fc(folder):
    ds = load_dataset("dk_average")
    assert isinstance(ds, NetworkDataset) and ds.n_regions == 84
    W, L, F = _tsv(folder, "streamlineCount"), _tsv(folder, "tractLength"), _tsv(folder, "BoldCorrelation")
    np.testing.assert_array_equal(ds.Cmat, W)
    np.testing.assert_array_equal(ds.Dmat, L)
    np.testing.assert_array_equal(ds.FC, F)
    assert ds.FCs[0] is ds.FC and ds.subjects == ["average"]
    for m in (ds.Cmat, ds.Dmat, ds.FC):
        assert m.shape == (84, 84) and np.allclose(m, m.T)
    assert (ds.Cmat >= 0).all() and np.all(np.diag(ds.Cmat) == 0) and ds.Dmat.max() > 100  # lengths in mm
    off = ~np.eye(84, dtype=bool)
    assert -1 <= ds.FC[off].min() and ds.FC[off].max() <= 1 and ds.FC[off].mean() > 0.1
    nodes = pd.read_csv(folder / f"{PREFIX}_nodeindices.tsv", sep="\t")
    assert ds.labels == list(nodes.sort_values("matrix_index")["label"])
    assert ds.labels[0] == "L.BSTS" and ds.units == {"Cmat": "arbitrary", "Dmat": "mm", "FC": "r"}


def test_dk_average_source_and_licence(folder):
    ds = load_dataset("dk_average")
    desc = json.loads((folder / "dataset_description.json").read_text())
    assert ds.licence == desc["License"] == "CC-BY-4.0"
    assert ds.doi == desc["SourceDatasets"][0]["DOI"] == "10.1038/s41467-023-38626-y"
    assert ds.doi in ds.attribution and "CC-BY-4.0" in ds.attribution and ds.path == str(folder)


def test_dk_average_normalize_and_drop_regions(folder):
    W = _tsv(folder, "streamlineCount")
    ds = load_dataset("dk_average", normalize="max", drop_regions=[0, 83])
    assert ds.Cmat.shape == ds.Dmat.shape == ds.FC.shape == (82, 82) and len(ds.labels) == 82
    np.testing.assert_allclose(ds.Cmat, W[1:83, 1:83] / W[1:83, 1:83].max())
    assert ds.labels[0] == load_dataset("dk_average").labels[1]


def test_paths_still_go_to_the_file_reader(tmp_path):
    C = np.array([[0.0, 1.0], [1.0, 0.0]])
    np.savez(tmp_path / "d.npz", Cmat=C, Dmat=10 * C)
    ds = load_dataset(tmp_path / "d.npz")
    assert not isinstance(ds, NetworkDataset) and np.array_equal(ds.Cmat, C)


def test_missing_tvbo_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINSWEEP_TVBO_PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no tvbo database"):
        load_dataset("dk_average", database=tmp_path)
