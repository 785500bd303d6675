"""benchmarks/object_size.py's per-object scores, on hand-made label maps."""

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "object_size.py"


def _script():
    spec = importlib.util.spec_from_file_location("object_size", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_object_is_scored_in_the_bin_of_its_area():
    target = np.zeros((1, 20, 20), np.uint8)
    target[0, 0:5, 0:6] = 1          # a disk-class object of 30 px
    target[0, 10:20, 8:20] = 2       # a rectangle of 120 px
    target[0, 0:2, 18:20] = 1        # a second, separate class-1 object of 4 px
    target[0, 6:8, 14:19] = 3        # a 10-px triangle-class object: on a bin edge, in the upper bin
    target[0, 19, 0] = 255           # ignored pixels are no object
    pred = np.zeros_like(target)
    pred[0, 0:5, 0:3] = 1            # half of the 30-px object named right
    pred[0, 10:20, 8:20] = 1         # the rectangle found everywhere, named wrong everywhere
    pred[0, 6:8, 14:19] = 3          # the 10-px object named right
    scores = _script().object_scores(pred, target, [0, 10, 100, 10 ** 9])
    assert sorted(scores) == [0, 1, 2]
    assert scores[0] == ([0.0], [0.0])          # the 4-px object: missed
    assert sorted(scores[1][0]) == [0.5, 1.0] and sorted(scores[1][1]) == [0.5, 1.0]   # 30 px half, 10 px whole
    assert scores[2] == ([0.0], [1.0])          # 120 px: found, misnamed
