"""A training's state between two steps, saved atomically (every `train.checkpoint_every` steps and on a stop
request) and loaded to resume: model, optimizer, schedule, gradient scaler, every rank's RNGs, the loss curve so far
and the step, from which the data order is replayed. Resumed, a training ends with the weights of an
uninterrupted one (on the CPU with the same kernels; tests/test_resume.py)."""

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

VERSION = 1


def save(path: Path, step: int, parts: dict[str, Any], progress: dict[str, Any], rng: list[dict[str, Any]]) -> None:
    """`parts`: objects with state_dict() (model, optimizer, schedule, scaler); `progress`: plain values; `rng`:
    each rank's `rng_state()` (one for one process)."""
    save_atomic(path, {"version": VERSION, "step": step, "progress": progress, "rng": rng,
                       **{name: part.state_dict() for name, part in parts.items()}})


def save_atomic(path: Path, obj: Any) -> None:
    """torch.save through a temporary file and os.replace: a reader never sees half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load(path: Path, parts: dict[str, Any], rank: int = 0) -> tuple[int, dict[str, Any]]:
    """Restore `parts` and this rank's RNGs from `path`; (step, progress). Raises ValueError when the file is
    not a readable training state of these parts (truncated, another model): the caller starts afresh.
    (Resumed with more processes than saved it, the extra ranks take rank 0's generators.)"""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("version") != VERSION:
            raise ValueError(f"version {state.get('version')}, not {VERSION}")
        for name, part in parts.items():
            part.load_state_dict(state[name])
        _set_rng_state(state["rng"][rank if rank < len(state["rng"]) else 0])
        return state["step"], state["progress"]
    except Exception as exc:  # noqa: BLE001 - unpickling, a truncated zip, a key or shape mismatch
        reason = str(exc).split(". ")[0]
        raise ValueError(f"{path} is not a readable training state ({type(exc).__name__}: {reason})") from None


def rng_state() -> dict[str, Any]:
    """This process's random generators: torch's (CPU, CUDA), NumPy's, Python's."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
            "python": list(random.getstate())}


def _set_rng_state(rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    kind, keys, pos, has_gauss, gauss = rng["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = rng["python"]
    random.setstate((version, tuple(internal), gauss_next))
