"""A study's HDF5 file: a pypet Trajectory written fast with PyTables.

Layout (``<traj>`` is the trajectory name, by default the file's stem)::

    /<traj>/parameters/...              pypet parameters; explored ranges = all runs so far
    /<traj>/overview/runs               pypet's run information (one row per run)
    /<traj>/results/table/table         one row per finished run: idx, status, seed, runtime,
                                        finished, worker, message, strategy tags, parameters,
                                        scalar scores (a pypet ObjectTable leaf)
    /<traj>/results/runs/run_XXXXXXXX/  that run's non-scalar results (pypet Result leaves)
    /<traj>/results/study/...           provenance (versions, host, command, git commit, time)
    /brainsweep                         brainsweep's own bookkeeping: study fingerprint,
                                        seed, batches, strategy states (outside pypet's tree)

pypet creates the skeleton once; afterwards only this process writes, in
batches, flushing after each so that the file is consistent between writes.
Scalars of all runs live in one table: storing is one append, loading
``df`` one read.
"""

from __future__ import annotations

import json
import os
import pickle
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import tables

from ._leaves import normalise_value, write_value
from .space import ParameterSpace

__all__ = ["RunRecord", "StudyFile", "StudyFileError", "FORMAT_VERSION"]

FORMAT_VERSION = 1
RESERVED = ("idx", "status", "seed", "runtime", "finished", "worker", "message")
_MESSAGE_LEN = 400
_STATUS_LEN = 8


class StudyFileError(ValueError):
    """The file is missing, corrupt, foreign, or holds a different study."""


@dataclass
class RunRecord:
    """Everything stored of one finished run."""

    idx: int
    status: str
    seed: int
    runtime: float = 0.0                        # seconds of wall time in the worker
    finished: float = 0.0                       # unix time
    worker: str = ""
    scalars: dict = field(default_factory=dict)  # name -> float/int/bool
    values: dict = field(default_factory=dict)   # name -> array/str/DataFrame/dict
    message: str = ""                           # short error text
    traceback: str = ""                         # full traceback of a failed run


def _col_name(name: str) -> str:
    return name.replace(".", "__")


def _param_kind(dim) -> str:
    vals = dim.values if dim.kind == "grid" else dim.categories
    if vals is None:
        return "int" if dim.is_integer else "float"
    if all(isinstance(v, str) for v in vals):
        return "str"
    if all(isinstance(v, (bool, np.bool_)) for v in vals):
        return "bool"
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals):
        return "int"
    return "float"


def _scalar_kind(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, (int, np.integer)):
        return "int"
    return "float"


_COL = {"float": lambda pos: tables.Float64Col(pos=pos, dflt=np.nan),
        "int": lambda pos: tables.Int64Col(pos=pos),
        "bool": lambda pos: tables.BoolCol(pos=pos)}


def _is_scalar(v) -> bool:
    return isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)) and not isinstance(v, complex)


def split_results(result: dict) -> tuple[dict, dict]:
    """Split an evaluation's dict into table scalars and per-run values (normalised)."""
    scalars, values = {}, {}
    for k, v in result.items():
        if not isinstance(k, str) or not k.isidentifier():
            raise TypeError(f"result key {k!r} must be a string usable as a name "
                            f"(letters, digits, underscore)")
        if k in RESERVED:
            raise TypeError(f"result key {k!r} is reserved (reserved: {', '.join(RESERVED)})")
        if _is_scalar(v):
            scalars[k] = v.item() if isinstance(v, np.generic) else v
        else:
            values[k] = normalise_value(k, v)
    return scalars, values


