"""The suite's `reproducible:` switch: parsed as one line, part of the run ids only when set, pinned before any
computation (refused when too late), recorded in each record, and bit-identical from run to run."""

import json
import os
import subprocess
import sys

import pytest
import torch

from segbench.config import Reproducible
from segbench.determinism import CUDA, LEVELS, numerics, pin
from segbench.errors import ConfigError, SegbenchError
from segbench.matrix import expand
from segbench.suitefile import load_suite
from tests.conftest import TINY_SUITE


@pytest.mark.parametrize("value, expected", [("true", Reproducible()), ("false", None),
                                             ("{threads: 1, cpu_isa: native}", Reproducible(threads=1, cpu_isa="native"))])
def test_the_switch_is_one_line_or_its_settings(write_suite, value, expected):
    suite = load_suite(write_suite(TINY_SUITE + f"reproducible: {value}\n"))
    assert suite.reproducible == expected
    assert Reproducible() == Reproducible(threads=2, cpu_isa="avx2")


def test_a_bad_setting_names_its_line_and_what_is_allowed(write_suite):
    with pytest.raises(ConfigError) as info:
        load_suite(write_suite(TINY_SUITE + "reproducible:\n  cpu_isa: avx10\n"))
    assert "suite.yaml:11: reproducible.cpu_isa" in str(info.value) and "'avx2', 'avx512' or 'native'" in str(info.value)


def test_run_ids_change_only_when_the_switch_is_set(write_suite):
    plain = expand(load_suite(write_suite(TINY_SUITE)))
    off = expand(load_suite(write_suite(TINY_SUITE + "reproducible: false\n", "off.yaml")))
    on = expand(load_suite(write_suite(TINY_SUITE + "reproducible: true\n", "on.yaml")))
    assert [s.run_id for s in off] == [s.run_id for s in plain] and "reproducible" not in plain[0].to_dict()
    assert not {s.run_id for s in on} & {s.run_id for s in plain}
    assert not {s.train_key for s in on} & {s.train_key for s in plain}   # the trained weights differ too
    assert on[0].to_dict()["reproducible"] == {"threads": 2, "cpu_isa": "avx2"}


@pytest.fixture
def restored(monkeypatch):
    """Undo what pin does to this process."""
    for name in (*LEVELS["avx2"], *CUDA):
        monkeypatch.delenv(name, raising=False)
    state = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
             torch.backends.cudnn.deterministic)
    yield
    torch.set_num_threads(state[0])
    torch.use_deterministic_algorithms(state[1])
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = state[2:]


def test_pinning_after_torch_chose_its_kernels_is_refused_with_the_reason(restored):
    current = torch.backends.cpu.get_cpu_capability()   # fixed by the tests that computed before this one
    other = "avx2" if current != "AVX2" else "avx512"
    with pytest.raises(SegbenchError, match=f"reproducible: cpu_isa {other} cannot be pinned, torch's CPU kernels "
                                            f"run at {current}"):
        pin(Reproducible(cpu_isa=other))


def test_native_pins_threads_and_deterministic_algorithms_only(restored):
    pin(Reproducible(threads=1, cpu_isa="native"))
    got = numerics()
    assert got["threads"] == 1 and got["deterministic_algorithms"] == "warn only" and got["onednn_max_cpu_isa"] is None
    assert got["cublas_workspace_config"] == ":4096:8" and torch.backends.cudnn.deterministic


NO_AVX2 = pytest.mark.skipif(not torch.cpu._is_avx2_supported(), reason="this CPU has no AVX2")


@NO_AVX2
def test_a_fresh_process_is_pinned_to_avx2_before_it_computes():
    code = ("import torch; from segbench.determinism import pin, numerics; from segbench.config import Reproducible;"
            "pin(Reproducible()); torch.randn(2, 3) @ torch.randn(3, 2); import json; print(json.dumps(numerics()))")
    env = {k: v for k, v in os.environ.items() if k not in (*LEVELS["avx2"], *CUDA)} | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"threads": 2, "cpu_capability": "AVX2", "deterministic_algorithms": "warn only",
                                       "onednn_max_cpu_isa": "AVX2", "mkl_cbwr": "AVX2",
                                       "cublas_workspace_config": ":4096:8"}


@NO_AVX2
def test_a_reproducible_suite_gives_bit_identical_records_and_stores_its_numerics(tmp_path, write_suite):
    suite = write_suite(TINY_SUITE.replace("iterations: 2", "iterations: 6") + "reproducible: true\n")
    metrics = []
    for attempt in range(2):
        done = subprocess.run([sys.executable, "-m", "segbench", "run", str(suite), "--rerun"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        recs = sorted((json.loads(p.read_text()) for p in (tmp_path / "results" / "tiny" / "runs").glob("*.json")),
                      key=lambda r: r["run_id"])
        metrics.append([(r["metrics"], r["per_class"], r["train"]["loss_curve"]) for r in recs])
    assert metrics[0] == metrics[1]
    env = recs[0]["environment"]
    assert env["threads"] == 2 and env["numerics"]["deterministic_algorithms"] == "warn only"
    assert env["numerics"]["cpu_capability"] == "AVX2" and env["numerics"]["onednn_max_cpu_isa"] == "AVX2"
    report = (tmp_path / "reports" / "tiny" / "report.md").read_text()
    assert "reproducible: cpu_isa avx2, threads 2 (pinned numerics" in report
