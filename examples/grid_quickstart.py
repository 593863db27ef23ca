"""Grid search of a plain Python function, stored in a pypet/HDF5 trajectory.

    python examples/grid_quickstart.py            # serial
    mpiexec -n 3 python examples/grid_quickstart.py   # rank 0 writes, ranks 1-2 evaluate
"""

import numpy as np

from brainsweep.explorer import GridSearch, ParameterSpace, Study
from brainsweep.mpi import is_root


def evaluate(params):
    x, y = params["x"], params["y"]
    return {"score": (x**2 + y**2 - 1) ** 2, "trace": np.sin(np.arange(100) * x)}


space = ParameterSpace({"x": np.linspace(-2, 2, 21), "y": np.linspace(-2, 2, 21)})
res = Study(evaluate, space, GridSearch(), path="circle.h5", overwrite=True).run(n_jobs=2)
if is_root():
    print(res)
    print(res.best(4, key="score")[["x", "y", "score"]])
    res.plot_grid("x", "y", "score").savefig("circle.png")
    print("wrote circle.h5 and circle.png")
