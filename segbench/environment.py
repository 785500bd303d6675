"""Where a run computes: the device it asks for, and the provenance fingerprint (versions, git state, device,
CPU, threads and what else decides the numbers, a short machine id)."""

import functools
import hashlib
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

import torch

import segbench

from .determinism import numerics
from .errors import SegbenchError


def resolve_device(requested: str) -> torch.device:
    """`auto` picks CUDA when available; asking for CUDA without it is a user error."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise SegbenchError("the suite asks for device 'cuda' but torch sees no CUDA device; "
                            "set 'device: auto' or 'device: cpu' in the suite")
    return torch.device("cuda" if requested != "cpu" and torch.cuda.is_available() else "cpu")


@functools.cache
def git_state() -> dict[str, Any]:
    """Commit and dirty flag of the segbench checkout, or None outside a git clone."""
    root = Path(segbench.__file__).resolve().parent.parent

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        return {"commit": git("rev-parse", "HEAD"),
                "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


@functools.cache
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device) -> dict[str, Any]:
    """Where and with what a run was computed: versions, device, CPU, threads, a short machine id."""
    cuda = device.type == "cuda"
    device_name = torch.cuda.get_device_name(device) if cuda else cpu_model()
    return {
        "segbench": segbench.__version__, **{f"git_{k}": v for k, v in git_state().items()},
        "python": platform.python_version(), "torch": torch.__version__,
        "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if cuda else None,
        "device": str(device), "device_name": device_name, "cpu": cpu_model(),
        "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(), "numerics": numerics(),
        "machine_id": hashlib.sha256(f"{socket.gethostname()}|{cpu_model()}|{device_name}".encode()).hexdigest()[:8],
    }
