"""One run on two processes with torchrun (gloo on the CPU): rank 0 alone writes; evaluation counts every image
once and equals one process evaluating the same checkpoint; training equals one process with the same
effective batch where the maths says it should (no batch norm, no dropout, no ignored pixels)."""

import json
import shutil
import subprocess
import sys

import pytest
import torch

from segbench.distributed import World, from_environment
from segbench.errors import SegbenchError
from segbench.matrix import expand
from segbench.progress import Progress
from segbench.runner import SuiteRunner
from segbench.suitefile import load_suite

SUITE = """\
name: ddp
seeds: [0]
device: cpu
dataset: {name: shapes, image_size: 32, train_samples: 16, val_samples: 5}
train: {batch_size: 4, iterations: 6, lr: 0.05}
eval: {batch_size: 2}
probe: {repeats: 3, warmup: 1}
models:
  - {arch: fcn, label: plain, skip: 8, width: 0.0625, batch_norm: false, dropout: 0.0}
  - {arch: fcn, label: accumulated, skip: 8, width: 0.0625, batch_norm: false, dropout: 0.0, train: {accumulate: 2}}
"""


@pytest.mark.parametrize("size, parts", [(1, 1), (2, 1), (2, 2), (4, 1)])
def test_the_ranks_slices_make_up_the_micro_batches_of_one_process(size, parts):
    batch = list(range(8))
    for part in range(parts):
        one_process = World().slice(batch, part, parts)
        assert sum((World(r, size).slice(batch, part, parts) for r in range(size)), []) == one_process
    assert sum((World().slice(batch, p, parts) for p in range(parts)), []) == batch


def test_the_world_comes_from_torchruns_variables():
    assert from_environment({}) == World(0, 1, 0) and not World().active
    assert from_environment({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == World(1, 2, 1, 2)
    assert from_environment({"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4"}) == \
        World(5, 8, 1, 4)
    with pytest.raises(SegbenchError, match="must be integers"):
        from_environment({"WORLD_SIZE": "two"})


@pytest.mark.parametrize("size, extra, message", [
    ("3", "", "train.batch_size 4 is the step's whole batch; with 3 processes and accumulate 1 it must be a "
              "multiple of 3"),
    ("2", ", sync_bn: true", "train.sync_bn needs CUDA"),
])
def test_what_several_processes_cannot_do_is_refused_before_anything_runs(tmp_path, write_suite, monkeypatch,
                                                                          size, extra, message):
    monkeypatch.setenv("WORLD_SIZE", size)
    specs = expand(load_suite(write_suite(SUITE.replace("lr: 0.05}", f"lr: 0.05{extra}}}"))))
    with pytest.raises(SegbenchError, match=message):
        SuiteRunner(tmp_path / "results", Progress()).run(specs)
    assert not (tmp_path / "results").exists()


def run(folder, suite, *launcher):
    folder.mkdir(exist_ok=True)
    done = subprocess.run([*launcher, "-m", "segbench", "run", str(suite), "--results", "results"], cwd=folder,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, {r["spec"]["label"]: r for r in (json.loads(p.read_text())
                                                 for p in (folder / "results" / "ddp" / "runs").glob("*.json"))}


def weights(folder, record):
    return torch.load(folder / "results" / "ddp" / "checkpoints" / f"{record['train_key']}.pt",
                      weights_only=True)["state_dict"]


def test_torchrun_trains_and_evaluates_as_one_process(tmp_path, write_suite):
    suite = write_suite(SUITE)
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2")
    ddp, records = run(tmp_path / "ddp", suite, *torchrun)
    assert "torchrun: rank 1 of 2 (local rank 1); quiet" in ddp.stderr and ddp.stdout.count("## Results") == 1
    assert len(records) == 2 and all(r["eval"]["images"] == 5 for r in records.values())   # none counted twice
    assert {k: records["plain"]["train"][k] for k in ("world_size", "batch_per_rank", "accumulate")} == \
        {"world_size": 2, "batch_per_rank": 2, "accumulate": 1}
    assert records["accumulated"]["train"]["batch_per_rank"] == 1

    # evaluation: one process evaluating the same checkpoints gives the same figures
    again = tmp_path / "again"
    shutil.copytree(tmp_path / "ddp" / "results" / "ddp" / "checkpoints", again / "results" / "ddp" / "checkpoints")
    _, reevaluated = run(again, suite, sys.executable)
    for label, record in records.items():
        assert reevaluated[label]["train"]["checkpoint_reused"]
        assert reevaluated[label]["metrics"] == pytest.approx(record["metrics"], rel=1e-12)
        assert reevaluated[label]["per_class"]["iou"] == record["per_class"]["iou"]

    # training: one process with the same effective batch (and with accumulation, which the maths allows here)
    _, single = run(tmp_path / "single", suite, sys.executable)
    for label in records:
        mine, theirs = weights(tmp_path / "ddp", records[label]), weights(tmp_path / "single", single[label])
        assert all(torch.allclose(mine[k], theirs[k], atol=1e-6) for k in mine)
        assert [s for s, _ in records[label]["train"]["loss_curve"]] == [s for s, _ in single[label]["train"]["loss_curve"]]
        assert [v for _, v in records[label]["train"]["loss_curve"]] == pytest.approx(
            [v for _, v in single[label]["train"]["loss_curve"]], rel=1e-5)
    plain, accumulated = weights(tmp_path / "single", single["plain"]), weights(tmp_path / "single", single["accumulated"])
    assert all(torch.allclose(plain[k], accumulated[k], atol=1e-6) for k in plain)


def test_a_failed_run_is_recorded_and_stops_the_job(tmp_path, write_suite):
    suite = write_suite(SUITE.split("  - {arch: fcn, label: accumulated")[0])
    spec = expand(load_suite(suite))[0]
    (tmp_path / "results" / "ddp" / "checkpoints" / f"{spec.train_key}.pt").mkdir(parents=True)   # cannot be saved
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "segbench", "run", str(suite), "--results", "results"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode != 0 and "plain seed 0 failed on rank 0 of 2" in done.stderr
    [record] = [json.loads(p.read_text()) for p in (tmp_path / "results" / "ddp" / "runs").glob("*.json")]
    assert record["status"] == "failed" and "IsADirectoryError" in record["error"]


def test_sync_batch_norm_is_turned_back_into_batch_norm_with_its_state():
    from segbench import models
    from segbench.distributed import without_sync_bn

    torch.manual_seed(0)
    model = models.build("fcn", 3, skip=8, width=0.0625, batch_norm=True).eval()
    x = torch.randn(1, 3, 32, 32)
    expected = model(x)
    synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules())
    plain = without_sync_bn(synced)
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in plain.modules())
    assert torch.equal(plain(x), expected)   # on the CPU, where SyncBatchNorm itself cannot run
