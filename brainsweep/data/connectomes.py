"""Structural connectomes: The Virtual Brain's ``tvb-data`` connectivities and user files.

The TVB zips are read in place from the installed ``tvb-data`` package (importlib.resources
+ zipfile, nothing is copied). What the zips contain (``info.txt``: weights "au", lengths
"mm"):

========  =======  =====================================================================
name      regions  weights
========  =======  =====================================================================
tvb66     66       human, DTI-derived (continuous, max 0.51, not symmetric)
tvb68     68       human, DTI-derived (continuous, max 0.12, symmetric)
tvb76     76       macaque-derived (CoCoMac tract tracing, regional map of Kötter &
                   Wanke), directed; ordinal strengths 0-3: 0/1/2/3 plus 34 non-integer entries
tvb96     96       macaque-derived (CoCoMac), directed, exactly {0, 1, 2, 3} ("RM-" labels)
tvb192    192      macaque-derived (CoCoMac), directed, same 0-3 values as tvb76
========  =======  =====================================================================

The ordinal 0-3 scale (absent/weak/moderate/strong) of the macaque sets is not comparable to
the DTI weights: normalise (``normalize="max"``) before reusing a coupling strength across
connectomes. Tract lengths are in mm for all five. The matrices are loaded as stored
(``Cmat[i, j] = weights[i, j]``, no transpose); all five have non-zero self-connections on
the diagonal (``zero_diagonal=True`` removes them). The species/method column is TVB's
description of these data sets; the zips themselves hold only the numbers, units and labels.
"""

import bz2
import importlib.resources
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TVB_CONNECTOMES = {"tvb66": 66, "tvb68": 68, "tvb76": 76, "tvb96": 96, "tvb192": 192}
NORMALIZATIONS = (None, "max", "rowsum")


@dataclass
class Connectome:
    """A structural connectome.

    Attributes
    ----------
    Cmat : (n, n) array, connection weights (arbitrary units, non-negative)
    Dmat : (n, n) array, fibre tract lengths in mm (delay = Dmat / signalV, m/s = mm/ms)
    labels : list of str, one region label per row (empty strings if unknown)
    centres : (n, 3) array of region centres (mm, atlas space) or None
    name : where it came from (TVB name or file path)
    """

    Cmat: np.ndarray
    Dmat: np.ndarray
    labels: list = field(default_factory=list)
    centres: np.ndarray | None = None
    name: str = ""

    @property
    def n_regions(self):
        return self.Cmat.shape[0]

    def __repr__(self):
        return (f"Connectome(name={self.name!r}, n_regions={self.n_regions}, "
                f"Cmat max={self.Cmat.max():.4g}, Dmat max={self.Dmat.max():.4g} mm)")


