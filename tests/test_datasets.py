"""load_dataset("dk_average"): read from the installed tvbo package (or the copy shipped with
brainsweep), checked against the files read here independently (pandas / json / yaml / tables), the
licence and attribution it exposes, and tvbo's other networks: listed with the licence their files
state (none in tvbo 0.5.3) and refused by name."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tables
import yaml

import brainsweep.data
from brainsweep.data import NetworkDataset, load_dataset, network_catalog
from brainsweep.data.datasets import SAME_DATA
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


# ------------------------------------------------------------- the shipped copy and tvbo's other networks


def test_shipped_copy_is_tvbos_files_unchanged(folder):
    shipped = Path(brainsweep.data.__file__).parent / "dk_average"
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(p.name for p in shipped.iterdir() if p.name != "LICENSE.md")
    for name in names:
        assert (shipped / name).read_bytes() == (folder / name).read_bytes(), name
    text = (shipped / "LICENSE.md").read_text()
    assert "CC-BY-4.0" in text and "10.1038/s41467-023-38626-y" in text
    for name in names:  # the SHA-256 sums the licence file gives are those of the files
        assert f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}" in text


def test_without_tvbo_the_shipped_copy_is_read(folder, monkeypatch):
    import brainsweep.models.symbolic as symbolic
    monkeypatch.setattr(symbolic, "tvbo_database", lambda path=None: None)
    ds = load_dataset("dk_average")
    assert ds.path == str(Path(brainsweep.data.__file__).parent / "dk_average")
    np.testing.assert_array_equal(ds.FC, _tsv(folder, "BoldCorrelation"))
    np.testing.assert_array_equal(ds.Cmat, _tsv(folder, "streamlineCount"))
    assert ds.licence == "CC-BY-4.0" and len(ds.labels) == 84
    assert [r["name"] for r in network_catalog()] == ["dk_average"]


def _network_yamls(db):
    out = {}
    for f in sorted((db / "networks").glob("*.yaml")):
        meta = yaml.load(f.read_text(), Loader=yaml.CSafeLoader)  # libyaml, as brainsweep uses if present
        if meta.get("descriptor") in ("SC", "SCFC"):
            out[f.stem] = meta
    return out


def test_network_catalog_lists_every_sc_fc_file_and_its_licence(tvbo_db):  # noqa: F811
    rows = {r["name"]: r for r in network_catalog()}
    files = _network_yamls(tvbo_db)
    assert set(rows) == set(files) | {"dk_average"} and len(files) >= 50
    for stem, meta in files.items():
        row = rows[stem]
        assert row["nodes"] == meta["number_of_nodes"]
        assert row["measures"] == [e["label"] for e in meta.get("edges", [])]
        assert row["data_in_package"] == (tvbo_db / "networks" / meta["data_file"]).is_file()
        stated = meta.get("license") or meta.get("licence") or ""
        assert row["licence"] == stated == "" and not row["loadable"]  # tvbo 0.5.3: none states one
    dk = rows["dk_average"]
    assert dk["loadable"] and dk["licence"] == "CC-BY-4.0" and dk["nodes"] == 84
    assert dk["source"] == "doi:10.1038/s41467-023-38626-y"
    hansen = "tpl-FSLMNI152_cohort-HCPYA_rec-Hansen2022_atlas-Schaefer2018_seg-7Networks_scale-100_desc-SCFC_relmat"
    assert rows[hansen]["source"].startswith("https://github.com/netneurolab/hansen_receptors")


def test_networks_without_a_licence_are_refused_by_name(tvbo_db):  # noqa: F811
    stem = "tpl-MNI152NLin2009bAsym_cohort-PPMI85_rec-PPMI85_atlas-HCPMMP1_desc-SC_relmat"
    for name in (stem, stem + ".yaml"):
        with pytest.raises(ValueError, match=r"states no licence for its data \(source: cohort PPMI85.*dk_average"):
            load_dataset(name)


def test_the_avgmatrix_dk_file_holds_dk_averages_matrices(tvbo_db):  # noqa: F811
    stem = next(iter(SAME_DATA))
    with tables.open_file(tvbo_db / "networks" / f"{stem}.h5") as h:
        W, L, F = (getattr(h.root.edges, k).data[:] for k in ("weight", "length", "fc"))
    ds = load_dataset("dk_average")
    for h5, ours in ((W, ds.Cmat), (L, ds.Dmat), (F, ds.FC)):
        assert h5.dtype == np.float32  # the TSV values to float32 precision (1 unit in the last place)
        np.testing.assert_allclose(h5, ours, rtol=2.5e-7, atol=1e-30)
    with pytest.raises(ValueError, match=r"holds the matrices of 'dk_average'.*load_dataset\('dk_average'\)"):
        load_dataset(stem)


def test_a_network_file_stating_a_licence_is_named_but_not_read(tmp_path):
    for sub in ("models", "coupling_functions", "networks"):
        (tmp_path / sub).mkdir()
    (tmp_path / "networks" / "toy_SC.yaml").write_text(
        "descriptor: SC\nnumber_of_nodes: 3\nlicense: CC-BY-4.0\ndata_file: toy.h5\nedges: [{label: weight}]\n")
    rows = network_catalog(database=tmp_path)
    assert rows[-1] == {"name": "toy_SC", "nodes": 3, "measures": ["weight"], "data_in_package": False,
                        "licence": "CC-BY-4.0", "source": "", "loadable": False, "same_data_as": "",
                        "path": str(tmp_path / "networks" / "toy_SC.yaml")}
    with pytest.raises(ValueError, match="states licence CC-BY-4.0, but brainsweep reads only BIDS network folders"):
        load_dataset("toy_SC", database=tmp_path)