class StudyFile:
    """Open study file. Create with :meth:`create`, reopen with :meth:`open`."""

    def __init__(self, path: str, h5: tables.File, traj: str, lock=None):
        self.path = path
        self._lock = lock
        self.h5 = h5
        self.traj = traj
        self._root = f"/{traj}"
        bs = h5.root.brainsweep
        self.fingerprint = _read_json(bs.fingerprint)
        self.provenance = _read_json(bs.provenance)
        self.seed = int(bs._v_attrs.seed)
        self.param_names: list[str] = list(json.loads(bs._v_attrs.param_names))
        self.param_kinds: dict = json.loads(bs._v_attrs.param_kinds)
        self.param_widths: dict = json.loads(bs._v_attrs.param_widths)
        self._done: set[int] | None = None
        self._nodes: dict = {}

    def _node(self, path: str):
        """A node kept open: PyTables closes nodes that fall out of its small LRU cache
        (thousands of run nodes pass through it), and reopening a table costs ~2 ms."""
        node = self._nodes.get(path)
        if node is None or not node._v_isopen:
            node = self._nodes[path] = self.h5.get_node(path)
        return node

    # -- creation / opening ---------------------------------------------------
    @classmethod
    def create(cls, path: str, space: ParameterSpace, fingerprint: dict, seed: int,
               provenance: dict, traj_name: str | None = None, evaluator=None,
               attachments: dict | None = None) -> "StudyFile":
        """Write a new trajectory skeleton with pypet (no runs yet)."""
        from pypet import Trajectory

        traj_name = traj_name or _traj_name_from(path)
        lock = WriterLock(path)
        if os.path.exists(path):
            os.remove(path)
        kinds = {d.name: _param_kind(d) for d in space.dimensions}
        # string parameters take only the space's values: their columns are as wide as the longest
        widths = {d.name: max(len(str(v).encode()) for v in (d.values or d.categories))
                  for d in space.dimensions if kinds[d.name] == "str"}
        traj = Trajectory(traj_name, add_time=False, filename=path, overwrite_file=True,
                          comment="brainsweep study", complevel=0)
        for d in space.dimensions:
            first = (d.values or d.categories or (d.low,))[0]
            traj.f_add_parameter(d.name, _as_kind(first, kinds[d.name]),
                                 comment=_describe(d))
        for name, value in space.fixed.items():
            traj.f_add_parameter(name, value, comment="fixed")
        # explore one placeholder run so pypet records which parameters are explored;
        # it is removed below and the study registers its own runs batch by batch
        traj.f_explore({d.name: [traj.f_get(d.name).f_get()] for d in space.dimensions})
        traj.f_add_result("study.provenance", **{k: str(v) for k, v in provenance.items()},
                          comment="where and how the study was created")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traj.f_store()
        del traj
        h5 = open_h5(path, "a")
        try:
            bs = h5.create_group("/", "brainsweep", "brainsweep study bookkeeping")
            bs._v_attrs.format_version = FORMAT_VERSION
            bs._v_attrs.trajectory = traj_name
            # json documents as byte arrays: attributes are limited to 64 kB
            _write_json(h5, bs, "fingerprint", fingerprint)
            bs._v_attrs.seed = int(seed)
            bs._v_attrs.param_names = json.dumps(space.names)
            bs._v_attrs.param_kinds = json.dumps(kinds)
            bs._v_attrs.param_widths = json.dumps(widths)
            _write_json(h5, bs, "provenance", provenance)
            att = h5.create_group(bs, "attachments", "files the study was made from (e.g. its YAML)")
            for name, text in (attachments or {}).items():
                data = text.encode() if isinstance(text, str) else bytes(text)
                h5.create_array(att, _col_name(name).replace("/", "_"), np.frombuffer(data, dtype=np.uint8)
                                if data else np.zeros(0, np.uint8)).attrs.filename = name
            blob = _pickle_or_none(evaluator)
            if blob is not None:  # what `brainsweep reproduce` re-runs
                h5.create_array(bs, "evaluator", np.frombuffer(blob, dtype=np.uint8))
            h5.create_table(bs, "batches", {"batch": tables.Int64Col(pos=0), "first": tables.Int64Col(pos=1),
                                            "n": tables.Int64Col(pos=2), "told": tables.BoolCol(pos=3)})
            h5.create_vlarray(bs, "states", tables.UInt8Atom(), "pickled strategy state after each tell")
            h5.create_group(f"/{traj_name}/results", "runs", createparents=True)
            h5.get_node(f"/{traj_name}/overview/runs").remove_rows(0)
            for d in space.dimensions:  # pypet's placeholder range -> an empty one of full width
                group = h5.get_node(f"/{traj_name}/parameters/{d.name.replace('.', '/')}")
                h5.remove_node(group, "explored_data")
                col = (tables.StringCol(widths[d.name], pos=0) if kinds[d.name] == "str"
                       else _COL[kinds[d.name]](0))
                table = h5.create_table(group, "explored_data", {"data": col})
                table.attrs.SRVC_COLUMN_data_COLL_TYPE = np.str_("COLL_SCALAR")
                table.attrs.SRVC_COLUMN_data_SCALAR_TYPE = np.str_(kinds[d.name])
                table.attrs.SRVC_STORE = np.str_("TABLE")
            h5.get_node(f"/{traj_name}/overview/info").cols.length[0] = 0
            h5.flush()
        except Exception:
            h5.close()
            lock.release()
            raise
        return cls(path, h5, traj_name, lock)

    @classmethod
    def open(cls, path: str, mode: str = "a") -> "StudyFile":
        """Reopen an existing study file; ``StudyFileError`` if it is not one."""
        lock = WriterLock(path) if mode != "r" else None
        try:
            h5 = open_h5(path, mode)
        except Exception:
            if lock is not None:
                lock.release()
            raise
        try:
            if "/brainsweep" not in h5:
                groups = ", ".join(n._v_name for n in h5.root._f_iter_nodes()) or "nothing"
                raise StudyFileError(f"{path}: an HDF5 file but not a brainsweep study "
                                     f"(no /brainsweep group; it holds: {groups})")
            bs = h5.root.brainsweep
            version = int(bs._v_attrs.format_version)
            if version > FORMAT_VERSION:
                raise StudyFileError(f"{path}: written by a newer brainsweep (format {version}); upgrade")
            return cls(path, h5, str(bs._v_attrs.trajectory), lock)
        except Exception as err:
            h5.close()
            if lock is not None:
                lock.release()
            if isinstance(err, StudyFileError):
                raise
            raise StudyFileError(f"{path}: damaged brainsweep study file ({err})") from err

    def close(self) -> None:
        if self.h5.isopen:
            self.h5.flush()
            self.h5.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- runs registry ----------------------------------------------------------
    @property
    def n_registered(self) -> int:
        return int(self._node(f"{self._root}/overview/runs").nrows)

    def register_batch(self, points: list[dict]) -> int:
        """Add ``points`` as new runs of the trajectory; return the first run index."""
        first = self.n_registered
        n = len(points)
        for name in self.param_names:
            self._append_explored(name, [p[name] for p in points])
        runs = self._node(f"{self._root}/overview/runs")
        rows = np.zeros(n, dtype=runs.dtype)
        rows["idx"] = np.arange(first, first + n)
        rows["name"] = [b"run_%08d" % i for i in range(first, first + n)]
        rows["parameter_summary"] = [_summary(p, self.param_names).encode()[:500] for p in points]
        rows["short_environment_hexsha"] = b"N/A"
        runs.append(rows)
        info = self._node(f"{self._root}/overview/info")
        info.cols.length[0] = first + n
        batches = self.h5.root.brainsweep.batches
        batches.append([(batches.nrows, first, n, False)])
        self.h5.flush()
        return first

    def _append_explored(self, name: str, values: list) -> None:
        table = self._node(f"{self._root}/parameters/{name.replace('.', '/')}/explored_data")
        kind = self.param_kinds[name]
        data = np.array([_as_kind(v, kind) for v in values])
        if kind == "str":
            data = np.char.encode(data.astype(np.str_), "utf-8")
        rec = np.zeros(len(data), dtype=table.dtype)
        rec["data"] = data
        table.append(rec)

    def registered_points(self, first: int, n: int) -> list[dict]:
        """Parameter dicts of runs ``first .. first+n-1`` as registered."""
        cols = {}
        for name in self.param_names:
            table = self._node(f"{self._root}/parameters/{name.replace('.', '/')}/explored_data")
            col = table.read(first, first + n, field="data")
            kind = self.param_kinds[name]
            cols[name] = [_from_column(v, kind) for v in col]
        return [{name: cols[name][i] for name in self.param_names} for i in range(n)]

    def batches(self) -> np.ndarray:
        return self.h5.root.brainsweep.batches.read()

    # -- strategy state -----------------------------------------------------------
    def save_state(self, batch: int, state) -> None:
        """Store the strategy state after batch ``batch`` was told."""
        blob = np.frombuffer(pickle.dumps(state, protocol=5), dtype=np.uint8)
        vl = self.h5.root.brainsweep.states
        vl.append(blob)
        self.h5.root.brainsweep.batches.cols.told[batch] = True
        self.h5.flush()

    def last_state(self):
        """(number of told batches, state) or (0, None) if no batch was told."""
        vl = self.h5.root.brainsweep.states
        if vl.nrows == 0:
            return 0, None
        return vl.nrows, pickle.loads(vl[-1].tobytes())

    # -- finished runs ---------------------------------------------------------------
    @property
    def _table(self):
        path = f"{self._root}/results/table/table"
        if path in self._nodes and self._nodes[path]._v_isopen:
            return self._nodes[path]
        return self._node(path) if path in self.h5 else None

    def done(self) -> set[int]:
        """Indices of runs already stored."""
        if self._done is None:
            t = self._table
            self._done = set() if t is None else set(t.col("idx").tolist())
        return self._done

    def score_kinds(self) -> dict:
        """Scalar score columns and their kinds ('float', 'int', 'bool')."""
        t = self._table
        if t is None:
            return {}
        kinds = json.loads(t.attrs.BRAINSWEEP_KINDS)
        return {k: v for k, v in kinds.items()
                if k not in RESERVED and v != "tag" and not v.startswith("param:")}

    def read_rows(self, first: int, n: int) -> dict:
        """``{idx: (status, scores, message)}`` for stored runs in ``first .. first+n-1``."""
        t = self._table
        if t is None:
            return {}
        rows = t.read_where(f"(idx >= {int(first)}) & (idx < {int(first + n)})")
        kinds = self.score_kinds()
        out = {}
        for row in rows:
            scores = {}
            for k, kind in kinds.items():
                v = float(row[k])
                if np.isnan(v) and kind != "float":
                    continue
                scores[k] = int(v) if kind == "int" else bool(v) if kind == "bool" else v
            out[int(row["idx"])] = (row["status"].decode(), scores, row["message"].decode("utf-8", "replace"))
        return out

    def write_runs(self, records: list[RunRecord], tags: dict | None = None) -> None:
        """Store finished runs (skipping any already stored) and flush."""
        done = self.done()
        records = [r for r in records if r.idx not in done]
        if not records:
            return
        tags = tags or {}
        self._ensure_table(records, tags)
        runs_group = self._node(f"{self._root}/results/runs")
        for r in records:
            if r.values or r.traceback:
                grp = self.h5.create_group(runs_group, "run_%08d" % r.idx)
                for name, value in r.values.items():
                    write_value(self.h5, grp, name, value)
                if r.traceback:
                    write_value(self.h5, grp, "error", r.traceback)
        self._append_rows(records, tags)
        self._mark_completed(records)
        done.update(r.idx for r in records)
        self.h5.flush()

    def _ensure_table(self, records: list[RunRecord], tags: dict) -> None:
        table = self._table
        kinds = {} if table is None else json.loads(table.attrs.BRAINSWEEP_KINDS)
        new = {}
        for r in records:
            for k, v in r.scalars.items():
                if k not in kinds and k not in new:
                    if k in self.param_names or k in tags:
                        raise TypeError(f"result key {k!r} has the name of a parameter or tag")
                    new[k] = _scalar_kind(v)
        new_tags = {k: "tag" for k in tags if k not in kinds and k not in new}
        if table is not None and not new and not new_tags:
            return
        if table is None:
            kinds = {"idx": "int", "status": "status", "seed": "int", "runtime": "float",
                     "finished": "float", "worker": "worker", "message": "message"}
            kinds.update({_col_name(n): "param:" + self.param_kinds[n] for n in self.param_names})
        kinds.update(new_tags)
        kinds.update(new)
        self._rebuild_table(kinds)

    def _rebuild_table(self, kinds: dict) -> None:
        self._nodes.clear()
        names = {_col_name(n): n for n in self.param_names}
        desc = {}
        for pos, (name, kind) in enumerate(kinds.items()):
            if kind == "status":
                desc[name] = tables.StringCol(_STATUS_LEN, pos=pos)
            elif kind == "worker":
                desc[name] = tables.StringCol(64, pos=pos)
            elif kind == "message":
                desc[name] = tables.StringCol(_MESSAGE_LEN, pos=pos)
            elif kind == "param:str":
                desc[name] = tables.StringCol(self.param_widths[names[name]], pos=pos)
            elif kind.startswith("param:") or name in RESERVED or kind == "tag":
                desc[name] = _COL[kind.removeprefix("param:").replace("tag", "int")](pos)
            else:  # scores: float64 so that runs without the score hold NaN; kind kept for reload
                desc[name] = _COL["float"](pos)
        old = self._table
        old_rows = old.read() if old is not None else None
        parent = f"{self._root}/results/table"
        if parent not in self.h5:
            leaf = self.h5.create_group(f"{self._root}/results", "table", createparents=True)
            leaf._v_attrs.SRVC_LEAF = np.True_
            leaf._v_attrs.SRVC_INIT_CLASS_NAME = np.str_("Result")
        if old is not None:
            old._f_rename("table_old")
        table = self.h5.create_table(parent, "table", desc, expectedrows=100_000)
        table.attrs.SRVC_STORE = np.str_("TABLE")
        for name, kind in kinds.items():
            pypet_kind = {"status": "str", "worker": "str", "message": "str", "tag": "int"}.get(
                kind, kind.removeprefix("param:"))
            if not kind.startswith("param:") and name not in RESERVED and kind != "tag":
                pypet_kind = "float"
            table.attrs[f"SRVC_COLUMN_{name}_COLL_TYPE"] = np.str_("COLL_SCALAR")
            table.attrs[f"SRVC_COLUMN_{name}_SCALAR_TYPE"] = np.str_(pypet_kind)
        table.attrs.BRAINSWEEP_KINDS = json.dumps(kinds)
        table.attrs.BRAINSWEEP_PARAMS = json.dumps(names)
        if old_rows is not None and len(old_rows):
            rows = np.zeros(len(old_rows), dtype=table.dtype)
            for name in table.dtype.names:
                if name in old_rows.dtype.names:
                    rows[name] = old_rows[name]
                elif table.dtype[name].kind == "f":
                    rows[name] = np.nan
            table.append(rows)
        if old is not None:
            old._f_remove()

    def _append_rows(self, records: list[RunRecord], tags: dict) -> None:
        table = self._table
        rows = np.zeros(len(records), dtype=table.dtype)
        for name in table.dtype.names:
            if table.dtype[name].kind == "f":
                rows[name] = np.nan
        pts = self.registered_points_of([r.idx for r in records])
        for i, r in enumerate(records):
            row = rows[i]
            row["idx"], row["status"], row["seed"] = r.idx, r.status.encode(), r.seed
            row["runtime"], row["finished"] = r.runtime, r.finished
            row["worker"] = r.worker.encode()[:64]
            row["message"] = r.message.encode("utf-8", "replace")[:_MESSAGE_LEN]
            for name in self.param_names:
                v = pts[i][name]
                row[_col_name(name)] = v.encode() if isinstance(v, str) else v
            for k, v in tags.items():
                row[k] = v
            for k, v in r.scalars.items():
                row[k] = float(v)
        table.append(rows)

    def registered_points_of(self, idxs: list[int]) -> list[dict]:
        lo, hi = min(idxs), max(idxs)
        pts = self.registered_points(lo, hi - lo + 1)
        return [pts[i - lo] for i in idxs]

    def _mark_completed(self, records: list[RunRecord]) -> None:
        runs = self._node(f"{self._root}/overview/runs")
        idx = np.array([r.idx for r in records])
        rows = runs.read_coordinates(idx)
        for i, r in enumerate(records):
            rows[i]["completed"] = 1
            rows[i]["finish_timestamp"] = r.finished
            rows[i]["timestamp"] = r.finished - r.runtime
            rows[i]["time"] = time.strftime("%Y_%m_%d_%Hh%Mm%Ss", time.localtime(r.finished)).encode()
            rows[i]["runtime"] = f"{r.runtime:.6f}s".encode()
        runs.modify_coordinates(idx, rows)


