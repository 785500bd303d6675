"""segbench's imports run one way: no cycle, no module importing a layer above its own (tests/import_graph.py)."""

from tests.import_graph import LAYERS, graph, problems


def test_the_package_has_no_cycle_and_no_upward_import():
    assert problems(graph()) == []


def test_the_check_finds_a_cycle_and_an_upward_import():
    bottom, top = LAYERS[0][1], LAYERS[-1][0]   # errors, cli
    cyclic = {f"segbench.{bottom}": {f"segbench.{top}"}, f"segbench.{top}": {f"segbench.{bottom}"}}
    found = problems(cyclic)
    assert any(f"segbench.{bottom} imports segbench.{top}" in p for p in found)
    assert any(p.startswith("import cycle:") for p in found)


def test_relative_and_function_level_imports_are_seen():
    modules = graph()
    assert "segbench.suitefile" in modules["segbench.cli"]            # imported inside a command function
    assert "segbench.crf.params" in modules["segbench.config"]        # from .crf.params import CRFParams
    assert "segbench.metric_info" in modules["segbench.metrics"]      # from ..metric_info import ...
