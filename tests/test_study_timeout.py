"""``Study(timeout=...)`` reaches an evaluator that brings its own chunk evaluation (hnn-core's
HNNEvaluator is one): it sets the evaluator's limit, a conflicting limit or an evaluator without
one is refused instead of the setting being silently ignored."""

import pytest

from brainsweep.explorer import GridSearch, ParameterSpace, Study


class ChunkEvaluator:
    identity = "chunk-evaluator-test"
    fixed: dict = {}

    def __init__(self, timeout=None):
        self.timeout = timeout

    def evaluate_chunk(self, tasks):  # never called here
        raise AssertionError("not run in these tests")


class NoLimit:
    identity = "no-limit-test"

    def evaluate_chunk(self, tasks):
        raise AssertionError("not run in these tests")


SPACE = ParameterSpace({"x": [0.0, 1.0]})


def test_the_study_timeout_reaches_the_evaluator(tmp_path):
    ev = ChunkEvaluator()
    Study(ev, SPACE, GridSearch(), path=tmp_path / "a.h5", timeout=7.5)
    assert ev.timeout == 7.5
    ev = ChunkEvaluator(timeout=3.0)
    Study(ev, SPACE, GridSearch(), path=tmp_path / "b.h5")          # its own limit stays
    assert ev.timeout == 3.0


def test_conflicting_or_unsupported_limits_are_refused(tmp_path):
    with pytest.raises(ValueError, match="differs from the evaluator's own timeout=3.0"):
        Study(ChunkEvaluator(timeout=3.0), SPACE, GridSearch(), path=tmp_path / "c.h5", timeout=5.0)
    with pytest.raises(ValueError, match="NoLimit has no per-run time limit"):
        Study(NoLimit(), SPACE, GridSearch(), path=tmp_path / "d.h5", timeout=5.0)
