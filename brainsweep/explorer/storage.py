"""A study's HDF5 file: a pypet Trajectory written fast with PyTables.

Layout (``<traj>`` is the trajectory name, by default the file's stem)::

    /<traj>/parameters/...              pypet parameters; explored ranges = all runs so far
    /<traj>/overview/runs               pypet's run information (one row per run)
    /<traj>/overview/brainsweep/        brainsweep's bookkeeping: study id, fingerprint, seed,
                                        batches, strategy states (JSON), evaluator reference;
                                        pypet's ``f_load`` skips ``overview``
    /<traj>/results/table/table         one row per finished run, sorted by run index once its
                                        batch is complete: idx, status, seed, runtime, finished,
                                        worker, message, strategy tags, parameters, scalar scores
                                        (a pypet ObjectTable leaf)
    /<traj>/results/arrays/<name>/      small per-run arrays of result <name> (numbers, <= 64 kB,
                                        the shape and dtype of the first one stored): one row per
                                        run in the growing array ``<name>``, the run index of each
                                        row in ``idx`` (a pypet Result leaf with these two items)
    /<traj>/results/runs/run_set_XXXXX/run_XXXXXXXX/   that run's other non-scalar results
                                        (larger or differently shaped arrays, strings, frames,
                                        dicts; the traceback of a failed run) as pypet Result
                                        leaves, 1000 runs per set as pypet groups them

``load(path).run(i)`` and ``load(path).arrays(name)`` read both kinds transparently. With
plain pypet, ``traj.f_load(index=-1, load_results=2)`` gives the rows as one result:
``rows = traj.results.arrays.<name>``; run ``i``'s value is
``rows.<name>[list(rows.idx).index(i)]`` (each stored run has one row; only a file
interrupted during a write and not resumed since may hold rows of runs missing from the
runs table, and brainsweep reads a run index stored twice from its last row). Rows stay about the size of their data:
a run group costs ~4 kB of HDF5 metadata, a row none.
    /<traj>/results/study/...           provenance (versions, host, command, git commit, time)

Format 1 (brainsweep before format 2) kept the bookkeeping in a top-level ``/brainsweep``
group, pickled the strategy states and put every run group directly under
``results/runs``; such files are still read (their pickled states only with ``trust``).

Integrity: a new file is written under a temporary name and renamed once complete; one
process writes (see :mod:`._filelock`); each write is ordered so that an interruption
leaves a state that :mod:`._repair` recognises and repairs when the study resumes:
run groups and array rows are flushed before their table rows (a group or a trailing row
without a table row is an orphan, removed), explored values before the batch row that commits them (values beyond the
committed batches are dropped), the runs table is replaced by writing a complete new
table before removing the old one, and its sorted tail is written aside before it is
copied over the unsorted one.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import time
import uuid
import warnings
from dataclasses import dataclass, field

import numpy as np
import tables

from . import _plain
from ._filelock import LockedError, WriterLock
from ._leaves import (append_rows, fits_rows, normalise_value, row_eligible, rows_leaf, rows_lengths,
                      truncate_rows, write_value)
from .space import ParameterSpace

__all__ = ["RunRecord", "StudyFile", "StudyFileError", "FORMAT_VERSION", "bookkeeping",
           "CREATED_HERE", "RESERVED", "TAG_NAMES"]

FORMAT_VERSION = 2
RESERVED = ("idx", "status", "seed", "runtime", "finished", "worker", "message")
TAG_NAMES = ("batch", "generation", "iteration")  # strategy tags: table columns of their own
CREATED_HERE: set[str] = set()  # study ids of the files this process created
RUN_SET_SIZE = 1000             # run groups per run_set_XXXXX group (pypet's own grouping)
_BK = "brainsweep"
_MESSAGE_LEN = 400
_STATUS_LEN = 8
_SCORE_ORDER = ("bool", "int", "float")  # a score's kind only widens along this order
# the runs table's rows are mostly the zero padding of message/worker (~0.5 kB a row):
# HDF5's own deflate (every HDF5 reader has it) shrinks them ~10x at a few % of write time
_TABLE_FILTERS = tables.Filters(complevel=1, complib="zlib", shuffle=True)


class StudyFileError(ValueError):
    """The file is missing, corrupt, foreign, or holds a different study."""


class UntrustedStateError(StudyFileError):
    """A format-1 file's strategy state is a pickle: reading it needs ``trust=True``."""


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