def validate_matrices(Cmat, Dmat, source):
    """Check Cmat/Dmat are square, same shape, finite and non-negative; ``ValueError`` naming ``source``."""
    out = []
    for m, what in ((Cmat, "Cmat (weights)"), (Dmat, "Dmat (tract lengths)")):
        try:
            arr = np.array(m, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {what} is not numeric ({exc})") from None
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
            raise ValueError(f"{source}: {what} must be a square matrix, got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{source}: {what} has {int((~np.isfinite(arr)).sum())} NaN/inf entries")
        if (arr < 0).any():
            raise ValueError(f"{source}: {what} has {int((arr < 0).sum())} negative entries "
                             f"(min {arr.min():.4g})")
        out.append(arr)
    if out[0].shape != out[1].shape:
        raise ValueError(f"{source}: Cmat {out[0].shape} and Dmat {out[1].shape} differ in shape")
    return out


def normalize_cmat(Cmat, method):
    """Return a normalised copy: ``"max"`` (largest weight 1), ``"rowsum"`` (each row sums to 1,
    all-zero rows stay zero) or ``None`` (unchanged copy)."""
    if method not in NORMALIZATIONS:
        raise ValueError(f"normalize: expected one of {NORMALIZATIONS}, got {method!r}")
    C = np.array(Cmat, dtype=np.float64)
    if method == "max":
        top = C.max()
        if top <= 0:
            raise ValueError("normalize='max': Cmat is all zeros")
        C /= top
    elif method == "rowsum":
        rows = C.sum(axis=1, keepdims=True)
        C = np.divide(C, rows, out=np.zeros_like(C), where=rows > 0)
    return C


def load_connectome(name="tvb68", normalize=None, zero_diagonal=False):
    """Load a structural connectome.

    Parameters
    ----------
    name : str or path
        ``"tvb66"``, ``"tvb68"`` (default), ``"tvb76"``, ``"tvb96"``, ``"tvb192"`` (see the module
        docstring for what they are), or a path to: a folder with ``weights.txt`` and
        ``tract_lengths.txt`` (optional ``centres.txt``: ``label x y z`` per line), a TVB-style
        ``.zip`` with the same files, or a ``.mat``/``.npz`` file with ``Cmat`` and ``Dmat``.
    normalize : None, "max" or "rowsum"
        Normalisation of the weights (see :func:`normalize_cmat`).
    zero_diagonal : bool
        Set self-connections ``Cmat[i, i]`` to 0 (before normalising).
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize: expected one of {NORMALIZATIONS}, got {normalize!r}")
    key = str(name).lower() if isinstance(name, str) else None
    if key in TVB_CONNECTOMES:
        zpath = importlib.resources.files("tvb_data") / "connectivity" / f"connectivity_{TVB_CONNECTOMES[key]}.zip"
        with importlib.resources.as_file(zpath) as p:
            sc = _read_zip(p, key)
    else:
        path = Path(name)
        if not path.exists():
            import difflib
            close = difflib.get_close_matches(str(name), list(TVB_CONNECTOMES), n=2)
            hint = f" Did you mean {close}?" if close else f" Known names: {sorted(TVB_CONNECTOMES)}."
            raise ValueError(f"name: {name!r} is neither a known connectome nor an existing path.{hint}")
        if path.is_dir():
            sc = _read_folder(path)
        elif path.suffix.lower() == ".zip":
            sc = _read_zip(path, str(path))
        elif path.suffix.lower() in (".mat", ".npz"):
            from .readers import load_dataset
            ds = load_dataset(path)
            sc = Connectome(ds.Cmat, ds.Dmat, [""] * ds.Cmat.shape[0], None, str(path))
        else:
            raise ValueError(f"name: {path} has unsupported type {path.suffix!r}; "
                             "expected a folder, .zip, .mat or .npz")
    if zero_diagonal:
        np.fill_diagonal(sc.Cmat, 0.0)
    sc.Cmat = normalize_cmat(sc.Cmat, normalize)
    return sc


def _parse_matrix(text, source):
    try:
        return np.loadtxt(io.StringIO(text), dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{source}: could not parse a numeric matrix ({exc})") from None


def _parse_centres(text, n, source):
    labels, xyz = [], []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 4:
            raise ValueError(f"{source}: centres line {line!r} needs 'label x y z'")
        labels.append(parts[0])
        xyz.append([float(v) for v in parts[1:4]])  # 66-region file has a trailing 'None' column
    if len(labels) != n:
        raise ValueError(f"{source}: {len(labels)} centres for {n} regions")
    return labels, np.array(xyz)


def _build(texts, source):
    """Connectome from a dict of file name -> text (weights, tract_lengths, optional centres)."""
    for required in ("weights.txt", "tract_lengths.txt"):
        if required not in texts:
            raise ValueError(f"{source}: missing {required} (found {sorted(texts)})")
    C = _parse_matrix(texts["weights.txt"], f"{source}/weights.txt")
    D = _parse_matrix(texts["tract_lengths.txt"], f"{source}/tract_lengths.txt")
    C, D = validate_matrices(C, D, source)
    labels, centres = [""] * C.shape[0], None
    if "centres.txt" in texts:
        labels, centres = _parse_centres(texts["centres.txt"], C.shape[0], f"{source}/centres.txt")
    return Connectome(C, D, labels, centres, source)


def _read_zip(path, source):
    texts = {}
    with zipfile.ZipFile(path) as zf:
        for member in zf.namelist():
            base = member.rsplit("/", 1)[-1]
            raw = zf.read(member)
            if base.endswith(".bz2"):  # the 68-region zip stores bz2-compressed text
                base, raw = base[:-4], bz2.decompress(raw)
            if base in ("weights.txt", "tract_lengths.txt", "centres.txt"):
                texts[base] = raw.decode()
    return _build(texts, source)


def _read_folder(path):
    texts = {}
    for base in ("weights.txt", "tract_lengths.txt", "centres.txt"):
        if (path / base).is_file():
            texts[base] = (path / base).read_text()
        elif (path / (base + ".bz2")).is_file():
            texts[base] = bz2.decompress((path / (base + ".bz2")).read_bytes()).decode()
    return _build(texts, str(path))
