"""Small same-shaped per-run arrays cost about their data on disk: one row each, no per-run
HDF5 group (~4 kB of metadata a run before). Figures at scale: benchmarks/bench_storage_scale.py."""

import os

import numpy as np
import tables

from brainsweep.explorer import ParameterSpace, load
from brainsweep.explorer.storage import RunRecord, StudyFile


def _write(path, n):
    space = ParameterSpace({"x": np.arange(float(n))})
    with StudyFile.create(str(path), space, {"t": "scale"}, 1, {"p": "1"}) as f:
        for first in range(0, n, 1000):
            f.register_batch([{"x": float(i)} for i in range(first, min(n, first + 1000))])
            for j in range(first, min(n, first + 1000), 64):
                f.write_runs([RunRecord(i, "ok", i, scalars={"s": float(i)},
                                        values={"a": np.full(20, i, np.float32)})
                              for i in range(j, min(n, first + 1000, j + 64))], {"batch": first // 1000})
    return os.path.getsize(path)


def test_small_arrays_cost_about_their_bytes_per_run(tmp_path):
    n1, n2 = 2000, 6000
    s1, s2 = _write(tmp_path / "a.h5", n1), _write(tmp_path / "b.h5", n2)
    per_run = (s2 - s1) / (n2 - n1)
    # 80 bytes of array + 8 of run index, the runs table row (compressed) and pypet's run
    # information row (~0.7 kB); a run group alone was ~4 kB
    assert per_run < 1200, per_run
    with tables.open_file(tmp_path / "b.h5") as h5:
        rows = h5.get_node("/b/results/arrays/a/a")
        assert rows.shape == (n2, 20)
        assert rows.size_on_disk < 1.3 * n2 * 80
        assert h5.get_node("/b/results/runs")._v_nchildren == 0
    res = load(tmp_path / "b.h5")
    np.testing.assert_array_equal(res.run(n2 - 1)["a"], np.full(20, n2 - 1, np.float32))
    arrays = res.arrays("a")
    assert len(arrays) == n2 and all(float(arrays[i][0]) == i for i in (0, 999, 1000, n2 - 1))
