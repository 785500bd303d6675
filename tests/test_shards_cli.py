"""Shards of a Slurm job array writing into one results folder: together they run each run once, give the
records one process gives, and one report over the shared folder."""

import json
import os
import subprocess
import sys

from tests.conftest import TINY_SUITE


def segbench(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "segbench", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=os.environ | (env or {}))


def metrics_by_run(folder):
    records = [json.loads(p.read_text()) for p in (folder / "runs").glob("*.json")]
    return {r["run_id"]: (r["metrics"], r["train"]["loss_curve"]) for r in records}


def test_array_shards_share_a_results_folder(tmp_path, write_suite):
    text = TINY_SUITE.replace("seeds: [0]", "seeds: [0, 1]") + "reproducible: true\n"
    suite = write_suite(text)
    (tmp_path / "single").mkdir()
    (tmp_path / "array").mkdir()
    assert segbench("run", suite, cwd=tmp_path / "single").returncode == 0
    for task in (3, 5):   # sbatch --array=3-5:2
        env = {"SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_MIN": "3", "SLURM_ARRAY_TASK_STEP": "2",
               "SLURM_ARRAY_TASK_COUNT": "2"}
        done = segbench("run", suite, cwd=tmp_path / "array", env=env)
        assert done.returncode == 0, done.stderr
        assert f"shard {(task - 3) // 2}/2 (Slurm array task {task} (SLURM_ARRAY_TASK_ID={task}" in done.stderr
        assert "When every shard has finished: segbench report results/tiny" in done.stdout
    assert not (tmp_path / "array" / "reports").exists()   # a shard leaves the report to `segbench report`
    sharded, single = metrics_by_run(tmp_path / "array" / "results" / "tiny"), metrics_by_run(
        tmp_path / "single" / "results" / "tiny")
    assert len(sharded) == 4 and sharded == single

    assert segbench("report", "results/tiny", "--out", "shared", cwd=tmp_path / "array").returncode == 0
    rerun = segbench("run", suite, cwd=tmp_path / "array")   # one process over the same records: all skipped
    assert "0 ran, 4 skipped" in rerun.stdout
    shared, single_process = tmp_path / "array" / "shared", tmp_path / "array" / "reports" / "tiny"
    files = sorted(p.relative_to(shared) for p in shared.rglob("*") if p.is_file())
    assert "report.md" in map(str, files) and files == sorted(p.relative_to(single_process)
                                                              for p in single_process.rglob("*") if p.is_file())
    assert all((shared / f).read_bytes() == (single_process / f).read_bytes() for f in files)