def _widen(a: str, b: str) -> str:
    """The narrowest score kind holding values of kinds ``a`` and ``b``."""
    return _SCORE_ORDER[max(_SCORE_ORDER.index(a), _SCORE_ORDER.index(b))]


_COL = {"float": lambda pos: tables.Float64Col(pos=pos, dflt=np.nan),
        "int": lambda pos: tables.Int64Col(pos=pos),
        "bool": lambda pos: tables.BoolCol(pos=pos)}


def _is_scalar(v) -> bool:
    return isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating))


def split_results(result: dict) -> tuple[dict, dict]:
    """Split an evaluation's dict into table scalars and per-run values (normalised)."""
    scalars, values = {}, {}
    for k, v in result.items():
        if not isinstance(k, str) or not k.isidentifier():
            raise TypeError(f"result key {k!r} must be a string usable as a name "
                            f"(letters, digits, underscore)")
        if k in RESERVED or k in TAG_NAMES:
            raise TypeError(f"result key {k!r} is reserved (reserved: {', '.join(RESERVED + TAG_NAMES)})")
        if isinstance(v, (complex, np.complexfloating)):
            raise TypeError(f"result {k!r} is a complex number ({v}); store abs(), .real or .imag "
                            f"as scores, or a complex numpy array")
        if _is_scalar(v):
            scalars[k] = v.item() if isinstance(v, np.generic) else v
        else:
            values[k] = normalise_value(k, v)
    return scalars, values


def bookkeeping(h5: tables.File) -> tables.Group:
    """The group holding brainsweep's own nodes (``evaluator``, ``evaluator_ref``,
    ``attachments``, ``batches``, ``states``...): ``/<traj>/overview/brainsweep``, or the
    top-level ``/brainsweep`` of a format-1 file. ``StudyFileError`` if there is none."""
    if f"/{_BK}" in h5:
        return h5.get_node(f"/{_BK}")
    for group in h5.root._f_iter_nodes("Group"):
        where = f"/{group._v_name}/overview/{_BK}"
        if where in h5:
            return h5.get_node(where)
    holds = ", ".join(n._v_name for n in h5.root._f_iter_nodes()) or "nothing"
    raise StudyFileError(f"{h5.filename}: an HDF5 file but not a brainsweep study "
                         f"(no brainsweep bookkeeping group; it holds: {holds})")


def _take_lock(path: str) -> WriterLock:
    try:
        return WriterLock(path)
    except LockedError as err:
        raise StudyFileError(str(err)) from None
    except FileNotFoundError:
        raise StudyFileError(f"{path}: the folder {os.path.dirname(os.path.abspath(path))} does not exist; "
                             f"create it first") from None
    except PermissionError:
        raise StudyFileError(f"{path}: no permission to write in "
                             f"{os.path.dirname(os.path.realpath(path))}") from None


