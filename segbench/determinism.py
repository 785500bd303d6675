"""Pinned numerics: what a suite's `reproducible:` switch fixes so that a CPU run is bit-identical from run to
run, and across machines of one kind.

Measured with benchmarks/reproducibility.py (docs/benchmarks.md): on one machine the same seed gives the same
record run after run, but the number of threads and the instruction-set level of oneDNN's convolution kernels
(AVX-512 on a newer CPU, AVX2 on an older one) each change the trained weights, and the mIoU by points. `pin`
fixes the thread count and the kernel level of ATen, oneDNN and MKL, and turns on torch's deterministic
algorithms (cuDNN and cuBLAS included, for CUDA runs; ops without a deterministic CUDA kernel, such as
bilinear upsampling's backward, warn instead of failing, and the record says "warn only").

The libraries read their kernel level once, when the process first computes with them: `pin` must come before
any tensor computation, as `segbench run` does; it refuses, naming the reason, when that is too late.
"""

import os

import torch

from .config import Reproducible
from .errors import SegbenchError

# Per level: ATen's dispatch, oneDNN's maximal ISA, MKL's conditional numerical reproducibility branch.
LEVELS = {"avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"},
          "avx512": {"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "MKL_CBWR": "AVX512"},
          "native": {}}   # the CPU's own best: bit-identical on this machine only
CUDA = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}   # what torch's deterministic cuBLAS needs
PINNED = ("ONEDNN_MAX_CPU_ISA", "MKL_CBWR", "CUBLAS_WORKSPACE_CONFIG")


def pin(settings: Reproducible) -> None:
    """Fix threads, kernel levels and deterministic algorithms for the rest of this process."""
    level = LEVELS[settings.cpu_isa]
    os.environ.update(level | CUDA)
    torch.set_num_threads(settings.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)   # CUDA ops without a deterministic kernel warn
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    effective = torch.backends.cpu.get_cpu_capability()
    if level and effective != level["ATEN_CPU_CAPABILITY"].upper():
        supported = {"avx2": torch.cpu._is_avx2_supported, "avx512": torch.cpu._is_avx512_supported}[settings.cpu_isa]
        reason = (f"this CPU has no {settings.cpu_isa.upper()} (set cpu_isa: "
                  f"{'avx2' if torch.cpu._is_avx2_supported() else 'native'})" if not supported() else
                  "this process computed with torch before the suite started (start a fresh process, or set "
                  f"ATEN_CPU_CAPABILITY={level['ATEN_CPU_CAPABILITY']} before it)")
        raise SegbenchError(f"reproducible: cpu_isa {settings.cpu_isa} cannot be pinned, torch's CPU kernels "
                            f"run at {effective}: {reason}")


def numerics() -> dict[str, object]:
    """What decides the numbers in this process, as each record stores it."""
    return {"threads": torch.get_num_threads(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled()
            and ("warn only" if torch.is_deterministic_algorithms_warn_only_enabled() else True),
            **{name.lower(): os.environ.get(name) for name in PINNED}}
