"""Where this process sits among others: the shard it runs, from `--shard I/N` or from a Slurm job array; and
the seeds it runs, from `--seeds`."""

import os
from collections.abc import Mapping

from .errors import SegbenchError

SLURM = ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_STEP", "SLURM_ARRAY_TASK_COUNT")


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` → (I, N), 0 <= I < N."""
    try:
        index, count = (int(p) for p in text.split("/"))
    except ValueError:
        index, count = -1, 0
    if not 0 <= index < count:
        raise SegbenchError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/4")
    return index, count


def parse_seeds(text: str) -> list[int]:
    """`0,1,2` → [0, 1, 2]: distinct non-negative integers."""
    try:
        seeds = [int(p) for p in text.split(",")]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise SegbenchError(f"--seeds {text!r}: expected distinct non-negative integers separated by commas, "
                            f"e.g. 0,1,2")
    return seeds


def slurm_shard(env: Mapping[str, str] = os.environ) -> tuple[int, int, str] | None:
    """(index, count, how it was derived) of this task of a Slurm job array, None outside one.

    Task ids need not start at 0 or be contiguous (`--array=1-7:2` is tasks 1, 3, 5, 7 = shards 0-3 of 4):
    index = (id - min) / step. Ids that are no arithmetic sequence (`--array=1,2,8`) cannot be mapped.
    """
    if "SLURM_ARRAY_TASK_ID" not in env:
        return None
    try:
        task, first, step, count = (int(env.get(name, default)) for name, default in
                                    zip(SLURM, (None, "0", "1", "1")))
    except (TypeError, ValueError):
        raise SegbenchError(f"Slurm's array variables are not integers ({_show(env)}): give --shard I/N") from None
    index, rest = divmod(task - first, step) if step > 0 else (-1, 1)
    if rest or not 0 <= index < count:
        raise SegbenchError(f"this Slurm array's task ids are not an arithmetic sequence from "
                            f"SLURM_ARRAY_TASK_MIN ({_show(env)}): give --shard I/N explicitly, e.g. from a "
                            "mapping of your own ids")
    return index, count, f"Slurm array task {task} ({_show(env)})"


def _show(env: Mapping[str, str]) -> str:
    return ", ".join(f"{name}={env[name]}" for name in SLURM if name in env)