class StudyFile:
    """Open study file. Create with :meth:`create`, reopen with :meth:`open`.

    ``lock``: a :class:`WriterLock` the caller holds (and releases); without it a
    writer takes and releases its own."""

    def __init__(self, path: str, h5: tables.File, lock: WriterLock | None = None,
                 own_lock: bool = True):
        self.path = path
        self._lock, self._own_lock = lock, own_lock
        self.h5 = h5
        bk = self._bk = bookkeeping(h5)
        self.version = int(bk._v_attrs.format_version)
        self.traj = str(bk._v_attrs.trajectory)
        self._root = f"/{self.traj}"
        self.study_id = str(bk._v_attrs.study_id) if "study_id" in bk._v_attrs else None
        self.fingerprint = _read_json(bk.fingerprint)
        self.provenance = _read_json(bk.provenance)
        self.seed = int(bk._v_attrs.seed)
        self.param_names: list[str] = list(json.loads(bk._v_attrs.param_names))
        self.param_kinds: dict = json.loads(bk._v_attrs.param_kinds)
        self.param_widths: dict = json.loads(bk._v_attrs.param_widths)
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
               attachments: dict | None = None, lock: WriterLock | None = None,
               replace: bool = False) -> "StudyFile":
        """Write a new study file (no runs yet) and open it for writing.

        The file is written under a temporary name beside ``path`` and renamed to ``path``
        once complete, so ``path`` is never a half-made study. An existing ``path`` is
        replaced only with ``replace=True`` (the caller checked it is a study)."""
        from ._create import write_new_study

        path = os.fspath(path)
        own = lock is None
        lock = _take_lock(path) if own else lock
        try:
            if os.path.exists(path) and not replace:
                raise StudyFileError(f"{path} exists; resume it with the same study, or replace it "
                                     f"with overwrite=True")
            study_id = write_new_study(path, space, fingerprint, seed, provenance,
                                       traj_name or _traj_name_from(path), evaluator, attachments)
            CREATED_HERE.add(study_id)
            h5 = open_h5(path, "a")
        except BaseException:
            if own:
                lock.release()
            raise
        return cls(path, h5, lock, own)

    @classmethod
    def open(cls, path: str, mode: str = "a", lock: WriterLock | None = None) -> "StudyFile":
        """Reopen an existing study file; ``StudyFileError`` if it is not one.

        Opening for writing checks the file's consistency and repairs what an
        interrupted write left (with a warning naming each repair), or refuses."""
        path = os.fspath(path)
        own = lock is None and mode != "r"
        if own:
            lock = _take_lock(path)
        try:
            h5 = open_h5(path, mode)
        except BaseException:
            if own:
                lock.release()
            raise
        try:
            version = int(bookkeeping(h5)._v_attrs.format_version)
            if version > FORMAT_VERSION:
                raise StudyFileError(f"{path}: written by a newer brainsweep (format {version}); upgrade")
            file = cls(path, h5, lock if mode != "r" else None, own)
            if mode != "r":
                from ._repair import check_and_repair
                for note in check_and_repair(file):
                    warnings.warn(f"{path}: {note}", stacklevel=2)
            return file
        except BaseException as err:
            h5.close()
            if own:
                lock.release()
            if isinstance(err, StudyFileError) or not isinstance(err, Exception):
                raise
            raise StudyFileError(f"{path}: damaged brainsweep study file ({err})") from err

    def close(self) -> None:
        if self.h5.isopen:
            self.h5.flush()
            self.h5.close()
        if self._lock is not None and self._own_lock:
            self._lock.release()
        self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- runs registry ----------------------------------------------------------
    @property
    def n_registered(self) -> int:
        """Runs of all committed batches (the explored ranges may hold more while a batch
        is being registered, or after an interrupted registration)."""
        return int(self.batches()["n"].sum())

    def register_batch(self, points: list[dict]) -> int:
        """Add ``points`` as new runs of the trajectory; return the first run index.

        Explored values and pypet's run rows are flushed first; the batch row that
        commits them is written last."""
        first = self.n_registered
        n = len(points)
        for name in self.param_names:
            self._append_explored(name, [p[name] for p in points])
        runs = self._node(f"{self._root}/overview/runs")
        runs.append(self._run_info_rows(runs.dtype, first, points))
        self._node(f"{self._root}/overview/info").cols.length[0] = first + n
        self.h5.flush()
        batches = self._bk.batches
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
        return self._bk.batches.read()

    # -- strategy state -----------------------------------------------------------
    def save_state(self, batch: int, state) -> None:
        """Store the strategy state (plain data, see :mod:`._plain`) after batch ``batch``
        was told; the runs table is sorted by run index first."""
        blob = np.frombuffer(_plain.encode(state), dtype=np.uint8)
        self._sort_table()
        self._states_node(create=True).append(blob)
        self._bk.batches.cols.told[batch] = True
        self.h5.flush()

    def _states_node(self, create: bool = False):
        """The VLArray of JSON states (``states`` in format 2; ``states_plain`` beside the
        pickled ``states`` of a format-1 file resumed with trust)."""
        name = "states" if self.version >= 2 else "states_plain"
        if name not in self._bk and create:
            self.h5.create_vlarray(self._bk, name, tables.UInt8Atom(), "JSON strategy state after each tell")
        return getattr(self._bk, name, None)

    def n_states(self) -> int:
        """How many strategy states are stored (one per told batch)."""
        plain = self._states_node()
        n = 0 if plain is None else plain.nrows
        if self.version < 2 and "states" in self._bk:
            n += self._bk.states.nrows
        return n

    def last_state(self, trust: bool = False):
        """(number of told batches, state) or (0, None) if no batch was told.

        A format-1 file's state is a pickle; unpickling runs code from the file, so it
        raises :class:`UntrustedStateError` unless ``trust=True``."""
        n = self.n_states()
        plain = self._states_node()
        if plain is not None and plain.nrows:
            return n, _plain.decode(plain[-1].tobytes())
        if n == 0:
            return 0, None
        if not trust:
            raise UntrustedStateError(
                f"{self.path} was written by an older brainsweep (format {self.version}) that stored "
                f"the strategy state as a pickle; reading it would run code stored in the file. "
                f"If you trust this file, pass trust=True (brainsweep run --trust) to resume it")
        return n, pickle.loads(self._bk.states[-1].tobytes())

    # -- finished runs ---------------------------------------------------------------
    @property
    def _table(self):
        for name in ("table", "table_new"):  # table_new: a replacement interrupted half-way
            path = f"{self._root}/results/table/{name}"
            if path in self._nodes and self._nodes[path]._v_isopen:
                return self._nodes[path]
            if path in self.h5:
                return self._node(path)
        return None

    def run_group_path(self, idx: int) -> str:
        """Where run ``idx``'s values are (or would be) stored."""
        if self.version < 2:
            return f"{self._root}/results/runs/run_{idx:08d}"
        return f"{self._root}/results/runs/run_set_{idx // RUN_SET_SIZE:05d}/run_{idx:08d}"

    def done(self) -> set[int]:
        """Indices of runs already stored."""
        if self._done is None:
            t = self._table
            self._done = set() if t is None else set(t.col("idx").tolist())
        return self._done

    def kinds(self) -> dict:
        """Every table column and its kind (parameters as ``param:<kind>``, tags as ``tag``)."""
        t = self._table
        return {} if t is None else json.loads(t.attrs.BRAINSWEEP_KINDS)

    def score_kinds(self) -> dict:
        """Scalar score columns and their kinds ('float', 'int', 'bool')."""
        return {k: v for k, v in self.kinds().items()
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
        """Store finished runs (skipping any already stored) and flush.

        Run groups are flushed before the table rows that make them part of the study;
        if this is interrupted before the rows are written, the groups are removed."""
        done = self.done()
        records = sorted((r for r in records if r.idx not in done), key=lambda r: r.idx)
        if not records:
            return
        tags = tags or {}
        taken = self._taken_names(tags)
        records = [self._refuse_clashes(r, taken) for r in records]
        self._ensure_table(records, tags)
        created, rows_written = [], False
        lengths = rows_lengths(self.h5, self.rows_path)
        try:
            grouped, appended = self._append_array_rows(records)
            for r in records:
                values = grouped[r.idx]
                if values or r.traceback:
                    where = self.run_group_path(r.idx)
                    if where in self.h5:  # an orphan of an interrupted write: its row is missing
                        self.h5.remove_node(where, recursive=True)
                    parent, name = where.rsplit("/", 1)
                    grp = self.h5.create_group(parent, name, createparents=True)
                    created.append(where)
                    for key, value in values.items():
                        write_value(self.h5, grp, key, value)
                    if r.traceback:
                        write_value(self.h5, grp, "error", r.traceback)
            if created or appended:
                self.h5.flush()
            self._append_rows(records, tags)
            rows_written = True
            self._mark_completed(records)
            self.h5.flush()
        except BaseException:
            if not rows_written:
                self._drop_groups(created)
                self._drop_array_rows(lengths)
            raise
        done.update(r.idx for r in records)

    @property
    def rows_path(self) -> str:
        """Where the rows of small same-shaped per-run arrays are (``<traj>/results/arrays``)."""
        return f"{self._root}/results/arrays"

    def _append_array_rows(self, records: list[RunRecord]) -> dict:
        """Append each record's small arrays that match their name's rows (the first such
        array of a name fixes its shape and dtype) as rows; return ``{idx: other values}``
        and whether any row was appended."""
        rows: dict = {}
        grouped = {}
        for r in records:
            grouped[r.idx] = {}
            for key, value in r.values.items():
                if not row_eligible(value):
                    grouped[r.idx][key] = value
                    continue
                if key not in rows:
                    leaf = rows_leaf(self.h5, self.rows_path, key)
                    rows[key] = (leaf, [], [])
                leaf, idxs, vals = rows[key]
                first = vals[0] if vals else None
                fits = fits_rows(leaf, value) if leaf is not None else (
                    first is None or (first.shape == value.shape and first.dtype == value.dtype))
                if fits:
                    idxs.append(r.idx)
                    vals.append(value)
                else:
                    grouped[r.idx][key] = value
        appended = False
        for key, (_, idxs, vals) in rows.items():
            if vals:
                append_rows(self.h5, self.rows_path, key, idxs, vals)
                appended = True
        return grouped, appended

    def _drop_array_rows(self, lengths: dict) -> None:
        """Truncate the rows arrays back to ``lengths`` (a write that failed before its table rows)."""
        try:
            for name in rows_lengths(self.h5, self.rows_path):
                truncate_rows(self.h5, self.rows_path, name, min(lengths.get(name, (0, 0))))
        except Exception:  # noqa: BLE001 - the repair on resume drops what is left
            pass

    def _drop_groups(self, paths: list[str]) -> None:
        for where in paths:
            try:
                if where in self.h5:
                    self.h5.remove_node(where, recursive=True)
            except Exception:  # noqa: BLE001 - the repair on resume removes what is left
                pass

    def _taken_names(self, tags: dict) -> set:
        """Names a result may not have: parameters (and their column names) and tags."""
        taken = set(self.param_names) | {_col_name(n) for n in self.param_names} | set(tags)
        return taken | {k for k, v in self.kinds().items() if v == "tag"}

    def _refuse_clashes(self, r: RunRecord, taken: set) -> RunRecord:
        """A run whose result names clash with a parameter or a tag becomes a failed run."""
        clash = sorted(k for k in list(r.scalars) + list(r.values) if k in taken)
        if not clash:
            return r
        what = ", ".join(repr(k) for k in clash)
        return RunRecord(r.idx, "failed", r.seed, r.runtime, r.finished, r.worker,
                         message=f"result key(s) {what} have the name of a parameter or strategy tag; "
                                 f"rename the result(s)")

    def _ensure_table(self, records: list[RunRecord], tags: dict) -> None:
        table = self._table
        kinds = {} if table is None else json.loads(table.attrs.BRAINSWEEP_KINDS)
        new, widened = {}, False
        for r in records:
            for k, v in r.scalars.items():
                kind = _scalar_kind(v)
                if k in new:
                    new[k] = _widen(new[k], kind)
                elif k not in kinds:
                    new[k] = kind
                elif kinds[k] in _SCORE_ORDER and _widen(kinds[k], kind) != kinds[k]:
                    kinds[k] = _widen(kinds[k], kind)  # scores are float64 columns: no rewrite
                    widened = True
        new_tags = {k: "tag" for k in tags if k not in kinds and k not in new}
        if table is not None and not new and not new_tags:
            if widened:
                table.attrs.BRAINSWEEP_KINDS = json.dumps(kinds)
            return
        if table is None:
            kinds = {"idx": "int", "status": "status", "seed": "int", "runtime": "float",
                     "finished": "float", "worker": "worker", "message": "message"}
            kinds.update({_col_name(n): "param:" + self.param_kinds[n] for n in self.param_names})
        kinds.update(new_tags)
        kinds.update(new)
        self._replace_table(kinds, None if table is None else table.read())

    def _replace_table(self, kinds: dict, rows) -> None:
        """Write a complete new runs table (columns ``kinds``, ``rows`` copied into it) as
        ``table_new``, flush, then remove the old table and rename the new one."""
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
        parent = f"{self._root}/results/table"
        if parent not in self.h5:
            leaf = self.h5.create_group(f"{self._root}/results", "table", createparents=True)
            leaf._v_attrs.SRVC_LEAF = np.True_
            leaf._v_attrs.SRVC_INIT_CLASS_NAME = np.str_("Result")
        if f"{parent}/table_new" in self.h5:
            self.h5.remove_node(parent, "table_new")
        table = self.h5.create_table(parent, "table_new", desc, expectedrows=100_000, filters=_TABLE_FILTERS)
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
        if rows is not None and len(rows):
            new = np.zeros(len(rows), dtype=table.dtype)
            for name in table.dtype.names:
                if name in rows.dtype.names:
                    new[name] = rows[name]
                elif table.dtype[name].kind == "f":
                    new[name] = np.nan
            table.append(new)
        self.h5.flush()
        for old in ("table", "table_old"):  # table_old: format 1's name during a rebuild
            if f"{parent}/{old}" in self.h5:
                self.h5.remove_node(parent, old)
        table._f_rename("table")
        self.h5.flush()
        self._nodes.clear()

    def _sort_table(self) -> None:
        """Put the runs table in run-index order if runs finished out of order.

        Only the unsorted tail (the current batch's rows) is rewritten: the sorted rows go
        to ``table_tail`` first and are flushed, then copied over the tail in place, then
        ``table_tail`` is removed; an interrupted copy is redone from it on resume."""
        t = self._table
        if t is None or t.nrows < 2:
            return
        idx = t.col("idx")
        order = np.argsort(idx, kind="stable")
        moved = np.flatnonzero(order != np.arange(len(idx)))
        if not len(moved):
            return
        start = int(moved[0])
        rows = t.read(start)[order[start:] - start]
        parent = f"{self._root}/results/table"
        if f"{parent}/table_tail" in self.h5:
            self.h5.remove_node(parent, "table_tail")
        tail = self.h5.create_table(parent, "table_tail", obj=rows)
        self.h5.flush()
        tail.attrs.start = start  # marks the rows as complete: set once they are flushed
        self.h5.flush()
        t.modify_rows(start, rows=rows)
        self.h5.flush()
        tail._f_remove()
        self.h5.flush()

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

    def _run_info_rows(self, dtype, first: int, points: list[dict]) -> np.ndarray:
        """pypet's run-information rows of registered runs ``first ..`` (not yet completed)."""
        n = len(points)
        rows = np.zeros(n, dtype=dtype)
        rows["idx"] = np.arange(first, first + n)
        rows["name"] = [b"run_%08d" % i for i in range(first, first + n)]
        rows["parameter_summary"] = [_summary(p, self.param_names).encode()[:500] for p in points]
        rows["short_environment_hexsha"] = b"N/A"
        return rows

    def _mark_completed(self, records: list[RunRecord]) -> None:
        runs = self._node(f"{self._root}/overview/runs")
        idx = np.array([r.idx for r in records])
        rows = runs.read_coordinates(idx)
        _set_completed(rows, np.array([r.finished for r in records]), np.array([r.runtime for r in records]))
        runs.modify_coordinates(idx, rows)

    def rebuild_run_info(self, n: int) -> None:
        """Write pypet's run-information table (``overview/runs``) again for runs ``0 .. n-1``.

        Everything in it is derived from the registered parameters and the runs table, so a
        copy torn by a kill during a write (an unreadable compressed chunk) is rebuilt from those."""
        new = recreate_run_info(self.h5, self._node(f"{self._root}/overview/runs"))
        self._nodes.clear()
        t = self._table
        done = t.read_where(f"idx < {int(n)}") if t is not None else None
        step = 10_000
        for first in range(0, n, step):
            rows = self._run_info_rows(new.dtype, first, self.registered_points(first, min(step, n - first)))
            if done is not None:
                of = done[(done["idx"] >= first) & (done["idx"] < first + len(rows))]
                marked = rows[of["idx"] - first]
                _set_completed(marked, of["finished"], of["runtime"])
                rows[of["idx"] - first] = marked
            new.append(rows)
        self.h5.flush()


def recreate_run_info(h5: tables.File, table) -> tables.Table:
    """pypet's run-information ``table`` made again, empty, compressed (its rows are mostly
    padding: about 700 bytes a run uncompressed, more than a small run's data), with its
    attributes. The old table is removed, or, if HDF5 cannot even free it (a torn chunk), moved aside."""
    parent, name = table._v_parent, table.name
    attrs = {k: table.attrs[k] for k in table.attrs._v_attrnamesuser}
    desc = table.description
    try:
        table._f_remove()
    except tables.HDF5ExtError:
        table._f_move(newname=f"{name}_unreadable_{int(time.time())}")
    new = h5.create_table(parent, name, desc, expectedrows=100_000, filters=_TABLE_FILTERS)
    for k, v in attrs.items():
        new.attrs[k] = v
    return new


def _set_completed(rows: np.ndarray, finished: np.ndarray, runtime: np.ndarray) -> None:
    """Mark pypet run-information ``rows`` completed at unix times ``finished`` after
    ``runtime`` seconds, in pypet's columns and formats."""
    rows["completed"] = 1
    rows["finish_timestamp"] = finished
    rows["timestamp"] = finished - runtime
    rows["time"] = [time.strftime("%Y_%m_%d_%Hh%Mm%Ss", time.localtime(f)).encode() for f in finished]
    rows["runtime"] = [f"{r:.6f}s".encode() for r in runtime]


def run_group(h5: tables.File, traj: str, idx: int):
    """Run ``idx``'s group of values (bucketed or, format 1, flat), or None."""
    for where in (f"/{traj}/results/runs/run_set_{idx // RUN_SET_SIZE:05d}/run_{idx:08d}",
                  f"/{traj}/results/runs/run_{idx:08d}"):
        if where in h5:
            return h5.get_node(where)
    return None


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
    bk = bookkeeping(h5)
    if "attachments" not in bk:
        return {}
    return {str(n.attrs.filename): n.read().tobytes() for n in bk.attachments._f_iter_nodes()}


def load_evaluator(h5: tables.File):
    """The study's pickled evaluator, or None."""
    bk = bookkeeping(h5)
    if "evaluator" not in bk:
        return None
    return pickle.loads(bk.evaluator.read().tobytes())


def _read_json(node) -> dict:
    return json.loads(node.read().tobytes().decode())


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


def new_study_id() -> str:
    return uuid.uuid4().hex


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
        truncated = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", str(err))
        if truncated:
            have, need = truncated.groups()
            raise StudyFileError(f"{path}: the file is truncated ({have} of {need} bytes): an interrupted "
                                 f"copy or download, or a full disk; copy it again from its source") from err
        if mode == "r" and "unable to lock file" in str(err):
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