class WriterLock:
    """An exclusive lock on ``<study file>.lock`` held by the one process writing a study.

    The operating system releases it when that process dies (SIGKILL included), so a
    killed study never leaves a stale lock; a second writer gets a clear error instead
    of corrupting the file.
    """

    def __init__(self, path: str):
        self.path = f"{path}.lock"
        self.fd = None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no protection, as before
            return
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StudyFileError(f"{path} is being written by another process ({holder}); "
                                 f"wait for it to finish or stop it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {os.uname().nodename}".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None


def _pickle_or_none(obj) -> bytes | None:
    """The pickled evaluator, or None if it cannot be pickled (a lambda, a closure)."""
    if obj is None:
        return None
    try:
        return pickle.dumps(obj, protocol=5)
    except Exception:  # noqa: BLE001 - reproduction is then impossible, the study is not
        return None


def read_attachments(h5: tables.File) -> dict:
    """``{file name: bytes}`` attached to the study."""
    if "/brainsweep/attachments" not in h5:
        return {}
    return {str(n.attrs.filename): n.read().tobytes() for n in h5.root.brainsweep.attachments._f_iter_nodes()}


def load_evaluator(h5: tables.File):
    """The study's pickled evaluator, or None."""
    if "/brainsweep/evaluator" not in h5:
        return None
    return pickle.loads(h5.root.brainsweep.evaluator.read().tobytes())


def _write_json(h5, where, name: str, doc: dict) -> None:
    h5.create_array(where, name, np.frombuffer(json.dumps(doc, sort_keys=True).encode(), dtype=np.uint8))


def _read_json(node) -> dict:
    return json.loads(node.read().tobytes().decode())


def _describe(d) -> str:
    """A short pypet comment for an explored parameter."""
    if d.kind == "grid":
        return f"grid of {len(d.values)} values"
    if d.kind == "categorical":
        return f"categorical: {', '.join(map(str, d.categories))}"[:200]
    return f"bounds [{d.low}, {d.high}] ({d.scale})"


def _summary(point: dict, names: list[str]) -> str:
    return ", ".join(f"{n}: {point[n]}" for n in names)


def _as_kind(v, kind: str):
    if kind == "float":
        return float(v)
    if kind == "int":
        return int(v)
    if kind == "bool":
        return bool(v)
    return str(v)


def _from_column(v, kind: str):
    if kind == "str":
        return v.decode("utf-8") if isinstance(v, bytes) else str(v)
    return _as_kind(v, kind)


def _traj_name_from(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in stem) or "study"
    return name if name[0].isalpha() else "study_" + name


def open_h5(path: str, mode: str = "r") -> tables.File:
    """Open ``path`` with PyTables, turning every failure into ``StudyFileError``."""
    if not os.path.exists(path):
        raise StudyFileError(f"{path}: no such file")
    try:
        is_h5 = tables.is_hdf5_file(path)
    except Exception:
        is_h5 = False
    if not is_h5:
        raise StudyFileError(f"{path}: not an HDF5 file (expected a brainsweep study written by Study.run)")
    try:
        return _open(path, mode)
    except Exception as err:
        if mode == "r" and "lock" in str(err):
            # a running study holds the file open for writing; read what it has flushed
            warnings.warn(f"{path} is open for writing by another process (a running study?); "
                          f"reading the runs stored so far", stacklevel=3)
            try:
                return _open(path, mode, locking=False)
            except Exception as err2:
                err = err2
        raise StudyFileError(f"{path}: cannot open the HDF5 file ({_last_line(err)}); "
                             f"it may be damaged or in use") from err


def _open(path: str, mode: str, locking: bool = True) -> tables.File:
    # PyTables' own CLASS/VERSION/TITLE attributes are not needed to read the nodes
    # back (by PyTables or pypet) and cost ~20% of the time of storing a run's arrays
    old = os.environ.get("HDF5_USE_FILE_LOCKING")
    if not locking:
        os.environ["HDF5_USE_FILE_LOCKING"] = "FALSE"
    try:
        return tables.open_file(path, mode, pytables_sys_attrs=(mode == "r"))
    finally:
        if not locking:
            if old is None:
                os.environ.pop("HDF5_USE_FILE_LOCKING", None)
            else:
                os.environ["HDF5_USE_FILE_LOCKING"] = old


def _last_line(err: Exception) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return lines[-1] if lines else type(err).__name__
