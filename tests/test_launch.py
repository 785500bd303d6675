"""Which shard a process runs: `--shard I/N`, or a Slurm job array's task variables."""

import pytest

from segbench.errors import SegbenchError
from segbench.launch import parse_seeds, parse_shard, slurm_shard


def array(task, first, step, count):
    return {"SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_MIN": str(first),
            "SLURM_ARRAY_TASK_STEP": str(step), "SLURM_ARRAY_TASK_COUNT": str(count)}


@pytest.mark.parametrize("text, expected", [("0/1", (0, 1)), ("3/4", (3, 4))])
def test_shard_flag(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["4/4", "-1/4", "1", "a/b", "1/0"])
def test_bad_shard_flag(text):
    with pytest.raises(SegbenchError, match="expected I/N with 0 <= I < N"):
        parse_shard(text)


@pytest.mark.parametrize("text, expected", [("0", [0]), ("0,1,2", [0, 1, 2]), ("7, 3", [7, 3])])
def test_seeds_flag(text, expected):
    assert parse_seeds(text) == expected


@pytest.mark.parametrize("text", ["", "0,,1", "-1", "a", "1,1", "0.5"])
def test_bad_seeds_flag(text):
    with pytest.raises(SegbenchError, match="expected distinct non-negative integers"):
        parse_seeds(text)


def test_outside_a_job_array_there_is_no_shard():
    assert slurm_shard({"SLURM_JOB_ID": "12"}) is None


@pytest.mark.parametrize("env, index", [
    (array(0, 0, 1, 8), 0), (array(7, 0, 1, 8), 7),      # --array=0-7
    (array(1, 1, 2, 4), 0), (array(7, 1, 2, 4), 3),      # --array=1-7:2: tasks 1, 3, 5, 7
    (array(12, 10, 1, 3), 2),                            # --array=10-12
])
def test_array_task_ids_map_to_consecutive_shards(env, index):
    got, count, how = slurm_shard(env)
    assert (got, count) == (index, int(env["SLURM_ARRAY_TASK_COUNT"]))
    assert how.startswith(f"Slurm array task {env['SLURM_ARRAY_TASK_ID']} (SLURM_ARRAY_TASK_ID=")


def test_missing_min_step_and_count_default_to_a_one_task_array():
    assert slurm_shard({"SLURM_ARRAY_TASK_ID": "0"})[:2] == (0, 1)


@pytest.mark.parametrize("env", [array(8, 1, 1, 3),   # --array=1,2,8: no arithmetic sequence
                                 array(4, 1, 2, 4),   # between the steps
                                 {"SLURM_ARRAY_TASK_ID": "x"}])
def test_unmappable_task_ids_ask_for_an_explicit_shard(env):
    with pytest.raises(SegbenchError, match="give --shard I/N"):
        slurm_shard(env)
