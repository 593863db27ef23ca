"""Helpers shared by the SBI tests."""

import os
import subprocess
import sys

import numpy as np


def sample_in_new_process(path, x, n: int, seed: int, folder) -> np.ndarray:
    """``posterior(path).sample(n, x, seed=seed)`` in a new Python process (nothing of this one's
    state: the estimator is rebuilt from the file)."""
    out = os.path.join(str(folder), "new_process_samples.npy")
    code = ("import numpy as np; from brainsweep.inference import posterior; "
            f"np.save({out!r}, posterior({str(path)!r}).sample({int(n)}, np.array({list(np.ravel(x))}), seed={int(seed)}))")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return np.load(out)
